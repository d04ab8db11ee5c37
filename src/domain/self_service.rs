//! R17 self-service reads: everything stored about the caller (GDPR Art. 15/20).
use super::DomainError;
use entity::{
    activity, api_token, assignment, audit_event, bank_account, member, org_unit, payment, sepa_mandate,
    session, user,
};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::collections::HashMap;

/// All data about `user_id` as one JSON document. Secrets are never part of it
/// (password hash, token hashes); everything else the service stores about the
/// person is.
pub async fn export_my_data<C: ConnectionTrait>(conn: &C, user_id: i64) -> Result<Value, DomainError> {
    let user = user::Entity::find_by_id(user_id).one(conn).await?.ok_or(DomainError::NotFound)?;
    let tokens = api_token::Entity::find().filter(api_token::Column::UserId.eq(user_id)).all(conn).await?;
    let sessions = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .order_by_asc(session::Column::CreatedAt)
        .all(conn)
        .await?;
    let mut about = Condition::any().add(audit_event::Column::ActorUserId.eq(user_id)).add(
        audit_event::Column::Entity.eq("user").and(audit_event::Column::EntityId.eq(user_id.to_string())),
    );
    let mut member_json = Value::Null;
    if let Some(member_id) = user.member_id
        && let Some(m) = member::Entity::find_by_id(member_id).one(conn).await?
    {
        about = about.add(
            audit_event::Column::Entity
                .eq("member")
                .and(audit_event::Column::EntityId.eq(member_id.to_string())),
        );
        let bank = bank_account::Entity::find_by_id(member_id).one(conn).await?;
        let mandates = sepa_mandate::Entity::find()
            .filter(sepa_mandate::Column::MemberId.eq(member_id))
            .all(conn)
            .await?;
        let payments = payment::Entity::find()
            .filter(payment::Column::MemberId.eq(member_id))
            .order_by_asc(payment::Column::PaidOn)
            .all(conn)
            .await?;
        let assignments =
            assignment::Entity::find().filter(assignment::Column::MemberId.eq(member_id)).all(conn).await?;
        let mut unit_ids: Vec<i64> = assignments.iter().map(|a| a.org_unit_id).collect();
        unit_ids.push(m.home_unit_id);
        let units: HashMap<i64, String> = org_unit::Entity::find()
            .filter(org_unit::Column::Id.is_in(unit_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let activities: HashMap<i64, String> = activity::Entity::find()
            .filter(activity::Column::Id.is_in(assignments.iter().map(|a| a.activity_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        member_json = json!({
            "membership_number": m.membership_number,
            "home_unit": units.get(&m.home_unit_id),
            "first_name": m.first_name, "last_name": m.last_name, "birth_date": m.birth_date,
            "gender": m.gender, "email": m.email, "phone": m.phone,
            "address": { "street": m.street, "postal_code": m.postal_code, "city": m.city, "country": m.country },
            "status": m.status.as_str(), "joined_on": m.joined_on, "left_on": m.left_on,
            "voting_rights": m.voting_rights, "tags": m.tags, "retention_until": m.retention_until,
            "created_at": m.created_at, "updated_at": m.updated_at,
            "bank_account": bank.map(|b| json!({ "iban": b.iban, "bic": b.bic, "account_holder": b.account_holder })),
            "sepa_mandates": mandates.iter().map(|s| json!({
                "reference": s.reference, "signed_on": s.signed_on, "iban": s.iban, "status": s.status.as_str(),
            })).collect::<Vec<_>>(),
            "payments": payments.iter().map(|p| json!({
                "amount_cents": p.amount_cents, "currency": p.currency, "paid_on": p.paid_on,
                "period_from": p.period_from, "period_to": p.period_to, "note": p.note,
            })).collect::<Vec<_>>(),
            "assignments": assignments.iter().map(|a| json!({
                "activity": activities.get(&a.activity_id), "org_unit": units.get(&a.org_unit_id),
                "starts_on": a.starts_on, "ends_on": a.ends_on, "status": a.status.as_str(),
            })).collect::<Vec<_>>(),
        });
    }
    let audit =
        audit_event::Entity::find().filter(about).order_by_asc(audit_event::Column::At).all(conn).await?;
    Ok(json!({
        "user": {
            "username": user.username, "email": user.email, "level": user.level,
            "privacy_pledge_signed_on": user.privacy_pledge_signed_on, "disabled": user.disabled,
            "external_subject": user.external_subject, "created_at": user.created_at,
        },
        "member": member_json,
        "api_tokens": tokens.iter().map(|t| json!({
            "name": t.name, "scopes": t.scopes, "expires_at": t.expires_at, "last_used_at": t.last_used_at,
            "revoked_at": t.revoked_at, "created_at": t.created_at,
        })).collect::<Vec<_>>(),
        "sessions": sessions.iter().map(|s| json!({
            "method": s.method, "created_at": s.created_at, "expires_at": s.expires_at, "revoked_at": s.revoked_at,
        })).collect::<Vec<_>>(),
        "audit_events": audit.iter().map(|e| json!({
            "at": e.at, "action": e.action, "entity": e.entity, "entity_id": e.entity_id,
            "by_me": e.actor_user_id == Some(user_id),
        })).collect::<Vec<_>>(),
    }))
}
