//! The GraphQL API: schema root, one module per domain type, loaders. Resolvers are
//! thin: they ask `authz` and read through `loaders` or one SQL statement per list.
pub mod access;
pub mod assignment;
pub mod audit_log;
pub mod catalogue;
pub mod connection;
pub mod error;
pub mod id;
pub mod import;
pub mod loaders;
pub mod member;
pub mod org_unit;
pub mod redaction;
pub mod reporting;
pub mod retention;
pub mod scalars;
pub mod user;
pub mod viewer;
pub mod workflow;

use crate::auth::Caller;
use crate::authz::Grants;
use crate::config::Settings;
use async_graphql::{Context, EmptySubscription, ID, Interface, MergedObject, Object, Schema, SchemaBuilder};
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

impl RequestContext {
    /// The caller as the domain layer sees them, acting now.
    pub fn actor(&self) -> crate::domain::Actor<'_> {
        crate::domain::Actor {
            user_id: self.grants.user_id(),
            grants: &self.grants,
            today: self.today,
            now: chrono::Utc::now(),
            request_id: self.request_id.clone(),
        }
    }
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
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
}

pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).finish().sdl()
}

/// The signed-in caller's id, or UNAUTHENTICATED.
pub(crate) fn signed_in(ctx: &Context<'_>) -> async_graphql::Result<i64> {
    request(ctx).grants.user_id().ok_or_else(|| error::gql(error::ApiError::sign_in_required()))
}

/// Relay's object identification.
// The variants are built per node and dropped after the response: a boxed Member
// would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    OrgUnit(org_unit::OrgUnit),
    Member(member::Member),
    Assignment(assignment::Assignment),
    User(user::User),
    PermissionGroup(catalogue::PermissionGroup),
    Activity(catalogue::Activity),
    Admission(workflow::Admission),
    Transfer(workflow::Transfer),
}

/// Every query of the API, merged from the modules that own them.
#[derive(MergedObject, Default)]
pub struct Query(
    RootQuery,
    member::MemberQuery,
    user::UserQuery,
    catalogue::CatalogueQuery,
    workflow::WorkflowQuery,
    reporting::ReportingQuery,
    audit_log::AuditQuery,
);

/// Every mutation of the API, merged from the modules that own them.
#[derive(MergedObject, Default)]
pub struct Mutation(
    viewer::AuthMutation,
    member::MemberMutation,
    import::ImportMutation,
    org_unit::OrgUnitMutation,
    assignment::AssignmentMutation,
    user::UserMutation,
    catalogue::CatalogueMutation,
    workflow::WorkflowMutation,
    retention::RetentionMutation,
);

#[derive(Default)]
pub struct RootQuery;

#[Object]
impl RootQuery {
    /// Any object by its global id; null when it does not exist or is not visible
    /// to the caller (the same answer for both).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        use id::Kind;
        Ok(match id::decode_any(&id, "id")? {
            (Kind::OrgUnit, raw) => org_unit::find_visible(ctx, raw).await?.map(Node::OrgUnit),
            (Kind::Member, raw) => member::find_visible(ctx, raw).await?.map(Node::Member),
            (Kind::Assignment, raw) => assignment::node(ctx, raw).await?.map(Node::Assignment),
            (Kind::User, raw) => user::node(ctx, raw).await?.map(Node::User),
            (Kind::PermissionGroup, raw) => catalogue::group_node(ctx, raw).await?.map(Node::PermissionGroup),
            (Kind::Activity, raw) => catalogue::activity_node(ctx, raw).await?.map(Node::Activity),
            (Kind::Admission, raw) => workflow::admission_node(ctx, raw).await?.map(Node::Admission),
            (Kind::Transfer, raw) => workflow::transfer_node(ctx, raw).await?.map(Node::Transfer),
            _ => None,
        })
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
