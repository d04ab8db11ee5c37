//! Browser sign-in routes: `GET /auth/login` → the identity provider → `GET
//! /auth/callback` → a JSON session token (the same as `login` gives).
use super::AppState;
use crate::auth::signin::AuthError;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct LoginParams {
    /// Which configured issuer (its `issuer` URL); the first with a client id if
    /// omitted.
    issuer: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn redirect_url(state: &AppState) -> String {
    format!("{}/auth/callback", state.public_url.trim_end_matches('/'))
}

fn failure(e: AuthError) -> Response {
    let (status, code, message) = match e {
        AuthError::BadInput { message, .. } => (StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message),
        AuthError::Forbidden(m) => (StatusCode::FORBIDDEN, "FORBIDDEN", m),
        AuthError::InvalidCredentials | AuthError::InvalidToken | AuthError::Throttled(_) => {
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "sign-in failed".to_owned())
        }
        AuthError::Conflict(m) => (StatusCode::CONFLICT, "CONFLICT", m),
        AuthError::Taken(unique) => (StatusCode::CONFLICT, "CONFLICT", unique.message.to_owned()),
        AuthError::Db(e) => {
            let refusal = super::graphql::Refusal::failed("browser sign-in failed", e);
            (refusal.status, refusal.code, refusal.message)
        }
        AuthError::Internal => {
            tracing::error!(error = %e, "browser sign-in failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error".to_owned())
        }
    };
    (status, Json(json!({ "error": message, "code": code }))).into_response()
}

pub async fn login(State(state): State<AppState>, Query(params): Query<LoginParams>) -> Response {
    match state.auth.browser_login_url(params.issuer.as_deref(), &redirect_url(&state)).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => failure(e),
    }
}

pub async fn callback(State(state): State<AppState>, Query(params): Query<CallbackParams>) -> Response {
    if let Some(error) = params.error {
        let message = format!("the identity provider refused: {error}");
        return failure(AuthError::BadInput { field: "error", message });
    }
    let (Some(code), Some(pending)) = (params.code, params.state) else {
        return failure(AuthError::BadInput { field: "code", message: "code and state are required".into() });
    };
    match state.auth.browser_callback(&code, &pending, &redirect_url(&state), chrono::Utc::now(), None).await
    {
        Ok(issued) => Json(json!({
            "accessToken": issued.access_token,
            "tokenType": "Bearer",
            "expiresAt": issued.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
        .into_response(),
        Err(e) => failure(e),
    }
}
