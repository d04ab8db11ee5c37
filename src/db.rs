//! Database connection and migrations, for SQLite (embedded) and PostgreSQL: the
//! pool with its timeouts, write transactions, and what a failed statement means
//! (`failure`).
//!
//! Every statement has a time limit (`db_statement_timeout`): PostgreSQL's
//! `statement_timeout`; on SQLite a progress handler that interrupts a connection
//! once its statements have run that long within one checkout from the pool (one
//! statement, or one transaction). The same limit bounds how long SQLite waits for
//! the write lock. Maintenance (migrations, seeds) runs without a limit.
use crate::config::Settings;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, ExecResult, QueryResult, Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

pub mod failure;

/// The pool the server serves requests from: statements and transactions under the
/// configured time limit, connections handed out within `db_acquire_timeout` (so a
/// request fails fast while the database is unreachable).
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    open(settings, Some(settings.db_statement_timeout)).await
}

/// A small pool without statement time limits, for work whose statements may run
/// long by nature: migrations (an index on a large table), seeds.
pub async fn connect_for_maintenance(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    open(settings, None).await
}

async fn open(settings: &Settings, statement_timeout: Option<Duration>) -> Result<DatabaseConnection, DbErr> {
    let sqlite_file = if settings.database_url.starts_with("sqlite:") {
        // The embedded default must work on a fresh machine: create its directory.
        create_private_dir(&settings.data_dir)
            .map_err(|e| DbErr::Custom(format!("cannot create data directory: {e}")))?;
        sqlite_file(&settings.database_url)?
    } else {
        None
    };
    if let Some(file) = &sqlite_file {
        create_private_file(file)
            .map_err(|e| DbErr::Custom(format!("cannot create the database file: {e}")))?;
    }
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(settings.db_acquire_timeout)
        .acquire_timeout(settings.db_acquire_timeout)
        // A connection that died with a database restart is noticed on checkout
        // and replaced, instead of failing the request that got it. One that was
        // in use a moment ago needs no round trip: a restart takes longer than
        // that, and under load a dead connection fails its statement once and is
        // dropped.
        .test_before_acquire_if_idle_for(PING_WHEN_IDLE_FOR)
        .sqlx_logging(false)
        .set_application_name("verband");
    // Waiting for SQLite's write lock is bounded like a statement; without a
    // statement limit (maintenance) it waits as long as a request would.
    let busy_timeout = statement_timeout.unwrap_or(settings.db_statement_timeout);
    opts.map_sqlx_sqlite_opts(move |o| {
        use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        // Set per connection (each pooled connection gets them): WAL lets readers
        // run beside the writer; FULL syncs every commit, so a write answered with
        // success survives a power cut too.
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy_timeout)
    });
    if let Some(limit) = statement_timeout {
        opts.statement_timeout(limit);
        opts.map_sqlx_sqlite_pool_opts(move |pool| {
            pool.after_connect(move |conn, _| Box::pin(sqlite_budget::arm(conn, limit)))
        });
        opts.map_sqlx_sqlite_before_acquire(move |conn, _| {
            Box::pin(async move {
                sqlite_budget::arm(conn, limit).await?;
                Ok(true)
            })
        });
    }
    if local_without_tls_preference(&settings.database_url) {
        // TLS to a server on this machine protects nothing (the traffic never
        // leaves it) and costs CPU on both ends of every statement; asking for it
        // in the URL (`sslmode=…`) or with PGSSLMODE keeps it.
        opts.map_sqlx_postgres_opts(|o| o.ssl_mode(sqlx::postgres::PgSslMode::Disable));
    }
    let db = Database::connect(opts).await?;
    if let Some(file) = &sqlite_file {
        register_writers(file, busy_timeout);
        // Files of an earlier version may be readable by others; SQLite creates
        // the -wal and -shm files with the database file's mode.
        tighten_permissions(file);
    }
    Ok(db)
}

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_millis(500);

/// A PostgreSQL URL for a server on the loopback interface or a Unix socket, with
/// no TLS mode asked for (in the URL or by PGSSLMODE).
fn local_without_tls_preference(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
        return false;
    };
    if url.to_ascii_lowercase().contains("sslmode=") || std::env::var_os("PGSSLMODE").is_some() {
        return false;
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    // An empty host means a Unix socket (`host=` in the query, or the default).
    host.is_empty() || host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The file of a SQLite URL, None for an in-memory database.
fn sqlite_file(url: &str) -> Result<Option<PathBuf>, DbErr> {
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("invalid SQLite URL: {e}")))?;
    Ok(Some(opts.get_filename().to_path_buf()))
}

/// The data directory holds the database (IBANs, password hashes) and the token
/// keys: a new one is only for its owner.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file with mode 0600 before SQLite opens it (whatever the
/// umask); an existing file is left to `tighten_permissions`.
fn create_private_file(file: &Path) -> std::io::Result<()> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => set_private(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn set_private(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The database file and its -wal and -shm files: readable by the owner only.
fn tighten_permissions(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        let mut shm = file.as_os_str().to_owned();
        shm.push("-shm");
        for path in [file.to_path_buf(), PathBuf::from(wal), PathBuf::from(shm)] {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                match set_private(&path) {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "database file was readable by others: now 0600")
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot make the database file private")
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
}

/// SQLite's statement time limit: a progress handler, re-armed on every checkout
/// from the pool, that interrupts the connection (SQLITE_INTERRUPT) once its
/// statements have executed for the limit. Only time spent executing counts:
/// waiting for the write lock (the busy timeout bounds that) or for the caller
/// between two statements does not.
mod sqlite_budget {
    use super::{Duration, Instant, sqlx};

    /// VM instructions between two calls of the handler: a few microseconds of work.
    const OPS: i32 = 10_000;
    /// A longer pause between two calls is idle time, not execution.
    const PAUSE: Duration = Duration::from_millis(50);

    tokio::task_local! {
        /// A longer limit for the current task (`with_statement_budget`).
        pub(super) static LONGER: Duration;
    }

    pub(super) async fn arm(conn: &mut sqlx::SqliteConnection, limit: Duration) -> Result<(), sqlx::Error> {
        // Checkouts happen in the task that asks for the connection.
        let limit = LONGER.try_with(|longer| *longer).unwrap_or(limit);
        let mut budget = Budget::new(limit);
        conn.lock_handle().await?.set_progress_handler(OPS, move || budget.tick(Instant::now()));
        Ok(())
    }

    /// Execution time of one checkout, from the handler's calls.
    pub(super) struct Budget {
        limit: Duration,
        used: Duration,
        last: Option<Instant>,
    }

    impl Budget {
        pub(super) fn new(limit: Duration) -> Self {
            Self { limit, used: Duration::ZERO, last: None }
        }

        /// One call of the handler at `now`: false (interrupt) once the time
        /// executed reaches the limit.
        pub(super) fn tick(&mut self, now: Instant) -> bool {
            if let Some(gap) = self.last.map(|l| now.saturating_duration_since(l))
                && gap < PAUSE
            {
                self.used += gap;
            }
            self.last = Some(now);
            self.used < self.limit
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_execution_counts_against_the_limit() {
            let start = Instant::now();
            let ms = |n: u64| start + Duration::from_millis(n);
            let mut b = Budget::new(Duration::from_millis(100));
            // Executing: calls every 10 ms.
            for t in (0..=90).step_by(10) {
                assert!(b.tick(ms(t)), "{t} ms");
            }
            // A pause (waiting for the caller between two statements) is not counted.
            assert!(b.tick(ms(5_000)));
            assert!(b.tick(ms(5_005)), "95 ms executed");
            assert!(!b.tick(ms(5_010)), "100 ms executed: interrupted");
            assert!(!b.tick(ms(5_020)), "and stays interrupted");
        }
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// A transaction for a change. On SQLite it takes the write lock when it begins
/// (`BEGIN IMMEDIATE`), so reading and then writing inside it can never fail on a
/// lock upgrade; and writers of one process queue for it in arrival order here
/// rather than polling SQLite's busy handler, which can starve a writer under load.
/// On PostgreSQL it is an ordinary READ COMMITTED transaction: the domain locks the
/// rows its checks depend on (`SELECT … FOR UPDATE / FOR SHARE`, which SQLite does
/// not need and sea-query leaves out there). Every change and its audit record go
/// through one of these.
pub async fn write_transaction(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let turn = writer_turn(db).await?;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTransaction { txn, _turn: turn })
}

/// A write outside a transaction (one statement) takes its turn among the writers
/// too on SQLite (the guard, held while it runs); nothing to wait for on PostgreSQL.
pub async fn writer_turn(db: &DatabaseConnection) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => Ok(Some(sqlite_writers(db).await?)),
        _ => Ok(None),
    }
}

/// The queues of SQLite writers, per database file: FIFO (tokio's mutex is fair),
/// waiting bounded by the busy timeout like waiting for the lock itself.
static WRITERS: LazyLock<Mutex<HashMap<PathBuf, WriterQueue>>> = LazyLock::new(Default::default);

/// One database file's writers: whose turn it is, and how long to wait for it.
type WriterQueue = (Arc<tokio::sync::Mutex<()>>, Duration);

fn register_writers(file: &Path, wait: Duration) {
    let mut queues = WRITERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    queues.entry(file.to_path_buf()).or_insert_with(|| (Arc::default(), wait)).1 = wait;
}

async fn sqlite_writers(db: &DatabaseConnection) -> Result<tokio::sync::OwnedMutexGuard<()>, DbErr> {
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
    let (queue, wait) = {
        let mut queues = WRITERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.entry(file).or_insert_with(|| (Arc::default(), Duration::from_secs(5))).clone()
    };
    tokio::time::timeout(wait, queue.lock_owned())
        .await
        .map_err(|_| DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
}

/// An open write transaction (see `write_transaction`): use it like a
/// `DatabaseTransaction`; `commit` or drop (rolls back).
pub struct WriteTransaction {
    // Dropped in this order: the transaction (rolled back unless committed), then
    // the writer's turn.
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// Runs `fut` with a longer statement time limit on SQLite, for work that runs long
/// by nature in one transaction (a member import): connections it takes from the
/// pool get `limit` instead of the configured one. PostgreSQL's limit is per
/// statement, and an import's statements are short: it is left alone there.
pub async fn with_statement_budget<F: Future>(limit: Duration, fut: F) -> F::Output {
    sqlite_budget::LONGER.scope(limit, fut).await
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
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

/// For `/readyz`: the database answers a trivial statement within `timeout`.
pub async fn ping(db: &DatabaseConnection, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, db.ping()).await, Ok(Ok(())))
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

#[cfg(test)]
mod tests {
    use super::local_without_tls_preference as local;

    #[test]
    fn tls_is_left_out_only_for_local_servers_that_did_not_ask_for_it() {
        assert!(local("postgres://postgres@127.0.0.1:5432/verband"));
        assert!(local("postgresql://u:p@localhost/verband"));
        assert!(local("postgres://[::1]:5432/verband"));
        assert!(local("postgres:///verband?host=/run/postgresql"));
        assert!(!local("postgres://db.example.org/verband"));
        assert!(!local("postgres://10.0.0.5:5432/verband"));
        assert!(!local("postgres://127.0.0.1/verband?sslmode=require"));
        assert!(!local("postgres://user@localhost.example.org/verband"));
        assert!(!local("sqlite://data/verband.db"));
    }
}
