//! The GraphQL API: schema root, one module per domain type, loaders. Resolvers are
//! thin: they ask `authz` and read through `loaders` or one SQL statement per list.
pub mod access;
pub mod connection;
pub mod error;
pub mod id;
pub mod loaders;
pub mod org_unit;
pub mod scalars;
pub mod viewer;

pub use viewer::Mutation;

use crate::auth::Caller;
use crate::authz::Grants;
use crate::config::Settings;
use async_graphql::{Context, EmptySubscription, ID, Interface, Object, Schema, SchemaBuilder};
use chrono::NaiveDate;
use sea_orm::DatabaseConnection;
use std::sync::{Arc, LazyLock};

pub type VerbandSchema = Schema<Query, Mutation, EmptySubscription>;

/// Per-request data: who is calling, their grants (compiled once for the request)
/// and the day the rules are evaluated on.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Caller,
    pub grants: Arc<Grants>,
    /// The session of a signed-in caller (logout ends it).
    pub session_id: Option<String>,
    /// Set when the caller authenticated with an API token.
    pub api_token_id: Option<i64>,
    pub today: NaiveDate,
    pub request_id: Option<String>,
}

pub(crate) fn request<'a>(ctx: &'a Context<'_>) -> &'a RequestContext {
    // Every request executed by the HTTP layer carries one; a missing one would be
    // a programming error, answered as anonymous (deny by default).
    static ANONYMOUS: LazyLock<RequestContext> = LazyLock::new(|| RequestContext {
        caller: Caller::Anonymous,
        grants: Arc::new(Grants::none()),
        session_id: None,
        api_token_id: None,
        today: NaiveDate::MIN,
        request_id: None,
    });
    ctx.data_opt::<RequestContext>().unwrap_or(&ANONYMOUS)
}

pub(crate) fn db<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
}

/// The schema without state, with the limits of the configuration; `verband schema`
/// prints its SDL.
pub fn schema_builder(settings: &Settings) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
}

pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription).finish().sdl()
}

/// Relay's object identification.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    OrgUnit(org_unit::OrgUnit),
}

pub struct Query;

#[Object]
impl Query {
    /// Any object by its global id; null when it does not exist or is not visible.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        match id::decode_any(&id, "id")? {
            (id::Kind::OrgUnit, raw) => Ok(org_unit::find_visible(ctx, raw).await?.map(Node::OrgUnit)),
            // Other kinds are not resolvable through `node` yet: null, as for an
            // invisible object.
            _ => Ok(None),
        }
    }

    /// The signed-in caller; null for anonymous callers.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<viewer::Viewer>> {
        viewer::viewer(ctx).await
    }

    /// The caller's API tokens (without secrets).
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<viewer::ApiToken>> {
        viewer::api_tokens(ctx).await
    }

    /// One unit; null when it does not exist or is not visible to the caller (R14).
    async fn org_unit(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<org_unit::OrgUnit>> {
        let raw = id::decode(&id, id::Kind::OrgUnit, "id")?;
        org_unit::find_visible(ctx, raw).await
    }

    /// The units visible to the caller (R14), optionally the children of one unit,
    /// in a stable order.
    async fn org_units(
        &self,
        ctx: &Context<'_>,
        parent_id: Option<ID>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<org_unit::OrgUnitConnection> {
        org_unit::list(ctx, parent_id, first, after).await
    }

    /// Does a user (the caller when `userId` is omitted) hold `permission` on a
    /// member, and why: the assignment, group and rule that grant it, or the rule
    /// that denies it. Explaining another user needs user.manage or audit.read.
    async fn explain_access(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        permission: access::PermissionName,
        user_id: Option<ID>,
    ) -> async_graphql::Result<access::AccessExplanation> {
        access::explain_access(ctx, member_id, permission, user_id).await
    }

    /// Everyone holding `permission` at a unit, with the reasons. Needs user.manage
    /// or audit.read.
    async fn who_can_access(
        &self,
        ctx: &Context<'_>,
        org_unit_id: ID,
        permission: access::PermissionName,
    ) -> async_graphql::Result<Vec<access::AccessHolder>> {
        access::who_can_access(ctx, org_unit_id, permission).await
    }
}
