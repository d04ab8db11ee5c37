//! Offices (Tätigkeitszuordnungen): who may see one, and giving, changing and ending
//! them under R8–R10 and R14. Every change is written with its audit record in one
//! transaction; the assignee's cached grants are dropped after the commit, so a new
//! or ended office counts from their next request on.
use crate::authz::catalogue::{Catalogue, GroupInfo};
use crate::authz::notify::{self, Change};
use crate::authz::{Grants, Invalidate, Permission};
use crate::db::write_transaction;
use crate::domain::assignment_rules::{AssignmentRequest, check_no_escalation, check_shape};
use crate::domain::{Actor, DomainError, audit, members};
use chrono::NaiveDate;
use entity::{
    AssignmentStatus, OrgUnitStatus, activity, activity_allowed_group, assignment, level, org_unit, user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Set,
};

/// A new office, with ids already decoded.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub member_id: i64,
    pub activity_id: i64,
    pub org_unit_id: i64,
    pub level_group_id: Option<i64>,
    pub tree_group_id: Option<i64>,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub status: AssignmentStatus,
}

/// Changes to an office; `None` keeps the current value. For the groups and the end
/// date, `Some(None)` clears it ("no group", "open end").
#[derive(Debug, Clone, Default)]
pub struct AssignmentChanges {
    pub level_group_id: Option<Option<i64>>,
    pub tree_group_id: Option<Option<i64>>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub status: Option<AssignmentStatus>,
}

/// Whoever holds assignment.write at an office's unit manages the offices there.
pub fn may_manage(grants: &Grants, unit: &org_unit::Model) -> bool {
    grants.holds_at(Permission::AssignmentWrite, &unit.path)
}

/// Gives `input.member_id` an office (assignActivity). Checks, in this order: the unit
/// exists and is visible (R14), the member is visible (R11), activity and groups
/// exist, assignment.write at the unit (R10), the unit is not ARCHIVED (R14), the
/// groups fit the activity and unit (R8, R9), the dates, and finally that the groups
/// grant nothing the caller does not hold (R10).
pub async fn create(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    catalogue: &Catalogue,
    invalidate: &dyn Invalidate,
    input: NewAssignment,
) -> Result<assignment::Model, DomainError> {
    let user_id = actor.signed_in()?;
    let grants = actor.grants;
    let txn = write_transaction(db).await?;
    // Missing and invisible answer alike, so the answer reveals nothing (R11, R14);
    // managing offices at a unit makes it exist for the write.
    let unit = members::unit_for_write(
        &txn,
        grants,
        input.org_unit_id,
        "orgUnitId",
        Some(Permission::AssignmentWrite),
    )
    .await?;
    if members::find_visible(&txn, grants, input.member_id).await?.is_none() {
        return Err(DomainError::bad_input("memberId", "no such member"));
    }
    let activity = activity::Entity::find_by_id(input.activity_id)
        .one(&txn)
        .await?
        .ok_or_else(|| DomainError::bad_input("activityId", "no such activity"))?;
    let level_group = group(catalogue, "levelGroupId", input.level_group_id)?;
    let tree_group = group(catalogue, "treeGroupId", input.tree_group_id)?;
    let proposal = Proposal {
        activity: &activity,
        unit: &unit,
        level_group,
        tree_group,
        starts_on: input.starts_on,
        ends_on: input.ends_on,
        end_field: "endsOn",
    };
    check_rules(&txn, grants, &proposal).await?;

    let created = assignment::ActiveModel {
        member_id: Set(input.member_id),
        activity_id: Set(activity.id),
        org_unit_id: Set(unit.id),
        level_group_id: Set(input.level_group_id),
        tree_group_id: Set(input.tree_group_id),
        starts_on: Set(input.starts_on),
        ends_on: Set(input.ends_on),
        status: Set(input.status),
        created_by: Set(Some(user_id)),
        created_at: Set(actor.now),
        updated_at: Set(actor.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("assignment.create", "assignment", created.id, None, Some(snapshot(&created))),
    )
    .await?;
    let assignee = user_of_member(&txn, created.member_id).await?;
    if let Some(u) = assignee {
        notify::announce(&txn, Change::User(u)).await?;
    }
    txn.commit().await?;
    if let Some(u) = assignee {
        invalidate.user_changed(u);
    }
    Ok(created)
}

/// Changes an office (updateAssignment): assignment.write at its unit, the unit not
/// ARCHIVED, and R8–R10 for the resulting groups. R10 applies to the groups the office
/// keeps as well: extending the dates of an office grants its groups for longer.
pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    catalogue: &Catalogue,
    invalidate: &dyn Invalidate,
    id: i64,
    changes: AssignmentChanges,
) -> Result<assignment::Model, DomainError> {
    actor.signed_in()?;
    let grants = actor.grants;
    let txn = write_transaction(db).await?;
    lock(&txn, id).await?;
    let (before, unit) = find_visible(&txn, grants, id).await?.ok_or(DomainError::NotFound)?;
    // The unit must not be archived meanwhile (R14).
    let unit = members::unit_locked(&txn, unit.id).await?.unwrap_or(unit);
    let activity = activity::Entity::find_by_id(before.activity_id).one(&txn).await?.ok_or_else(|| {
        DomainError::Internal(format!("activity {} of assignment {id} missing", before.activity_id))
    })?;
    let level_group_id = changes.level_group_id.unwrap_or(before.level_group_id);
    let tree_group_id = changes.tree_group_id.unwrap_or(before.tree_group_id);
    let starts_on = changes.starts_on.unwrap_or(before.starts_on);
    let ends_on = changes.ends_on.unwrap_or(before.ends_on);
    let proposal = Proposal {
        activity: &activity,
        unit: &unit,
        level_group: group(catalogue, "levelGroupId", level_group_id)?,
        tree_group: group(catalogue, "treeGroupId", tree_group_id)?,
        starts_on,
        ends_on,
        // Blame the date the caller changed.
        end_field: if changes.ends_on.is_none() && changes.starts_on.is_some() {
            "startsOn"
        } else {
            "endsOn"
        },
    };
    check_rules(&txn, grants, &proposal).await?;

    let mut row = before.clone().into_active_model();
    row.level_group_id = Set(level_group_id);
    row.tree_group_id = Set(tree_group_id);
    row.starts_on = Set(starts_on);
    row.ends_on = Set(ends_on);
    row.status = Set(changes.status.unwrap_or(before.status));
    row.updated_at = Set(actor.now);
    let after = row.update(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("assignment.update", "assignment", id, Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    let assignee = user_of_member(&txn, after.member_id).await?;
    if let Some(u) = assignee {
        notify::announce(&txn, Change::User(u)).await?;
    }
    txn.commit().await?;
    if let Some(u) = assignee {
        invalidate.user_changed(u);
    }
    Ok(after)
}

/// Ends an office on `ends_on` (endAssignment): assignment.write at its unit. Ending
/// only ever takes rights away, so it needs no R10 group check and works at ARCHIVED
/// units too (a right must always be revocable); for the same reason it never moves an
/// existing end date later (that is `update`, with R10).
pub async fn end(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    invalidate: &dyn Invalidate,
    id: i64,
    ends_on: NaiveDate,
) -> Result<assignment::Model, DomainError> {
    actor.signed_in()?;
    let grants = actor.grants;
    let txn = write_transaction(db).await?;
    lock(&txn, id).await?;
    let (before, unit) = find_visible(&txn, grants, id).await?.ok_or(DomainError::NotFound)?;
    require_assignment_write(grants, &unit)?;
    if ends_on < before.starts_on {
        return Err(DomainError::bad_input(
            "endsOn",
            format!("must not be before the start of the assignment ({})", before.starts_on),
        ));
    }
    if let Some(current) = before.ends_on
        && ends_on > current
    {
        return Err(DomainError::bad_input(
            "endsOn",
            format!("the assignment already ends on {current}; use updateAssignment to extend it"),
        ));
    }
    let mut row = before.clone().into_active_model();
    row.ends_on = Set(Some(ends_on));
    row.updated_at = Set(actor.now);
    let after = row.update(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("assignment.end", "assignment", id, Some(snapshot(&before)), Some(snapshot(&after))),
    )
    .await?;
    let assignee = user_of_member(&txn, after.member_id).await?;
    if let Some(u) = assignee {
        notify::announce(&txn, Change::User(u)).await?;
    }
    txn.commit().await?;
    if let Some(u) = assignee {
        invalidate.user_changed(u);
    }
    Ok(after)
}

/// Locks an office for a change until the transaction ends: two changes of one
/// office take turns, so an end is never overwritten by an update computed from the
/// office before it ended.
async fn lock<C: ConnectionTrait>(txn: &C, id: i64) -> Result<(), DomainError> {
    assignment::Entity::find_by_id(id).lock_exclusive().one(txn).await?;
    Ok(())
}

/// The office with its unit, if the caller may see it (missing and invisible alike
/// are `None`).
pub async fn find_visible<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    id: i64,
) -> Result<Option<(assignment::Model, org_unit::Model)>, DomainError> {
    let Some(row) = assignment::Entity::find_by_id(id).one(conn).await? else { return Ok(None) };
    let Some(unit) = org_unit::Entity::find_by_id(row.org_unit_id).one(conn).await? else { return Ok(None) };
    // The member is looked up only when managing the unit does not suffice already.
    let visible =
        may_manage(grants, &unit) || members::find_visible(conn, grants, row.member_id).await?.is_some();
    Ok(visible.then_some((row, unit)))
}

/// What an office would look like after a create or update, for the rule checks.
struct Proposal<'a> {
    activity: &'a activity::Model,
    unit: &'a org_unit::Model,
    level_group: Option<&'a GroupInfo>,
    tree_group: Option<&'a GroupInfo>,
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
    /// The field a bad date range is reported on.
    end_field: &'static str,
}

/// The order matters. assignment.write comes first, so that callers who may not
/// manage offices at the unit learn nothing about it or the catalogue. A granter who
/// may then gets every input error (R8, R9, dates) before the FORBIDDEN of an
/// escalating group (R10), because those tell them how to fix the request.
async fn check_rules<C: ConnectionTrait>(
    conn: &C,
    grants: &Grants,
    p: &Proposal<'_>,
) -> Result<(), DomainError> {
    require_assignment_write(grants, p.unit)?;
    if p.unit.status == OrgUnitStatus::Archived {
        return Err(DomainError::Conflict(format!("{} is archived and read-only", p.unit.name)));
    }
    let allowed: Vec<i64> = activity_allowed_group::Entity::find()
        .filter(activity_allowed_group::Column::ActivityId.eq(p.activity.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.permission_group_id)
        .collect();
    let levels = level::Entity::find()
        .filter(level::Column::Id.is_in([p.activity.level_id, p.unit.level_id]))
        .all(conn)
        .await?;
    let level_name = |id: i64| levels.iter().find(|l| l.id == id).map_or("?", |l| l.name.as_str());
    let request = AssignmentRequest {
        activity: p.activity,
        allowed_group_ids: &allowed,
        activity_level_name: level_name(p.activity.level_id),
        unit: p.unit,
        unit_level_name: level_name(p.unit.level_id),
        level_group: p.level_group,
        tree_group: p.tree_group,
    };
    check_shape(&request)?;
    if let Some(end) = p.ends_on
        && end < p.starts_on
    {
        return Err(DomainError::bad_input(
            p.end_field,
            format!("the assignment would end ({end}) before it starts ({})", p.starts_on),
        ));
    }
    check_no_escalation(grants, &request)
}

/// R10, first part: managing offices at a unit needs assignment.write there.
fn require_assignment_write(grants: &Grants, unit: &org_unit::Model) -> Result<(), DomainError> {
    if may_manage(grants, unit) {
        Ok(())
    } else {
        Err(DomainError::denied_at(
            Permission::AssignmentWrite,
            unit.id,
            format!("you do not hold assignment.write at {}", unit.name),
        ))
    }
}

fn group<'c>(
    catalogue: &'c Catalogue,
    field: &'static str,
    id: Option<i64>,
) -> Result<Option<&'c GroupInfo>, DomainError> {
    id.map(|id| catalogue.group(id).ok_or_else(|| DomainError::bad_input(field, "no such permission group")))
        .transpose()
}

/// The login of a member, whose cached grants depend on the member's offices.
async fn user_of_member<C: ConnectionTrait>(conn: &C, member_id: i64) -> Result<Option<i64>, DomainError> {
    Ok(user::Entity::find().filter(user::Column::MemberId.eq(member_id)).one(conn).await?.map(|u| u.id))
}

/// The audit record's view of an office.
fn snapshot(a: &assignment::Model) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "member_id": a.member_id,
        "activity_id": a.activity_id,
        "org_unit_id": a.org_unit_id,
        "level_group_id": a.level_group_id,
        "tree_group_id": a.tree_group_id,
        "starts_on": a.starts_on,
        "ends_on": a.ends_on,
        "status": a.status.as_str(),
    })
}
