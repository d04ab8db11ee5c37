//! Transfers between units (docs/workflows.md), instead of the "move pool" of
//! older systems: member.write at the source requests, member.write at the
//! destination accepts or rejects (and reads the member meanwhile, R15), the source
//! may cancel; the move itself is one transaction with its audit records.
//!
//! A transfer exists for a caller holding member.write at its source or its
//! destination; for everyone else it is absent (NOT_FOUND, like a missing one).
use super::members::{find_visible as find_visible_member, unit_for_write, unit_locked, writable};
use super::{Actor, DomainError, audit, validate};
use crate::authz::{Grants, Permission};
use crate::db::write_transaction;
use entity::{MemberStatus, OrgUnitStatus, TransferStatus, member, org_unit, transfer};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

/// Which side of a transfer a caller looks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To units where the caller holds member.write.
    Incoming,
    /// From units where the caller holds member.write.
    Outgoing,
    All,
}

/// The transfers the caller may see in `direction`, as one SQL condition.
pub fn visible_condition(grants: &Grants, direction: Direction) -> Condition {
    let incoming = || grants.unit_condition(Permission::MemberWrite, transfer::Column::ToUnitId);
    let outgoing = || grants.unit_condition(Permission::MemberWrite, transfer::Column::FromUnitId);
    match direction {
        Direction::Incoming => incoming(),
        Direction::Outgoing => outgoing(),
        Direction::All => Condition::any().add(incoming()).add(outgoing()),
    }
}

/// A transfer with its source and destination units.
#[derive(Debug, Clone)]
pub struct TransferRow {
    pub transfer: transfer::Model,
    pub from: org_unit::Model,
    pub to: org_unit::Model,
}

/// One transfer the caller may see (member.write at its source or destination), or
/// None for missing and invisible alike.
pub async fn find_visible<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    id: i64,
) -> Result<Option<TransferRow>, DomainError> {
    let Some(t) = transfer::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    let from = org_unit::Entity::find_by_id(t.from_unit_id).one(conn).await?;
    let to = org_unit::Entity::find_by_id(t.to_unit_id).one(conn).await?;
    let (Some(from), Some(to)) = (from, to) else { return Ok(None) };
    let visible = grants.holds_at(Permission::MemberWrite, &from.path)
        || grants.holds_at(Permission::MemberWrite, &to.path);
    Ok(visible.then_some(TransferRow { transfer: t, from, to }))
}

fn transfer_json(t: &transfer::Model) -> serde_json::Value {
    json!({
        "member_id": t.member_id, "from_unit_id": t.from_unit_id, "to_unit_id": t.to_unit_id,
        "status": t.status.as_str(), "reason": t.reason,
    })
}

/// A unit members may move into: not archived, ACTIVE and not ended.
fn takes_members(unit: &org_unit::Model, today: chrono::NaiveDate) -> Result<(), DomainError> {
    writable(unit)?;
    if unit.status != OrgUnitStatus::Active || unit.ends_on.is_some_and(|d| d < today) {
        return Err(DomainError::Conflict(format!("{} does not take new members", unit.name)));
    }
    Ok(())
}

/// requestTransfer: member.write on the member (at its home unit, R1); the
/// destination must be visible to the caller (R14), take members and differ from the
/// home unit; at most one pending transfer per member.
pub async fn request(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    member_id: i64,
    to_unit_id: i64,
    reason: Option<&str>,
) -> Result<transfer::Model, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let row = find_visible_member(&txn, actor.grants, member_id).await?.ok_or(DomainError::NotFound)?;
    if !actor.grants.holds_at(Permission::MemberWrite, &row.home_path) {
        return Err(DomainError::denied(
            Permission::MemberWrite,
            "requesting a transfer needs member.write on the member",
        ));
    }
    let home = unit_locked(&txn, row.member.home_unit_id).await?.ok_or(DomainError::NotFound)?;
    writable(&home)?;
    let to =
        unit_for_write(&txn, actor.grants, to_unit_id, "toUnitId", Some(Permission::MemberWrite)).await?;
    if to.id == home.id {
        return Err(DomainError::bad_input("toUnitId", "is already the member's home unit"));
    }
    takes_members(&to, actor.today)?;
    if row.member.status == MemberStatus::Left {
        return Err(DomainError::Conflict("the member has left and cannot be transferred".into()));
    }
    let reason = validate::optional_free_text("reason", reason, 1000)?;

    // A write that changes nothing, first in the transaction: it takes the member's
    // row lock on PostgreSQL and the write lock on SQLite until commit, so two
    // requests for one member cannot both pass the "one pending transfer" check
    // below; and it fails when the member has moved meanwhile.
    let locked = member::Entity::update_many()
        .col_expr(member::Column::HomeUnitId, Expr::col(member::Column::HomeUnitId))
        .filter(member::Column::Id.eq(member_id))
        .filter(member::Column::HomeUnitId.eq(home.id))
        .exec(&txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(DomainError::Conflict("the member has moved meanwhile: try again".into()));
    }
    let pending = transfer::Entity::find()
        .filter(transfer::Column::MemberId.eq(member_id))
        .filter(transfer::Column::Status.eq(TransferStatus::Pending))
        .count(&txn)
        .await?;
    if pending > 0 {
        return Err(DomainError::Conflict("the member already has a pending transfer".into()));
    }
    let saved = transfer::ActiveModel {
        member_id: Set(member_id),
        from_unit_id: Set(home.id),
        to_unit_id: Set(to.id),
        status: Set(TransferStatus::Pending),
        reason: Set(reason),
        requested_by: Set(actor.user_id),
        decided_by: Set(None),
        requested_at: Set(actor.now),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("transfer.request", "transfer", saved.id, None, Some(transfer_json(&saved))),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Which side must hold member.write to decide.
#[derive(Clone, Copy)]
enum Side {
    Source,
    Destination,
}

/// A visible transfer the caller may decide on from `side`, still pending; its units
/// read with a share lock inside the write transaction `txn`.
async fn for_decision<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor<'_>,
    id: i64,
    side: Side,
    what: &str,
) -> Result<TransferRow, DomainError> {
    actor.signed_in()?;
    let mut row = find_visible(txn, actor.grants, id).await?.ok_or(DomainError::NotFound)?;
    if let Some(from) = unit_locked(txn, row.from.id).await? {
        row.from = from;
    }
    if let Some(to) = unit_locked(txn, row.to.id).await? {
        row.to = to;
    }
    let (unit, side_name) = match side {
        Side::Source => (&row.from, "source"),
        Side::Destination => (&row.to, "destination"),
    };
    if !actor.grants.holds_at(Permission::MemberWrite, &unit.path) {
        return Err(DomainError::denied(
            Permission::MemberWrite,
            format!("{what} a transfer needs member.write at its {side_name} {}", unit.name),
        ));
    }
    if row.transfer.status != TransferStatus::Pending {
        return Err(DomainError::Conflict(format!(
            "the transfer is already {}",
            row.transfer.status.as_str()
        )));
    }
    Ok(row)
}

/// Ends a pending transfer with `status`, only if it is still pending: of two
/// concurrent decisions exactly one wins, the other gets CONFLICT.
async fn decide<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor<'_>,
    id: i64,
    status: TransferStatus,
    reason: Option<Option<String>>,
) -> Result<(), DomainError> {
    let mut update = transfer::Entity::update_many()
        .col_expr(transfer::Column::Status, Expr::value(status.as_str()))
        .col_expr(transfer::Column::DecidedBy, Expr::value(actor.user_id))
        .col_expr(transfer::Column::DecidedAt, Expr::value(actor.now));
    if let Some(reason) = reason {
        update = update.col_expr(transfer::Column::Reason, Expr::value(reason));
    }
    let done = update
        .filter(transfer::Column::Id.eq(id))
        .filter(transfer::Column::Status.eq(TransferStatus::Pending))
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        return Err(DomainError::Conflict("the transfer has already been decided".into()));
    }
    Ok(())
}

async fn reread<C: ConnectionTrait>(conn: &C, id: i64) -> Result<transfer::Model, DomainError> {
    transfer::Entity::find_by_id(id).one(conn).await?.ok_or(DomainError::NotFound)
}

/// acceptTransfer: member.write at the destination. Moves the member and marks the
/// transfer ACCEPTED in one transaction, audited on the member and the transfer.
pub async fn accept(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    id: i64,
) -> Result<transfer::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = for_decision(&txn, actor, id, Side::Destination, "accepting").await?;
    let t = &row.transfer;
    takes_members(&row.to, actor.today)?;
    writable(&row.from)?;

    decide(&txn, actor, id, TransferStatus::Accepted, None).await?;
    // Only if the member is still where the request found it and has not left:
    // a member moved or ended meanwhile makes the transfer stale.
    let moved = member::Entity::update_many()
        .col_expr(member::Column::HomeUnitId, Expr::value(t.to_unit_id))
        .col_expr(member::Column::UpdatedBy, Expr::value(actor.user_id))
        .col_expr(member::Column::UpdatedAt, Expr::value(actor.now))
        .filter(member::Column::Id.eq(t.member_id))
        .filter(member::Column::HomeUnitId.eq(t.from_unit_id))
        .filter(member::Column::Status.ne(MemberStatus::Left))
        .exec(&txn)
        .await?;
    if moved.rows_affected == 0 {
        return Err(DomainError::Conflict(
            "the member has moved or left since the request: reject or cancel the transfer".into(),
        ));
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "member.transfer",
            "member",
            t.member_id,
            Some(json!({ "home_unit_id": t.from_unit_id })),
            Some(json!({ "home_unit_id": t.to_unit_id, "transfer_id": id })),
        ),
    )
    .await?;
    let decided = reread(&txn, id).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("transfer.accept", "transfer", id, Some(transfer_json(t)), Some(transfer_json(&decided))),
    )
    .await?;
    txn.commit().await?;
    Ok(decided)
}

/// rejectTransfer: member.write at the destination, with a reason (it replaces the
/// request's reason on the transfer; the audit trail keeps both).
pub async fn reject(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    id: i64,
    reason: &str,
) -> Result<transfer::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = for_decision(&txn, actor, id, Side::Destination, "rejecting").await?;
    let reason = validate::free_text("reason", reason, 1000)?;
    finish(txn, actor, row, TransferStatus::Rejected, Some(Some(reason)), "transfer.reject").await
}

/// cancelTransfer: member.write at the source.
pub async fn cancel(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    id: i64,
) -> Result<transfer::Model, DomainError> {
    let txn = write_transaction(db).await?;
    let row = for_decision(&txn, actor, id, Side::Source, "cancelling").await?;
    finish(txn, actor, row, TransferStatus::Cancelled, None, "transfer.cancel").await
}

async fn finish(
    txn: crate::db::WriteTransaction,
    actor: &Actor<'_>,
    row: TransferRow,
    status: TransferStatus,
    reason: Option<Option<String>>,
    action: &'static str,
) -> Result<transfer::Model, DomainError> {
    let id = row.transfer.id;
    decide(&txn, actor, id, status, reason).await?;
    let decided = reread(&txn, id).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            action,
            "transfer",
            id,
            Some(transfer_json(&row.transfer)),
            Some(transfer_json(&decided)),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(decided)
}
