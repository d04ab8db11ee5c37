//! What a failed statement means for the caller, on both engines: the one place where
//! database errors are told apart. A unique constraint names the API field it
//! guards (so a race answers exactly like the sequential duplicate check before it),
//! a foreign key or a lost lock race is a conflict, an unreachable, restarting or
//! busy database is "unavailable", a statement over its time limit a timeout.
//! Everything else is a bug (INTERNAL). Classified by codes and constraint names,
//! never by message text (SQLite names the columns of a unique constraint only in
//! its message, in a documented format).
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

/// A unique constraint (or unique index) of the schema and the API field it guards.
#[derive(Debug, PartialEq, Eq)]
pub struct Unique {
    /// The constraint or index name on PostgreSQL.
    pub postgres: &'static str,
    /// The columns SQLite names, as `table.column, table.column`.
    pub sqlite: &'static str,
    /// The input field (`extensions.field`); None for values the server makes itself.
    pub field: Option<&'static str>,
    pub message: &'static str,
}

const fn unique(
    postgres: &'static str,
    sqlite: &'static str,
    field: Option<&'static str>,
    message: &'static str,
) -> Unique {
    Unique { postgres, sqlite, field, message }
}

const RETRY: &str = "a concurrent change got in the way: try again";

pub const MEMBERSHIP_NUMBER: Unique = unique(
    "member_membership_number_key",
    "member.membership_number",
    Some("membershipNumber"),
    "the membership number is already taken",
);
pub const MANDATE_REFERENCE: Unique = unique(
    "sepa_mandate_reference_key",
    "sepa_mandate.reference",
    Some("reference"),
    "the mandate reference is already in use",
);
pub const BANK_ACCOUNT: Unique =
    unique("bank_account_pkey", "bank_account.member_id", Some("memberId"), RETRY);
pub const USERNAME: Unique =
    unique("app_user_username_key", "app_user.username", Some("username"), "the username is taken");
pub const MEMBER_LOGIN: Unique = unique(
    "app_user_member_id_key",
    "app_user.member_id",
    Some("memberId"),
    "the member already has a login",
);
pub const EXTERNAL_SUBJECT: Unique = unique(
    "app_user_external_subject_key",
    "app_user.external_subject",
    Some("subject"),
    "this identity is linked to another user",
);
pub const GROUP_KEY: Unique = unique(
    "permission_group_key_key",
    "permission_group.key",
    Some("key"),
    "a permission group with this key exists",
);
pub const GROUP_PERMISSION: Unique = unique(
    "permission_group_permission_pkey",
    "permission_group_permission.permission_group_id, permission_group_permission.permission",
    Some("permissions"),
    "a permission is listed twice",
);
pub const ACTIVITY_NAME: Unique = unique(
    "ux_activity_level_name",
    "activity.level_id, activity.name",
    Some("name"),
    "an activity with this name exists on this level",
);
pub const ACTIVITY_GROUP: Unique = unique(
    "activity_allowed_group_pkey",
    "activity_allowed_group.activity_id, activity_allowed_group.permission_group_id",
    Some("allowedGroupIds"),
    "a group is listed twice",
);
pub const LEVEL_NAME: Unique =
    unique("level_name_key", "level.name", Some("name"), "a level with this name exists");
pub const LEVEL_RANK: Unique =
    unique("level_rank_key", "level.rank", Some("rank"), "a level with this rank exists");
pub const SYSTEM_GROUP: Unique = unique(
    "user_system_group_pkey",
    "user_system_group.user_id, user_system_group.permission_group_id",
    Some("groupIds"),
    "a group is listed twice",
);

/// Every unique constraint of the schema (a test checks the migrated databases
/// against it): values made by the server itself name no field.
pub const UNIQUES: &[&Unique] = &[
    &MEMBERSHIP_NUMBER,
    &MANDATE_REFERENCE,
    &BANK_ACCOUNT,
    &USERNAME,
    &MEMBER_LOGIN,
    &EXTERNAL_SUBJECT,
    &GROUP_KEY,
    &GROUP_PERMISSION,
    &ACTIVITY_NAME,
    &ACTIVITY_GROUP,
    &LEVEL_NAME,
    &LEVEL_RANK,
    &SYSTEM_GROUP,
    &unique("ux_org_unit_path", "org_unit.path", None, RETRY),
    &unique("counter_pkey", "counter.name", None, RETRY),
    &unique("session_pkey", "session.id", None, RETRY),
    &unique("api_token_token_hash_key", "api_token.token_hash", None, RETRY),
    &unique("pending_sign_in_pkey", "pending_sign_in.state_hash", None, RETRY),
    // A key claimed by a concurrent import of the same user: it waits on PostgreSQL,
    // so this is only a race on SQLite's single writer (never in practice).
    &unique("ux_import_key_user_key", "import_key.user_id, import_key.key_hash", None, RETRY),
    &unique("seaql_migrations_pkey", "seaql_migrations.version", None, RETRY),
];

/// A unique constraint missing from `UNIQUES` (a new migration): still a conflict.
pub const UNKNOWN_UNIQUE: Unique = unique("", "", None, "a value is already taken");

/// What went wrong, as far as the caller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A unique constraint: the value is taken (CONFLICT naming the field).
    Taken(&'static Unique),
    /// A foreign key: what the change refers to was removed meanwhile, or what it
    /// removes is still referred to (CONFLICT).
    Reference,
    /// Lost a lock race: deadlock or serialization failure (CONFLICT, retryable).
    Contention,
    /// The statement ran over its time limit (TIMEOUT).
    Timeout,
    /// The database cannot be reached, is restarting, overloaded or busy
    /// (UNAVAILABLE, retryable).
    Unavailable,
    /// The row to change is gone (NOT_FOUND).
    Gone,
    /// Anything else is a bug (INTERNAL).
    Other,
}

impl Failure {
    /// The caller can retry the same request later and may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Contention | Self::Unavailable | Self::Timeout)
    }
}

pub fn classify(e: &DbErr) -> Failure {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Failure::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => sqlx_failure(e),
        DbErr::RecordNotUpdated | DbErr::RecordNotFound(_) => Failure::Gone,
        _ => Failure::Other,
    }
}

fn sqlx_failure(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) => database_failure(db.as_ref()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Unavailable,
        _ => Failure::Other,
    }
}

fn database_failure(db: &dyn sqlx::error::DatabaseError) -> Failure {
    use sqlx::error::ErrorKind;
    let code = db.code().unwrap_or_default();
    let is_postgres = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some();
    match db.kind() {
        ErrorKind::UniqueViolation => return Failure::Taken(unique_of(db, is_postgres)),
        ErrorKind::ForeignKeyViolation => return Failure::Reference,
        _ => {}
    }
    if is_postgres { postgres_failure(&code) } else { sqlite_failure(&code) }
}

fn unique_of(db: &dyn sqlx::error::DatabaseError, is_postgres: bool) -> &'static Unique {
    let known = if is_postgres {
        db.constraint().and_then(|name| UNIQUES.iter().find(|u| u.postgres == name))
    } else {
        // "UNIQUE constraint failed: table.column, table.column"
        db.message()
            .split_once(": ")
            .and_then(|(_, columns)| UNIQUES.iter().find(|u| u.sqlite == columns.trim()))
    };
    match known {
        Some(u) => u,
        None => {
            tracing::warn!(constraint = ?db.constraint(), "a unique constraint without a field: add it to db::failure::UNIQUES");
            &UNKNOWN_UNIQUE
        }
    }
}

/// SQLSTATE classes and codes: <https://www.postgresql.org/docs/current/errcodes-appendix.html>.
fn postgres_failure(code: &str) -> Failure {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Failure::Contention,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout)
        "57014" | "55P03" => Failure::Timeout,
        // admin_shutdown, crash_shutdown, cannot_connect_now (a restart or an
        // outage); read_only_sql_transaction (a standby); invalid_catalog_name
        // (the database is gone)
        "57P01" | "57P02" | "57P03" | "25006" | "3D000" => Failure::Unavailable,
        // connection exceptions, insufficient resources (disk full, too many
        // connections), failed authentication at connect
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("28") => {
            Failure::Unavailable
        }
        _ => Failure::Other,
    }
}

/// Result codes: <https://www.sqlite.org/rescode.html> (sqlx reports the extended
/// code; its low byte is the primary one).
fn sqlite_failure(code: &str) -> Failure {
    let Ok(extended) = code.parse::<i32>() else { return Failure::Other };
    match extended & 0xff {
        // SQLITE_INTERRUPT: the statement's time budget ran out (progress handler)
        9 => Failure::Timeout,
        // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, NOTADB: the file cannot be
        // used now (locked past the busy timeout, unreadable, disk full)
        5 | 6 | 8 | 10 | 13 | 14 | 26 => Failure::Unavailable,
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_is_listed_once_per_engine() {
        for (i, a) in UNIQUES.iter().enumerate() {
            for b in &UNIQUES[i + 1..] {
                assert_ne!(a.postgres, b.postgres);
                assert_ne!(a.sqlite, b.sqlite);
            }
        }
    }

    #[test]
    fn postgres_codes() {
        assert_eq!(postgres_failure("40P01"), Failure::Contention);
        assert_eq!(postgres_failure("57014"), Failure::Timeout);
        assert_eq!(postgres_failure("57P01"), Failure::Unavailable);
        assert_eq!(postgres_failure("08006"), Failure::Unavailable);
        assert_eq!(postgres_failure("53300"), Failure::Unavailable);
        assert_eq!(postgres_failure("42P01"), Failure::Other);
    }

    #[test]
    fn sqlite_codes() {
        assert_eq!(sqlite_failure("5"), Failure::Unavailable);
        assert_eq!(sqlite_failure("517"), Failure::Unavailable, "SQLITE_BUSY_SNAPSHOT");
        assert_eq!(sqlite_failure("9"), Failure::Timeout);
        assert_eq!(sqlite_failure("1"), Failure::Other);
        assert_eq!(sqlite_failure("x"), Failure::Other);
    }

    #[test]
    fn pool_and_connection_errors_are_unavailable() {
        assert_eq!(
            classify(&DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            Failure::Unavailable
        );
        assert_eq!(classify(&DbErr::RecordNotUpdated), Failure::Gone);
        assert_eq!(classify(&DbErr::Custom("x".into())), Failure::Other);
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&DbErr::Query(RuntimeErr::SqlxError(io.into()))), Failure::Unavailable);
    }
}
