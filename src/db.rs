//! Database connection and migrations, for SQLite (embedded) and PostgreSQL.
use crate::config::Settings;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr};
use std::time::Duration;

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    if settings.database_url.starts_with("sqlite:") {
        // The embedded default must work on a fresh machine: create its directory.
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| DbErr::Custom(format!("cannot create data directory: {e}")))?;
    }
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // WAL lets readers run beside the writer; the setting persists in the file.
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
    }
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Counts every statement the connection (and its clones, transactions included)
/// executes: against the current request (`statements`) and through `on_statement`,
/// e.g. into the server's metrics. Install it before the connection is cloned: clones
/// made earlier keep the previous callback.
pub fn count_statements(db: &mut DatabaseConnection, on_statement: impl Fn() + Send + Sync + 'static) {
    db.set_metric_callback(move |_info: &sea_orm::metric::Info<'_>| {
        statements::record();
        on_statement();
    });
}

/// For `/readyz`: the database answers a trivial statement.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// SQL statements of one request: a task-local counter that the connection's
/// metric callback bumps. Requests run inside `count_statements`; work they hand to
/// other tasks (DataLoader batches) is spawned with `spawn_counted`, so every
/// statement a request causes is counted against it.
pub mod statements {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    tokio::task_local! {
        static COUNTER: Arc<AtomicU64>;
    }

    /// Runs `fut` with `counter` counting its statements.
    pub async fn count_statements<F: Future>(counter: Arc<AtomicU64>, fut: F) -> F::Output {
        COUNTER.scope(counter, fut).await
    }

    /// Counts one statement against the current request, if any.
    pub fn record() {
        let _ = COUNTER.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
    }

    /// The current request's counter, to hand on to spawned work.
    pub fn current() -> Option<Arc<AtomicU64>> {
        COUNTER.try_with(Arc::clone).ok()
    }

    /// `tokio::spawn`, keeping the current request's counter.
    pub fn spawn_counted<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match current() {
            Some(counter) => tokio::spawn(COUNTER.scope(counter, fut)),
            None => tokio::spawn(fut),
        }
    }
}
