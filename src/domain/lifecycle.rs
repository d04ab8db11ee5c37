//! The lifecycle job: what changes by the passing of days alone. Run at server start,
//! every hour while serving, and by `verband maintain`; idempotent, so any number of
//! instances may run it.
//!
//! - Units past their `ends_on` (inclusive last day) that are DRAFT or ACTIVE become
//!   ENDED. ARCHIVED units stay as they are (read-only, R14).
//! - Members whose recorded leaving date has come (a notice period, see
//!   `retention::end_membership`) become LEFT; their sessions end.
//!
//! Assignments need no job: whether one counts is computed per request and day from
//! its status and dates (R5), so an assignment past its `ends_on` grants nothing
//! from the next day on without any write. Anonymizing after retention is a decision
//! with member.delete (`anonymizeMember`), never automatic; the report counts the
//! members due for it.
use super::DomainError;
use super::retention::revoke_sessions;
use chrono::{DateTime, NaiveDate, Utc};
use entity::{MemberStatus, OrgUnitStatus, audit_event, member, org_unit, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    Set,
};
use serde_json::json;

/// What one run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// Units set to ENDED.
    pub units_ended: Vec<i64>,
    /// Members set to LEFT (their leaving date came).
    pub members_left: Vec<i64>,
    /// Users whose rights changed (members who left): drop their cached grants.
    pub users_changed: Vec<i64>,
    /// Former members whose retention is over and who are not anonymized yet.
    pub due_for_anonymization: u64,
}

impl LifecycleReport {
    pub fn changed_anything(&self) -> bool {
        !self.units_ended.is_empty() || !self.members_left.is_empty()
    }
}

/// One system audit record (no actor) per changed row, in one statement.
async fn record_all<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    action: &str,
    entity: &str,
    rows: &[(i64, serde_json::Value)],
    after: serde_json::Value,
) -> Result<(), DomainError> {
    for chunk in rows.chunks(1_000) {
        let rows = chunk.iter().map(|(id, before)| audit_event::ActiveModel {
            at: Set(now),
            actor_user_id: Set(None),
            action: Set(action.to_owned()),
            entity: Set(entity.to_owned()),
            entity_id: Set(id.to_string()),
            before: Set(Some(before.clone())),
            after: Set(Some(after.clone())),
            request_id: Set(None),
            ..Default::default()
        });
        audit_event::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Applies every date-driven change due on `today`, each kind in one transaction with
/// its audit records.
pub async fn run(db: &DatabaseConnection, today: NaiveDate) -> Result<LifecycleReport, DomainError> {
    let now = Utc::now();
    let mut report = LifecycleReport::default();

    // Units past their last day. The ids are read inside the transaction and the
    // update repeats the condition, so a concurrent run changes each unit once.
    let open = [OrgUnitStatus::Draft.as_str(), OrgUnitStatus::Active.as_str()];
    let txn = crate::db::write_transaction(db).await?;
    let due: Vec<(i64, String)> = org_unit::Entity::find()
        .select_only()
        .column(org_unit::Column::Id)
        .column(org_unit::Column::Status)
        .filter(org_unit::Column::EndsOn.lt(today))
        .filter(org_unit::Column::Status.is_in(open))
        .into_tuple()
        .all(&txn)
        .await?;
    if !due.is_empty() {
        org_unit::Entity::update_many()
            .col_expr(org_unit::Column::Status, Expr::value(OrgUnitStatus::Ended.as_str()))
            .col_expr(org_unit::Column::UpdatedAt, Expr::value(now))
            .filter(org_unit::Column::Id.is_in(due.iter().map(|(id, _)| *id)))
            .filter(org_unit::Column::Status.is_in(open))
            .exec(&txn)
            .await?;
        record_all(
            &txn,
            now,
            "org_unit.ended",
            "org_unit",
            &due.iter().map(|(id, status)| (*id, json!({ "status": status }))).collect::<Vec<_>>(),
            json!({ "status": OrgUnitStatus::Ended.as_str(), "on": today }),
        )
        .await?;
    }
    txn.commit().await?;
    report.units_ended = due.into_iter().map(|(id, _)| id).collect();

    // Members whose leaving date has come.
    let txn = crate::db::write_transaction(db).await?;
    let leaving: Vec<(i64, String)> = member::Entity::find()
        .select_only()
        .column(member::Column::Id)
        .column(member::Column::Status)
        .filter(member::Column::Status.ne(MemberStatus::Left.as_str()))
        .filter(member::Column::LeftOn.lte(today))
        .filter(member::Column::AnonymizedAt.is_null())
        .into_tuple()
        .all(&txn)
        .await?;
    let member_ids: Vec<i64> = leaving.iter().map(|(id, _)| *id).collect();
    if !leaving.is_empty() {
        member::Entity::update_many()
            .col_expr(member::Column::Status, Expr::value(MemberStatus::Left.as_str()))
            .col_expr(member::Column::VotingRights, Expr::value(false))
            .col_expr(member::Column::UpdatedAt, Expr::value(now))
            .filter(member::Column::Id.is_in(member_ids.iter().copied()))
            .filter(member::Column::Status.ne(MemberStatus::Left.as_str()))
            .exec(&txn)
            .await?;
        let users: Vec<i64> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::MemberId.is_in(member_ids.iter().copied()))
            .into_tuple()
            .all(&txn)
            .await?;
        revoke_sessions(&txn, &users, now).await?;
        record_all(
            &txn,
            now,
            "member.left",
            "member",
            &leaving.iter().map(|(id, status)| (*id, json!({ "status": status }))).collect::<Vec<_>>(),
            json!({ "status": MemberStatus::Left.as_str(), "on": today }),
        )
        .await?;
        crate::authz::notify::announce_users(&txn, &users).await?;
        report.users_changed = users;
    }
    txn.commit().await?;
    report.members_left = member_ids;

    report.due_for_anonymization = member::Entity::find()
        .filter(member::Column::Status.eq(MemberStatus::Left.as_str()))
        .filter(member::Column::RetentionUntil.lt(today))
        .filter(member::Column::AnonymizedAt.is_null())
        .count(db)
        .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_changed_nothing() {
        assert!(!LifecycleReport::default().changed_anything());
        let r = LifecycleReport { units_ended: vec![3], ..Default::default() };
        assert!(r.changed_anything());
    }
}
