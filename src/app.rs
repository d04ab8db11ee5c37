//! `App::build(settings)`: connect, migrate, load the demo into an empty database if
//! configured, bind the listener (port 0 in tests), and serve until SIGTERM/Ctrl-C.
use crate::auth::oidc::OidcVerifier;
use crate::auth::password::{PasswordError, PasswordHasher};
use crate::auth::signin::{AuthError, Authenticator};
use crate::auth::tokens::{KeyError, TokenService};
use crate::authz::{Authz, Invalidate, notify};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{DomainError, lifecycle, seed};
use crate::http::metrics::Metrics;
use crate::http::{self, AppState};
use crate::{db, graphql};
use entity::org_unit;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, PaginatorTrait};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often a serving instance runs the lifecycle job (units past their end, members
/// whose leaving date came). Changes are by the day; an hour bounds the delay.
const LIFECYCLE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("loading demo data: {0}")]
    Seed(#[from] DomainError),
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error("sign-in: {0}")]
    Auth(#[from] AuthError),
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("schema: {0}")]
    Schema(String),
}

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    db: DatabaseConnection,
    local_addr: SocketAddr,
    authz: Arc<Authz>,
    clock: Clock,
    /// Other instances' authorization changes (PostgreSQL only); ends with the app.
    authz_listener: Option<notify::AbortOnDrop>,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        // One registry per server: tests run many in one process.
        let metrics = Arc::new(Metrics::new());
        {
            // Migrations and the demo may run longer than a request's statements.
            let maintenance = db::connect_for_maintenance(&settings).await?;
            db::migrate(&maintenance).await?;
            if settings.demo_data && org_unit::Entity::find().count(&maintenance).await? == 0 {
                tracing::info!("empty database: loading the demo data");
                let hasher = PasswordHasher::new(settings.password)?;
                seed::demo::seed(&maintenance, &hasher, settings.clock).await?;
            }
            maintenance.close().await?;
        }
        let mut db = db::connect(&settings).await?;
        {
            let metrics = metrics.clone();
            db::count_statements(&mut db, move || metrics.sql_statement());
        }
        let authz = Arc::new(Authz::new(db.clone()));
        let authz_listener = notify::spawn_listener(&db, authz.clone());
        if authz_listener.is_some() && !notify::until_listening(&authz, Duration::from_secs(2)).await {
            tracing::warn!(
                "not yet listening for authorization changes: serving without cached grants meanwhile"
            );
        }
        // At start, before the first request: a failure is logged, never fatal.
        run_lifecycle(&db, &authz, settings.clock).await;
        let tokens = TokenService::new(
            &settings.signing_keys()?,
            &settings.tokens.issuer,
            &settings.tokens.audience,
            settings.tokens.ttl_seconds,
        )?;
        let auth = Arc::new(
            Authenticator::new(
                db.clone(),
                PasswordHasher::new(settings.password)?,
                tokens,
                OidcVerifier::new(&settings.oidc, settings.oidc_min_refresh),
                settings.login_max_failures,
                settings.login_lockout_seconds,
                crate::auth::throttle::Limit {
                    max_failures: settings.login_address_max_failures,
                    window: Duration::from_secs(settings.login_address_window_seconds),
                },
            )?
            .with_known_sessions(authz.sessions()),
        );
        let schema = graphql::schema_builder(&settings)
            .data(db.clone())
            .data(authz.clone())
            .data(auth.clone())
            .data(metrics.clone())
            .data(graphql::import::ImportTimeout(Duration::from_secs(settings.import_timeout_seconds)))
            .finish();
        let policy = Arc::new(http::graphql::Policy {
            shape: graphql::shape::Shape::from_sdl(&schema.sdl()).map_err(AppError::Schema)?,
            limits: settings.limits.clone(),
            introspection: settings.introspection,
            timeout: settings.request_timeout,
            connections_per_request: settings.max_connections_per_request,
            trusted_proxies: settings.trusted_proxies.clone(),
        });
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| AppError::Bind { addr: settings.listen, source })?;
        let local_addr = listener.local_addr().map_err(AppError::Serve)?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{local_addr}"));
        let state = AppState {
            schema,
            db: db.clone(),
            authz: authz.clone(),
            auth,
            public_url,
            clock: settings.clock,
            metrics,
            policy,
            persisted: Arc::new(http::persisted::PersistedQueries::new(settings.persisted_queries)),
            max_import_bytes: settings.max_import_bytes,
            import_timeout: Duration::from_secs(settings.import_timeout_seconds),
        };
        let router = http::router(state, &settings);
        Ok(Self { listener, router, db, local_addr, authz, clock: settings.clock, authz_listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM or Ctrl-C, then lets running requests finish.
    pub async fn run(self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        tracing::info!(addr = %self.local_addr, "serving");
        let job = tokio::spawn(lifecycle_every_hour(self.db.clone(), self.authz.clone(), self.clock));
        // The peer's address reaches the handlers (sign-in throttling).
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await;
        // The job stops with the server; an interrupted run rolls back (its
        // transaction is dropped) and the next start repeats it.
        job.abort();
        let _ = job.await;
        drop(self.authz_listener);
        served.map_err(AppError::Serve)?;
        self.db.close().await?;
        Ok(())
    }
}

/// One run of the lifecycle job; failures are logged and retried on the next run.
async fn run_lifecycle(db: &DatabaseConnection, authz: &Authz, clock: Clock) {
    match lifecycle::run(db, clock.today()).await {
        Ok(report) => {
            for user_id in &report.users_changed {
                authz.user_changed(*user_id);
            }
            if report.changed_anything() {
                tracing::info!(
                    units_ended = report.units_ended.len(),
                    members_left = report.members_left.len(),
                    "lifecycle job applied date-driven changes"
                );
            }
            if report.due_for_anonymization > 0 {
                tracing::info!(
                    members = report.due_for_anonymization,
                    "former members due for anonymization"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "lifecycle job failed; retrying on the next run"),
    }
}

/// The hourly runs while serving (the first at start happened in `App::build`).
async fn lifecycle_every_hour(db: DatabaseConnection, authz: Arc<Authz>, clock: Clock) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + LIFECYCLE_EVERY, LIFECYCLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        run_lifecycle(&db, &authz, clock).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
