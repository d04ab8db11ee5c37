//! Local sign-in: `login` checks the password (argon2id, in a blocking thread),
//! locks the login after repeated failures, and opens a session whose id is the
//! access token's `jti`; `authenticate` turns a bearer token into a caller and
//! re-checks the session and the user on every request, so logout, disabling a
//! user or a member leaving take effect at once.
use super::oidc::{OidcError, OidcVerifier, external_subject};
use super::password::PasswordHasher;
use super::sessions::KnownSessions;
use super::tokens::TokenService;
use crate::authz::notify::{self, Change};
use crate::authz::{Grants, Permission};
use crate::domain::audit::{self, AuditRecord};
use chrono::{DateTime, Utc};
use entity::{MemberStatus, member, session, user};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use std::sync::Arc;

pub const MIN_PASSWORD_LEN: usize = crate::domain::bootstrap::MIN_PASSWORD_LEN;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Deliberately the same for an unknown user, a wrong password, a locked,
    /// disabled or left user: nothing to learn from it.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Refused by the sign-in throttle; shown exactly like `InvalidCredentials`.
    #[error("invalid username or password")]
    Throttled(super::throttle::Scope),
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(String),
    #[error("{field}: {message}")]
    BadInput { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    /// A unique value is taken: CONFLICT naming the field, as when the database's
    /// constraint catches it (`db::failure`).
    #[error("{}", .0.message)]
    Taken(&'static crate::db::failure::Unique),
    #[error("database error")]
    Db(#[from] DbErr),
    #[error("internal error")]
    Internal,
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub user_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: i64,
    /// Our own sessions only; tokens from an identity provider have none.
    pub session_id: Option<String>,
}

/// Who performs an account change, with what rights, when.
pub struct Actor<'a> {
    pub user_id: i64,
    /// The session the change is made from (kept when others end).
    pub session_id: Option<&'a str>,
    pub grants: &'a Grants,
    pub now: DateTime<Utc>,
    pub request_id: Option<String>,
}

pub struct Authenticator {
    db: DatabaseConnection,
    hasher: PasswordHasher,
    tokens: TokenService,
    oidc: OidcVerifier,
    max_failures: i32,
    lockout: chrono::Duration,
    throttle: super::throttle::SignInThrottle,
    /// Verified against when the username is unknown, so both cases take as long.
    dummy_hash: Arc<String>,
    /// Sessions checked a moment ago: a known token costs no statement.
    sessions: Arc<KnownSessions>,
}

/// Members who left or are inactive, and disabled users, cannot sign in.
fn may_sign_in(user: &user::Model, member: Option<&member::Model>) -> bool {
    !user.disabled && member.is_none_or(|m| m.status == MemberStatus::Active)
}

fn random_id() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Authenticator {
    pub fn new(
        db: DatabaseConnection,
        hasher: PasswordHasher,
        tokens: TokenService,
        oidc: OidcVerifier,
        max_failures: u32,
        lockout_seconds: u64,
        address_limit: super::throttle::Limit,
    ) -> Result<Self, AuthError> {
        let dummy_hash = Arc::new(hasher.hash(&random_id()).map_err(|_| AuthError::Internal)?);
        Ok(Self {
            db,
            hasher,
            tokens,
            oidc,
            max_failures: i32::try_from(max_failures).unwrap_or(i32::MAX),
            lockout: chrono::Duration::seconds(i64::try_from(lockout_seconds).unwrap_or(i64::MAX / 1000)),
            // Per account exactly what the lockout allows (never longer).
            throttle: super::throttle::SignInThrottle::new(
                super::throttle::Limit {
                    max_failures: Ord::max(max_failures, 1),
                    window: std::time::Duration::from_secs(Ord::max(lockout_seconds, 1)),
                },
                address_limit,
            ),
            dummy_hash,
            sessions: Arc::new(KnownSessions::off()),
        })
    }

    /// Shares `sessions` with the cache that is told of changes (`Authz::sessions`).
    pub fn with_known_sessions(mut self, sessions: Arc<KnownSessions>) -> Self {
        self.sessions = sessions;
        self
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn oidc(&self) -> &OidcVerifier {
        &self.oidc
    }

    /// Every sign-in path asks this (password, own token, identity provider, API
    /// token): the user is enabled and their member, if any, is ACTIVE.
    pub(crate) async fn may_sign_in(&self, user: &user::Model) -> Result<bool, DbErr> {
        let member = match user.member_id {
            Some(id) => member::Entity::find_by_id(id).one(&self.db).await?,
            None => None,
        };
        Ok(may_sign_in(user, member.as_ref()))
    }

    /// The user an identity-provider account (`iss|sub`) is linked to.
    pub(crate) async fn user_by_external_subject(&self, subject: &str) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find().filter(user::Column::ExternalSubject.eq(subject)).one(&self.db).await
    }

    async fn verify_password(&self, password: &str, stored: Option<String>) -> bool {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let _turn = self.throttle.hashing_turn().await;
        tokio::task::spawn_blocking(move || hasher.verify(&password, &stored)).await.unwrap_or(false)
    }

    /// `client`: the caller's address, for the throttle (None when unknown).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
        request_id: Option<String>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Issued, AuthError> {
        let attempt = self.throttle.begin(username, client).map_err(AuthError::Throttled)?;
        let issued = self.check_password(username, password, now, request_id).await?;
        attempt.succeeded();
        Ok(issued)
    }

    async fn check_password(
        &self,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Result<Issued, AuthError> {
        let found =
            user::Entity::find().filter(user::Column::Username.eq(username.trim())).one(&self.db).await?;
        let Some(user) = found else {
            self.verify_password(password, None).await;
            return Err(AuthError::InvalidCredentials);
        };
        if user.locked_until.is_some_and(|until| until > now) {
            self.verify_password(password, None).await;
            return Err(AuthError::InvalidCredentials);
        }
        if !self.verify_password(password, user.password_hash.clone()).await {
            self.record_failure(&user, now).await?;
            return Err(AuthError::InvalidCredentials);
        }
        if !self.may_sign_in(&user).await? {
            return Err(AuthError::InvalidCredentials);
        }
        self.open_session(&user, "password", now, request_id).await
    }

    /// A new session for `user` and its first access token, audited.
    pub(crate) async fn open_session(
        &self,
        user: &user::Model,
        method: &str,
        now: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Result<Issued, AuthError> {
        let session_id = random_id();
        let (access_token, expires_at) =
            self.tokens.issue(user.id, &session_id, now).map_err(|_| AuthError::Internal)?;
        let txn = crate::db::write_transaction(&self.db).await?;
        session::ActiveModel {
            id: Set(session_id.clone()),
            user_id: Set(user.id),
            method: Set(method.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        if user.failed_logins != 0 || user.locked_until.is_some() {
            let mut u = user.clone().into_active_model();
            u.failed_logins = Set(0);
            u.locked_until = Set(None);
            u.update(&txn).await?;
        }
        audit::record(
            &txn,
            now,
            AuditRecord {
                actor_user_id: Some(user.id),
                action: "user.login",
                entity: "user",
                entity_id: user.id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "method": method })),
                request_id,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(Issued { access_token, expires_at, user_id: user.id })
    }

    /// Counts a failure; at the limit the login is locked for the lockout period.
    async fn record_failure(&self, user: &user::Model, now: DateTime<Utc>) -> Result<(), DbErr> {
        let failures = user.failed_logins + 1;
        let mut update = user::Entity::update_many().filter(user::Column::Id.eq(user.id));
        if failures >= self.max_failures {
            update = update
                .col_expr(user::Column::FailedLogins, Expr::value(0))
                .col_expr(user::Column::LockedUntil, Expr::value(now + self.lockout));
            tracing::warn!(user_id = user.id, "login locked after repeated failures");
        } else {
            update =
                update.col_expr(user::Column::FailedLogins, Expr::col(user::Column::FailedLogins).add(1));
        }
        update.exec(&self.db).await.map(|_| ())
    }

    /// A bearer JWT → the signed-in user: our own (HS256) tokens through their
    /// session, asymmetrically signed ones through the configured issuers.
    pub async fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Result<Authenticated, AuthError> {
        let verified = match jsonwebtoken::decode_header(token) {
            Ok(header) if header.alg == jsonwebtoken::Algorithm::HS256 => {
                return self.authenticate_own(token, now).await;
            }
            Ok(_) => self.oidc.verify(token).await,
            // Not a JWT: an opaque token of an identity provider.
            Err(_) => self.oidc.introspect(token).await,
        };
        let subject = verified.map_err(|e| {
            if let OidcError::Unreachable(why) = &e {
                tracing::warn!(error = %why, "identity provider unreachable");
            }
            AuthError::InvalidToken
        })?;
        let Some(user) = self.user_by_external_subject(&subject).await? else {
            // No silent account creation: the identity must be linked first.
            return Err(AuthError::InvalidToken);
        };
        if !self.may_sign_in(&user).await? {
            return Err(AuthError::InvalidToken);
        }
        Ok(Authenticated { user_id: user.id, session_id: None })
    }

    /// Our own access token, if its session is open and the user may still sign in.
    async fn authenticate_own(&self, token: &str, now: DateTime<Utc>) -> Result<Authenticated, AuthError> {
        let claims = self.tokens.verify(token).map_err(|_| AuthError::InvalidToken)?;
        let user_id = claims.user_id().ok_or(AuthError::InvalidToken)?;
        if self.sessions.lookup(&claims.jti, user_id, now) {
            return Ok(Authenticated { user_id, session_id: Some(claims.jti) });
        }
        let ticket = self.sessions.ticket();
        let session = session::Entity::find_by_id(claims.jti.clone()).one(&self.db).await?;
        let Some(session) =
            session.filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now)
        else {
            return Err(AuthError::InvalidToken);
        };
        let Some(user) = user::Entity::find_by_id(user_id).one(&self.db).await? else {
            return Err(AuthError::InvalidToken);
        };
        if !self.may_sign_in(&user).await? {
            return Err(AuthError::InvalidToken);
        }
        self.sessions.remember(ticket, &claims.jti, user_id, session.expires_at);
        Ok(Authenticated { user_id, session_id: Some(claims.jti) })
    }

    /// Ends the session `session_id` of `user_id`, here at once and on every other
    /// instance when the change commits (they drop the user's known sessions).
    pub async fn logout(&self, user_id: i64, session_id: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
        let txn = crate::db::write_transaction(&self.db).await?;
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.eq(session_id))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        notify::announce(&txn, Change::User(user_id)).await?;
        txn.commit().await?;
        self.sessions.forget(session_id);
        Ok(())
    }

    /// Links an identity-provider account (`iss`, `sub`) to a user: user.manage.
    pub async fn link_external_identity(
        &self,
        actor: Actor<'_>,
        target_user_id: i64,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AuthError> {
        let now = actor.now;
        if !actor.grants.holds_system(Permission::UserManage) {
            return Err(AuthError::Forbidden("linking an external identity needs user.manage".into()));
        }
        if issuer.trim().is_empty() || subject.trim().is_empty() {
            return Err(AuthError::BadInput {
                field: "subject",
                message: "issuer and subject are required".into(),
            });
        }
        for (field, value) in [("issuer", issuer), ("subject", subject)] {
            if let Err(crate::domain::DomainError::BadInput { message, .. }) =
                crate::domain::validate::text(field, value, 1000)
            {
                return Err(AuthError::BadInput { field, message });
            }
        }
        let linked = external_subject(issuer.trim(), subject.trim());
        let Some(target) = user::Entity::find_by_id(target_user_id).one(&self.db).await? else {
            return Err(AuthError::BadInput { field: "userId", message: "no such user".into() });
        };
        let taken = self.user_by_external_subject(&linked).await?;
        if taken.is_some_and(|u| u.id != target_user_id) {
            return Err(AuthError::Taken(&crate::db::failure::EXTERNAL_SUBJECT));
        }
        let before = target.external_subject.clone();
        let txn = crate::db::write_transaction(&self.db).await?;
        let mut u = target.into_active_model();
        u.external_subject = Set(Some(linked.clone()));
        u.updated_at = Set(now);
        u.update(&txn).await?;
        audit::record(
            &txn,
            now,
            AuditRecord {
                actor_user_id: Some(actor.user_id),
                action: "user.link_external_identity",
                entity: "user",
                entity_id: target_user_id.to_string(),
                before: Some(serde_json::json!({ "external_subject": before })),
                after: Some(serde_json::json!({ "external_subject": linked })),
                request_id: actor.request_id,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Own password with the old one; another user's with user.manage. Other
    /// sessions of the user end.
    pub async fn set_password(
        &self,
        actor: Actor<'_>,
        target_user_id: i64,
        old_password: Option<&str>,
        new_password: &str,
    ) -> Result<(), AuthError> {
        let now = actor.now;
        let own = actor.user_id == target_user_id;
        if !own && !actor.grants.holds_system(Permission::UserManage) {
            return Err(AuthError::Forbidden("setting another user's password needs user.manage".into()));
        }
        if new_password.chars().count() < MIN_PASSWORD_LEN {
            return Err(AuthError::BadInput {
                field: "newPassword",
                message: format!("must have at least {MIN_PASSWORD_LEN} characters"),
            });
        }
        let Some(target) = user::Entity::find_by_id(target_user_id).one(&self.db).await? else {
            return Err(AuthError::BadInput { field: "userId", message: "no such user".into() });
        };
        if own {
            let old = old_password.unwrap_or_default();
            if !self.verify_password(old, target.password_hash.clone()).await {
                return Err(AuthError::BadInput { field: "oldPassword", message: "does not match".into() });
            }
        }
        let hasher = self.hasher.clone();
        let new_password = new_password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(&new_password))
            .await
            .map_err(|_| AuthError::Internal)?
            .map_err(|_| AuthError::Internal)?;
        let txn = crate::db::write_transaction(&self.db).await?;
        let mut u = target.into_active_model();
        u.password_hash = Set(Some(hash));
        u.failed_logins = Set(0);
        u.locked_until = Set(None);
        u.updated_at = Set(now);
        u.update(&txn).await?;
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::UserId.eq(target_user_id))
            .filter(session::Column::Id.ne(actor.session_id.unwrap_or_default()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            now,
            AuditRecord {
                actor_user_id: Some(actor.user_id),
                action: "user.set_password",
                entity: "user",
                entity_id: target_user_id.to_string(),
                before: None,
                after: None,
                request_id: actor.request_id,
            },
        )
        .await?;
        // The other sessions end on every instance.
        notify::announce(&txn, Change::User(target_user_id)).await?;
        txn.commit().await?;
        self.sessions.forget_user(target_user_id);
        Ok(())
    }
}
