//! `OrgUnit`, `Level` and the units queries, under R14.
use super::connection::{PageInfo, page_size};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::Loaders;
use super::scalars::Date;
use super::{db, request};
use crate::authz::units::{can_see_unit, visible_units};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
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

/// A tier of the tree; rank 0 is the top.
#[derive(SimpleObject, Debug, Clone)]
pub struct Level {
    pub name: String,
    pub rank: i32,
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
        Ok(level.map(|l| Level { name: l.name, rank: l.rank }))
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
        self.matching.clone().count(db(ctx)?).await.map_err(gql)
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
    let mut rows = page.all(db(ctx)?).await.map_err(gql)?;
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

#[derive(Default)]
pub struct OrgUnitMutation;

#[Object]
impl OrgUnitMutation {
    /// Placeholder.
    async fn org_units_pending(&self) -> bool {
        false
    }
}
