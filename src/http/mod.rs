//! The HTTP surface: GraphQL (POST and GET), GraphiQL, health and readiness.
pub mod auth;
pub mod graphql;
pub mod health;

use crate::auth::signin::Authenticator;
use crate::authz::Authz;
use crate::clock::Clock;
use crate::config::Settings;
use crate::graphql::VerbandSchema;
use axum::Router;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct AppState {
    pub schema: VerbandSchema,
    pub db: DatabaseConnection,
    pub authz: Arc<Authz>,
    pub auth: Arc<Authenticator>,
    /// Where browsers reach this server (for the sign-in redirect).
    pub public_url: String,
    pub clock: Clock,
}

pub fn router(state: AppState, settings: &Settings) -> Router {
    Router::new()
        .route("/", get(graphql::graphiql))
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
        // Refuses large bodies with 413, from Content-Length before reading, or while
        // streaming a chunked body.
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        // Logs carry the method, path, status and request id — no query text, no
        // variables, no personal data.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let request_id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(CatchPanicLayer::new())
}
