//! The HTTP surface: GraphQL (POST and GET), GraphiQL, CSV reports and exports,
//! health, readiness, metrics.
pub mod auth;
pub mod client;
pub mod exports;
pub mod graphql;
pub mod health;
pub mod metrics;

use crate::auth::signin::Authenticator;
use crate::authz::Authz;
use crate::clock::Clock;
use crate::config::Settings;
use crate::graphql::VerbandSchema;
use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

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
    pub metrics: Arc<metrics::Metrics>,
    /// Limits, time budget and connection permits of GraphQL requests.
    pub policy: Arc<graphql::Policy>,
}

pub fn router(state: AppState, settings: &Settings) -> Router {
    let metrics = state.metrics.clone();
    // Layers listed innermost first. Router::layer wraps each route (and the
    // fallback) after matching, so `observe` sees the matched route.
    Router::new()
        .route("/", get(graphql::graphiql))
        // CSV for dashboards and scripts, authenticated like GraphQL.
        .route("/reports/member-counts.csv", get(exports::member_counts_csv))
        .route("/exports/members.csv", get(exports::members_csv))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Open on the listen address, like most exporters: it holds only counts
        // (no personal data); keep the port private or filter /metrics at the proxy.
        .route("/metrics", get(metrics::render))
        // A backstop for the routes above; `/graphql` keeps its own budget for
        // queries and never cuts a mutation off (its answer must tell the truth).
        .route_layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .with_state(state)
        // Refuses large bodies with 413, from Content-Length before reading, or while
        // streaming a chunked body.
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        // The same limit for body extractors (axum's own default is 2 MB).
        .layer(axum::extract::DefaultBodyLimit::max(settings.max_body_bytes))
        // Inside `observe`, so that a panic is still counted and logged as a 500.
        .layer(CatchPanicLayer::new())
        // Metrics, the request span and one access-log line per request: method,
        // route, status, latency, request id — no query text, no variables, no
        // personal data.
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
