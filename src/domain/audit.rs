//! Audit records, written with the change they describe (same connection, same
//! transaction).
use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

pub struct AuditRecord<'a> {
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

pub async fn record<C: ConnectionTrait>(
    conn: &C,
    at: DateTime<Utc>,
    rec: AuditRecord<'_>,
) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        at: Set(at),
        actor_user_id: Set(rec.actor_user_id),
        action: Set(rec.action.to_owned()),
        entity: Set(rec.entity.to_owned()),
        entity_id: Set(rec.entity_id),
        before: Set(rec.before),
        after: Set(rec.after),
        request_id: Set(rec.request_id),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map(|_| ())
}

/// Bank data read by `actor` (R12 fields, exports): one row per member, written in
/// one statement per 1,000 members, so a page of 500 costs one insert. (A read
/// has no transaction of its own: the rows are written after it, in the writers'
/// turn.)
pub async fn record_bank_reads(
    conn: &sea_orm::DatabaseConnection,
    at: DateTime<Utc>,
    actor_user_id: Option<i64>,
    request_id: Option<String>,
    member_ids: &[i64],
) -> Result<(), DbErr> {
    use sea_orm::EntityTrait;
    let _turn = crate::db::writer_turn(conn).await?;
    for chunk in member_ids.chunks(1_000) {
        let rows = chunk.iter().map(|id| audit_event::ActiveModel {
            at: Set(at),
            actor_user_id: Set(actor_user_id),
            action: Set(BANK_READ.to_owned()),
            entity: Set("member".to_owned()),
            entity_id: Set(id.to_string()),
            before: Set(None),
            after: Set(None),
            request_id: Set(request_id.clone()),
            ..Default::default()
        });
        audit_event::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// The action of a bank-data read in the audit trail.
pub const BANK_READ: &str = "bank.read";
