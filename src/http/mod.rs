//! The HTTP surface: GraphQL (POST and GET), GraphiQL (from the binary), CSV reports,
//! exports and imports, health, readiness, metrics.
pub mod auth;
pub mod client;
pub mod exports;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod imports;
pub mod metrics;
pub mod persisted;

use crate::auth::signin::Authenticator;
use crate::authz::Authz;
use crate::clock::Clock;
use crate::config::Settings;
use crate::graphql::VerbandSchema;
use axum::Router;
use axum::http::HeaderName;
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long browsers may reuse a preflight answer (Chromium caps it at two hours).
pub const CORS_MAX_AGE: Duration = Duration::from_secs(7200);

/// CORS for browser front ends on the configured origins, or `None` without any:
/// then no response carries `Access-Control-*` headers and browsers keep other
/// origins out. Credentials (cookies) are never allowed: the API takes bearer
/// tokens in `Authorization`, which a front end sets itself.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([CONTENT_TYPE, AUTHORIZATION, ACCEPT, REQUEST_ID, imports::IDEMPOTENCY_KEY])
            // What a front end may read of a response besides the simple headers.
            .expose_headers([
                REQUEST_ID,
                exports::OMITTED_COLUMNS,
                CONTENT_DISPOSITION,
                imports::IDEMPOTENT_REPLAYED,
            ])
            .allow_credentials(false)
            .max_age(CORS_MAX_AGE),
    )
}

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
    /// Automatic persisted queries: hash → query text.
    pub persisted: Arc<persisted::PersistedQueries>,
    /// Largest file `POST /imports/members.csv` takes.
    pub max_import_bytes: usize,
    /// How long an import may run (its transaction included).
    pub import_timeout: Duration,
}

pub fn router(state: AppState, settings: &Settings) -> Router {
    let metrics = state.metrics.clone();
    // Imports stream files far larger than any API request, for longer: their own
    // body limit (counted while the body streams, `imports::forward`) and timeout,
    // so they are routed around the API's. A timeout rolls the import back.
    let imports = Router::new()
        .route("/imports/members.csv", post(imports::members_csv))
        .with_state(state.clone())
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.import_timeout_seconds),
        ))
        .layer(CatchPanicLayer::new());
    // Layers listed innermost first. Router::layer wraps each route (and the
    // fallback) after matching, so `observe` sees the matched route.
    let router = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{hash}/{file}", get(graphiql::asset))
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
        // After the layers above, which therefore do not apply to it.
        .merge(imports);
    // Outside the limits, so that their refusals (413, 408, 500) carry the CORS
    // headers and a front end can read them; preflights are answered here, before
    // the method routing would refuse OPTIONS with 405.
    let router = match cors(&settings.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router
        // Metrics, the request span and one access-log line per request: method,
        // route, status, latency, request id — no query text, no variables, no
        // personal data.
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// A client may bring its own request id (to follow a request through its logs and
/// ours), but it ends up in logs and audit records: anything longer than 64
/// characters or beyond letters, digits and `-_.:` is dropped and replaced by a
/// fresh one.
async fn drop_unusable_request_id(mut req: axum::extract::Request) -> axum::extract::Request {
    let usable = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        let v = v.as_bytes();
        !v.is_empty()
            && v.len() <= 64
            && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if !usable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}
