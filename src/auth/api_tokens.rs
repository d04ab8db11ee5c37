//! API tokens for automation scripts. The secret (`vbt_…`, 256 random bits) is shown
//! once; only its SHA-256 is stored (a fast hash is enough for a secret this long,
//! and lets the lookup use an index). Scopes are permissions: a token's rights are
//! its owner's rights cut down to them, so a token can never hold more than its
//! owner. Revoked or expired tokens stop working at once.
use super::signin::{AuthError, Authenticator};
use crate::authz::{Grants, PermSet, Permission};
use crate::domain::audit::{self, AuditRecord};
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "vbt_";
/// `last_used_at` is written at most this often per token.
const LAST_USED_GRANULARITY_SECONDS: i64 = 60;

pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn scopes_of(token: &api_token::Model) -> PermSet {
    token
        .scopes
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse::<Permission>().ok()).collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct TokenCaller {
    pub user_id: i64,
    pub token_id: i64,
    pub scopes: PermSet,
}

impl Authenticator {
    /// Creates a token for `owner_id`; returns the stored row and the secret (shown
    /// once).
    pub async fn create_api_token(
        &self,
        owner_id: i64,
        name: &str,
        scopes: PermSet,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Result<(api_token::Model, String), AuthError> {
        let name = crate::domain::validate::text("name", name, 100).map_err(|e| match e {
            crate::domain::DomainError::BadInput { message, .. } => {
                AuthError::BadInput { field: "name", message }
            }
            other => AuthError::BadInput { field: "name", message: other.to_string() },
        })?;
        let name = name.as_str();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::BadInput { field: "expiresAt", message: "must be in the future".into() });
        }
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        let scope_names: Vec<&str> = scopes.iter().map(Permission::as_str).collect();
        let txn = crate::db::write_transaction(self.db()).await?;
        let row = api_token::ActiveModel {
            user_id: Set(owner_id),
            name: Set(name.to_owned()),
            token_hash: Set(hash(&secret)),
            scopes: Set(serde_json::json!(scope_names)),
            expires_at: Set(expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            now,
            AuditRecord {
                actor_user_id: Some(owner_id),
                action: "api_token.create",
                entity: "api_token",
                entity_id: row.id.to_string(),
                before: None,
                after: Some(
                    serde_json::json!({ "name": name, "scopes": scope_names, "expires_at": expires_at }),
                ),
                request_id,
            },
        )
        .await?;
        txn.commit().await?;
        Ok((row, secret))
    }

    /// Own tokens, or anyone's with user.manage; someone else's token is "not
    /// found" to a caller who may not touch it.
    pub async fn revoke_api_token(
        &self,
        caller_id: i64,
        grants: &Grants,
        token_id: i64,
        now: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Result<(), AuthError> {
        let row = api_token::Entity::find_by_id(token_id).one(self.db()).await?;
        let Some(row) = row.filter(|t| t.user_id == caller_id || grants.holds_system(Permission::UserManage))
        else {
            return Err(AuthError::BadInput { field: "id", message: "no such token".into() });
        };
        if row.revoked_at.is_some() {
            return Ok(());
        }
        let txn = crate::db::write_transaction(self.db()).await?;
        let mut active: api_token::ActiveModel = row.into();
        active.revoked_at = Set(Some(now));
        active.update(&txn).await?;
        audit::record(
            &txn,
            now,
            AuditRecord {
                actor_user_id: Some(caller_id),
                action: "api_token.revoke",
                entity: "api_token",
                entity_id: token_id.to_string(),
                before: None,
                after: None,
                request_id,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn api_tokens_of(&self, user_id: i64) -> Result<Vec<api_token::Model>, AuthError> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(user_id))
            .order_by_asc(api_token::Column::Id)
            .all(self.db())
            .await?)
    }

    /// A `vbt_…` secret → its owner and scopes, if the token is live and the owner
    /// may still sign in.
    pub async fn authenticate_api_token(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenCaller, AuthError> {
        let digest = hash(secret);
        let row = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(digest.as_str()))
            .one(self.db())
            .await?;
        let Some(token) = row else { return Err(AuthError::InvalidToken) };
        let matches: bool = token.token_hash.as_bytes().ct_eq(digest.as_bytes()).into();
        if !matches || token.revoked_at.is_some() || token.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::InvalidToken);
        }
        let Some(owner) = user::Entity::find_by_id(token.user_id).one(self.db()).await? else {
            return Err(AuthError::InvalidToken);
        };
        if !self.may_sign_in(&owner).await? {
            return Err(AuthError::InvalidToken);
        }
        if token.last_used_at.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECONDS) {
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(token.id))
                .exec(self.db())
                .await?;
        }
        Ok(TokenCaller { user_id: owner.id, token_id: token.id, scopes: scopes_of(&token) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
