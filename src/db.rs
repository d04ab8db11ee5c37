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

/// For `/readyz`: the database answers a trivial statement.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}
