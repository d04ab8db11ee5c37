//! `User` (Benutzer), the `users` query and user administration mutations. Users
//! are visible to holders of user.manage and to themselves; everything a user
//! manager sees of a user's member still follows R11 (a system user manager sees
//! no member at all, R6).
use super::catalogue::PermissionGroup;
use super::connection::{PageInfo, page_size};
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use super::member::{self, Member};
use super::scalars::{Date, DateTime};
use super::{db, request, signed_in};
use crate::auth::signin::Authenticator;
use crate::authz::members::visible_members;
use crate::authz::{Authz, Grants, Invalidate, Permission};
use crate::domain::users::{self, MemberLogin, NewUser};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::{member as member_entity, user};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::sync::Arc;

/// A login: a member user (with a member) or a system user (without).
#[derive(Debug, Clone)]
pub struct User(pub user::Model);

/// A login (Benutzer): a member user, who holds member permissions through the
/// member's assignments, or a system user without member, who holds only SYSTEM
/// permissions (R6, R7). Visible to holders of user.manage and to the user themself.
#[Object]
impl User {
    pub async fn id(&self) -> ID {
        id::encode(Kind::User, self.0.id)
    }

    /// The name to sign in with; for member logins by default the membership number.
    async fn username(&self) -> &str {
        &self.0.username
    }

    /// Contact address of the login (for member logins taken over once from the
    /// member; the two are not kept in step).
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    /// User level (1–9): member logins have 2; system groups act only above 2 (R7).
    async fn level(&self) -> i32 {
        self.0.level
    }

    /// A disabled user can't sign in and holds nothing.
    async fn disabled(&self) -> bool {
        self.0.disabled
    }

    /// When the data-protection pledge was signed; without one a user holds no
    /// member permissions (R6).
    async fn privacy_pledge_signed_on(&self) -> Option<Date> {
        self.0.privacy_pledge_signed_on.map(Date)
    }

    /// Whether this is a member user (true) or a system user (false), even when
    /// the member itself is not visible to the caller.
    async fn is_member_user(&self) -> bool {
        self.0.member_id.is_some()
    }

    /// The user's member; null for system users and when the caller may not read
    /// the member (R11, R16).
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        match self.0.member_id {
            Some(member_id) => member::find_visible(ctx, member_id).await,
            None => Ok(None),
        }
    }

    /// The MEMBERSHIP group this user holds on the whole tree (R4), if any.
    async fn global_tree_group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PermissionGroup>> {
        let Some(group_id) = self.0.global_tree_group_id else { return Ok(None) };
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        Ok(catalogue.group(group_id).cloned().map(PermissionGroup))
    }

    /// The SYSTEM groups assigned to the user; they act only when `level` > 2 (R7).
    async fn system_groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PermissionGroup>> {
        // Batched across the users of a page.
        let rows = ctx.data::<Loaders>()?.system_groups.load_one(self.0.id).await.map_err(load_error)?;
        let mut ids: Vec<i64> = rows.unwrap_or_default().into_iter().map(|g| g.permission_group_id).collect();
        ids.sort_unstable();
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        Ok(ids.into_iter().filter_map(|id| catalogue.group(id).cloned().map(PermissionGroup)).collect())
    }

    /// The identity-provider account (`issuer|subject`) linked to this user, if any.
    async fn external_subject(&self) -> Option<&str> {
        self.0.external_subject.as_deref()
    }

    /// When the login was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

/// Users are visible to user managers and to themselves.
fn may_see_user(grants: &Grants, user_id: i64) -> bool {
    grants.holds_system(Permission::UserManage) || grants.user_id() == Some(user_id)
}

/// `node(id)` for users; null when missing or not visible.
pub async fn node(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<User>> {
    if !may_see_user(&request(ctx).grants, raw_id) {
        return Ok(None);
    }
    let found = ctx.data::<Loaders>()?.user.load_one(raw_id).await.map_err(load_error)?;
    Ok(found.map(User))
}

pub struct UserEdge {
    node: User,
}

/// A user in a page of `users`.
#[Object]
impl UserEdge {
    async fn node(&self) -> &User {
        &self.node
    }

    async fn cursor(&self) -> String {
        id::cursor(self.node.0.id)
    }
}

pub struct UserConnection {
    edges: Vec<UserEdge>,
    page_info: PageInfo,
    /// The filter without paging, for `totalCount` (run only when asked for).
    matching: Select<user::Entity>,
}

/// A page of users, in id order.
#[Object]
impl UserConnection {
    async fn edges(&self) -> &[UserEdge] {
        &self.edges
    }

    async fn nodes(&self) -> Vec<&User> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// All users matching the search, across pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        self.matching.clone().count(&*db(ctx).await?).await.map_err(gql)
    }
}

/// `%` and `_` in a search are literal characters, not wildcards.
fn contains_pattern(search: &str) -> LikeExpr {
    let escaped: String = search
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Username or email containing `search` (any case), or a member user whose
/// membership number is exactly `search` — only among members the caller may read,
/// so the search cannot tell which member has a login (R16).
fn search_condition(grants: &Grants, search: &str) -> Condition {
    let member_with_number = Query::select()
        .column(member_entity::Column::Id)
        .from(member_entity::Entity)
        .and_where(member_entity::Column::MembershipNumber.eq(search))
        .cond_where(visible_members(grants))
        .take();
    Condition::any()
        .add(
            Expr::expr(Func::lower(Expr::col((user::Entity, user::Column::Username))))
                .like(contains_pattern(search)),
        )
        .add(
            Expr::expr(Func::lower(Expr::col((user::Entity, user::Column::Email))))
                .like(contains_pattern(search)),
        )
        .add(user::Column::MemberId.in_subquery(member_with_number))
}

async fn list(
    ctx: &Context<'_>,
    search: Option<String>,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<UserConnection> {
    signed_in(ctx)?;
    let grants = &request(ctx).grants;
    if !grants.holds_system(Permission::UserManage) {
        return Err(gql(ApiError::Forbidden("listing users needs user.manage".into())));
    }
    let limit = page_size(first)?;
    let after = after.as_deref().map(|c| id::decode_cursor(c, "after")).transpose()?;
    let mut matching = user::Entity::find();
    if let Some(search) = search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        crate::domain::validate::search("search", search, 200).map_err(|e| gql(ApiError::from(e)))?;
        matching = matching.filter(search_condition(grants, search));
    }
    let mut page = matching.clone().order_by_asc(user::Column::Id).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(user::Column::Id.gt(after));
    }
    let mut rows = page.all(&*db(ctx).await?).await.map_err(gql)?;
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let edges: Vec<UserEdge> = rows.into_iter().map(|m| UserEdge { node: User(m) }).collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: edges.first().map(|e| id::cursor(e.node.0.id)),
        end_cursor: edges.last().map(|e| id::cursor(e.node.0.id)),
    };
    Ok(UserConnection { edges, page_info, matching })
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// All users (user.manage), optionally those whose username or email contains
    /// `search` or whose member has exactly that membership number, by id.
    async fn users(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection> {
        list(ctx, search, first, after).await
    }
}

/// A system user (without member). Member users are made with `enableMemberLogin`.
#[derive(InputObject)]
pub struct CreateUserInput {
    pub username: String,
    pub email: Option<String>,
    /// At least 10 characters.
    pub password: String,
    /// 1–9; system groups act only above 2 (R7).
    #[graphql(default = 3)]
    pub level: i32,
}

/// The member's new login and, when it was generated, its initial password.
#[derive(SimpleObject)]
pub struct EnableMemberLoginPayload {
    pub user: User,
    /// The generated password when none was given: shown this once, never again.
    pub initial_password: Option<String>,
}

fn user_id_arg(user_id: &ID) -> async_graphql::Result<i64> {
    id::decode(user_id, Kind::User, "userId")
}

/// Drops the user's cached grants: the change counts from their next request on.
fn changed(ctx: &Context<'_>, row: user::Model) -> async_graphql::Result<User> {
    ctx.data::<Arc<Authz>>()?.user_changed(row.id);
    Ok(User(row))
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates a system user without member (user.manage). CONFLICT when the
    /// username is taken.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let hasher = ctx.data::<Arc<Authenticator>>()?.hasher();
        let row = users::create_user(
            &*db(ctx).await?,
            &request(ctx).actor(),
            hasher,
            NewUser {
                username: &input.username,
                email: input.email.as_deref(),
                password: &input.password,
                level: input.level,
            },
        )
        .await
        .map_err(gql)?;
        changed(ctx, row)
    }

    /// Creates the login of a member (a member user, level 2), with member.write on
    /// the member or user.manage. The username defaults to the membership number;
    /// without a password one is generated and returned once as `initialPassword`.
    /// NOT_FOUND for a member the caller cannot see; CONFLICT when the member has a
    /// login or the username is taken. The new user still needs a privacy pledge
    /// (`recordPrivacyPledge`) before holding any member permission (R6).
    async fn enable_member_login(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        username: Option<String>,
        password: Option<String>,
    ) -> async_graphql::Result<EnableMemberLoginPayload> {
        signed_in(ctx)?;
        let member_id = id::decode(&member_id, Kind::Member, "memberId")?;
        let hasher = ctx.data::<Arc<Authenticator>>()?.hasher();
        let (row, initial_password) = users::enable_member_login(
            &*db(ctx).await?,
            &request(ctx).actor(),
            hasher,
            MemberLogin { member_id, username: username.as_deref(), password: password.as_deref() },
        )
        .await
        .map_err(gql)?;
        Ok(EnableMemberLoginPayload { user: changed(ctx, row)?, initial_password })
    }

    /// Sets the user level, 1–9 (user.manage).
    async fn set_user_level(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        level: i32,
    ) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let target = user_id_arg(&user_id)?;
        let row =
            users::set_level(&*db(ctx).await?, &request(ctx).actor(), target, level).await.map_err(gql)?;
        changed(ctx, row)
    }

    /// Replaces the user's SYSTEM groups (user.manage). MEMBERSHIP groups are
    /// refused (R8); a group the user does not have yet can only be added by a
    /// caller holding all of its permissions.
    async fn set_system_groups(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        group_ids: Vec<ID>,
    ) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let target = user_id_arg(&user_id)?;
        let groups: Vec<i64> = group_ids
            .iter()
            .map(|g| id::decode(g, Kind::PermissionGroup, "groupIds"))
            .collect::<Result<_, _>>()?;
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        let (row, _) =
            users::set_system_groups(&*db(ctx).await?, &request(ctx).actor(), &catalogue, target, &groups)
                .await
                .map_err(gql)?;
        changed(ctx, row)
    }

    /// Sets (or with null removes) the MEMBERSHIP group the user holds on the whole
    /// tree (R4). Needs user.manage; SYSTEM groups are refused (R8); always audited
    /// (R10).
    async fn set_global_tree_group(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        group_id: Option<ID>,
    ) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let target = user_id_arg(&user_id)?;
        let group = group_id.as_ref().map(|g| id::decode(g, Kind::PermissionGroup, "groupId")).transpose()?;
        let catalogue = ctx.data::<Arc<Authz>>()?.catalogue().await.map_err(gql)?;
        let row =
            users::set_global_tree_group(&*db(ctx).await?, &request(ctx).actor(), &catalogue, target, group)
                .await
                .map_err(gql)?;
        changed(ctx, row)
    }

    /// Records the day the user signed the privacy pledge, not in the future
    /// (user.manage). Member permissions need one (R6).
    async fn record_privacy_pledge(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        signed_on: Date,
    ) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let target = user_id_arg(&user_id)?;
        let row = users::record_privacy_pledge(&*db(ctx).await?, &request(ctx).actor(), target, signed_on.0)
            .await
            .map_err(gql)?;
        changed(ctx, row)
    }

    /// Disables or enables a user (user.manage). A disabled user can't sign in and
    /// their sessions end at once; nobody can disable themself.
    async fn set_user_disabled(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        disabled: bool,
    ) -> async_graphql::Result<User> {
        signed_in(ctx)?;
        let target = user_id_arg(&user_id)?;
        let row = users::set_disabled(&*db(ctx).await?, &request(ctx).actor(), target, disabled)
            .await
            .map_err(gql)?;
        changed(ctx, row)
    }
}
