//! The GraphQL API: schema root, one module per domain type, loaders. Resolvers are
//! thin: they ask `authz` and read through `loaders` or one SQL statement per list.
pub mod access;
pub mod assignment;
pub mod audit_log;
pub mod catalogue;
pub mod connection;
pub mod cost;
pub mod error;
pub mod id;
pub mod import;
pub mod inputs;
pub mod loaders;
pub mod member;
pub mod org_unit;
pub mod redaction;
pub mod reporting;
pub mod retention;
pub mod scalars;
pub mod shape;
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

/// The caller's address (the TCP peer, or what a trusted proxy reports), for the
/// sign-in throttle.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub std::net::IpAddr);

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

/// The pool connections one request may use at the same time: resolvers take a
/// permit per statement (through [`db`]) and DataLoader batches per batch, so a
/// request with many aliases or a long list of nested fields waits for its own
/// permits instead of taking the whole pool from everybody else.
#[derive(Clone)]
pub struct ConnectionGate(Arc<Gate>);

struct Gate {
    permits: Arc<tokio::sync::Semaphore>,
    size: usize,
    /// The most permits held at once (for the metrics).
    peak: std::sync::atomic::AtomicUsize,
}

impl ConnectionGate {
    /// At least two: a resolver holding one while it waits for a DataLoader batch
    /// must leave one for the batch.
    pub fn new(permits: u32) -> Self {
        let size = permits.max(2) as usize;
        Self(Arc::new(Gate {
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            peak: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// Waits for a permit; a closed gate (never closed) lets the caller through.
    pub async fn enter(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let permit = self.0.permits.acquire().await.ok();
        self.held();
        permit
    }

    /// The same, owned: for work spawned onto other tasks.
    pub async fn enter_owned(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.0.permits.clone().acquire_owned().await.ok();
        self.held();
        permit
    }

    fn held(&self) {
        let held = self.0.size - self.0.permits.available_permits();
        self.0.peak.fetch_max(held, std::sync::atomic::Ordering::Relaxed);
    }

    /// The most permits the request held at the same time.
    pub fn peak(&self) -> usize {
        self.0.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The database, with one of the request's connection permits held as long as
/// this lives. Take it for a statement (`.all(&*db(ctx).await?)`) or a domain call;
/// never hold it while waiting for another one or for a loader: a request whose
/// permits all wait for more permits would wait forever.
pub(crate) struct Db<'a> {
    conn: &'a DatabaseConnection,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl std::ops::Deref for Db<'_> {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        self.conn
    }
}

pub(crate) async fn db<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<Db<'a>> {
    let conn = ctx.data::<DatabaseConnection>()?;
    let permit = match ctx.data_opt::<ConnectionGate>() {
        Some(gate) => gate.enter().await,
        None => None,
    };
    Ok(Db { conn, _permit: permit })
}

/// The schema without state; `verband schema` prints its SDL. Depth and cost are
/// checked before execution (`cost`), where introspection is not counted as data.
pub fn schema_builder(settings: &Settings) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription);
    match settings.introspection {
        crate::config::Introspection::Off => builder.disable_introspection(),
        _ => builder,
    }
}

pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).finish().sdl()
}

/// An input field that may be left out but cannot be null (a name, a status): left
/// out is `None`; `null` is BAD_USER_INPUT naming the field, never silently
/// ignored.
pub(crate) fn not_null<T>(
    field: &str,
    value: async_graphql::MaybeUndefined<T>,
) -> async_graphql::Result<Option<T>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => Ok(None),
        async_graphql::MaybeUndefined::Null => {
            Err(error::gql(error::ApiError::bad_input(field, "must not be null (leave it out to keep it)")))
        }
        async_graphql::MaybeUndefined::Value(v) => Ok(Some(v)),
    }
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
