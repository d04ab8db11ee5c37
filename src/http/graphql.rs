use super::AppState;
use crate::auth::Caller;
use crate::auth::api_tokens;
use crate::auth::signin::AuthError;
use crate::authz::Grants;
use crate::graphql::RequestContext;
use crate::graphql::loaders::Loaders;
use crate::graphql::redaction::Redactions;
use async_graphql::ServerError;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use std::sync::Arc;
use tower_http::request_id::RequestId;

pub async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("verband").finish())
}

/// Executes one GraphQL request with its per-request data: the caller, "today",
/// and fresh loaders (batches never mix callers).
pub async fn handle(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let request_id =
        request_id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    let today = state.clock.today();
    // A request without credentials is anonymous; one with bad credentials is
    // refused (401), never served as anonymous.
    let (caller, session_id, api_token) = match bearer(&headers) {
        Bearer::None => (Caller::Anonymous, None, None),
        Bearer::Malformed => return unauthenticated("malformed Authorization header"),
        Bearer::Token(token) if token.starts_with(api_tokens::PREFIX) => {
            match state.auth.authenticate_api_token(token, Utc::now()).await {
                Ok(t) => (Caller::User { user_id: t.user_id }, None, Some(t)),
                Err(AuthError::InvalidToken | AuthError::InvalidCredentials) => {
                    return unauthenticated("invalid, revoked or expired API token");
                }
                Err(e) => {
                    tracing::error!(error = %e, "API token authentication failed");
                    return internal();
                }
            }
        }
        Bearer::Token(token) => match state.auth.authenticate(token, Utc::now()).await {
            Ok(a) => (Caller::User { user_id: a.user_id }, a.session_id, None),
            Err(AuthError::InvalidToken | AuthError::InvalidCredentials) => {
                return unauthenticated("invalid or expired token");
            }
            Err(e) => {
                tracing::error!(error = %e, "authentication failed");
                return internal();
            }
        },
    };
    let grants = match caller {
        Caller::Anonymous => Arc::new(Grants::none()),
        Caller::User { user_id } => match state.authz.grants(user_id, today).await {
            // A token's scopes only ever narrow its owner's rights.
            Ok(g) => match &api_token {
                Some(t) => Arc::new(g.restricted_to(t.scopes)),
                None => g,
            },
            Err(e) => {
                tracing::error!(error = %e, "compiling grants failed");
                return internal();
            }
        },
    };
    let api_token_id = api_token.map(|t| t.token_id);
    let loaders = Loaders::new(&state.db, grants.clone());
    let redactions = Arc::new(Redactions::new());
    let context = RequestContext { caller, grants, session_id, api_token_id, today, request_id };
    let req = req.into_inner().data(context).data(loaders).data(redactions.clone());
    let mut response = state.schema.execute(req).await;
    label_errors(&mut response.errors);
    if let Some(redacted) = redactions.to_extension() {
        response.extensions.insert("redacted".to_owned(), redacted);
    }
    GraphQLResponse::from(response).into_response()
}

enum Bearer<'a> {
    None,
    Malformed,
    Token(&'a str),
}

fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Bearer::None };
    let Ok(value) = value.to_str() else { return Bearer::Malformed };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Bearer::Token(token.trim())
        }
        _ => Bearer::Malformed,
    }
}

fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    let mut response =
        GraphQLResponse::from(async_graphql::Response::from_errors(vec![error])).into_response();
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn unauthenticated(message: &str) -> Response {
    error_response(StatusCode::UNAUTHORIZED, message, "UNAUTHENTICATED")
}

fn internal() -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "INTERNAL")
}

/// Every error carries `extensions.code`. Errors without a path were raised before
/// execution (syntax, validation, depth and complexity limits): the request was bad.
/// Errors in a field that carry no code are unexpected: INTERNAL, and logged.
fn label_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if error.path.is_empty() {
            "BAD_USER_INPUT"
        } else {
            tracing::error!(message = %error.message, "unlabelled error in a resolver");
            error.message = "internal error".to_owned();
            "INTERNAL"
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}
