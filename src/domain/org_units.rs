//! Units of the tree: creating one below a parent needs unit.write at the parent
//! (R13); changing one needs unit.write at it; ARCHIVED units are read-only (R14)
//! except for being brought back.
use super::members::{unit_for_write, writable};
use super::{Actor, DomainError, audit, validate};
use crate::authz::Permission;
use crate::db::write_transaction;
use chrono::NaiveDate;
use entity::{OrgUnitStatus, Visibility, level, org_unit};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

pub struct NewOrgUnit {
    pub parent_id: i64,
    pub name: String,
    pub short_name: Option<String>,
    /// The level right below the parent's when absent.
    pub level_id: Option<i64>,
    pub visibility: Visibility,
    pub status: OrgUnitStatus,
    pub ends_on: Option<NaiveDate>,
}

fn unit_json(u: &org_unit::Model) -> serde_json::Value {
    json!({
        "parent_id": u.parent_id, "level_id": u.level_id, "name": u.name, "short_name": u.short_name,
        "status": u.status.as_str(), "visibility": u.visibility.as_str(), "ends_on": u.ends_on, "path": u.path,
    })
}

/// createOrgUnit: unit.write at the parent (R13); the level must lie below the
/// parent's (the next one by default).
pub async fn create_org_unit(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    input: NewOrgUnit,
) -> Result<org_unit::Model, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    let parent =
        unit_for_write(&txn, actor.grants, input.parent_id, "parentId", Some(Permission::UnitWrite)).await?;
    if !crate::authz::members::writes::may_create_unit_below(actor.grants, &parent.path) {
        return Err(DomainError::denied(
            Permission::UnitWrite,
            format!("you do not hold unit.write at {} (R13)", parent.name),
        ));
    }
    writable(&parent)?;
    let name = validate::text("name", &input.name, 200)?;
    let short_name = validate::optional_text("shortName", input.short_name.as_deref(), 32)?;
    if input.status == OrgUnitStatus::Archived {
        return Err(DomainError::bad_input("status", "a new unit cannot be archived"));
    }
    let parent_level =
        level::Entity::find_by_id(parent.level_id).one(&txn).await?.ok_or(DomainError::NotFound)?;
    let level = match input.level_id {
        Some(id) => level::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| DomainError::bad_input("levelId", "no such level"))?,
        None => level::Entity::find()
            .filter(level::Column::Rank.gt(parent_level.rank))
            .order_by_asc(level::Column::Rank)
            .one(&txn)
            .await?
            .ok_or_else(|| {
                DomainError::bad_input("levelId", format!("there is no level below {}", parent_level.name))
            })?,
    };
    if level.rank <= parent_level.rank {
        return Err(DomainError::bad_input(
            "levelId",
            format!("a unit on level {} cannot lie below one on level {}", level.name, parent_level.name),
        ));
    }
    // The path needs the id: insert with a placeholder that cannot collide with a
    // real path (those start with '/'), then set it.
    let placeholder = format!("~{}-{}", actor.now.timestamp_nanos_opt().unwrap_or_default(), parent.id);
    let row = org_unit::ActiveModel {
        parent_id: Set(Some(parent.id)),
        level_id: Set(level.id),
        name: Set(name),
        short_name: Set(short_name),
        status: Set(input.status),
        visibility: Set(input.visibility),
        ends_on: Set(input.ends_on),
        path: Set(placeholder),
        depth: Set(parent.depth + 1),
        created_at: Set(actor.now),
        updated_at: Set(actor.now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let path = org_unit::child_path(&parent.path, row.id);
    let mut active = row.into_active_model();
    active.path = Set(path);
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit("org_unit.create", "org_unit", row.id, None, Some(unit_json(&row))),
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

#[derive(Default)]
pub struct OrgUnitChanges {
    pub name: Option<String>,
    pub short_name: super::members::Patch<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<OrgUnitStatus>,
    pub ends_on: super::members::Patch<NaiveDate>,
}

/// updateOrgUnit: unit.write at the unit. An ARCHIVED unit is read-only: the only
/// change it takes is its status (bringing it back).
pub async fn update_org_unit(
    db: &DatabaseConnection,
    actor: &Actor<'_>,
    unit_id: i64,
    changes: OrgUnitChanges,
) -> Result<org_unit::Model, DomainError> {
    actor.signed_in()?;
    let txn = write_transaction(db).await?;
    // Locked for the update: concurrent changes of one unit take turns instead of
    // overwriting each other, and writes into it wait for an archiving to commit.
    org_unit::Entity::find_by_id(unit_id).lock_exclusive().one(&txn).await?;
    let unit = unit_for_write(&txn, actor.grants, unit_id, "id", Some(Permission::UnitWrite)).await?;
    if !actor.grants.holds_at(Permission::UnitWrite, &unit.path) {
        return Err(DomainError::denied(
            Permission::UnitWrite,
            format!("you do not hold unit.write at {} (R13)", unit.name),
        ));
    }
    let only_status = changes.name.is_none()
        && changes.short_name.is_none()
        && changes.visibility.is_none()
        && changes.ends_on.is_none();
    if !only_status {
        writable(&unit)?;
    }
    let before = unit.clone();
    let mut u = unit;
    if let Some(v) = &changes.name {
        u.name = validate::text("name", v, 200)?;
    }
    if let Some(v) = &changes.short_name {
        u.short_name = validate::optional_text("shortName", v.as_deref(), 32)?;
    }
    if let Some(v) = changes.visibility {
        u.visibility = v;
    }
    if let Some(v) = changes.status {
        u.status = v;
    }
    if let Some(v) = changes.ends_on {
        u.ends_on = v;
    }
    u.updated_at = actor.now;
    let saved = u.into_active_model().reset_all().update(&txn).await?;
    audit::record(
        &txn,
        actor.now,
        actor.audit(
            "org_unit.update",
            "org_unit",
            unit_id,
            Some(unit_json(&before)),
            Some(unit_json(&saved)),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Fee totals of a subtree in one calendar year.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeeTotals {
    pub cents: i64,
    pub payments: i64,
    pub paying_members: i64,
}

/// One aggregate statement over the payments of the members of the subtree of
/// `path` (an index range on the materialized path), paid within `year`.
pub async fn fee_totals(db: &DatabaseConnection, path: &str, year: i32) -> Result<FeeTotals, DomainError> {
    use entity::{member, payment};
    use sea_orm::sea_query::{Alias, Expr, Func, Query};
    use sea_orm::{ConnectionTrait, ExprTrait};
    let (Some(first), Some(last)) =
        (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31))
    else {
        return Err(DomainError::bad_input("year", "not a calendar year"));
    };
    let units = Query::select()
        .column(org_unit::Column::Id)
        .from(org_unit::Entity)
        .cond_where(org_unit::in_subtree(path))
        .take();
    let members = Query::select()
        .column(member::Column::Id)
        .from(member::Entity)
        .and_where(member::Column::HomeUnitId.in_subquery(units))
        .take();
    let stmt = Query::select()
        // SUM is NUMERIC on PostgreSQL; the total of cents fits a BIGINT.
        .expr_as(
            Expr::expr(Func::coalesce([Expr::col(payment::Column::AmountCents).sum(), Expr::val(0i64)]))
                .cast_as(Alias::new("BIGINT")),
            "cents",
        )
        .expr_as(Expr::col(payment::Column::Id).count(), "payments")
        .expr_as(Expr::col(payment::Column::MemberId).count_distinct(), "paying_members")
        .from(payment::Entity)
        .and_where(payment::Column::MemberId.in_subquery(members))
        .and_where(payment::Column::PaidOn.gte(first))
        .and_where(payment::Column::PaidOn.lte(last))
        .take();
    let Some(row) = db.query_one(&stmt).await? else { return Ok(FeeTotals::default()) };
    Ok(FeeTotals {
        cents: row.try_get("", "cents")?,
        payments: row.try_get("", "payments")?,
        paying_members: row.try_get("", "paying_members")?,
    })
}
