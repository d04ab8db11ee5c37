//! The catalogue: permission groups, activities and levels, and their mutations
//! (catalogue.manage). Any signed-in caller may read the catalogue: front ends
//! offer its groups and activities as choices.
use super::access::PermissionName;
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::not_null;
use super::org_unit::Level;
use super::{db, request, signed_in};
use crate::authz::catalogue::{Catalogue, GroupInfo};
use crate::authz::{Authz, Invalidate, Permission};
use crate::domain::catalogue_admin::{self, ActivityChange, GroupChange, NewActivity, NewGroup};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use entity::{GroupKind, activity, level, permission_group};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;

/// MEMBERSHIP groups hold permissions at units (assignments, global tree group);
/// SYSTEM groups hold unscoped permissions of a user (system groups). Kinds never
/// mix (R8).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "GroupKind")]
pub enum GroupKindName {
    Membership,
    System,
}

impl From<GroupKind> for GroupKindName {
    fn from(k: GroupKind) -> Self {
        match k {
            GroupKind::Membership => Self::Membership,
            GroupKind::System => Self::System,
        }
    }
}

impl From<GroupKindName> for GroupKind {
    fn from(k: GroupKindName) -> Self {
        match k {
            GroupKindName::Membership => Self::Membership,
            GroupKindName::System => Self::System,
        }
    }
}

/// A named set of permissions (Rechtegruppe), of kind MEMBERSHIP or SYSTEM.
#[derive(Debug, Clone)]
pub struct PermissionGroup(pub GroupInfo);

/// A named set of permissions (Rechtegruppe). MEMBERSHIP groups are given with
/// assignments or as a global tree group; SYSTEM groups are given to users
/// directly (R8).
#[Object]
impl PermissionGroup {
    pub async fn id(&self) -> ID {
        id::encode(Kind::PermissionGroup, self.0.id)
    }

    /// The stable technical name, e.g. `state_treasurer`.
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// The display name, e.g. "Schatzmeister LV (Lesend)".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// MEMBERSHIP or SYSTEM; never changes.
    async fn kind(&self) -> GroupKindName {
        self.0.kind.into()
    }

    /// What the group is for, in the users' words.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Every permission the group grants.
    async fn permissions(&self) -> Vec<PermissionName> {
        self.0.permissions.iter().filter_map(PermissionName::from_permission).collect()
    }
}

/// An office that exists on one level (Tätigkeit), e.g. "Landesschatzmeister/in".
#[derive(Debug, Clone)]
pub struct Activity(pub activity::Model);

/// An office that exists on one level (Tätigkeit), held by members through
/// assignments.
#[Object]
impl Activity {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Activity, self.0.id)
    }

    /// The office's name, e.g. "Landesschatzmeister/in"; unique on its level.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The id of the activity's level (for `activities(levelId)` and
    /// `createActivity`).
    async fn level_id(&self) -> ID {
        id::encode(Kind::Level, self.0.level_id)
    }

    /// The level of the units the activity can be held in (R9).
    async fn level(&self, ctx: &Context<'_>) -> async_graphql::Result<Level> {
        let level = ctx.data::<Loaders>()?.level.load_one(self.0.level_id).await.map_err(load_error)?;
        level.map(Level::from).ok_or_else(|| gql(ApiError::Internal))
    }

    /// The permission groups an assignment of this activity may give, as level or
    /// tree group (R9).
    async fn allowed_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PermissionGroup>> {
        // Batched across the activities of a list.
        let rows = ctx.data::<Loaders>()?.allowed_groups.load_one(self.0.id).await.map_err(load_error)?;
        let mut ids: Vec<i64> = rows.unwrap_or_default().into_iter().map(|g| g.permission_group_id).collect();
        ids.sort_unstable();
        let catalogue = catalogue(ctx).await?;
        Ok(ids.into_iter().filter_map(|id| catalogue.group(id).cloned().map(PermissionGroup)).collect())
    }
}

async fn catalogue(ctx: &Context<'_>) -> async_graphql::Result<Arc<Catalogue>> {
    ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)
}

/// `node(id)` for permission groups: any signed-in caller; null otherwise.
pub async fn group_node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<PermissionGroup>> {
    if request(ctx).grants.user_id().is_none() {
        return Ok(None);
    }
    Ok(catalogue(ctx).await?.group(raw_id).cloned().map(PermissionGroup))
}

/// `node(id)` for activities: any signed-in caller; null otherwise.
pub async fn activity_node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Activity>> {
    if request(ctx).grants.user_id().is_none() {
        return Ok(None);
    }
    let found = ctx.data::<Loaders>()?.activity.load_one(raw_id).await.map_err(load_error)?;
    Ok(found.map(Activity))
}

#[derive(Default)]
pub struct CatalogueQuery;

#[Object]
impl CatalogueQuery {
    /// The permission groups, optionally of one kind, in the order they were made.
    /// For any signed-in caller.
    async fn permission_groups(
        &self,
        ctx: &Context<'_>,
        kind: Option<GroupKindName>,
    ) -> async_graphql::Result<Vec<PermissionGroup>> {
        signed_in(ctx)?;
        let catalogue = catalogue(ctx).await?;
        let mut groups: Vec<PermissionGroup> = catalogue
            .groups()
            .filter(|g| kind.is_none_or(|k| g.kind == GroupKind::from(k)))
            .cloned()
            .map(PermissionGroup)
            .collect();
        groups.sort_by_key(|g| g.0.id);
        Ok(groups)
    }

    /// The activities, optionally only those of one level, by level and name.
    /// For any signed-in caller.
    async fn activities(
        &self,
        ctx: &Context<'_>,
        level_id: Option<ID>,
    ) -> async_graphql::Result<Vec<Activity>> {
        signed_in(ctx)?;
        let mut q = activity::Entity::find();
        if let Some(level_id) = &level_id {
            q = q.filter(activity::Column::LevelId.eq(id::decode(level_id, Kind::Level, "levelId")?));
        }
        let rows = q
            .order_by_asc(activity::Column::LevelId)
            .order_by_asc(activity::Column::Name)
            .all(&*db(ctx).await?)
            .await
            .map_err(gql)?;
        Ok(rows.into_iter().map(Activity).collect())
    }

    /// The levels of the tree, top (rank 0) first. For any signed-in caller.
    async fn levels(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Level>> {
        signed_in(ctx)?;
        let rows = level::Entity::find()
            .order_by_asc(level::Column::Rank)
            .all(&*db(ctx).await?)
            .await
            .map_err(gql)?;
        Ok(rows.into_iter().map(Level::from).collect())
    }
}

/// A new permission group.
#[derive(InputObject)]
pub struct CreatePermissionGroupInput {
    /// Unique technical name: a-z, 0-9 and _, starting with a letter.
    pub key: String,
    pub name: String,
    pub kind: GroupKindName,
    pub description: Option<String>,
    /// All of the group's kind (R8).
    pub permissions: Vec<PermissionName>,
}

/// Changes to a permission group; omitted fields stay as they are. The kind never
/// changes.
#[derive(InputObject)]
pub struct UpdatePermissionGroupInput {
    pub name: MaybeUndefined<String>,
    /// null or "" removes it.
    pub description: MaybeUndefined<String>,
    /// Replaces all of the group's permissions; all of the group's kind (R8).
    pub permissions: MaybeUndefined<Vec<PermissionName>>,
}

/// A new activity.
#[derive(InputObject)]
pub struct CreateActivityInput {
    /// Unique on its level.
    pub name: String,
    pub level_id: ID,
    /// MEMBERSHIP groups only (R8).
    pub allowed_group_ids: Vec<ID>,
}

/// Changes to an activity; omitted fields stay as they are. The level never changes.
#[derive(InputObject)]
pub struct UpdateActivityInput {
    pub name: MaybeUndefined<String>,
    /// Replaces the allowed groups; MEMBERSHIP groups only (R8). Existing
    /// assignments keep their groups.
    pub allowed_group_ids: MaybeUndefined<Vec<ID>>,
}

fn permissions(names: &[PermissionName]) -> Vec<Permission> {
    names.iter().copied().map(Permission::from).collect()
}

fn group_ids(ids: &[ID], field: &str) -> async_graphql::Result<Vec<i64>> {
    ids.iter().map(|g| id::decode(g, Kind::PermissionGroup, field)).collect()
}

/// Drops every cached grant and catalogue snapshot (the change affects anyone
/// holding the group), then answers from the fresh catalogue.
async fn changed_group(
    ctx: &Context<'_>,
    row: permission_group::Model,
) -> async_graphql::Result<PermissionGroup> {
    let authz = ctx.data::<Arc<Authz>>()?;
    authz.everything_changed();
    let catalogue = authz.catalogue().await.map_err(gql)?;
    catalogue.group(row.id).cloned().map(PermissionGroup).ok_or_else(|| gql(ApiError::NotFound))
}

#[derive(Default)]
pub struct CatalogueMutation;

#[Object]
impl CatalogueMutation {
    /// Creates a permission group (catalogue.manage). BAD_USER_INPUT `permissions`
    /// when a permission is not of the group's kind (R8); CONFLICT when the key is
    /// taken.
    async fn create_permission_group(
        &self,
        ctx: &Context<'_>,
        input: CreatePermissionGroupInput,
    ) -> async_graphql::Result<PermissionGroup> {
        signed_in(ctx)?;
        let req = request(ctx);
        let perms = permissions(&input.permissions);
        let row = catalogue_admin::create_group(
            &*db(ctx).await?,
            &req.actor(),
            NewGroup {
                key: &input.key,
                name: &input.name,
                kind: input.kind.into(),
                description: input.description.as_deref(),
                permissions: &perms,
            },
        )
        .await
        .map_err(gql)?;
        changed_group(ctx, row).await
    }

    /// Changes a permission group's name, description or permissions
    /// (catalogue.manage). Takes effect for every holder of the group at once.
    async fn update_permission_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePermissionGroupInput,
    ) -> async_graphql::Result<PermissionGroup> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::PermissionGroup, "id")?;
        let req = request(ctx);
        let perms = not_null("permissions", input.permissions)?.as_deref().map(permissions);
        let name = not_null("name", input.name)?;
        // An empty description is none: null removes it the same way.
        let description = match input.description {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(String::new()),
            MaybeUndefined::Value(d) => Some(d),
        };
        let row = catalogue_admin::update_group(
            &*db(ctx).await?,
            &req.actor(),
            raw,
            GroupChange {
                name: name.as_deref(),
                description: description.as_deref(),
                permissions: perms.as_deref(),
            },
        )
        .await
        .map_err(gql)?;
        changed_group(ctx, row).await
    }

    /// Deletes a permission group (catalogue.manage). CONFLICT while any
    /// assignment, user (global tree group or system group) or activity uses it.
    async fn delete_permission_group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::PermissionGroup, "id")?;
        catalogue_admin::delete_group(&*db(ctx).await?, &request(ctx).actor(), raw).await.map_err(gql)?;
        ctx.data::<Arc<Authz>>()?.everything_changed();
        Ok(true)
    }

    /// Creates an activity on a level (catalogue.manage). Its allowed groups must
    /// be MEMBERSHIP groups (R8).
    async fn create_activity(
        &self,
        ctx: &Context<'_>,
        input: CreateActivityInput,
    ) -> async_graphql::Result<Activity> {
        signed_in(ctx)?;
        let level_id = id::decode(&input.level_id, Kind::Level, "levelId")?;
        let allowed = group_ids(&input.allowed_group_ids, "allowedGroupIds")?;
        let row = catalogue_admin::create_activity(
            &*db(ctx).await?,
            &request(ctx).actor(),
            NewActivity { name: &input.name, level_id, allowed_group_ids: &allowed },
        )
        .await
        .map_err(gql)?;
        ctx.data::<Arc<Authz>>()?.everything_changed();
        Ok(Activity(row))
    }

    /// Renames an activity or replaces its allowed groups (catalogue.manage).
    async fn update_activity(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateActivityInput,
    ) -> async_graphql::Result<Activity> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Activity, "id")?;
        let allowed = not_null("allowedGroupIds", input.allowed_group_ids)?
            .as_deref()
            .map(|ids| group_ids(ids, "allowedGroupIds"))
            .transpose()?;
        let name = not_null("name", input.name)?;
        let row = catalogue_admin::update_activity(
            &*db(ctx).await?,
            &request(ctx).actor(),
            raw,
            ActivityChange { name: name.as_deref(), allowed_group_ids: allowed.as_deref() },
        )
        .await
        .map_err(gql)?;
        ctx.data::<Arc<Authz>>()?.everything_changed();
        Ok(Activity(row))
    }

    /// Deletes an activity (catalogue.manage). CONFLICT while assignments use it.
    async fn delete_activity(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        signed_in(ctx)?;
        let raw = id::decode(&id, Kind::Activity, "id")?;
        catalogue_admin::delete_activity(&*db(ctx).await?, &request(ctx).actor(), raw).await.map_err(gql)?;
        ctx.data::<Arc<Authz>>()?.everything_changed();
        Ok(true)
    }
}
