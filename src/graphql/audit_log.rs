//! The audit trail as a query: audit.read sees every event; holders of member.write
//! see the events about the members in their scope (changes and bank-data reads).
//! Either way an event's content (`before`, `after`) shows member data only as far
//! as the caller may read it now (R18, `authz::echo`).
use super::connection::{PageInfo, page_size};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::redaction::redact_within;
use super::scalars::DateTime;
use super::{db, request, signed_in};
use crate::authz::echo::{Readable, Subject};
use crate::authz::{Grants, Permission};
use crate::domain::audit;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use entity::{audit_event, member, user};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Which events to list; all filters combine.
#[derive(InputObject, Debug, Clone, Default)]
pub struct AuditFilter {
    /// The kind of record: `member`, `org_unit`, `assignment`, `user`, …
    pub entity: Option<String>,
    /// One record, by its global id (its kind sets `entity`).
    pub entity_id: Option<ID>,
    /// Events by this user.
    pub actor: Option<ID>,
    /// e.g. `member.update`, `bank.read`.
    pub action: Option<String>,
    pub from: Option<DateTime>,
    pub to: Option<DateTime>,
}

/// One recorded change, or one read of a member's bank data.
pub struct AuditEvent {
    row: audit_event::Model,
    actor_name: Option<String>,
    /// What the caller may read of the page's subjects now (R18).
    readable: Arc<Readable>,
}

impl AuditEvent {
    /// The content as the caller may see it: fields they may not read are null
    /// and listed in `extensions.redacted` (R18).
    fn content(
        &self,
        ctx: &Context<'_>,
        stored: Option<&serde_json::Value>,
    ) -> Option<Json<serde_json::Value>> {
        let stored = stored?;
        let subject = Subject::of(&self.row.entity, &self.row.entity_id);
        let (shown, withheld) = self.readable.redact(subject, &self.row.action, stored);
        for (key, needs) in withheld {
            redact_within(ctx, &key, needs);
        }
        Some(Json(shown))
    }
}

/// One recorded change, or one read of a member's bank data. Its frame (when, who,
/// what, which record, which request) is visible to everyone who may see the
/// event; `before` and `after` hold member data only as far as the caller may read
/// those fields of that member now (R18).
#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        id::encode(Kind::AuditEvent, self.row.id)
    }

    async fn at(&self) -> DateTime {
        DateTime(self.row.at)
    }

    async fn actor_id(&self) -> Option<ID> {
        self.row.actor_user_id.map(|a| id::encode(Kind::User, a))
    }

    /// The acting user's username (null for the system itself).
    async fn actor_name(&self) -> Option<&str> {
        self.actor_name.as_deref()
    }

    async fn action(&self) -> &str {
        &self.row.action
    }

    async fn entity(&self) -> &str {
        &self.row.entity
    }

    async fn entity_id(&self) -> &str {
        &self.row.entity_id
    }

    /// The record before the change; a field the caller may not read now is null
    /// and listed in `extensions.redacted`.
    async fn before(&self, ctx: &Context<'_>) -> Option<Json<serde_json::Value>> {
        self.content(ctx, self.row.before.as_ref())
    }

    /// The record after the change; a field the caller may not read now is null
    /// and listed in `extensions.redacted`.
    async fn after(&self, ctx: &Context<'_>) -> Option<Json<serde_json::Value>> {
        self.content(ctx, self.row.after.as_ref())
    }

    /// The request that made the change (the `x-request-id` of its response).
    async fn request_id(&self) -> Option<&str> {
        self.row.request_id.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct AuditEventConnection {
    pub nodes: Vec<AuditEvent>,
    pub page_info: PageInfo,
    pub total_count: u64,
}

fn entity_of(kind: Kind) -> &'static str {
    match kind {
        Kind::OrgUnit => "org_unit",
        Kind::Member => "member",
        Kind::User => "user",
        Kind::Assignment => "assignment",
        Kind::PermissionGroup => "permission_group",
        Kind::ApiToken => "api_token",
        Kind::Activity => "activity",
        Kind::Level => "level",
        Kind::SepaMandate => "sepa_mandate",
        Kind::Payment => "payment",
        Kind::Admission => "admission",
        Kind::Transfer => "transfer",
        Kind::AuditEvent => "audit_event",
    }
}

/// The events the caller may read, as one SQL condition: all with audit.read;
/// else those about members on whom the caller holds member.write (R18): the
/// member's own events, and those of its transfers and offices.
fn readable(grants: &Grants) -> Option<Condition> {
    if grants.holds_system(Permission::AuditRead) {
        return Some(Condition::all());
    }
    if !grants.holds_anywhere(Permission::MemberWrite) {
        return None;
    }
    let in_scope = || grants.unit_condition(Permission::MemberWrite, member::Column::HomeUnitId);
    // Entity ids are stored as text, so the ids are compared as text too.
    let members = Query::select()
        .expr(Expr::col((member::Entity, member::Column::Id)).cast_as(Alias::new("TEXT")))
        .from(member::Entity)
        .cond_where(in_scope())
        .take();
    // A record that belongs to a member in scope: its id as text.
    let of_members = |table: Alias, id: Alias, member_id: Alias| {
        Query::select()
            .expr(Expr::col((table.clone(), id)).cast_as(Alias::new("TEXT")))
            .from(table.clone())
            .inner_join(
                member::Entity,
                Expr::col((member::Entity, member::Column::Id)).equals((table, member_id)),
            )
            .cond_where(in_scope())
            .take()
    };
    let about = |entity: &str, ids| {
        Condition::all()
            .add(audit_event::Column::Entity.eq(entity))
            .add(audit_event::Column::EntityId.in_subquery(ids))
    };
    Some(
        Condition::any()
            .add(about("member", members))
            .add(about(
                "transfer",
                of_members(Alias::new("transfer"), Alias::new("id"), Alias::new("member_id")),
            ))
            .add(about(
                "assignment",
                of_members(Alias::new("assignment"), Alias::new("id"), Alias::new("member_id")),
            )),
    )
}

fn filtered(grants: &Grants, filter: &AuditFilter) -> async_graphql::Result<Select<audit_event::Entity>> {
    let Some(scope) = readable(grants) else {
        return Err(gql(ApiError::Forbidden(
            "the audit log needs audit.read, or member.write for the members in your scope".into(),
        )));
    };
    let mut select = audit_event::Entity::find().filter(scope);
    if let Some(entity) = &filter.entity {
        select = select.filter(audit_event::Column::Entity.eq(entity.trim()));
    }
    if let Some(global) = &filter.entity_id {
        let (kind, raw) = id::decode_any(global, "filter.entityId")?;
        select = select
            .filter(audit_event::Column::Entity.eq(entity_of(kind)))
            .filter(audit_event::Column::EntityId.eq(raw.to_string()));
    }
    if let Some(actor) = &filter.actor {
        select = select.filter(audit_event::Column::ActorUserId.eq(id::decode(
            actor,
            Kind::User,
            "filter.actor",
        )?));
    }
    if let Some(action) = &filter.action {
        select = select.filter(audit_event::Column::Action.eq(action.trim()));
    }
    if let Some(from) = &filter.from {
        select = select.filter(audit_event::Column::At.gte(from.0));
    }
    if let Some(to) = &filter.to {
        select = select.filter(audit_event::Column::At.lt(to.0));
    }
    Ok(select)
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, newest first: every change with its before and after, and
    /// every read of a member's bank data (who read whose, and when). audit.read
    /// sees all events; member.write holders see those about the members in their
    /// scope.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEventConnection> {
        signed_in(ctx)?;
        let limit = page_size(first)?;
        let grants = &request(ctx).grants;
        let matching = filtered(grants, &filter.unwrap_or_default())?;
        let conn = &*db(ctx).await?;
        let mut page = matching.clone().order_by_desc(audit_event::Column::Id).limit(limit + 1);
        if let Some(cursor) = &after {
            page = page.filter(audit_event::Column::Id.lt(id::decode_cursor(cursor, "after")?));
        }
        let mut rows = page.all(conn).await.map_err(gql)?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let actor_ids: Vec<i64> = rows.iter().filter_map(|r| r.actor_user_id).collect();
        let names: HashMap<i64, String> = if actor_ids.is_empty() {
            HashMap::new()
        } else {
            user::Entity::find()
                .filter(user::Column::Id.is_in(actor_ids))
                .all(conn)
                .await
                .map_err(gql)?
                .into_iter()
                .map(|u| (u.id, u.username))
                .collect()
        };
        let total_count = matching.count(conn).await.map_err(gql)?;
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: rows.first().map(|r| id::cursor(r.id)),
            end_cursor: rows.last().map(|r| id::cursor(r.id)),
        };
        let subjects: Vec<Subject> = rows
            .iter()
            .filter(|r| r.before.is_some() || r.after.is_some())
            .map(|r| Subject::of(&r.entity, &r.entity_id))
            .collect();
        let readable = Arc::new(audit::readable(conn, grants, &subjects).await.map_err(gql)?);
        let nodes = rows
            .into_iter()
            .map(|row| AuditEvent {
                actor_name: row.actor_user_id.and_then(|a| names.get(&a).cloned()),
                readable: readable.clone(),
                row,
            })
            .collect();
        Ok(AuditEventConnection { nodes, page_info, total_count })
    }
}
