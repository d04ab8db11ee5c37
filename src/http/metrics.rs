//! Prometheus metrics: a small hand-written registry (counters and histograms with
//! fixed buckets) rendered in the text exposition format at `GET /metrics`, and the
//! middleware that counts and logs every HTTP request.
//!
//! One registry per `App` (tests run many servers in one process). Labels only take
//! values from small fixed sets (routes, methods, status codes, error codes,
//! permission names): never query text, variables or personal data.
use super::AppState;
use crate::authz::Permission;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tower_http::request_id::RequestId;
use tracing::Instrument;

/// Seconds.
const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Statements per request: "a list query is one statement plus a constant number of
/// batched loads" (DESIGN.md 8), so anything in the upper buckets is worth a look.
const STATEMENT_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0, 144.0];

/// The label for requests that matched no route: the raw path would let any client
/// create series at will.
pub const UNMATCHED: &str = "unmatched";

/// Never poisoned in practice (nothing panics under these locks); if it were, the
/// numbers are still good enough to keep counting.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Counter {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counter {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self { name, help, labels, values: Mutex::new(BTreeMap::new()) }
    }

    fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    fn add(&self, values: &[&str], n: u64) {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        *lock(&self.values).entry(key).or_insert(0) += n;
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        for (values, n) in lock(&self.values).iter() {
            let _ = writeln!(out, "{}{} {n}", self.name, label_set(self.labels, values, None));
        }
    }
}

#[derive(Clone)]
struct HistogramState {
    /// Per bucket, not cumulative (made cumulative when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

struct Histogram {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, HistogramState>>,
}

impl Histogram {
    fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self { name, help, labels, buckets, values: Mutex::new(BTreeMap::new()) }
    }

    fn observe(&self, values: &[&str], v: f64) {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut map = lock(&self.values);
        let state = map.entry(key).or_insert_with(|| HistogramState {
            counts: vec![0; self.buckets.len()],
            sum: 0.0,
            count: 0,
        });
        if let Some(i) = self.buckets.iter().position(|b| v <= *b)
            && let Some(c) = state.counts.get_mut(i)
        {
            *c += 1;
        }
        state.sum += v;
        state.count += 1;
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "histogram");
        for (values, state) in lock(&self.values).iter() {
            let mut cumulative = 0;
            for (bound, n) in self.buckets.iter().zip(&state.counts) {
                cumulative += n;
                let le = format_float(*bound);
                let _ = writeln!(
                    out,
                    "{}_bucket{} {cumulative}",
                    self.name,
                    label_set(self.labels, values, Some(&le))
                );
            }
            let _ = writeln!(
                out,
                "{}_bucket{} {}",
                self.name,
                label_set(self.labels, values, Some("+Inf")),
                state.count
            );
            let labels = label_set(self.labels, values, None);
            let _ = writeln!(out, "{}_sum{labels} {}", self.name, format_float(state.sum));
            let _ = writeln!(out, "{}_count{labels} {}", self.name, state.count);
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{a="x",b="y"}` (with `le` last for buckets), or nothing without labels.
fn label_set(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> =
        names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Whole numbers without a fraction (`3`, not `3.0`), as Prometheus clients print.
fn format_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The registry of one server.
pub struct Metrics {
    http_requests: Counter,
    http_duration: Histogram,
    graphql_requests: Counter,
    sql_statements: AtomicU64,
    sql_per_request: Histogram,
    denials: Counter,
    errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            http_requests: Counter::new(
                "verband_http_requests_total",
                "HTTP requests by method, matched route and status.",
                &["method", "route", "status"],
            ),
            http_duration: Histogram::new(
                "verband_http_request_duration_seconds",
                "HTTP request latency by matched route.",
                &["route"],
                DURATION_BUCKETS,
            ),
            graphql_requests: Counter::new(
                "verband_graphql_requests_total",
                "GraphQL requests by operation type (unknown: the document did not parse).",
                &["operation"],
            ),
            sql_statements: AtomicU64::new(0),
            sql_per_request: Histogram::new(
                "verband_sql_statements_per_request",
                "SQL statements caused by one GraphQL request (authentication included).",
                &[],
                STATEMENT_BUCKETS,
            ),
            denials: Counter::new(
                "verband_denials_total",
                "Access denials by the permission that was missing: redacted fields and FORBIDDEN errors.",
                &["permission"],
            ),
            errors: Counter::new("verband_errors_total", "GraphQL errors by extensions.code.", &["code"]),
        }
    }

    /// One SQL statement ran (called from the connection's metric callback).
    pub fn sql_statement(&self) {
        self.sql_statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sql_statements_total(&self) -> u64 {
        self.sql_statements.load(Ordering::Relaxed)
    }

    pub fn statements_per_request(&self, n: u64) {
        self.sql_per_request.observe(&[], n as f64);
    }

    pub fn http_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.http_requests.inc(&[method_label(method), route, &status]);
        self.http_duration.observe(&[route], seconds);
    }

    /// `operation`: query, mutation, subscription or unknown.
    pub fn graphql_request(&self, operation: &str) {
        self.graphql_requests.inc(&[operation]);
    }

    /// A field withheld for lack of `needs` (R12).
    pub fn redacted(&self, needs: Permission) {
        self.denials.inc(&[needs.as_str()]);
    }

    /// One error of a GraphQL response, by its `extensions.code`; FORBIDDEN ones also
    /// count as denials, labelled by `extensions.permission` when the error names one.
    pub fn error(&self, code: Option<&str>, permission: Option<&str>) {
        let code = code.filter(|c| KNOWN_CODES.contains(c)).unwrap_or("OTHER");
        self.errors.inc(&[code]);
        if code == "FORBIDDEN" {
            // Only known permission names become labels: the value comes from code,
            // but a typo must not open a new series per request.
            let permission = permission
                .and_then(|p| Permission::from_str(p).ok())
                .map_or("unspecified", Permission::as_str);
            self.denials.inc(&[permission]);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.http_requests.render(&mut out);
        self.http_duration.render(&mut out);
        self.graphql_requests.render(&mut out);
        header(&mut out, "verband_sql_statements_total", "SQL statements executed.", "counter");
        let _ = writeln!(out, "verband_sql_statements_total {}", self.sql_statements_total());
        self.sql_per_request.render(&mut out);
        self.denials.render(&mut out);
        self.errors.render(&mut out);
        out
    }
}

/// The codes of DESIGN.md section 5; anything else is counted as OTHER.
const KNOWN_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "UNAVAILABLE",
    "TIMEOUT",
    "INTERNAL",
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

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
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
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new();
        m.http_request(&Method::POST, "/graphql", 200, 0.003);
        m.http_request(&Method::POST, "/graphql", 200, 0.2);
        m.statements_per_request(4);
        m.sql_statement();
        let text = m.render();
        assert!(text.contains("# TYPE verband_http_requests_total counter"), "{text}");
        assert!(
            text.contains(r#"verband_http_requests_total{method="POST",route="/graphql",status="200"} 2"#)
        );
        assert!(
            text.contains(r#"verband_http_request_duration_seconds_bucket{route="/graphql",le="0.005"} 1"#)
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
        assert!(text.contains("verband_sql_statements_per_request_sum 4\n"));
        assert!(text.contains("verband_sql_statements_total 1\n"));
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
    fn label_values_are_escaped() {
        assert_eq!(label_set(&["a"], &["x\"y\\z\n".to_owned()], None), r#"{a="x\"y\\z\n"}"#);
    }
}
