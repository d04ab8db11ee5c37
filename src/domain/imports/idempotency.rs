//! `Idempotency-Key` for imports: a client that lost the answer to an upload (a
//! timeout, a dropped connection) sends it again with the same key and gets the
//! first import's report instead of a second import.
//!
//! The key is claimed by a row in the import's own transaction, so it is stored
//! exactly when the import commits: a concurrent request with the same key waits
//! for it on PostgreSQL (unique index) and then answers its report; on SQLite the
//! import holds the only write lock, so the other request waits for the busy
//! timeout. Keys are per user, stored as SHA-256, and kept for [`TTL_HOURS`].
use super::Report;
use crate::domain::DomainError;
use chrono::{DateTime, Duration, Utc};
use entity::import_key;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, TryInsertResult};
use sha2::{Digest, Sha256};

/// How long a committed import's report answers retries with its key.
pub const TTL_HOURS: i64 = 24;
/// The longest key accepted (UUIDs and the like are far shorter).
pub const MAX_KEY_LENGTH: usize = 255;

/// A key is 1 to 255 visible ASCII characters (as HTTP headers carry them).
pub fn check_key(field: &'static str, key: &str) -> Result<(), DomainError> {
    if key.is_empty() || key.len() > MAX_KEY_LENGTH || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::bad_input(
            field,
            format!("must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID"),
        ));
    }
    Ok(())
}

pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored outcome under a user's key, unless expired.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<import_key::Model>, DbErr> {
    import_key::Entity::find()
        .filter(import_key::Column::UserId.eq(user_id))
        .filter(import_key::Column::KeyHash.eq(key_hash))
        .filter(import_key::Column::ExpiresAt.gt(now))
        .filter(import_key::Column::Fingerprint.is_not_null())
        .one(conn)
        .await
}

pub async fn delete_expired<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<(), DbErr> {
    import_key::Entity::delete_many().filter(import_key::Column::ExpiresAt.lte(now)).exec(conn).await?;
    Ok(())
}

/// Claims the key for the import running on `txn`; false if another request holds
/// it (on PostgreSQL, after waiting for that request's transaction to end).
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = import_key::ActiveModel {
        user_id: Set(user_id),
        key_hash: Set(key_hash.to_owned()),
        fingerprint: Set(None),
        report: Set(None),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(TTL_HOURS)),
        ..Default::default()
    };
    let inserted = import_key::Entity::insert(row)
        .on_conflict_do_nothing_on([import_key::Column::UserId, import_key::Column::KeyHash])
        .exec_without_returning(txn)
        .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
}

/// Stores the outcome under the claimed key, in the import's transaction.
pub async fn complete<C: ConnectionTrait>(
    txn: &C,
    user_id: i64,
    key_hash: &str,
    fingerprint: &str,
    report: &Report,
) -> Result<(), DomainError> {
    let report = serde_json::to_value(report).map_err(|e| DomainError::Internal(e.to_string()))?;
    import_key::Entity::update_many()
        .col_expr(import_key::Column::Fingerprint, Expr::value(fingerprint))
        .col_expr(import_key::Column::Report, Expr::value(report))
        .filter(import_key::Column::UserId.eq(user_id))
        .filter(import_key::Column::KeyHash.eq(key_hash))
        .exec(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(check_key("Idempotency-Key", "8e0f6b2c-1d2a-4c1e-9a57-0c3f5d7a9b11").is_ok());
        for bad in ["", "with space", "ümlaut", &"k".repeat(MAX_KEY_LENGTH + 1)] {
            assert!(check_key("Idempotency-Key", bad).is_err(), "{bad:?}");
        }
        assert_eq!(key_hash("a").len(), 64);
        assert_ne!(key_hash("a"), key_hash("b"));
    }
}
