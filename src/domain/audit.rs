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
