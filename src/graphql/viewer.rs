//! The caller: `viewer`, and signing in and out (`login`, `logout`, `setPassword`).
use super::access::PermissionName;
use super::error::{ApiError, gql};
use super::id::{self, Kind};
use super::scalars::DateTime;
use super::{db, request};
use crate::auth::api_tokens::scopes_of;
use crate::auth::signin::{Actor, AuthError, Authenticated, Authenticator};
use crate::authz::{PermSet, Permission};
use crate::http::metrics::Metrics;
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
    let Some(user) = user::Entity::find_by_id(user_id).one(&*db(ctx).await?).await.map_err(gql)? else {
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
        (Some(user_id), Some(session_id)) => {
            Ok(Authenticated { user_id, session_id: Some(session_id.clone()) })
        }
        (Some(_), None) => Err(gql(ApiError::Forbidden(
            "not with an API token or an identity provider's token: sign in to a session".into(),
        ))),
        _ => Err(gql(ApiError::sign_in_required())),
    }
}

/// An API token for scripts; its secret is shown only when it is created.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    /// The token holds at most these permissions, and only where its owner holds
    /// them.
    pub scopes: Vec<PermissionName>,
    pub expires_at: Option<DateTime>,
    pub last_used_at: Option<DateTime>,
    pub revoked_at: Option<DateTime>,
    pub created_at: DateTime,
}

impl From<entity::api_token::Model> for ApiToken {
    fn from(t: entity::api_token::Model) -> Self {
        ApiToken {
            id: id::encode(Kind::ApiToken, t.id),
            scopes: scopes_of(&t).iter().filter_map(permission_name).collect(),
            name: t.name,
            expires_at: t.expires_at.map(DateTime),
            last_used_at: t.last_used_at.map(DateTime),
            revoked_at: t.revoked_at.map(DateTime),
            created_at: DateTime(t.created_at),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`. Shown once; only a hash is kept.
    pub secret: String,
}

/// The caller's API tokens (never their secrets).
pub async fn api_tokens(ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
    let user_id = request(ctx).grants.user_id().ok_or_else(|| gql(ApiError::sign_in_required()))?;
    let tokens = ctx.data::<Arc<Authenticator>>()?.api_tokens_of(user_id).await.map_err(gql)?;
    Ok(tokens.into_iter().map(ApiToken::from).collect())
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with username and password; the same answer for every kind of
    /// failure. Repeated failures lock the login for a while.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        let auth = ctx.data::<Arc<Authenticator>>()?;
        let client = ctx.data_opt::<super::ClientAddress>().map(|c| c.0);
        let result =
            auth.login(&username, &password, Utc::now(), request(ctx).request_id.clone(), client).await;
        if let (Err(AuthError::Throttled(scope)), Some(metrics)) = (&result, ctx.data_opt::<Arc<Metrics>>()) {
            metrics.sign_in_throttled(scope.as_str());
        }
        let issued = result.map_err(gql)?;
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
        let session = me.session_id.unwrap_or_default();
        ctx.data::<Arc<Authenticator>>()?.logout(me.user_id, &session, Utc::now()).await.map_err(gql)?;
        Ok(true)
    }

    /// A token for scripts, with at most the given permissions (and never more than
    /// the caller holds). Needs a signed-in session, not another token.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        scopes: Vec<PermissionName>,
        expires_at: Option<DateTime>,
    ) -> async_graphql::Result<CreatedApiToken> {
        let me = authenticated(ctx)?;
        let scopes: PermSet = scopes.into_iter().map(Permission::from).collect();
        let (row, secret) = ctx
            .data::<Arc<Authenticator>>()?
            .create_api_token(
                me.user_id,
                &name,
                scopes,
                expires_at.map(|e| e.0),
                Utc::now(),
                request(ctx).request_id.clone(),
            )
            .await
            .map_err(gql)?;
        Ok(CreatedApiToken { token: row.into(), secret })
    }

    /// Revokes a token at once: one's own, or anyone's with user.manage.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let req = request(ctx);
        let user_id = req.grants.user_id().ok_or_else(|| gql(ApiError::sign_in_required()))?;
        let token_id = id::decode(&id, Kind::ApiToken, "id")?;
        ctx.data::<Arc<Authenticator>>()?
            .revoke_api_token(user_id, &req.grants, token_id, Utc::now(), req.request_id.clone())
            .await
            .map_err(gql)?;
        Ok(true)
    }

    /// Links an identity-provider account to a user (user.manage): bearer tokens
    /// of that issuer with that subject then act as the user.
    async fn link_external_identity(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        issuer: String,
        subject: String,
    ) -> async_graphql::Result<bool> {
        let req = request(ctx);
        let actor_id = req.grants.user_id().ok_or_else(|| gql(ApiError::sign_in_required()))?;
        let target = id::decode(&user_id, Kind::User, "userId")?;
        let actor = Actor {
            user_id: actor_id,
            session_id: req.session_id.as_deref(),
            grants: &req.grants,
            now: Utc::now(),
            request_id: req.request_id.clone(),
        };
        ctx.data::<Arc<Authenticator>>()?
            .link_external_identity(actor, target, &issuer, &subject)
            .await
            .map_err(gql)?;
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
        let actor = Actor {
            user_id: me.user_id,
            session_id: me.session_id.as_deref(),
            grants: &req.grants,
            now: Utc::now(),
            request_id: req.request_id.clone(),
        };
        ctx.data::<Arc<Authenticator>>()?
            .set_password(actor, target, old_password.as_deref(), &new_password)
            .await
            .map_err(gql)?;
        Ok(true)
    }
}
