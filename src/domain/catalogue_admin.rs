//! Changing the catalogue at runtime (catalogue.manage): permission groups with
//! their permissions, activities with their allowed groups. R8 holds here too: a
//! group's permissions are all of its kind, and activities allow only MEMBERSHIP
//! groups. Rows still in use are never deleted (CONFLICT). Every change is written
//! with its audit record in one transaction; callers drop cached grants after it.
use crate::authz::notify::{self, Change};
use crate::authz::{PermSet, Permission};
use crate::db::{failure, write_transaction};
use crate::domain::{Actor, DomainError, audit, validate};
use entity::{
    AssignmentStatus, GroupKind, activity, activity_allowed_group, assignment, level, org_unit,
    permission_group, permission_group_permission, user, user_system_group,
};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const MAX_KEY_LEN: usize = 64;
const MAX_NAME_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 2000;

pub struct NewGroup<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub kind: GroupKind,
    pub description: Option<&'a str>,
    pub permissions: &'a [Permission],
}

/// Fields left `None` stay as they are; `permissions` replaces the whole set.
pub struct GroupChange<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub permissions: Option<&'a [Permission]>,
}

pub struct NewActivity<'a> {
    pub name: &'a str,
    pub level_id: i64,
    pub allowed_group_ids: &'a [i64],
}

/// Fields left `None` stay as they are; `allowed_group_ids` replaces the whole set.
pub struct ActivityChange<'a> {
    pub name: Option<&'a str>,
    pub allowed_group_ids: Option<&'a [i64]>,
}

fn require_catalogue_manage(actor: &Actor<'_>) -> Result<(), DomainError> {
    actor.signed_in()?;
    if !actor.grants.holds_system(Permission::CatalogueManage) {
        return Err(DomainError::Forbidden("changing the catalogue needs catalogue.manage".into()));
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<String, DomainError> {
    let key = key.trim();
    let well_formed = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && key.starts_with(|c: char| c.is_ascii_lowercase());
    if !well_formed {
        return Err(DomainError::bad_input(
            "key",
            format!("must be 1 to {MAX_KEY_LEN} characters a-z, 0-9 or _, starting with a letter"),
        ));
    }
    Ok(key.to_owned())
}

/// R8: every permission of a group is of the group's kind.
fn validate_permissions(
    kind: GroupKind,
    permissions: &[Permission],
) -> Result<BTreeSet<Permission>, DomainError> {
    let wrong: Vec<&str> = permissions.iter().filter(|p| p.kind() != kind).map(|p| p.as_str()).collect();
    if !wrong.is_empty() {
        return Err(DomainError::bad_input(
            "permissions",
            format!("{} cannot be in a {} group (R8)", wrong.join(", "), kind.as_str()),
        ));
    }
    Ok(permissions.iter().copied().collect())
}

/// No escalation through the catalogue (R10): SYSTEM permissions are unscoped, so
/// adding one to a group (which its holders then hold everywhere, the editor perhaps
/// among them) needs holding it oneself. MEMBERSHIP permissions: see
/// `check_no_membership_escalation`.
fn check_no_system_escalation<'a>(
    actor: &Actor<'_>,
    added: impl Iterator<Item = &'a Permission>,
) -> Result<(), DomainError> {
    let held = actor.grants.system_permissions();
    let missing: Vec<&str> =
        added.filter(|p| p.kind() == GroupKind::System && !held.contains(**p)).map(|p| p.as_str()).collect();
    if !missing.is_empty() {
        return Err(DomainError::Forbidden(format!(
            "adding {} to a group needs holding it yourself",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// R10 for a group in use: adding MEMBERSHIP permissions to it grants them wherever
/// the group grants now, so the caller must hold each of them there: at U for each
/// office at U that has the group as level group, throughout the subtree below U
/// for each that has it as tree group (offices effective today or starting later),
/// and at every unit if any user has it as global tree group. Decided on the
/// caller's compiled grants, with one statement for the offices' units.
async fn check_no_membership_escalation<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor<'_>,
    group: &permission_group::Model,
    added: &BTreeSet<Permission>,
) -> Result<(), DomainError> {
    let added = PermSet::from_iter(added.iter().copied().filter(|p| p.kind() == GroupKind::Membership));
    if added.is_empty() {
        return Ok(());
    }
    let grants = actor.grants;
    let in_slot = |column: assignment::Column| Expr::col((assignment::Entity, column)).eq(group.id);
    let slots = Query::select()
        .column((assignment::Entity, assignment::Column::LevelGroupId))
        .column((assignment::Entity, assignment::Column::TreeGroupId))
        .column((org_unit::Entity, org_unit::Column::Id))
        .column((org_unit::Entity, org_unit::Column::Path))
        .column((org_unit::Entity, org_unit::Column::Name))
        .from(assignment::Entity)
        .inner_join(
            org_unit::Entity,
            Expr::col((org_unit::Entity, org_unit::Column::Id))
                .equals((assignment::Entity, assignment::Column::OrgUnitId)),
        )
        .and_where(
            Expr::col((assignment::Entity, assignment::Column::Status)).eq(AssignmentStatus::Active.as_str()),
        )
        .cond_where(
            Condition::any()
                .add(Expr::col((assignment::Entity, assignment::Column::EndsOn)).is_null())
                .add(Expr::col((assignment::Entity, assignment::Column::EndsOn)).gte(actor.today)),
        )
        .cond_where(
            Condition::any()
                .add(in_slot(assignment::Column::LevelGroupId))
                .add(in_slot(assignment::Column::TreeGroupId)),
        )
        .order_by((org_unit::Entity, org_unit::Column::Path), Order::Asc)
        .take();
    for row in conn.query_all(&slots).await? {
        let level: Option<i64> = row.try_get("", "level_group_id")?;
        let tree: Option<i64> = row.try_get("", "tree_group_id")?;
        let unit_id: i64 = row.try_get("", "id")?;
        let path: String = row.try_get("", "path")?;
        let name: String = row.try_get("", "name")?;
        if level == Some(group.id)
            && let Some(p) = added.minus(grants.at_unit(&path)).iter().next()
        {
            return Err(DomainError::denied_at(
                p,
                unit_id,
                format!(
                    "{} is the level group of an office at {name}: adding {p} needs holding it at {name} (R10)",
                    group.key
                ),
            ));
        }
        if tree == Some(group.id)
            && let Some(p) = grants.missing_throughout_below(added, &path).iter().next()
        {
            return Err(DomainError::denied_at(
                p,
                unit_id,
                format!(
                    "{} is the tree group of an office at {name}: adding {p} needs holding it throughout the units below {name} (R10)",
                    group.key
                ),
            ));
        }
    }
    let global =
        user::Entity::find().filter(user::Column::GlobalTreeGroupId.eq(group.id)).count(conn).await?;
    if global > 0
        && let Some(p) = added.minus(grants.everywhere()).iter().next()
    {
        let root = org_unit::Entity::find().filter(org_unit::Column::ParentId.is_null()).one(conn).await?;
        let message =
            format!("{} is a global tree group: adding {p} needs holding it at every unit (R10)", group.key);
        return Err(match root {
            Some(root) => DomainError::denied_at(p, root.id, message),
            None => DomainError::denied(p, message),
        });
    }
    Ok(())
}

fn group_snapshot(g: &permission_group::Model, permissions: &BTreeSet<Permission>) -> Value {
    json!({
        "key": g.key,
        "name": g.name,
        "kind": g.kind.as_str(),
        "description": g.description,
        "permissions": permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    })
}

fn activity_snapshot(a: &activity::Model, allowed: &[i64]) -> Value {
    json!({ "name": a.name, "level_id": a.level_id, "allowed_group_ids": allowed })
}

async fn permissions_of<C: ConnectionTrait>(conn: &C, group_id: i64) -> Result<BTreeSet<Permission>, DbErr> {
    Ok(permission_group_permission::Entity::find()
        .filter(permission_group_permission::Column::PermissionGroupId.eq(group_id))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|l| l.permission.parse().ok())
        .collect())
}

async fn write_permissions<C: ConnectionTrait>(
    conn: &C,
    group_id: i64,
    permissions: &BTreeSet<Permission>,
) -> Result<(), DbErr> {
    permission_group_permission::Entity::delete_many()
        .filter(permission_group_permission::Column::PermissionGroupId.eq(group_id))
        .exec(conn)
        .await?;
    if !permissions.is_empty() {
        permission_group_permission::Entity::insert_many(permissions.iter().map(|p| {
            permission_group_permission::ActiveModel {
                permission_group_id: Set(group_id),
                permission: Set(p.as_str().to_owned()),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

pub async fn create_group(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    input: NewGroup<'_>,
) -> Result<permission_group::Model, DomainError> {
    require_catalogue_manage(actor)?;
    let key = validate_key(input.key)?;
    let name = validate::text("name", input.name, MAX_NAME_LEN)?;
    let description = validate::optional_free_text("description", input.description, MAX_DESCRIPTION_LEN)?;
    let permissions = validate_permissions(input.kind, input.permissions)?;
    check_no_system_escalation(actor, permissions.iter())?;
    let taken =
        permission_group::Entity::find().filter(permission_group::Column::Key.eq(&key)).one(db).await?;
    if taken.is_some() {
        return Err(DomainError::taken(&failure::GROUP_KEY));
    }
    let txn = write_transaction(db).await?;
    let row = permission_group::ActiveModel {
        key: Set(key),
        name: Set(name),
        kind: Set(input.kind),
        description: Set(description.unwrap_or_default()),
        created_at: Set(actor.now),
        updated_at: Set(actor.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    write_permissions(&txn, row.id, &permissions).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "permission_group.create",
            "permission_group",
            row.id,
            None,
            Some(group_snapshot(&row, &permissions)),
        ),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(row)
}

/// The kind of a group never changes: its uses (assignments, global tree groups,
/// system groups) were checked against it (R8).
pub async fn update_group(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    group_id: i64,
    change: GroupChange<'_>,
) -> Result<permission_group::Model, DomainError> {
    require_catalogue_manage(actor)?;
    let before =
        permission_group::Entity::find_by_id(group_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let name = change.name.map(|n| validate::text("name", n, MAX_NAME_LEN)).transpose()?;
    let description = change
        .description
        .map(|d| validate::optional_free_text("description", Some(d), MAX_DESCRIPTION_LEN))
        .transpose()?;
    let new_permissions = change.permissions.map(|p| validate_permissions(before.kind, p)).transpose()?;
    let old_permissions = permissions_of(db, group_id).await?;
    if let Some(new) = &new_permissions {
        check_no_system_escalation(actor, new.difference(&old_permissions))?;
    }
    let txn = write_transaction(db).await?;
    if let Some(new) = &new_permissions {
        let added: BTreeSet<Permission> = new.difference(&old_permissions).copied().collect();
        check_no_membership_escalation(&txn, actor, &before, &added).await?;
    }
    let mut active = before.clone().into_active_model();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(description) = description {
        active.description = Set(description.unwrap_or_default());
    }
    active.updated_at = Set(actor.now);
    let after = active.update(&txn).await?;
    if let Some(permissions) = &new_permissions {
        write_permissions(&txn, group_id, permissions).await?;
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "permission_group.update",
            "permission_group",
            group_id,
            Some(group_snapshot(&before, &old_permissions)),
            Some(group_snapshot(&after, new_permissions.as_ref().unwrap_or(&old_permissions))),
        ),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(after)
}

/// Where a group is still used, for the CONFLICT message.
async fn group_uses<C: ConnectionTrait>(conn: &C, group_id: i64) -> Result<Vec<String>, DbErr> {
    let mut uses = Vec::new();
    let assignments = assignment::Entity::find()
        .filter(
            Condition::any()
                .add(assignment::Column::LevelGroupId.eq(group_id))
                .add(assignment::Column::TreeGroupId.eq(group_id)),
        )
        .count(conn)
        .await?;
    if assignments > 0 {
        uses.push(format!("{assignments} assignment(s)"));
    }
    let global =
        user::Entity::find().filter(user::Column::GlobalTreeGroupId.eq(group_id)).count(conn).await?;
    if global > 0 {
        uses.push(format!("{global} user(s) as global tree group"));
    }
    let system = user_system_group::Entity::find()
        .filter(user_system_group::Column::PermissionGroupId.eq(group_id))
        .count(conn)
        .await?;
    if system > 0 {
        uses.push(format!("{system} user(s) as system group"));
    }
    let activities = activity_allowed_group::Entity::find()
        .filter(activity_allowed_group::Column::PermissionGroupId.eq(group_id))
        .count(conn)
        .await?;
    if activities > 0 {
        uses.push(format!("{activities} activity(ies) as allowed group"));
    }
    Ok(uses)
}

pub async fn delete_group(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    group_id: i64,
) -> Result<(), DomainError> {
    require_catalogue_manage(actor)?;
    let before =
        permission_group::Entity::find_by_id(group_id).one(db).await?.ok_or(DomainError::NotFound)?;
    // Checked inside the transaction so that the answer and the delete agree as far
    // as the database lets them; the foreign keys are the last word.
    let txn = write_transaction(db).await?;
    let uses = group_uses(&txn, group_id).await?;
    if !uses.is_empty() {
        return Err(DomainError::Conflict(format!(
            "the group {} is still used by {}",
            before.key,
            uses.join(", ")
        )));
    }
    let permissions = permissions_of(&txn, group_id).await?;
    permission_group_permission::Entity::delete_many()
        .filter(permission_group_permission::Column::PermissionGroupId.eq(group_id))
        .exec(&txn)
        .await?;
    permission_group::Entity::delete_by_id(group_id).exec(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "permission_group.delete",
            "permission_group",
            group_id,
            Some(group_snapshot(&before, &permissions)),
            None,
        ),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(())
}

/// R8: an activity allows only existing MEMBERSHIP groups.
async fn validate_allowed_groups<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<i64>, DomainError> {
    let wanted: BTreeSet<i64> = ids.iter().copied().collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let groups = permission_group::Entity::find()
        .filter(permission_group::Column::Id.is_in(wanted.iter().copied()))
        .all(conn)
        .await?;
    if groups.len() != wanted.len() {
        return Err(DomainError::bad_input("allowedGroupIds", "no such permission group"));
    }
    if let Some(g) = groups.iter().find(|g| g.kind != GroupKind::Membership) {
        return Err(DomainError::bad_input(
            "allowedGroupIds",
            format!("{} is a SYSTEM group and cannot be given with an activity (R8)", g.key),
        ));
    }
    Ok(wanted.into_iter().collect())
}

async fn write_allowed_groups<C: ConnectionTrait>(
    conn: &C,
    activity_id: i64,
    ids: &[i64],
) -> Result<(), DbErr> {
    activity_allowed_group::Entity::delete_many()
        .filter(activity_allowed_group::Column::ActivityId.eq(activity_id))
        .exec(conn)
        .await?;
    if !ids.is_empty() {
        activity_allowed_group::Entity::insert_many(ids.iter().map(|g| {
            activity_allowed_group::ActiveModel {
                activity_id: Set(activity_id),
                permission_group_id: Set(*g),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(())
}

/// The allowed groups of an activity, in id order.
pub async fn allowed_group_ids<C: ConnectionTrait>(conn: &C, activity_id: i64) -> Result<Vec<i64>, DbErr> {
    Ok(activity_allowed_group::Entity::find()
        .filter(activity_allowed_group::Column::ActivityId.eq(activity_id))
        .order_by_asc(activity_allowed_group::Column::PermissionGroupId)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.permission_group_id)
        .collect())
}

async fn name_taken<C: ConnectionTrait>(
    conn: &C,
    level_id: i64,
    name: &str,
    except: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = activity::Entity::find()
        .filter(activity::Column::LevelId.eq(level_id))
        .filter(activity::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(activity::Column::Id.ne(id));
    }
    Ok(q.one(conn).await?.is_some())
}

pub async fn create_activity(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    input: NewActivity<'_>,
) -> Result<activity::Model, DomainError> {
    require_catalogue_manage(actor)?;
    let name = validate::text("name", input.name, MAX_NAME_LEN)?;
    let Some(level) = level::Entity::find_by_id(input.level_id).one(db).await? else {
        return Err(DomainError::bad_input("levelId", "no such level"));
    };
    let allowed = validate_allowed_groups(db, input.allowed_group_ids).await?;
    if name_taken(db, level.id, &name, None).await? {
        return Err(DomainError::taken(&failure::ACTIVITY_NAME));
    }
    let txn = write_transaction(db).await?;
    let row = activity::ActiveModel { name: Set(name), level_id: Set(level.id), ..Default::default() }
        .insert(&txn)
        .await?;
    write_allowed_groups(&txn, row.id, &allowed).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("activity.create", "activity", row.id, None, Some(activity_snapshot(&row, &allowed))),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(row)
}

/// Existing assignments keep their groups when the allowed set shrinks: R9 is
/// checked when an assignment is made or changed.
pub async fn update_activity(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    activity_id: i64,
    change: ActivityChange<'_>,
) -> Result<activity::Model, DomainError> {
    require_catalogue_manage(actor)?;
    let before = activity::Entity::find_by_id(activity_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let name = change.name.map(|n| validate::text("name", n, MAX_NAME_LEN)).transpose()?;
    let new_allowed = match change.allowed_group_ids {
        Some(ids) => Some(validate_allowed_groups(db, ids).await?),
        None => None,
    };
    if let Some(name) = &name
        && name_taken(db, before.level_id, name, Some(activity_id)).await?
    {
        return Err(DomainError::taken(&failure::ACTIVITY_NAME));
    }
    let old_allowed = allowed_group_ids(db, activity_id).await?;
    let txn = write_transaction(db).await?;
    let mut active = before.clone().into_active_model();
    if let Some(name) = name {
        active.name = Set(name);
    }
    // An unchanged model is not written (SeaORM refuses an empty UPDATE).
    let after = if active.is_changed() { active.update(&txn).await? } else { before.clone() };
    if let Some(allowed) = &new_allowed {
        write_allowed_groups(&txn, activity_id, allowed).await?;
    }
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "activity.update",
            "activity",
            activity_id,
            Some(activity_snapshot(&before, &old_allowed)),
            Some(activity_snapshot(&after, new_allowed.as_deref().unwrap_or(&old_allowed))),
        ),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(after)
}

pub async fn delete_activity(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    activity_id: i64,
) -> Result<(), DomainError> {
    require_catalogue_manage(actor)?;
    let before = activity::Entity::find_by_id(activity_id).one(db).await?.ok_or(DomainError::NotFound)?;
    let txn = write_transaction(db).await?;
    let used =
        assignment::Entity::find().filter(assignment::Column::ActivityId.eq(activity_id)).count(&txn).await?;
    if used > 0 {
        return Err(DomainError::Conflict(format!(
            "the activity {} is used by {used} assignment(s)",
            before.name
        )));
    }
    let allowed = allowed_group_ids(&txn, activity_id).await?;
    activity_allowed_group::Entity::delete_many()
        .filter(activity_allowed_group::Column::ActivityId.eq(activity_id))
        .exec(&txn)
        .await?;
    activity::Entity::delete_by_id(activity_id).exec(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "activity.delete",
            "activity",
            activity_id,
            Some(activity_snapshot(&before, &allowed)),
            None,
        ),
    )
    .await?;
    // Every instance drops its catalogue snapshot and cached grants at commit.
    notify::announce(&txn, Change::Everything).await?;
    txn.commit().await?;
    Ok(())
}
