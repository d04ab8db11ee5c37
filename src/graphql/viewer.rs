//! The caller: `viewer`, and signing in and out (`login`, `logout`, `setPassword`).
use super::access::PermissionName;
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::scalars::DateTime;
use super::{db, request};
use crate::auth::signin::{Authenticated, Authenticator};
use crate::authz::Permission;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::Utc;
use entity::user;
use sea_orm::EntityTrait;
use std::sync::Arc;

/// The signed-in user.
#[derive(SimpleObject, Debug, Clone)]
pub struct Viewer {
    pub user_id: ID,
    pub username: String,
    pub level: i32,
    /// The user's member (a member user), if any.
    pub member_id: Option<ID>,
    /// SYSTEM permissions in force (R7).
    pub system_permissions: Vec<PermissionName>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    pub token_type: String,
    pub expires_at: DateTime,
    pub user_id: ID,
}

fn permission_name(p: Permission) -> Option<PermissionName> {
    PermissionName::from_permission(p)
}

pub async fn viewer(ctx: &Context<'_>) -> async_graphql::Result<Option<Viewer>> {
    let req = request(ctx);
    let Some(user_id) = req.grants.user_id() else { return Ok(None) };
    let Some(user) = user::Entity::find_by_id(user_id).one(db(ctx)?).await.map_err(gql)? else {
        return Ok(None);
    };
    Ok(Some(Viewer {
        user_id: id::encode(Kind::User, user.id),
        username: user.username,
        level: user.level,
        member_id: user.member_id.map(|m| id::encode(Kind::Member, m)),
        system_permissions: req.grants.system_permissions().iter().filter_map(permission_name).collect(),
    }))
}

fn authenticated(ctx: &Context<'_>) -> async_graphql::Result<Authenticated> {
    let req = request(ctx);
    match (req.grants.user_id(), &req.session_id) {
        (Some(user_id), Some(session_id)) => Ok(Authenticated { user_id, session_id: session_id.clone() }),
        _ => Err(gql(ApiError::sign_in_required())),
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Signs in with username and password; the same answer for every kind of
    /// failure. Repeated failures lock the login for a while.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        let auth = ctx.data::<Arc<Authenticator>>()?;
        let issued = auth
            .login(&username, &password, Utc::now(), request(ctx).request_id.clone())
            .await
            .map_err(gql)?;
        Ok(LoginPayload {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_at: DateTime(issued.expires_at),
            user_id: id::encode(Kind::User, issued.user_id),
        })
    }

    /// Ends the caller's session: its tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let me = authenticated(ctx)?;
        ctx.data::<Arc<Authenticator>>()?.logout(&me.session_id, Utc::now()).await.map_err(gql)?;
        Ok(true)
    }

    /// Changes a password: one's own with the old password, another user's with
    /// user.manage. The user's other sessions end.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        user_id: Option<ID>,
        old_password: Option<String>,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        let me = authenticated(ctx)?;
        let target =
            user_id.as_ref().map(|u| id::decode(u, Kind::User, "userId")).transpose()?.unwrap_or(me.user_id);
        let req = request(ctx);
        ctx.data::<Arc<Authenticator>>()?
            .set_password(
                &me,
                &req.grants,
                target,
                old_password.as_deref(),
                &new_password,
                Utc::now(),
                req.request_id.clone(),
            )
            .await
            .map_err(gql)?;
        Ok(true)
    }
}
