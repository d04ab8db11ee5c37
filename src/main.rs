//! The `verband` command: serve (default), migrate, schema, bootstrap, seed, maintain.
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Instant;
use verband::auth::password::PasswordHasher;
use verband::config::{self, LogFormat, Settings};
use verband::domain::bootstrap::{self, AdminInput};
use verband::domain::{lifecycle, seed};
use verband::{App, db, graphql};

// A request allocates many small, short-lived values (rows, GraphQL values,
// JSON): mimalloc serves them from per-thread pages, where glibc's malloc spent a
// quarter of the server's time on a page of members.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "verband",
    version,
    about = "GraphQL membership administration for hierarchical associations"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Create the root unit (if missing) and a first administrator.
    Bootstrap {
        #[arg(long)]
        username: String,
        /// Or set VERBAND_BOOTSTRAP_PASSWORD to keep it out of the process list.
        #[arg(long, env = "VERBAND_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        password: String,
        /// Name of the root unit, when it is created.
        #[arg(long, default_value = "Bundesverband")]
        root_name: String,
    },
    /// Load demo or synthetic data into an empty database.
    Seed(SeedArgs),
    /// Run the lifecycle job once (units past their end become ENDED, members whose
    /// leaving date came become LEFT), e.g. from cron when no server runs.
    Maintain,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct SeedKind {
    /// The demo federation with one login per role (see README).
    #[arg(long)]
    demo: bool,
    /// A deterministic federation of any size, for load tests.
    #[arg(long)]
    synthetic: bool,
}

#[derive(Args)]
struct SeedArgs {
    #[command(flatten)]
    kind: SeedKind,
    #[arg(long, default_value_t = 10_000, requires = "synthetic")]
    members: u64,
    #[arg(long, default_value_t = 500, requires = "synthetic")]
    units: u64,
    #[arg(long, default_value_t = 1, requires = "synthetic")]
    seed: u64,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERBAND_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// A mistyped variable would otherwise be ignored without a word.
fn warn_about_unknown_variables() {
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for unknown in config::unknown_variables(names) {
        match unknown.did_you_mean {
            Some(known) => tracing::warn!(
                variable = %unknown.name,
                "unknown setting {} ignored; did you mean {known}?",
                unknown.name
            ),
            None => tracing::warn!(variable = %unknown.name, "unknown setting {} ignored", unknown.name),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format);
    warn_about_unknown_variables();
    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = App::build(settings).await?;
            println!("verband listening on http://{}/ (GraphiQL), POST /graphql", app.local_addr());
            app.run().await?;
        }
        Command::Migrate => {
            let conn = db::connect_for_maintenance(&settings).await?;
            db::migrate(&conn).await?;
            tracing::info!("migrations applied");
        }
        Command::Schema => print!("{}", graphql::sdl()),
        Command::Bootstrap { username, password, root_name } => {
            let conn = db::connect_for_maintenance(&settings).await?;
            db::migrate(&conn).await?;
            let hasher = PasswordHasher::new(settings.password)?;
            let done = bootstrap::bootstrap(
                &conn,
                &hasher,
                settings.clock,
                AdminInput { username: &username, password: &password },
                &root_name,
            )
            .await?;
            println!(
                "administrator {username:?} created (user {}); root unit {} {}",
                done.user_id,
                done.root_unit_id,
                if done.created_root { "created" } else { "already existed" }
            );
        }
        Command::Maintain => {
            let conn = db::connect_for_maintenance(&settings).await?;
            db::migrate(&conn).await?;
            let report = lifecycle::run(&conn, settings.clock.today()).await?;
            // Running servers check a member's status on every request, so a member
            // who left here is refused there too and their cached grants go unused.
            println!(
                "lifecycle: {} units ended, {} members left, {} former members due for anonymization",
                report.units_ended.len(),
                report.members_left.len(),
                report.due_for_anonymization
            );
        }
        Command::Seed(args) => {
            let conn = db::connect_for_maintenance(&settings).await?;
            db::migrate(&conn).await?;
            let hasher = PasswordHasher::new(settings.password)?;
            let started = Instant::now();
            if args.kind.demo {
                seed::demo::seed(&conn, &hasher, settings.clock).await?;
                println!("demo data loaded in {:.1?}", started.elapsed());
            } else {
                let spec = seed::synthetic::SyntheticSpec {
                    members: args.members,
                    units: args.units,
                    seed: args.seed,
                };
                let report = seed::synthetic::seed(&conn, &hasher, spec).await?;
                println!(
                    "synthetic data loaded in {:.1?}: {} units, {} members, {} assignments, {} users",
                    started.elapsed(),
                    report.units,
                    report.members,
                    report.assignments,
                    report.users
                );
                if !report.logins.is_empty() {
                    println!(
                        "\nOffice holders sign in as m<member id> with the password {:?}, for example:",
                        seed::demo::DEMO_PASSWORD
                    );
                    for login in &report.logins {
                        println!("  {:<10} {}: {}", login.username, login.role, login.offices.join("; "));
                    }
                }
                println!(
                    "\nThere is no administrator yet: create one with\n  verband bootstrap --username admin --password '<a long secret>'"
                );
            }
        }
    }
    Ok(())
}
