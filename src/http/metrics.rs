//! Prometheus metrics through the official client (`prometheus-client`), served at
//! `GET /metrics` in the OpenMetrics text format to scrapers that ask for it (as
//! Prometheus does) and in the classic text format 0.0.4 otherwise; and the
//! middleware that counts and logs every HTTP request.
//!
//! One registry per `App` (tests run many servers in one process). Labels only take
//! values from small fixed sets (routes, methods, status codes, error codes,
//! permission names): never query text, variables or personal data.
use super::AppState;
use crate::authz::Permission;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;
use tower_http::request_id::RequestId;
use tracing::Instrument;

/// Seconds.
const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Statements per request: a list query is one statement plus a constant number of
/// batched loads, so anything in the upper buckets is worth a look.
const STATEMENT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0, 144.0];
/// Statements one request had in flight at once: bounded by
/// `VERBAND_MAX_CONNECTIONS_PER_REQUEST`.
const CONNECTION_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0];

/// The label for requests that matched no route: the raw path would let any client
/// create series at will.
pub const UNMATCHED: &str = "unmatched";

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PermissionLabels {
    permission: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

/// The registry of one server. Counters are registered without their `_total`
/// suffix (the encoders add it), units through `register_with_unit`.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    graphql_requests: Family<OperationLabels, Counter>,
    sql_statements: Counter,
    sql_per_request: Histogram,
    denials: Family<PermissionLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    refused: Family<LimitLabels, Counter>,
    throttled: Family<ScopeLabels, Counter>,
    connections: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "verband_http_requests",
            "HTTP requests by method, matched route and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "verband_http_request_duration",
            "HTTP request latency by matched route",
            Unit::Seconds,
            http_duration.clone(),
        );
        let graphql_requests = Family::<OperationLabels, Counter>::default();
        registry.register(
            "verband_graphql_requests",
            "GraphQL requests by operation type (unknown: the document did not parse)",
            graphql_requests.clone(),
        );
        let sql_statements = Counter::default();
        registry.register("verband_sql_statements", "SQL statements executed", sql_statements.clone());
        let sql_per_request = Histogram::new(STATEMENT_BUCKETS.iter().copied());
        registry.register(
            "verband_sql_statements_per_request",
            "SQL statements caused by one GraphQL request (authentication included)",
            sql_per_request.clone(),
        );
        let denials = Family::<PermissionLabels, Counter>::default();
        registry.register(
            "verband_denials",
            "Access denials by the permission that was missing: redacted fields and FORBIDDEN errors",
            denials.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register("verband_errors", "GraphQL errors by extensions.code", errors.clone());
        let refused = Family::<LimitLabels, Counter>::default();
        registry.register(
            "verband_requests_refused",
            "GraphQL requests refused by a limit (cost, depth, fields, timeout, …), by the limit",
            refused.clone(),
        );
        let throttled = Family::<ScopeLabels, Counter>::default();
        registry.register(
            "verband_sign_in_throttled",
            "Sign-ins refused by the throttle, by what was throttled (account or address)",
            throttled.clone(),
        );
        let connections = Histogram::new(CONNECTION_BUCKETS.iter().copied());
        registry.register(
            "verband_connections_per_request",
            "The most statements one GraphQL request had in flight at once (each holds or waits for a pooled connection)",
            connections.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            graphql_requests,
            sql_statements,
            sql_per_request,
            denials,
            errors,
            refused,
            throttled,
            connections,
        }
    }

    /// One SQL statement ran (called from the connection's metric callback).
    pub fn sql_statement(&self) {
        self.sql_statements.inc();
    }

    pub fn sql_statements_total(&self) -> u64 {
        self.sql_statements.get()
    }

    pub fn statements_per_request(&self, n: u64) {
        self.sql_per_request.observe(n as f64);
    }

    pub fn http_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels { method: method_label(method), route: route.to_owned(), status })
            .inc();
        self.http_duration.get_or_create(&RouteLabels { route: route.to_owned() }).observe(seconds);
    }

    /// `operation`: query, mutation, subscription or unknown.
    pub fn graphql_request(&self, operation: &str) {
        let operation = match operation {
            "query" => "query",
            "mutation" => "mutation",
            "subscription" => "subscription",
            _ => "unknown",
        };
        self.graphql_requests.get_or_create(&OperationLabels { operation }).inc();
    }

    /// A field withheld for lack of `needs` (R12).
    pub fn redacted(&self, needs: Permission) {
        self.denials.get_or_create(&PermissionLabels { permission: needs.as_str() }).inc();
    }

    /// One error of a GraphQL response, by its `extensions.code`; FORBIDDEN ones also
    /// count as denials, labelled by `extensions.permission` when the error names one.
    pub fn error(&self, code: Option<&str>, permission: Option<&str>) {
        let code = code.and_then(|c| KNOWN_CODES.iter().find(|k| **k == c)).copied().unwrap_or("OTHER");
        self.errors.get_or_create(&CodeLabels { code }).inc();
        if code == "FORBIDDEN" {
            // Only known permission names become labels: the value comes from code,
            // but a typo must not open a new series per request.
            let permission = permission
                .and_then(|p| Permission::from_str(p).ok())
                .map_or("unspecified", Permission::as_str);
            self.denials.get_or_create(&PermissionLabels { permission }).inc();
        }
    }

    /// A request refused by a limit (`depth`, `cost`, `timeout`, …: a fixed set).
    pub fn request_refused(&self, limit: &'static str) {
        self.refused.get_or_create(&LimitLabels { limit }).inc();
    }

    /// A sign-in refused by the throttle: `account` or `address`.
    pub fn sign_in_throttled(&self, scope: &'static str) {
        self.throttled.get_or_create(&ScopeLabels { scope }).inc();
    }

    /// The most statements a request had in flight at once.
    pub fn connections_per_request(&self, n: usize) {
        self.connections.observe(n as f64);
    }

    /// The classic Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// The OpenMetrics text format, `# EOF` included.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The codes of the API's errors; anything else is counted as OTHER.
const KNOWN_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "UNAVAILABLE",
    "TIMEOUT",
    "INTERNAL",
    "PERSISTED_QUERY_NOT_FOUND",
];

/// Methods from a fixed set: clients can send any token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Whether the scraper accepts OpenMetrics (Prometheus asks for it first).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"));
        media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (body, content_type) = if wants_openmetrics(&headers) {
        (state.metrics.render_openmetrics(), OPENMETRICS)
    } else {
        (state.metrics.render(), PROMETHEUS_TEXT)
    };
    let mut response = body.into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(VARY, HeaderValue::from_static("accept"));
    response
}

/// What the GraphQL handler learnt about a request, handed to the access log through
/// the response's extensions.
#[derive(Clone, Debug, Default)]
pub struct GraphqlInfo {
    /// query, mutation, subscription, or None when the document did not parse.
    pub operation: Option<&'static str>,
    /// The client's operation name (an identifier by the GraphQL grammar).
    pub operation_name: Option<String>,
    pub sql_statements: u64,
}

/// The target of the access log, so it can be filtered on its own
/// (`VERBAND_LOG=info,verband::access=warn` silences it).
pub const ACCESS_LOG: &str = "verband::access";

/// Per request: one span carrying the request id, the metrics, and one access-log line
/// (method, matched route, status, latency, statements, operation), never the query
/// text, variables, headers or the raw path.
pub async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // Router::layer runs per route, after matching: the matched route is known here.
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, |p| p.as_str()).to_owned();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", method = %method, route = %route, request_id = %request_id);
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.http_request(&method, &route, status, elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match response.extensions().get::<GraphqlInfo>() {
        Some(info) => tracing::info!(
            target: ACCESS_LOG,
            method = %method,
            route = %route,
            status,
            latency_ms,
            request_id = %request_id,
            sql_statements = info.sql_statements,
            operation = info.operation.unwrap_or("unknown"),
            operation_name = info.operation_name.as_deref().unwrap_or(""),
            "request"
        ),
        None => tracing::info!(
            target: ACCESS_LOG,
            method = %method,
            route = %route,
            status,
            latency_ms,
            request_id = %request_id,
            "request"
        ),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms_in_the_classic_format() {
        let m = Metrics::new();
        m.http_request(&Method::POST, "/graphql", 200, 0.003);
        m.http_request(&Method::POST, "/graphql", 200, 0.2);
        m.statements_per_request(4);
        m.sql_statement();
        let text = m.render();
        assert!(text.contains("# TYPE verband_http_requests_total counter\n"), "{text}");
        assert!(text.contains("# HELP verband_http_requests_total HTTP requests by method"), "{text}");
        assert!(
            text.contains(r#"verband_http_requests_total{method="POST",route="/graphql",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains("# TYPE verband_http_request_duration_seconds histogram\n"), "{text}");
        assert!(
            text.contains(r#"verband_http_request_duration_seconds_bucket{route="/graphql",le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"verband_http_request_duration_seconds_bucket{route="/graphql",le="0.25"} 2"#)
        );
        assert!(
            text.contains(r#"verband_http_request_duration_seconds_bucket{route="/graphql",le="+Inf"} 2"#)
        );
        assert!(text.contains(r#"verband_http_request_duration_seconds_count{route="/graphql"} 2"#));
        assert!(text.contains(r#"verband_sql_statements_per_request_bucket{le="3"} 0"#), "{text}");
        assert!(text.contains(r#"verband_sql_statements_per_request_bucket{le="5"} 1"#));
        assert!(text.contains("verband_sql_statements_per_request_sum 4.0\n"), "{text}");
        assert!(text.contains("verband_sql_statements_total 1\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_families_without_suffixes_and_ends_with_eof() {
        let m = Metrics::new();
        m.http_request(&Method::GET, "/healthz", 200, 0.001);
        m.sql_statement();
        let text = m.render_openmetrics();
        assert!(text.contains("# TYPE verband_http_requests counter\n"), "{text}");
        assert!(
            text.contains(r#"verband_http_requests_total{method="GET",route="/healthz",status="200"} 1"#)
        );
        assert!(text.contains("# UNIT verband_http_request_duration_seconds seconds\n"), "{text}");
        assert!(text.contains("verband_sql_statements_total 1\n"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn denials_count_redactions_and_forbidden_errors() {
        let m = Metrics::new();
        m.redacted(Permission::BankRead);
        m.redacted(Permission::BankRead);
        m.error(Some("FORBIDDEN"), Some("member.write"));
        m.error(Some("FORBIDDEN"), None);
        m.error(Some("FORBIDDEN"), Some("made.up"));
        m.error(Some("NOT_FOUND"), None);
        m.error(Some("SOMETHING_ELSE"), None);
        let text = m.render();
        assert!(text.contains(r#"verband_denials_total{permission="bank.read"} 2"#), "{text}");
        assert!(text.contains(r#"verband_denials_total{permission="member.write"} 1"#));
        assert!(text.contains(r#"verband_denials_total{permission="unspecified"} 2"#));
        assert!(text.contains(r#"verband_errors_total{code="FORBIDDEN"} 3"#));
        assert!(text.contains(r#"verband_errors_total{code="NOT_FOUND"} 1"#));
        assert!(text.contains(r#"verband_errors_total{code="OTHER"} 1"#));
        assert!(!text.contains(r#"verband_denials_total{permission="made.up"}"#));
    }

    #[test]
    fn operations_outside_the_fixed_set_are_unknown() {
        let m = Metrics::new();
        m.graphql_request("query");
        m.graphql_request("drop table");
        let text = m.render();
        assert!(text.contains(r#"verband_graphql_requests_total{operation="query"} 1"#), "{text}");
        assert!(text.contains(r#"verband_graphql_requests_total{operation="unknown"} 1"#), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.http_request(&Method::GET, "x\"y\\z\n", 200, 0.0);
        let text = m.render();
        assert!(text.contains(r#"route="x\"y\\z\n""#), "{text}");
    }

    #[test]
    fn openmetrics_only_when_the_scraper_accepts_it() {
        let with = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, HeaderValue::from_str(accept).expect("header"));
            wants_openmetrics(&h)
        };
        assert!(with(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!with("text/plain"));
        assert!(!with("*/*"));
        assert!(!with("application/openmetrics-text; q=0"));
        assert!(!wants_openmetrics(&HeaderMap::new()));
    }
}
