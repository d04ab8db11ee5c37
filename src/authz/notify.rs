//! Cross-instance invalidation of cached grants (PostgreSQL LISTEN/NOTIFY), behind
//! the `Invalidate` interface.
//!
//! Every change of assignments, groups, users, system groups, global tree groups
//! and the catalogue `announce`s itself inside its own transaction: PostgreSQL
//! delivers the notification at commit to every listening instance, and never for
//! a change that was rolled back. Each instance listens on one dedicated connection
//! and turns notifications into `user_changed` / `everything_changed` on its
//! `Authz`. While that connection is down, nothing is cached (a change elsewhere
//! could go unnoticed); when it is (re-)established, everything cached is dropped,
//! since notifications may have been missed meanwhile. A heartbeat through the
//! ordinary pool proves the listening connection alive: silence means it is not.
//!
//! On SQLite (one process) there are no other instances: `announce` does nothing
//! and the in-process calls after each commit are the whole story.
use super::service::{Authz, Invalidate};
use sea_orm::sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The notification channel of this application.
pub const CHANNEL: &str = "verband_authz";
/// How often each instance sends a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A listener that heard nothing (not even a heartbeat) for this long is presumed
/// dead and replaced.
const SILENCE: Duration = Duration::from_secs(16);
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
const PING: &str = "ping";
/// How the listener's connections show in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "verband-authz-listener";

/// What changed, as far as cached grants are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// One user's facts (assignments, level, groups, pledge, status, …).
    User(i64),
    /// The catalogue or anything affecting many users.
    Everything,
}

impl Change {
    fn payload(self) -> String {
        match self {
            Change::User(id) => format!("u:{id}"),
            Change::Everything => "*".to_owned(),
        }
    }

    /// None for a heartbeat. Anything not understood (e.g. from a newer version)
    /// counts as `Everything`: dropping too much is only slower.
    fn parse(payload: &str) -> Option<Change> {
        if payload == PING {
            return None;
        }
        match payload.strip_prefix("u:").map(str::parse::<i64>) {
            Some(Ok(id)) => Some(Change::User(id)),
            _ => Some(Change::Everything),
        }
    }
}

/// Announces `change` to every instance when the caller's transaction commits (on
/// PostgreSQL); nothing on SQLite. Call it on the transaction of the change.
pub async fn announce<C: ConnectionTrait>(conn: &C, change: Change) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), change.payload().into()],
    ))
    .await
    .map(|_| ())
}

/// `announce` for each of `user_ids`.
pub async fn announce_users<C: ConnectionTrait>(conn: &C, user_ids: &[i64]) -> Result<(), DbErr> {
    for id in user_ids {
        announce(conn, Change::User(*id)).await?;
    }
    Ok(())
}

/// Applies one notification to this instance's caches.
pub fn apply(invalidate: &dyn Invalidate, payload: &str) {
    match Change::parse(payload) {
        Some(Change::User(id)) => invalidate.user_changed(id),
        Some(Change::Everything) => invalidate.everything_changed(),
        None => {}
    }
}

/// On PostgreSQL: stops caching until the listener is connected, then listens (and
/// sends heartbeats) until the returned handle is dropped. None on SQLite.
pub fn spawn_listener(db: &DatabaseConnection, authz: Arc<Authz>) -> Option<AbortOnDrop> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return None;
    }
    // A pool of its own, with the application's connect options: one connection
    // to listen on, one for heartbeats. It never takes a connection from the
    // request pool, and its statements are not counted as requests' statements.
    let options =
        (*db.get_postgres_connection_pool().connect_options()).clone().application_name(APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    authz.suspend_caching();
    Some(AbortOnDrop(tokio::spawn(listen(pool, authz))))
}

/// Waits (at most `limit`) until the listener listens, so that a server starts
/// serving with its caches on.
pub async fn until_listening(authz: &Authz, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !authz.is_caching() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// A background task that ends when its handle is dropped.
pub struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn heartbeats(pool: PgPool) {
    let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let ping = sea_orm::sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(PING);
        // A database that is down shows in the listener as well.
        if let Err(e) = ping.execute(&pool).await {
            tracing::debug!(error = %e, "authorization heartbeat not sent");
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is reported at once (and replaced by us), not silently
    // re-established inside the listener.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn listen(pool: PgPool, authz: Arc<Authz>) {
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeats(pool.clone())));
    let mut retry = RETRY_MIN;
    loop {
        let mut listener = match connect(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for authorization changes; not caching grants meanwhile");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_MIN;
        // Anything may have changed while nobody listened.
        authz.resume_caching();
        tracing::info!("listening for authorization changes of other instances");
        loop {
            match tokio::time::timeout(SILENCE, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => apply(&*authz, notification.payload()),
                Ok(Ok(None)) => {
                    tracing::warn!("the connection for authorization changes was lost; reconnecting");
                    break;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "listening for authorization changes failed; reconnecting");
                    break;
                }
                Err(_) => {
                    tracing::warn!("no heartbeat on the connection for authorization changes; reconnecting");
                    break;
                }
            }
        }
        authz.suspend_caching();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Record(Mutex<Vec<Option<i64>>>);

    impl Invalidate for Record {
        fn user_changed(&self, user_id: i64) {
            self.0.lock().expect("lock").push(Some(user_id));
        }
        fn everything_changed(&self) {
            self.0.lock().expect("lock").push(None);
        }
    }

    #[test]
    fn payloads_round_trip_and_unknown_ones_drop_everything() {
        assert_eq!(Change::parse(&Change::User(42).payload()), Some(Change::User(42)));
        assert_eq!(Change::parse(&Change::Everything.payload()), Some(Change::Everything));
        assert_eq!(Change::parse(PING), None);
        let r = Record::default();
        for payload in ["u:7", "*", PING, "u:x", "something-new"] {
            apply(&r, payload);
        }
        assert_eq!(*r.0.lock().expect("lock"), vec![Some(7), None, None, None]);
    }
}
