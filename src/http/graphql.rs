//! GraphQL over HTTP (<https://graphql.github.io/graphql-over-http/>): POST with a JSON
//! body, GET with query parameters for queries only, and a response media type chosen
//! from `Accept`:
//!
//! - `application/graphql-response+json`: a request error (unparseable body, syntax
//!   or validation error: execution never started, no `data`) answers 400;
//! - `application/json` (also for no `Accept`, `*/*`, `application/*`): the legacy
//!   behaviour, 200 for every well-formed request, whatever its GraphQL errors;
//! - neither: 406.
//!
//! Refusals before execution: unsupported Content-Type 415, mutation over GET 405
//! with `Allow: POST`, bad or expired credentials 401 with `WWW-Authenticate: Bearer`,
//! body over the limit 413. Every error body is a GraphQL response whose errors carry
//! `extensions.code`.
//!
//! Before anything runs, a request passes its limits (`graphql::cost`: text, cost,
//! depth, fields, root fields, mutations, `login` once) and its input values are
//! checked (`graphql::inputs`); a refusal is a request error (`BAD_USER_INPUT`, with
//! `extensions.limit`, or `extensions.field` naming the input). A query has a time
//! budget (503 `TIMEOUT` past it); a mutation is never cut off, so that no answer
//! hides a change that was made. A request's statements share a few connection
//! permits (`ConnectionGate`).
use super::AppState;
use super::metrics::{GraphqlInfo, Metrics};
use super::persisted::{self, Persisted};
use crate::auth::Caller;
use crate::auth::api_tokens;
use crate::auth::signin::AuthError;
use crate::authz::Grants;
use crate::config::Introspection;
use crate::db::statements;
use crate::domain::audit;
use crate::graphql::cost::{self, Analysis, Limits};
use crate::graphql::error::ApiError;
use crate::graphql::loaders::Loaders;
use crate::graphql::redaction::{BankReads, Redactions};
use crate::graphql::shape::Shape;
use crate::graphql::{ClientAddress, ConnectionGate, RequestContext, inputs, scalars};
use crate::http::client::{IpNet, client_address};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ServerError, Value};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::header::{ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, VARY, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower_http::request_id::RequestId;

/// What a GraphQL request may do, from the configuration; decided per request
/// before it runs.
pub struct Policy {
    pub shape: Shape,
    pub limits: Limits,
    pub introspection: Introspection,
    /// The time budget of a query.
    pub timeout: Duration,
    pub connections_per_request: u32,
    pub trusted_proxies: Vec<IpNet>,
}

/// The media type of a GraphQL response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `application/graphql-response+json`: HTTP status codes tell request errors apart.
    GraphqlResponse,
    /// `application/json`: 200 for every well-formed request.
    Json,
}

impl Format {
    fn content_type(self) -> HeaderValue {
        match self {
            Self::GraphqlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Self::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }
}

/// A request refused before execution.
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) code: &'static str,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>, code: &'static str) -> Self {
        Self { status, message: message.into(), code }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, "BAD_USER_INPUT")
    }

    pub(crate) fn unauthenticated(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message, "UNAUTHENTICATED")
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "INTERNAL")
    }

    fn timeout(budget: Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the request did not finish within its time budget of {} s", budget.as_secs()),
            "TIMEOUT",
        )
    }

    /// A failure while identifying the caller or finishing the request: 503
    /// UNAVAILABLE (or TIMEOUT) while the database is down or busy, so clients and
    /// load balancers retry; otherwise 500 INTERNAL, logged as `what`.
    pub(crate) fn failed<E: Into<ApiError> + std::fmt::Display>(what: &str, e: E) -> Self {
        let shown = e.to_string();
        let e = e.into();
        let status = match e {
            ApiError::Unavailable | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            _ => {
                tracing::error!(error = %shown, "{what}");
                return Self::internal();
            }
        };
        Self::new(status, e.to_string(), e.code())
    }
}

/// Executes one GraphQL request with its per-request data: the caller, "today",
/// and fresh loaders (batches never mix callers).
pub async fn handle(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    req: Request,
) -> Response {
    let Some(format) = negotiate(req.headers()) else {
        let refusal = Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            "Accept allows neither application/graphql-response+json nor application/json",
            "BAD_USER_INPUT",
        );
        return refuse(&state.metrics, Format::Json, refusal, GraphqlInfo::default());
    };
    let method = req.method().clone();
    let headers = req.headers().clone();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let client = peer.map(|peer| client_address(peer, &headers, &state.policy.trusted_proxies));
    let mut request = match read_request(req).await {
        Ok(r) => r,
        Err(refusal) => return refuse(&state.metrics, format, refusal, GraphqlInfo::default()),
    };
    let persisted = match state.persisted.resolve(&mut request) {
        Ok(p) => p,
        Err(refused) => return refuse_persisted(&state.metrics, format, refused),
    };
    // Before the parser sees it: length, tokens, nesting.
    if let Err(refused) = cost::scan(&request.query, &state.policy.limits) {
        state.metrics.graphql_request("unknown");
        return refuse_limit(&state.metrics, format, refused, GraphqlInfo::default());
    }
    let (operation, operation_name) = operation_of(&mut request);
    state.metrics.graphql_request(operation.unwrap_or("unknown"));
    let mut info = GraphqlInfo { operation, operation_name, sql_statements: 0 };
    // GET (and HEAD) must not change anything: a link or a prefetch could trigger it.
    if method != Method::POST && operation.is_some_and(|o| o != "query") {
        let refusal = Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET serves queries only; send mutations with POST",
            "BAD_USER_INPUT",
        );
        let mut response = refuse(&state.metrics, format, refusal, info);
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let analysis = match admit(&state.policy, &mut request) {
        Ok(analysis) => {
            // Only a text that parsed and passed the limits is worth remembering.
            if let (Persisted::Register(hash), Some(_)) = (&persisted, &analysis) {
                state.persisted.register(*hash, &request.query);
            }
            analysis
        }
        Err(Inadmissible::Limit(refused)) => return refuse_limit(&state.metrics, format, refused, info),
        Err(Inadmissible::Input(bad)) => {
            let mut error = ServerError::new(bad.message, None);
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set("code", "BAD_USER_INPUT");
            extensions.set("field", bad.field);
            if let Some(variable) = bad.variable {
                extensions.set("variable", variable);
            }
            return respond(
                &state.metrics,
                format,
                async_graphql::Response::from_errors(vec![error]),
                None,
                info,
            );
        }
    };
    let request_id =
        request_id.and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned));
    let run =
        Run { request_id, headers: &headers, client, analysis, mutation: operation == Some("mutation") };
    // Authentication included: it is part of what the request costs.
    let counter = Arc::new(AtomicU64::new(0));
    let outcome = statements::count_statements(counter.clone(), execute(&state, run, request)).await;
    info.sql_statements = counter.load(Ordering::Relaxed);
    state.metrics.statements_per_request(info.sql_statements);
    match outcome {
        Ok(response) => respond(&state.metrics, format, response, None, info),
        Err(refusal) => {
            if refusal.code == "TIMEOUT" {
                state.metrics.request_refused("timeout");
            }
            refuse(&state.metrics, format, refusal, info)
        }
    }
}

/// A refused `persistedQuery` extension. A miss is what Apollo's clients expect
/// (`PersistedQueryNotFound`, then a retry with the text) and must not be cached.
fn refuse_persisted(metrics: &Metrics, format: Format, refused: persisted::Refused) -> Response {
    let (message, code): (&str, &str) = match refused {
        persisted::Refused::NotFound => ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"),
        persisted::Refused::NotSupported => ("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED"),
        persisted::Refused::Malformed(message) => (message, "BAD_USER_INPUT"),
        persisted::Refused::HashMismatch => {
            ("persistedQuery.sha256Hash is not the SHA-256 of the query", "BAD_USER_INPUT")
        }
    };
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    if code == "BAD_USER_INPUT" {
        extensions.set("field", "extensions.persistedQuery");
    }
    let response = async_graphql::Response::from_errors(vec![error]);
    let mut http = respond(metrics, format, response, None, GraphqlInfo::default());
    http.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache, must-revalidate"));
    http
}

enum Inadmissible {
    Limit(cost::Refused),
    Input(inputs::BadInput),
}

/// The request's limits and input values, checked on the parsed document before
/// anything runs. A document that does not parse is left to async-graphql, which
/// reports the syntax error.
fn admit(policy: &Policy, request: &mut async_graphql::Request) -> Result<Option<Analysis>, Inadmissible> {
    // Out of the request while the document is borrowed from it.
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.clone();
    let checked = match request.parsed_query() {
        Err(_) => Ok(None),
        Ok(doc) => cost::analyse(&policy.shape, doc, &variables, &policy.limits)
            .map_err(Inadmissible::Limit)
            .and_then(|analysis| {
                inputs::check(&policy.shape, doc, operation_name.as_deref(), &variables, scalars::check)
                    .map_err(Inadmissible::Input)?;
                Ok(Some(analysis))
            }),
    };
    request.variables = variables;
    checked
}

/// A request error for a broken limit: 400 under `application/graphql-response+json`,
/// `BAD_USER_INPUT` with the limit in `extensions.limit`.
fn refuse_limit(metrics: &Metrics, format: Format, refused: cost::Refused, info: GraphqlInfo) -> Response {
    metrics.request_refused(refused.limit.as_str());
    let mut error = ServerError::new(refused.message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "BAD_USER_INPUT");
    extensions.set("limit", refused.limit.as_str());
    respond(metrics, format, async_graphql::Response::from_errors(vec![error]), None, info)
}

/// What `execute` needs to know about the request besides its body.
struct Run<'a> {
    request_id: Option<String>,
    headers: &'a HeaderMap,
    client: Option<std::net::IpAddr>,
    analysis: Option<Analysis>,
    mutation: bool,
}

/// Who is calling, with their grants compiled for this request: the same for
/// GraphQL and for the CSV endpoints.
pub(crate) struct Identified {
    pub(crate) caller: Caller,
    pub(crate) grants: Arc<Grants>,
    pub(crate) session_id: Option<String>,
    pub(crate) api_token_id: Option<i64>,
    pub(crate) today: chrono::NaiveDate,
}

/// Authenticates the caller and compiles their grants. A request without
/// credentials is anonymous; one with bad credentials is refused (401), never
/// served as anonymous.
pub(crate) async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Identified, Refusal> {
    let today = state.clock.today();
    let (caller, session_id, api_token) = match bearer(headers) {
        Bearer::None => (Caller::Anonymous, None, None),
        Bearer::Malformed => return Err(Refusal::unauthenticated("malformed Authorization header")),
        Bearer::Token(token) if token.starts_with(api_tokens::PREFIX) => {
            match state.auth.authenticate_api_token(token, Utc::now()).await {
                Ok(t) => (Caller::User { user_id: t.user_id }, None, Some(t)),
                Err(AuthError::InvalidToken | AuthError::InvalidCredentials) => {
                    return Err(Refusal::unauthenticated("invalid, revoked or expired API token"));
                }
                Err(e) => return Err(Refusal::failed("API token authentication failed", e)),
            }
        }
        Bearer::Token(token) => match state.auth.authenticate(token, Utc::now()).await {
            Ok(a) => (Caller::User { user_id: a.user_id }, a.session_id, None),
            Err(AuthError::InvalidToken | AuthError::InvalidCredentials) => {
                return Err(Refusal::unauthenticated("invalid or expired token"));
            }
            Err(e) => return Err(Refusal::failed("authentication failed", e)),
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
            Err(e) => return Err(Refusal::failed("compiling grants failed", e)),
        },
    };
    Ok(Identified { caller, grants, session_id, api_token_id: api_token.map(|t| t.token_id), today })
}

/// Authenticates the caller, compiles their grants and runs the request: a query
/// within its time budget, a mutation to its end.
async fn execute(
    state: &AppState,
    run: Run<'_>,
    request: async_graphql::Request,
) -> Result<async_graphql::Response, Refusal> {
    let budget = state.policy.timeout;
    let deadline = tokio::time::Instant::now() + budget;
    let Identified { caller, grants, session_id, api_token_id, today } =
        tokio::time::timeout_at(deadline, identify(state, run.headers))
            .await
            .map_err(|_| Refusal::timeout(budget))??;
    let mut request = request;
    if run.analysis.is_some_and(|a| a.introspection) {
        match (state.policy.introspection, caller) {
            (Introspection::Off, _) => {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "introspection is switched off",
                    "FORBIDDEN",
                ));
            }
            (Introspection::SignedIn, Caller::Anonymous) => {
                return Err(Refusal::unauthenticated("introspection needs a signed-in caller"));
            }
            _ => {}
        }
    }
    if state.policy.introspection == Introspection::SignedIn && caller == Caller::Anonymous {
        request = request.disable_introspection();
    }
    let request_id = run.request_id;
    let gate = ConnectionGate::new(state.policy.connections_per_request);
    let loaders = Loaders::gated(&state.db, grants.clone(), &gate);
    let redactions = Arc::new(Redactions::new());
    let bank_reads = Arc::new(BankReads::new());
    let actor_user_id = grants.user_id();
    let context =
        RequestContext { caller, grants, session_id, api_token_id, today, request_id: request_id.clone() };
    let mut request = request
        .data(context)
        .data(loaders)
        .data(gate.clone())
        .data(redactions.clone())
        .data(bank_reads.clone());
    if let Some(client) = run.client {
        request = request.data(ClientAddress(client));
    }
    let work = finish(state, request, redactions, bank_reads, actor_user_id, request_id);
    let outcome = if run.mutation {
        // Never cut off: a mutation answered with an error must have changed
        // nothing. Its statements have their own timeout.
        work.await
    } else {
        tokio::time::timeout_at(deadline, work).await.unwrap_or_else(|_| Err(Refusal::timeout(budget)))
    };
    state.metrics.connections_per_request(gate.peak());
    outcome
}

/// Executes, labels the errors, lists the redactions and audits the bank reads.
async fn finish(
    state: &AppState,
    request: async_graphql::Request,
    redactions: Arc<Redactions>,
    bank_reads: Arc<BankReads>,
    actor_user_id: Option<i64>,
    request_id: Option<String>,
) -> Result<async_graphql::Response, Refusal> {
    let mut response = state.schema.execute(request).await;
    label_errors(&mut response.errors);
    if let Some(redacted) = redactions.to_extension() {
        response.extensions.insert("redacted".to_owned(), redacted);
    }
    for needs in redactions.permissions() {
        state.metrics.redacted(needs);
    }
    // Who read whose bank data, one row per member, in one statement; a response
    // whose bank reads cannot be audited is not given out.
    let read = bank_reads.members();
    if !read.is_empty()
        && let Err(e) =
            audit::record_bank_reads(&state.db, Utc::now(), actor_user_id, request_id, &read).await
    {
        return Err(Refusal::failed("auditing bank reads failed", e));
    }
    Ok(response)
}

/// The GraphQL request of a GET (query parameters) or a POST (JSON body).
/// A request without a query (or the hash of a persisted one) is not a GraphQL
/// request at all: 400 in either format.
async fn read_request(req: Request) -> Result<async_graphql::Request, Refusal> {
    let request = read_parameters(req).await?;
    if request.query.trim().is_empty() && !request.extensions.contains_key("persistedQuery") {
        return Err(Refusal::bad_request("the request has no query"));
    }
    Ok(request)
}

async fn read_parameters(req: Request) -> Result<async_graphql::Request, Refusal> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return from_query_string(req.uri());
    }
    if !is_json(req.headers()) {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a GraphQL POST needs Content-Type: application/json",
            "BAD_USER_INPUT",
        ));
    }
    // 413 over the body limit (the rejection's status), 400 for a broken body.
    let body = Bytes::from_request(req, &()).await.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body too large"
        } else {
            "cannot read the request body"
        };
        Refusal::new(status, message, "BAD_USER_INPUT")
    })?;
    // serde's messages name the position and expected type, not the input.
    serde_json::from_slice::<async_graphql::Request>(&body)
        .map_err(|e| Refusal::bad_request(format!("the body is not a GraphQL request in JSON: {e}")))
}

/// The parameters of a GET: `query`, `operationName`, and `variables` and
/// `extensions` as JSON. (async-graphql 7.2's `parse_query_string` reads
/// `operation_name`, not the spec's `operationName`; both are accepted here.)
#[derive(serde::Deserialize)]
struct GetParams {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName", alias = "operation_name")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn from_query_string(uri: &Uri) -> Result<async_graphql::Request, Refusal> {
    let Query(params) = Query::<GetParams>::try_from_uri(uri)
        .map_err(|e| Refusal::bad_request(format!("invalid GraphQL request in the query string: {e}")))?;
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        request = request.variables(
            serde_json::from_str(&variables)
                .map_err(|e| Refusal::bad_request(format!("variables are not a JSON object: {e}")))?,
        );
    }
    if let Some(extensions) = params.extensions {
        request.extensions = serde_json::from_str(&extensions)
            .map_err(|e| Refusal::bad_request(format!("extensions are not a JSON object: {e}")))?;
    }
    Ok(request)
}

/// `Content-Type: application/json`, parameters (charset) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The response format the client accepts, preferring the higher quality and, on a
/// tie, `application/graphql-response+json`; None when it accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Some(Format::Json);
    }
    let mut best: Option<(f32, u8, Format)> = None;
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            // Specificity breaks ties: explicit types before wildcards.
            let (rank, format) = match media.as_str() {
                "application/graphql-response+json" => (3, Format::GraphqlResponse),
                "application/json" => (2, Format::Json),
                "application/*" | "*/*" => (1, Format::Json),
                "" if value.trim().is_empty() => (1, Format::Json),
                _ => continue,
            };
            if quality <= 0.0 {
                continue;
            }
            if best.is_none_or(|(q, r, _)| quality > q || (quality == q && rank > r)) {
                best = Some((quality, rank, format));
            }
        }
    }
    best.map(|(_, _, format)| format)
}

/// The type and name of the operation the request selects, if its document parses
/// and names one operation (then the name is a GraphQL identifier, safe to log).
/// The parsed document stays in the request: it is not parsed twice.
fn operation_of(request: &mut async_graphql::Request) -> (Option<&'static str>, Option<String>) {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return (None, None) };
    let selected = match (&document.operations, wanted.as_deref()) {
        (DocumentOperations::Single(op), None) => Some((None, op)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get_key_value(name).map(|(n, op)| (Some(n.to_string()), op))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.iter().next().map(|(n, op)| (Some(n.to_string()), op))
        }
        _ => None,
    };
    match selected {
        Some((name, op)) => {
            let kind = match op.node.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            (Some(kind), name.map(|n| n.chars().take(100).collect()))
        }
        None => (None, None),
    }
}

/// A GraphQL response body. `status` overrides the one derived from the format.
fn respond(
    metrics: &Metrics,
    format: Format,
    response: async_graphql::Response,
    status: Option<StatusCode>,
    info: GraphqlInfo,
) -> Response {
    for error in &response.errors {
        let extension = |key: &str| match error.extensions.as_ref().and_then(|e| e.get(key)) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Enum(n)) => Some(n.to_string()),
            _ => None,
        };
        metrics.error(extension("code").as_deref(), extension("permission").as_deref());
    }
    // Execution never started: the GraphQL spec leaves `data` out.
    let request_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = status.unwrap_or(if request_error && format == Format::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    });
    // Straight to bytes; only a request error goes through a JSON tree to drop `data`.
    let body = if request_error {
        serde_json::to_value(&response).and_then(|mut body| {
            if let Some(object) = body.as_object_mut() {
                object.remove("data");
            }
            serde_json::to_vec(&body)
        })
    } else {
        serde_json::to_vec(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "serializing a GraphQL response failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = status;
    let headers = http.headers_mut();
    headers.insert(CONTENT_TYPE, format.content_type());
    // The answer depends on who asks and in which format: a cache (a CDN in front
    // of GET requests) must keep them apart.
    headers.insert(VARY, HeaderValue::from_static("accept, authorization"));
    if response.is_ok()
        && let Some(value) = response.cache_control.value()
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        headers.insert(CACHE_CONTROL, value);
    }
    headers.extend(response.http_headers);
    http.extensions_mut().insert(info);
    http
}

fn refuse(metrics: &Metrics, format: Format, refusal: Refusal, info: GraphqlInfo) -> Response {
    let mut error = ServerError::new(refusal.message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", refusal.code);
    let response = async_graphql::Response::from_errors(vec![error]);
    let mut http = respond(metrics, format, response, Some(refusal.status), info);
    if refusal.status == StatusCode::UNAUTHORIZED {
        http.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    http
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

/// Every error carries `extensions.code`. Errors without a path were raised before
/// execution (syntax, validation, depth and complexity limits): the request was bad.
/// Errors in a field that carry no code are unexpected: INTERNAL, and logged.
fn label_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        // Argument values are coerced when their field runs, so a bad value (a null
        // for a non-null argument, a malformed date inside an input object) comes
        // with a path: it is still the caller's input.
        // (async-graphql's `InputValueError` messages.)
        let bad_argument = error.message.starts_with("Failed to parse \"")
            || error.message.starts_with("Expected input type \"")
            || error.message.contains("(occurred while parsing \"");
        let code = if error.path.is_empty() || bad_argument {
            if bad_argument && let Some(async_graphql::PathSegment::Field(field)) = error.path.last() {
                let field = field.clone();
                error.extensions.get_or_insert_with(Default::default).set("field", field);
            }
            "BAD_USER_INPUT"
        } else {
            tracing::error!(message = %error.message, "unlabelled error in a resolver");
            error.message = "internal error".to_owned();
            "INTERNAL"
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}
