//! `OrgUnit`, `Level` and the units queries, under R14.
use super::access::PermissionName;
use super::assignment::Assignment;
use super::connection::{PageInfo, page_size};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::Loaders;
use super::member::{MemberConnection, MemberFilter, MemberOrder, MemberStatus, permission_names};
use super::not_null;
use super::redaction::redact;
use super::scalars::Date;
use super::{db, request, signed_in};
use crate::authz::Permission;
use crate::authz::units::{can_see_unit, visible_units};
use crate::domain::org_units;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::Datelike;
use entity::org_unit;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "OrgUnitStatus")]
pub enum OrgUnitStatus {
    Draft,
    Active,
    Ended,
    Archived,
}

impl From<entity::OrgUnitStatus> for OrgUnitStatus {
    fn from(s: entity::OrgUnitStatus) -> Self {
        match s {
            entity::OrgUnitStatus::Draft => Self::Draft,
            entity::OrgUnitStatus::Active => Self::Active,
            entity::OrgUnitStatus::Ended => Self::Ended,
            entity::OrgUnitStatus::Archived => Self::Archived,
        }
    }
}

impl From<OrgUnitStatus> for entity::OrgUnitStatus {
    fn from(s: OrgUnitStatus) -> Self {
        match s {
            OrgUnitStatus::Draft => Self::Draft,
            OrgUnitStatus::Active => Self::Active,
            OrgUnitStatus::Ended => Self::Ended,
            OrgUnitStatus::Archived => Self::Archived,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Visibility")]
pub enum Visibility {
    Public,
    Internal,
    Restricted,
    Hidden,
}

impl From<entity::Visibility> for Visibility {
    fn from(v: entity::Visibility) -> Self {
        match v {
            entity::Visibility::Public => Self::Public,
            entity::Visibility::Internal => Self::Internal,
            entity::Visibility::Restricted => Self::Restricted,
            entity::Visibility::Hidden => Self::Hidden,
        }
    }
}

impl From<Visibility> for entity::Visibility {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Public => Self::Public,
            Visibility::Internal => Self::Internal,
            Visibility::Restricted => Self::Restricted,
            Visibility::Hidden => Self::Hidden,
        }
    }
}

/// A tier of the tree; rank 0 is the top.
#[derive(SimpleObject, Debug, Clone)]
pub struct Level {
    pub id: ID,
    pub name: String,
    pub rank: i32,
}

impl From<entity::level::Model> for Level {
    fn from(l: entity::level::Model) -> Self {
        Level { id: id::encode(Kind::Level, l.id), name: l.name, rank: l.rank }
    }
}

/// A node of the organisation tree (Gliederung).
#[derive(Debug, Clone)]
pub struct OrgUnit(pub org_unit::Model);

#[Object]
impl OrgUnit {
    pub async fn id(&self) -> ID {
        id::encode(Kind::OrgUnit, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn short_name(&self) -> Option<&str> {
        self.0.short_name.as_deref()
    }

    async fn status(&self) -> OrgUnitStatus {
        self.0.status.into()
    }

    async fn visibility(&self) -> Visibility {
        self.0.visibility.into()
    }

    /// The last day of the unit, if it is set to end.
    async fn ends_on(&self) -> Option<Date> {
        self.0.ends_on.map(Date)
    }

    /// Distance from the root (0 for the root).
    async fn depth(&self) -> i32 {
        self.0.depth
    }

    async fn level(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Level>> {
        let loaders = ctx.data::<Loaders>()?;
        let level =
            loaders.level.load_one(self.0.level_id).await.map_err(|e| gql(ApiError::from((*e).clone())))?;
        Ok(level.map(Level::from))
    }

    /// The parent unit; null for the root and when the parent is not visible.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnit>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        let loaders = ctx.data::<Loaders>()?;
        let parent =
            loaders.org_unit.load_one(parent_id).await.map_err(|e| gql(ApiError::from((*e).clone())))?;
        let grants = &request(ctx).grants;
        Ok(parent.filter(|u| can_see_unit(grants, u)).map(OrgUnit))
    }

    /// What the caller holds at this unit (R1–R4), so a front end can offer exactly
    /// the actions that will succeed.
    async fn viewer_permissions(&self, ctx: &Context<'_>) -> Vec<PermissionName> {
        permission_names(request(ctx).grants.at_unit(&self.0.path))
    }

    /// The members of this unit (and, with `includeDescendants`, of the units
    /// below) that the caller may see (R11, R16), as a Relay connection.
    #[allow(clippy::too_many_arguments)] // GraphQL arguments, one per filter
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_descendants: bool,
        status: Option<Vec<MemberStatus>>,
        search: Option<String>,
        #[graphql(default)] order_by: MemberOrder,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<MemberConnection> {
        let filter = MemberFilter {
            org_unit_id: Some(id::encode(Kind::OrgUnit, self.0.id)),
            include_descendants,
            status,
            search,
        };
        super::member::list(ctx, filter, order_by, first, after).await
    }

    /// Membership-fee totals of this unit and everything below it for a calendar
    /// year (this year when omitted). Unit finance data needs unit.read_finance at
    /// the unit (R14); null and listed in `extensions.redacted` otherwise.
    #[graphql(complexity = 20)]
    async fn finance(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
    ) -> async_graphql::Result<Option<UnitFinance>> {
        let req = request(ctx);
        if !req.grants.holds_at(Permission::UnitReadFinance, &self.0.path) {
            redact(ctx, Permission::UnitReadFinance);
            return Ok(None);
        }
        let year = year.unwrap_or_else(|| req.today.year());
        let totals = org_units::fee_totals(&*db(ctx).await?, &self.0.path, year)
            .await
            .map_err(|e| gql(ApiError::from(e)))?;
        Ok(Some(UnitFinance {
            year,
            payments_cents: totals.cents,
            payments: totals.payments,
            paying_members: totals.paying_members,
        }))
    }

    /// The offices held at this unit that the caller may see.
    async fn assignments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Assignment>> {
        super::assignment::of_unit(ctx, &self.0).await
    }
}

/// Membership fees received by a unit and its subtree in one calendar year.
#[derive(SimpleObject, Debug, Clone)]
pub struct UnitFinance {
    pub year: i32,
    /// Sum of the payments received (paid on a day of the year), in cents.
    pub payments_cents: i64,
    /// Number of payments.
    pub payments: i64,
    /// Members with at least one payment.
    pub paying_members: i64,
}

pub struct OrgUnitEdge {
    node: OrgUnit,
}

#[Object]
impl OrgUnitEdge {
    async fn node(&self) -> &OrgUnit {
        &self.node
    }

    async fn cursor(&self) -> String {
        id::cursor(self.node.0.id)
    }
}

pub struct OrgUnitConnection {
    edges: Vec<OrgUnitEdge>,
    page_info: PageInfo,
    /// The filter without paging, for `totalCount` (run only when asked for).
    matching: Select<org_unit::Entity>,
}

#[Object]
impl OrgUnitConnection {
    async fn edges(&self) -> &[OrgUnitEdge] {
        &self.edges
    }

    async fn nodes(&self) -> Vec<&OrgUnit> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// All units matching the filter that the caller may see, across pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        self.matching.clone().count(&*db(ctx).await?).await.map_err(gql)
    }
}

pub async fn find_visible(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<OrgUnit>> {
    let loaders = ctx.data::<Loaders>()?;
    let unit = loaders.org_unit.load_one(raw_id).await.map_err(|e| gql(ApiError::from((*e).clone())))?;
    let grants = &request(ctx).grants;
    Ok(unit.filter(|u| can_see_unit(grants, u)).map(OrgUnit))
}

pub async fn list(
    ctx: &Context<'_>,
    parent_id: Option<ID>,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<OrgUnitConnection> {
    let limit = page_size(first)?;
    let after = after.as_deref().map(|c| id::decode_cursor(c, "after")).transpose()?;
    let grants = &request(ctx).grants;
    let mut matching = org_unit::Entity::find().filter(visible_units(grants));
    if let Some(parent) = &parent_id {
        let parent = id::decode(parent, Kind::OrgUnit, "parentId")?;
        // Children are listed only below a parent the caller may see, in the same
        // statement, so an invisible unit's children don't reveal it exists.
        let visible_parent = Query::select()
            .column(org_unit::Column::Id)
            .from(org_unit::Entity)
            .and_where(org_unit::Column::Id.eq(parent))
            .cond_where(visible_units(grants))
            .take();
        matching = matching.filter(org_unit::Column::ParentId.in_subquery(visible_parent));
    }
    let mut page = matching.clone().order_by_asc(org_unit::Column::Id).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(org_unit::Column::Id.gt(after));
    }
    let mut rows = page.all(&*db(ctx).await?).await.map_err(gql)?;
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let edges: Vec<OrgUnitEdge> = rows.into_iter().map(|m| OrgUnitEdge { node: OrgUnit(m) }).collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: edges.first().map(|e| id::cursor(e.node.0.id)),
        end_cursor: edges.last().map(|e| id::cursor(e.node.0.id)),
    };
    Ok(OrgUnitConnection { edges, page_info, matching })
}

#[derive(InputObject, Debug, Clone)]
pub struct CreateOrgUnitInput {
    pub parent_id: ID,
    pub name: String,
    pub short_name: Option<String>,
    /// The level right below the parent's when omitted.
    pub level_id: Option<ID>,
    #[graphql(default_with = "Visibility::Internal")]
    pub visibility: Visibility,
    #[graphql(default_with = "OrgUnitStatus::Active")]
    pub status: OrgUnitStatus,
    pub ends_on: Option<Date>,
}

/// Only the fields given change; `null` clears an optional field and is refused
/// for a required one (a name, a status).
#[derive(InputObject, Debug, Clone, Default)]
pub struct UpdateOrgUnitInput {
    pub name: MaybeUndefined<String>,
    pub short_name: MaybeUndefined<String>,
    pub visibility: MaybeUndefined<Visibility>,
    /// ARCHIVED makes the unit read-only; an archived unit takes no other change.
    pub status: MaybeUndefined<OrgUnitStatus>,
    pub ends_on: MaybeUndefined<Date>,
}

fn patch<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

#[derive(Default)]
pub struct OrgUnitMutation;

#[Object]
impl OrgUnitMutation {
    /// Creates a unit below a parent: unit.write at the parent (R13).
    async fn create_org_unit(
        &self,
        ctx: &Context<'_>,
        input: CreateOrgUnitInput,
    ) -> async_graphql::Result<OrgUnit> {
        signed_in(ctx)?;
        let parent_id = id::decode(&input.parent_id, Kind::OrgUnit, "parentId")?;
        let level_id = input.level_id.as_ref().map(|l| id::decode(l, Kind::Level, "levelId")).transpose()?;
        let new = org_units::NewOrgUnit {
            parent_id,
            name: input.name,
            short_name: input.short_name,
            level_id,
            visibility: input.visibility.into(),
            status: input.status.into(),
            ends_on: input.ends_on.map(|d| d.0),
        };
        let req = request(ctx);
        let created = org_units::create_org_unit(&*db(ctx).await?, &req.actor(), new).await.map_err(gql)?;
        Ok(OrgUnit(created))
    }

    /// Changes a unit: unit.write at it (R13, R14).
    async fn update_org_unit(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOrgUnitInput,
    ) -> async_graphql::Result<OrgUnit> {
        signed_in(ctx)?;
        let unit_id = id::decode(&id, Kind::OrgUnit, "id")?;
        let changes = org_units::OrgUnitChanges {
            name: not_null("name", input.name)?,
            short_name: patch(input.short_name, |v| v),
            visibility: not_null("visibility", input.visibility)?.map(Into::into),
            status: not_null("status", input.status)?.map(Into::into),
            ends_on: patch(input.ends_on, |d| d.0),
        };
        let req = request(ctx);
        let saved = org_units::update_org_unit(&*db(ctx).await?, &req.actor(), unit_id, changes)
            .await
            .map_err(gql)?;
        Ok(OrgUnit(saved))
    }
}
