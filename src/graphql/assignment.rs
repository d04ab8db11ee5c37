//! `Assignment` (Tätigkeitszuordnung) and its mutations: assignActivity,
//! updateAssignment, endAssignment (R5, R8–R10, R14, R16).
use super::catalogue::{Activity, PermissionGroup};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::member::Member;
use super::not_null;
use super::org_unit::OrgUnit;
use super::scalars::{Date, DateTime};
use super::{db, request, signed_in};
use crate::authz::Authz;
use crate::authz::units::can_see_unit;
use crate::domain::assignments::{self as domain, AssignmentChanges, NewAssignment};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use entity::{assignment, org_unit};
use sea_orm::EntityTrait;
use std::collections::HashMap;
use std::sync::Arc;

/// Where an assignment stands. Only ACTIVE assignments grant rights, and only within
/// their dates (R5).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "AssignmentStatus")]
pub enum AssignmentStatus {
    /// In force (within its dates).
    Active,
    /// Asked for, not yet confirmed.
    Requested,
    /// Waiting for a free place.
    Waitlist,
    /// Marked for removal.
    ToDelete,
}

impl From<entity::AssignmentStatus> for AssignmentStatus {
    fn from(s: entity::AssignmentStatus) -> Self {
        match s {
            entity::AssignmentStatus::Active => Self::Active,
            entity::AssignmentStatus::Requested => Self::Requested,
            entity::AssignmentStatus::Waitlist => Self::Waitlist,
            entity::AssignmentStatus::ToDelete => Self::ToDelete,
        }
    }
}

impl From<AssignmentStatus> for entity::AssignmentStatus {
    fn from(s: AssignmentStatus) -> Self {
        match s {
            AssignmentStatus::Active => Self::Active,
            AssignmentStatus::Requested => Self::Requested,
            AssignmentStatus::Waitlist => Self::Waitlist,
            AssignmentStatus::ToDelete => Self::ToDelete,
        }
    }
}

/// Member X holds activity A in unit U, from/to, with a level and a tree group.
/// Visible to callers who may see the member and to callers holding assignment.write
/// at the unit.
#[derive(Debug, Clone)]
pub struct Assignment(pub assignment::Model);

#[Object]
impl Assignment {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Assignment, self.0.id)
    }

    /// The member holding the office; null when the caller may not see that member
    /// (e.g. an office at their unit held by a member of another unit).
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        super::member::find_visible(ctx, self.0.member_id).await
    }

    /// The office (Tätigkeit).
    async fn activity(&self, ctx: &Context<'_>) -> async_graphql::Result<Activity> {
        let loaders = ctx.data::<Loaders>()?;
        let activity = loaders.activity.load_one(self.0.activity_id).await.map_err(load_error)?;
        // The foreign key keeps the activity while an assignment refers to it.
        activity.map(Activity).ok_or_else(|| gql(ApiError::Internal))
    }

    /// The unit the office is held in; null when the caller may not see the unit.
    async fn org_unit(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        let loaders = ctx.data::<Loaders>()?;
        let unit = loaders.org_unit.load_one(self.0.org_unit_id).await.map_err(load_error)?;
        let grants = &request(ctx).grants;
        Ok(unit.filter(|u| can_see_unit(grants, u)).map(OrgUnit))
    }

    /// The permission group that applies at the unit itself (Rechtegruppe); null for
    /// none.
    async fn level_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PermissionGroup>> {
        group(ctx, self.0.level_group_id).await
    }

    /// The permission group that applies strictly below the unit (Rechtegruppe –
    /// Baum); null for none.
    async fn tree_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PermissionGroup>> {
        group(ctx, self.0.tree_group_id).await
    }

    /// The first day of the office.
    async fn starts_on(&self) -> Date {
        Date(self.0.starts_on)
    }

    /// The last day of the office (inclusive); null for an open end.
    async fn ends_on(&self) -> Option<Date> {
        self.0.ends_on.map(Date)
    }

    /// Only ACTIVE offices grant rights (R5).
    async fn status(&self) -> AssignmentStatus {
        self.0.status.into()
    }

    /// Does the office grant its groups' rights today: ACTIVE, and today within its
    /// dates (R5)?
    async fn effective(&self, ctx: &Context<'_>) -> bool {
        self.0.is_effective_on(request(ctx).today)
    }

    /// When the office was recorded.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// When the office was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
}

async fn group(ctx: &Context<'_>, id: Option<i64>) -> async_graphql::Result<Option<PermissionGroup>> {
    let Some(id) = id else { return Ok(None) };
    let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
    Ok(catalogue.group(id).cloned().map(PermissionGroup))
}

/// `node(id)` for assignments; null when missing or not visible.
pub async fn node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Assignment>> {
    let Some(row) = assignment::Entity::find_by_id(raw_id).one(&*db(ctx).await?).await.map_err(gql)? else {
        return Ok(None);
    };
    let loaders = ctx.data::<Loaders>()?;
    let Some(unit) = loaders.org_unit.load_one(row.org_unit_id).await.map_err(load_error)? else {
        return Ok(None);
    };
    let grants = &request(ctx).grants;
    // The member check goes through the caller's member loader: the same R11 decision
    // as `Assignment.member` (R16).
    let visible = domain::may_manage(grants, &unit)
        || loaders.member.load_one(row.member_id).await.map_err(load_error)?.flatten().is_some();
    Ok(visible.then_some(Assignment(row)))
}

/// The offices held at `unit` that the caller may see, ordered by activity, then
/// start date: all of them for callers holding assignment.write at the unit, else
/// those of members the caller may see.
pub async fn of_unit(ctx: &Context<'_>, unit: &org_unit::Model) -> async_graphql::Result<Vec<Assignment>> {
    // Batched across the units of a list.
    let mut rows = ctx
        .data::<Loaders>()?
        .assignments_by_unit
        .load_one(unit.id)
        .await
        .map_err(load_error)?
        .unwrap_or_default();
    rows.sort_by_key(|a| (a.activity_id, a.starts_on, a.id));
    let grants = &request(ctx).grants;
    if domain::may_manage(grants, unit) {
        return Ok(rows.into_iter().map(Assignment).collect());
    }
    let mut member_ids: Vec<i64> = rows.iter().map(|r| r.member_id).collect();
    member_ids.sort_unstable();
    member_ids.dedup();
    // One batched, caller-aware load for all members (R16).
    let visible: HashMap<i64, _> =
        ctx.data::<Loaders>()?.member.load_many(member_ids).await.map_err(load_error)?;
    Ok(rows
        .into_iter()
        .filter(|r| visible.get(&r.member_id).is_some_and(Option::is_some))
        .map(Assignment)
        .collect())
}

/// A new office for a member.
#[derive(InputObject)]
pub struct AssignActivityInput {
    /// The member taking the office.
    pub member_id: ID,
    /// The activity (Tätigkeit); it must exist on the unit's level.
    pub activity_id: ID,
    /// The unit the office is held in.
    pub org_unit_id: ID,
    /// The group that applies at the unit itself; one of the activity's allowed
    /// groups, or null for none.
    pub level_group_id: Option<ID>,
    /// The group that applies strictly below the unit; one of the activity's allowed
    /// groups, or null for none.
    pub tree_group_id: Option<ID>,
    /// The first day; defaults to today.
    pub starts_on: Option<Date>,
    /// The last day (inclusive); null or omitted for an open end.
    pub ends_on: Option<Date>,
    /// ACTIVE unless given; only ACTIVE offices grant rights (R5).
    #[graphql(default_with = "AssignmentStatus::Active")]
    pub status: AssignmentStatus,
}

/// Changes to an office. Omitted fields keep their value.
#[derive(InputObject)]
pub struct UpdateAssignmentInput {
    /// The group at the unit itself; null removes it.
    pub level_group_id: MaybeUndefined<ID>,
    /// The group strictly below the unit; null removes it.
    pub tree_group_id: MaybeUndefined<ID>,
    /// The first day.
    pub starts_on: MaybeUndefined<Date>,
    /// The last day (inclusive); null makes the end open.
    pub ends_on: MaybeUndefined<Date>,
    pub status: MaybeUndefined<AssignmentStatus>,
}

#[derive(Default)]
pub struct AssignmentMutation;

#[Object]
impl AssignmentMutation {
    /// Gives a member an office at a unit. Needs assignment.write at the unit, and no
    /// escalation (R10): every permission of the level group must be held by the
    /// caller at the unit, every permission of the tree group throughout the subtree
    /// below it. The groups must be allowed for the activity (R8, R9). Units and
    /// members the caller cannot see are BAD_USER_INPUT ("no such unit/member");
    /// ARCHIVED units are read-only (CONFLICT).
    async fn assign_activity(
        &self,
        ctx: &Context<'_>,
        input: AssignActivityInput,
    ) -> async_graphql::Result<Assignment> {
        signed_in(ctx)?;
        let req = request(ctx);
        let new = NewAssignment {
            member_id: id::decode(&input.member_id, Kind::Member, "memberId")?,
            activity_id: id::decode(&input.activity_id, Kind::Activity, "activityId")?,
            org_unit_id: id::decode(&input.org_unit_id, Kind::OrgUnit, "orgUnitId")?,
            level_group_id: decode_group(input.level_group_id.as_ref(), "levelGroupId")?,
            tree_group_id: decode_group(input.tree_group_id.as_ref(), "treeGroupId")?,
            starts_on: input.starts_on.map_or(req.today, |d| d.0),
            ends_on: input.ends_on.map(|d| d.0),
            status: input.status.into(),
        };
        let authz = ctx.data::<Arc<Authz>>()?;
        let catalogue = authz.catalogue().await.map_err(gql)?;
        let created = domain::create(&*db(ctx).await?, &req.actor(), &catalogue, authz.as_ref(), new)
            .await
            .map_err(gql)?;
        Ok(Assignment(created))
    }

    /// Changes an office's groups, dates or status. Needs assignment.write at its unit
    /// and R8–R10 for the resulting groups (also when they are unchanged: extending an
    /// office grants its groups for longer). NOT_FOUND for an office the caller cannot
    /// see.
    async fn update_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAssignmentInput,
    ) -> async_graphql::Result<Assignment> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Assignment, "id")?;
        let changes = AssignmentChanges {
            level_group_id: decode_change(input.level_group_id, "levelGroupId")?,
            tree_group_id: decode_change(input.tree_group_id, "treeGroupId")?,
            starts_on: not_null("startsOn", input.starts_on)?.map(|d| d.0),
            ends_on: match input.ends_on {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d.0)),
            },
            status: not_null("status", input.status)?.map(Into::into),
        };
        let authz = ctx.data::<Arc<Authz>>()?;
        let catalogue = authz.catalogue().await.map_err(gql)?;
        let req = request(ctx);
        let updated =
            domain::update(&*db(ctx).await?, &req.actor(), &catalogue, authz.as_ref(), raw, changes)
                .await
                .map_err(gql)?;
        Ok(Assignment(updated))
    }

    /// Ends an office: its last day becomes `endsOn` (default: today; yesterday takes
    /// its rights away at once). Needs assignment.write at its unit. Never moves an
    /// existing end later (use updateAssignment). NOT_FOUND for an office the caller
    /// cannot see.
    async fn end_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        ends_on: Option<Date>,
    ) -> async_graphql::Result<Assignment> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Assignment, "id")?;
        let req = request(ctx);
        let ends_on = ends_on.map_or(req.today, |d| d.0);
        let authz = ctx.data::<Arc<Authz>>()?;
        let ended =
            domain::end(&*db(ctx).await?, &req.actor(), authz.as_ref(), raw, ends_on).await.map_err(gql)?;
        Ok(Assignment(ended))
    }
}

fn decode_group(id: Option<&ID>, field: &str) -> async_graphql::Result<Option<i64>> {
    id.map(|g| id::decode(g, Kind::PermissionGroup, field)).transpose()
}

fn decode_change(value: MaybeUndefined<ID>, field: &str) -> async_graphql::Result<Option<Option<i64>>> {
    Ok(match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(g) => Some(Some(id::decode(&g, Kind::PermissionGroup, field)?)),
    })
}
