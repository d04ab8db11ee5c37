//! The catalogue: permission groups, activities and levels, and their mutations
//! (catalogue.manage).
use super::id::{self, Kind};
use crate::authz::catalogue::GroupInfo;
use async_graphql::{Context, ID, Object};
use entity::activity;

/// A named set of permissions (Rechtegruppe), of kind MEMBERSHIP or SYSTEM.
#[derive(Debug, Clone)]
pub struct PermissionGroup(pub GroupInfo);

#[Object]
impl PermissionGroup {
    pub async fn id(&self) -> ID {
        id::encode(Kind::PermissionGroup, self.0.id)
    }
}

/// An office that exists on one level (Tätigkeit).
#[derive(Debug, Clone)]
pub struct Activity(pub activity::Model);

#[Object]
impl Activity {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Activity, self.0.id)
    }
}

pub async fn group_node(_ctx: &Context<'_>, _raw_id: i64) -> async_graphql::Result<Option<PermissionGroup>> {
    Ok(None)
}

pub async fn activity_node(_ctx: &Context<'_>, _raw_id: i64) -> async_graphql::Result<Option<Activity>> {
    Ok(None)
}

#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// Placeholder until the catalogue queries land.
    async fn catalogue_pending(&self) -> bool {
        false
    }
}

#[derive(Default)]
pub struct CatalogueMutation;

#[Object]
impl CatalogueMutation {
    /// Placeholder until the catalogue mutations land.
    async fn catalogue_pending(&self) -> bool {
        false
    }
}
