//! Browser sign-in through an identity provider: authorization code + PKCE (S256)
//! with the `oauth2` crate. `/auth/login` keeps the PKCE verifier, state and nonce
//! in the database (single use, ten minutes; the state only as its hash), so any
//! instance can take the callback, and redirects to the issuer; `/auth/callback`
//! checks the state, exchanges the code, verifies the ID token (signature, issuer,
//! audience = our client id, nonce) and opens the same kind of session a password
//! login opens.
use super::oidc::OidcError;
use super::signin::{AuthError, Authenticator, Issued};
use chrono::{DateTime, Utc};
use entity::pending_sign_in;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, ExtraTokenFields, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

const PENDING_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Sign-ins in progress at once (all instances together): a bound on what
/// anonymous callers can make the server store.
const MAX_PENDING: u64 = 10_000;

/// The key a pending sign-in is stored under: the state's SHA-256, so the database
/// alone does not let anyone complete a sign-in.
fn state_key(state: &str) -> String {
    super::api_tokens::hash(state)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

fn unreachable(e: impl std::fmt::Display) -> AuthError {
    tracing::warn!(error = %e, "browser sign-in: issuer request failed");
    AuthError::InvalidCredentials
}

fn bad_state() -> AuthError {
    AuthError::BadInput { field: "state", message: "unknown or expired sign-in; start again".into() }
}

impl Authenticator {
    /// The issuer's authorization URL to send the browser to.
    pub async fn browser_login_url(&self, issuer: Option<&str>, redirect: &str) -> Result<String, AuthError> {
        let endpoints = self.oidc().browser_endpoints(issuer).await.map_err(|e| match e {
            OidcError::Rejected => {
                AuthError::BadInput { field: "issuer", message: "no such identity provider".into() }
            }
            OidcError::Unreachable(why) => unreachable(why),
        })?;
        let client = OidcClient::new(ClientId::new(endpoints.client_id.clone()))
            .set_auth_uri(AuthUrl::new(endpoints.authorization_endpoint).map_err(unreachable)?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|_| AuthError::Internal)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random().secret().clone();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_extra_param("nonce", nonce.clone())
            .set_pkce_challenge(challenge)
            .url();
        let now = Utc::now();
        // Expired sign-ins go as new ones start.
        pending_sign_in::Entity::delete_many()
            .filter(pending_sign_in::Column::ExpiresAt.lte(now))
            .exec(self.db())
            .await?;
        if pending_sign_in::Entity::find().count(self.db()).await? >= MAX_PENDING {
            return Err(AuthError::Forbidden("too many sign-ins in progress; try again shortly".into()));
        }
        pending_sign_in::ActiveModel {
            state_hash: Set(state_key(state.secret())),
            issuer: Set(endpoints.issuer),
            verifier: Set(verifier.secret().clone()),
            nonce: Set(nonce),
            created_at: Set(now),
            expires_at: Set(now + PENDING_TTL),
        }
        .insert(self.db())
        .await?;
        Ok(url.to_string())
    }

    /// Completes a browser sign-in: a session token, as from `login`.
    pub async fn browser_callback(
        &self,
        code: &str,
        state: &str,
        redirect: &str,
        now: DateTime<Utc>,
        request_id: Option<String>,
    ) -> Result<Issued, AuthError> {
        let key = state_key(state);
        let pending =
            pending_sign_in::Entity::find_by_id(key.clone()).one(self.db()).await?.ok_or_else(bad_state)?;
        // Single use: of concurrent callbacks with one state, only the one whose
        // delete removed the row goes on.
        let taken = pending_sign_in::Entity::delete_many()
            .filter(pending_sign_in::Column::StateHash.eq(key))
            .exec(self.db())
            .await?;
        if taken.rows_affected != 1 || pending.expires_at <= now {
            return Err(bad_state());
        }
        let endpoints = self.oidc().browser_endpoints(Some(&pending.issuer)).await.map_err(unreachable)?;
        let mut client = OidcClient::new(ClientId::new(endpoints.client_id.clone()))
            .set_token_uri(TokenUrl::new(endpoints.token_endpoint).map_err(unreachable)?)
            .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|_| AuthError::Internal)?);
        if let Some(secret) = endpoints.client_secret.clone() {
            client = client.set_client_secret(ClientSecret::new(secret));
        }
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(self.oidc().oauth_http())
            .await
            .map_err(unreachable)?;
        let id_token = response.extra_fields().id_token.clone().ok_or(AuthError::InvalidCredentials)?;
        let subject = self
            .oidc()
            .verify_id_token(&id_token, &endpoints.client_id, &pending.nonce)
            .await
            .map_err(|_| AuthError::InvalidCredentials)?;
        let Some(user) = self.user_by_external_subject(&subject).await? else {
            return Err(AuthError::Forbidden("this identity is not linked to a user".into()));
        };
        if !self.may_sign_in(&user).await? {
            return Err(AuthError::InvalidCredentials);
        }
        self.open_session(&user, "oidc", now, request_id).await
    }
}
