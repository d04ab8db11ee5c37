//! The HTTP surface: GraphQL over HTTP (methods, media types, status codes), the
//! Prometheus metrics, SQL statement counting.
use crate::common::{TestDb, TestServer, error_code};
use serde_json::{Value, json};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const COUNT_UNITS: &str = "{ orgUnits { totalCount } }";

async fn scrape(server: &TestServer) -> String {
    let response = server.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("metrics text")
}

/// The value of one sample (`name{labels}` exactly as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("number"))
}

/// POSTs `body` with the given headers: (status, content type, body as text).
async fn post(server: &TestServer, headers: &[(&str, &str)], body: String) -> (u16, String, String) {
    let mut request = server.client.post(format!("{}/graphql", server.base)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    (status, content_type, response.text().await.expect("body"))
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn query_body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_graphql_requests() {
    let server = TestServer::demo().await;
    let response = server.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(content_type(&response).starts_with("text/plain"), "{}", content_type(&response));
    assert!(response.text().await.expect("text").contains("\nverband_sql_statements_total "));
    let body = server.gql(COUNT_UNITS, json!({})).await;
    assert!(body["data"]["orgUnits"]["totalCount"].as_u64().is_some(), "{body}");
    // One error and one denial, so that every family has a series (a family without
    // any is not listed).
    let (_, body) = server.gql_with_auth("Bearer nonsense", COUNT_UNITS, json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let token = server.token("sf.pegnitz").await;
    server
        .gql_as(&token, "{ members(first: 1) { edges { node { bankAccount { iban } } } } }", json!({}))
        .await;
    let text = scrape(&server).await;
    for (name, kind) in [
        ("verband_http_requests_total", "counter"),
        ("verband_http_request_duration_seconds", "histogram"),
        ("verband_graphql_requests_total", "counter"),
        ("verband_sql_statements_total", "counter"),
        ("verband_sql_statements_per_request", "histogram"),
        ("verband_denials_total", "counter"),
        ("verband_errors_total", "counter"),
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} missing:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name} missing:\n{text}");
    }
    let before = text;
    let body = server.gql(COUNT_UNITS, json!({})).await;
    assert!(body["data"]["orgUnits"]["totalCount"].as_u64().is_some(), "{body}");
    let after = scrape(&server).await;
    let queries = r#"verband_graphql_requests_total{operation="query"}"#;
    assert_eq!(sample(&after, queries) - sample(&before, queries), 1.0);
    let posts = r#"verband_http_requests_total{method="POST",route="/graphql",status="200"}"#;
    assert_eq!(sample(&after, posts) - sample(&before, posts), 1.0, "{after}");
    let latency = r#"verband_http_request_duration_seconds_count{route="/graphql"}"#;
    assert_eq!(sample(&after, latency) - sample(&before, latency), 1.0);
    // The first scrape was counted once it had answered.
    assert!(after.contains(r#"verband_http_requests_total{method="GET",route="/metrics",status="200"}"#));
}

#[tokio::test]
async fn metrics_speak_openmetrics_to_scrapers_that_ask_for_it() {
    let server = TestServer::demo().await;
    server.gql(COUNT_UNITS, json!({})).await;
    // What Prometheus sends.
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .header("accept", accept)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    assert!(content_type(&response).starts_with("application/openmetrics-text; version=1.0.0"));
    let text = response.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "{text}");
    // The same sample names as the classic format: queries and dashboards keep working.
    assert_eq!(sample(&text, r#"verband_graphql_requests_total{operation="query"}"#), 1.0, "{text}");
    assert!(text.contains("# TYPE verband_graphql_requests counter\n"));
    assert!(text.contains("# UNIT verband_http_request_duration_seconds seconds\n"));
    // Without asking: the classic text format, as before.
    let classic = server.get("/metrics").await;
    assert!(content_type(&classic).starts_with("text/plain; version=0.0.4"));
    assert!(!classic.text().await.expect("text").contains("# EOF"));
}

#[tokio::test]
async fn sql_statements_total_moves_by_exactly_the_statements_of_a_request() {
    let server = TestServer::demo().await;
    // Warm up whatever is cached per server, so the measured request is typical.
    server.gql(COUNT_UNITS, json!({})).await;
    let before = scrape(&server).await;
    let body = server.gql(COUNT_UNITS, json!({})).await;
    assert!(body["data"]["orgUnits"]["totalCount"].as_u64().is_some(), "{body}");
    let after = scrape(&server).await;
    let total =
        sample(&after, "verband_sql_statements_total") - sample(&before, "verband_sql_statements_total");
    let per_request = sample(&after, "verband_sql_statements_per_request_sum")
        - sample(&before, "verband_sql_statements_per_request_sum");
    let requests = sample(&after, "verband_sql_statements_per_request_count")
        - sample(&before, "verband_sql_statements_per_request_count");
    assert_eq!(requests, 1.0);
    assert!(total > 0.0, "an anonymous list costs at least one statement");
    assert_eq!(total, per_request, "every statement belongs to the request:\n{after}");
    // One list statement plus its count: a small constant, whatever the data.
    assert!(total <= 4.0, "{total} statements for counting units");
}

#[tokio::test]
async fn forbidden_errors_count_as_denials_and_errors() {
    let server = TestServer::demo().await;
    let token = server.token("lsm.bayern").await;
    let before = scrape(&server).await;
    // Listing who can access a unit needs user.manage or audit.read, which a state
    // treasurer does not hold.
    let (status, body) = server
        .gql_as(&token, r#"{ whoCanAccess(orgUnitId: "x", permission: BANK_READ) { username } }"#, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let after = scrape(&server).await;
    let denials = r#"verband_denials_total{permission="unspecified"}"#;
    assert_eq!(sample(&after, denials) - sample(&before, denials), 1.0, "{after}");
    let forbidden = r#"verband_errors_total{code="FORBIDDEN"}"#;
    assert_eq!(sample(&after, forbidden) - sample(&before, forbidden), 1.0);
}

#[tokio::test]
async fn redacted_fields_count_as_denials_by_the_permission_they_needed() {
    let server = TestServer::demo().await;
    // A reader: member.read without bank.read (R12).
    let token = server.token("sf.pegnitz").await;
    let before = scrape(&server).await;
    let (status, body) = server
        .gql_as(&token, "{ members(first: 5) { edges { node { bankAccount { iban } } } } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    let redacted = body["extensions"]["redacted"]["fields"]
        .as_array()
        .map_or(0, |fields| fields.iter().filter(|f| f["needs"] == "bank.read").count());
    assert!(redacted > 0, "the reader sees members without their bank data: {body}");
    let after = scrape(&server).await;
    let denials = r#"verband_denials_total{permission="bank.read"}"#;
    assert_eq!(sample(&after, denials) - sample(&before, denials), redacted as f64, "{after}");
    // A redaction is no error.
    let forbidden = r#"verband_errors_total{code="FORBIDDEN"}"#;
    assert_eq!(sample(&after, forbidden), sample(&before, forbidden));
}

#[tokio::test]
async fn unmatched_paths_are_one_route_label_never_the_raw_path() {
    let server = TestServer::demo().await;
    let response = server.get("/no/such/path-4711").await;
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.headers().contains_key("x-request-id"));
    let text = scrape(&server).await;
    assert!(
        text.contains(r#"verband_http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("4711"));
}

#[tokio::test]
async fn a_mutation_over_get_is_405_with_allow_post() {
    let server = TestServer::demo().await;
    let response = server.get("/graphql?query=mutation%20%7B%20logout%20%7D").await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    // The same document as a named operation, selected by operationName.
    let response = server
        .get("/graphql?query=query%20A%20%7B%20viewer%20%7B%20__typename%20%7D%20%7D%20mutation%20B%20%7B%20logout%20%7D&operationName=B")
        .await;
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn a_query_over_get_is_served() {
    let server = TestServer::demo().await;
    let response = server.get("/graphql?query=%7BorgUnits%7BtotalCount%7D%7D").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(content_type(&response).starts_with("application/json"));
    let body: Value = response.json().await.expect("json");
    assert!(body["data"]["orgUnits"]["totalCount"].as_u64().is_some(), "{body}");
    // The spec's parameter names: operationName, and variables as JSON.
    let response = server
        .get("/graphql?query=query%20Q(%24f%3AInt!)%7BorgUnits(first%3A%24f)%7Bedges%7Bnode%7Bname%7D%7D%7D%7D&operationName=Q&variables=%7B%22f%22%3A1%7D")
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["orgUnits"]["edges"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test]
async fn a_post_with_an_unsupported_content_type_is_415() {
    let server = TestServer::demo().await;
    let (status, _, body) = post(&server, &[("content-type", "text/plain")], query_body(COUNT_UNITS)).await;
    assert_eq!(status, 415);
    assert_eq!(error_code(&json_of(&body)), Some("BAD_USER_INPUT"), "{body}");
    let (status, _, _) = post(&server, &[], query_body(COUNT_UNITS)).await;
    assert_eq!(status, 415, "a POST without Content-Type");
    let (status, _, body) =
        post(&server, &[("content-type", "application/json; charset=utf-8")], query_body(COUNT_UNITS)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn graphql_response_json_answers_400_to_a_syntax_error() {
    let server = TestServer::demo().await;
    let headers = [("content-type", "application/json"), ("accept", GRAPHQL_RESPONSE)];
    let (status, content_type, body) = post(&server, &headers, query_body("{ orgUnits { ")).await;
    assert_eq!(status, 400, "{body}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    let body = json_of(&body);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body.get("data").is_none(), "execution never started: no data entry: {body}");
}

#[tokio::test]
async fn validation_errors_are_400_with_graphql_response_json_and_malformed_bodies_always() {
    let server = TestServer::demo().await;
    let headers = [("content-type", "application/json"), ("accept", GRAPHQL_RESPONSE)];
    let (status, _, body) = post(&server, &headers, query_body("{ noSuchField }")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&json_of(&body)), Some("BAD_USER_INPUT"));
    // Not a GraphQL request at all: 400 in the legacy format too.
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let (status, _, body) = post(&server, &headers, "{ not json".to_owned()).await;
        assert_eq!(status, 400, "{accept}: {body}");
        let (status, _, body) = post(&server, &headers, json!({ "variables": {} }).to_string()).await;
        assert_eq!(status, 400, "{accept}, no query: {body}");
        assert_eq!(error_code(&json_of(&body)), Some("BAD_USER_INPUT"));
    }
}

#[tokio::test]
async fn graphql_response_json_answers_200_once_execution_started() {
    let server = TestServer::demo().await;
    let headers = [("content-type", "application/json"), ("accept", GRAPHQL_RESPONSE)];
    let (status, content_type, body) = post(&server, &headers, query_body(COUNT_UNITS)).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE));
    assert!(json_of(&body)["data"]["orgUnits"]["totalCount"].as_u64().is_some());
    // A resolver error (explaining access needs a signed-in caller) is not a request
    // error: data is present.
    let query =
        r#"{ orgUnits { totalCount } whoCanAccess(orgUnitId: "x", permission: BANK_READ) { username } }"#;
    let (status, _, body) = post(&server, &headers, query_body(query)).await;
    let body = json_of(&body);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn application_json_answers_200_to_a_syntax_error() {
    let server = TestServer::demo().await;
    for accept in [Some("application/json"), None, Some("*/*")] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(accept) = accept {
            headers.push(("accept", accept));
        }
        let (status, content_type, body) = post(&server, &headers, query_body("{ orgUnits { ")).await;
        assert_eq!(status, 200, "Accept {accept:?}: {body}");
        assert_eq!(content_type, "application/json; charset=utf-8", "Accept {accept:?}");
        assert_eq!(error_code(&json_of(&body)), Some("BAD_USER_INPUT"));
    }
}

#[tokio::test]
async fn accept_prefers_the_higher_quality() {
    let server = TestServer::demo().await;
    let cases = [
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
        ("text/html, application/json", "application/json"),
    ];
    for (accept, expected) in cases {
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let (_, content_type, _) = post(&server, &headers, query_body(COUNT_UNITS)).await;
        assert!(content_type.starts_with(expected), "Accept {accept}: {content_type}");
    }
}

#[tokio::test]
async fn an_accept_header_allowing_neither_json_type_is_406() {
    let server = TestServer::demo().await;
    let headers = [("content-type", "application/json"), ("accept", "text/html")];
    let (status, _, _) = post(&server, &headers, query_body(COUNT_UNITS)).await;
    assert_eq!(status, 406);
    let headers = [("content-type", "application/json"), ("accept", "application/json;q=0")];
    let (status, _, _) = post(&server, &headers, query_body(COUNT_UNITS)).await;
    assert_eq!(status, 406);
}

#[tokio::test]
async fn a_bad_token_is_401_in_either_format() {
    let server = TestServer::demo().await;
    for accept in ["application/json", GRAPHQL_RESPONSE] {
        let headers = [
            ("content-type", "application/json"),
            ("accept", accept),
            ("authorization", "Bearer not-a-token"),
        ];
        let response = server
            .client
            .post(format!("{}/graphql", server.base))
            .headers(
                headers
                    .iter()
                    .map(|(k, v)| (k.parse().expect("name"), v.parse().expect("value")))
                    .collect::<reqwest::header::HeaderMap>(),
            )
            .body(query_body(COUNT_UNITS))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
        assert!(content_type(&response).starts_with(accept));
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
}

#[tokio::test]
async fn the_complexity_limit_is_bad_user_input() {
    let server = TestServer::start_with(TestDb::demo().await, |s| s.limits.max_cost = 3).await;
    let query = "{ orgUnits { totalCount edges { node { name visibility } } } }";
    let body = server.gql(query, json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("complex"), "{body}");
    let headers = [("content-type", "application/json"), ("accept", GRAPHQL_RESPONSE)];
    let (status, _, body) = post(&server, &headers, query_body(query)).await;
    assert_eq!(status, 400, "{body}");
}

const FRONT_END: &str = "http://localhost:3000";

/// A header's value; repeated headers joined as one list (as HTTP reads them).
fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    let values: Vec<&str> = response.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn list(value: Option<String>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(|s| s.trim().to_ascii_lowercase()).collect()
}

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_lets_configured_origins_in_without_credentials() {
    let db = TestDb::demo().await;
    let server = TestServer::start_with(db, |s| s.cors_origins = vec![FRONT_END.to_owned()]).await;

    let answer = preflight(&server, FRONT_END).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some(FRONT_END));
    let methods = list(header(&answer, "access-control-allow-methods"));
    assert!(methods.contains(&"post".to_owned()) && methods.contains(&"get".to_owned()), "{methods:?}");
    let headers = list(header(&answer, "access-control-allow-headers"));
    for needed in ["authorization", "content-type", "accept"] {
        assert!(headers.contains(&needed.to_owned()), "{needed} not allowed: {headers:?}");
    }
    assert_eq!(header(&answer, "access-control-max-age").as_deref(), Some("7200"));
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);

    // The request itself, signed in with a bearer token as a front end sends it.
    let token = server.token("lsm.bayern").await;
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("origin", FRONT_END)
        .bearer_auth(&token)
        .json(&json!({ "query": "{ viewer { username } }" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "access-control-allow-origin").as_deref(), Some(FRONT_END));
    assert!(list(header(&response, "vary")).contains(&"origin".to_owned()), "caches keep origins apart");
    assert!(list(header(&response, "access-control-expose-headers")).contains(&"x-request-id".to_owned()));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["username"], "lsm.bayern", "{body}");

    // A refusal is readable by the front end too.
    let refused = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("origin", FRONT_END)
        .bearer_auth("not-a-token")
        .json(&json!({ "query": COUNT_UNITS }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin").as_deref(), Some(FRONT_END));

    // Any other origin gets no permission: the browser keeps it out.
    for other in ["http://localhost:3001", "https://localhost:3000", "http://evil.example"] {
        let answer = preflight(&server, other).await;
        assert_eq!(header(&answer, "access-control-allow-origin"), None, "{other}");
        let response = server
            .client
            .post(format!("{}/graphql", server.base))
            .header("origin", other)
            .json(&json!({ "query": COUNT_UNITS }))
            .send()
            .await
            .expect("request");
        assert_eq!(header(&response, "access-control-allow-origin"), None, "{other}");
    }
}

#[tokio::test]
async fn without_configured_origins_there_is_no_cors() {
    let server = TestServer::demo().await;
    let answer = preflight(&server, FRONT_END).await;
    assert_eq!(answer.status().as_u16(), 405, "OPTIONS is no method of /graphql");
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("origin", FRONT_END)
        .json(&json!({ "query": COUNT_UNITS }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().keys().all(|k| !k.as_str().starts_with("access-control-")));
}

/// The `src`/`href` values of a page.
fn links(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (at, _) in page.match_indices(attr) {
            let rest = &page[at + attr.len()..];
            out.push(rest[..rest.find('"').expect("closing quote")].to_owned());
        }
    }
    out
}

#[tokio::test]
async fn graphiql_is_served_from_the_server_itself_under_a_strict_policy() {
    let server = TestServer::demo().await;
    let page = server.get("/").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(content_type(&page).starts_with("text/html"));
    let csp = header(&page, "content-security-policy").expect("a Content-Security-Policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(directive("default-src"), "default-src 'none'");
    assert_eq!(directive("script-src"), "script-src 'self'", "no inline or foreign script");
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
    assert_eq!(header(&page, "x-content-type-options").as_deref(), Some("nosniff"));
    let html = page.text().await.expect("page");
    assert!(!html.contains("://"), "nothing from another origin:\n{html}");
    assert!(!html.contains("<script>"), "no inline script");

    let assets: Vec<String> = links(&html).into_iter().filter(|l| l.starts_with("graphiql/")).collect();
    assert_eq!(assets.len(), 6, "{assets:?}");
    for path in &assets {
        let response = server.get(&format!("/{path}")).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let expected = if path.ends_with(".js") { "text/javascript" } else { "text/css" };
        assert!(content_type(&response).starts_with(expected), "{path}: {}", content_type(&response));
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert!(!response.bytes().await.expect("body").is_empty());
    }
    let graphiql_js = assets.iter().find(|p| p.ends_with("/graphiql.min.js")).expect("GraphiQL");
    // Another hash is another version: not served, so that no stale file is cached.
    let (_, file) = graphiql_js.rsplit_once('/').expect("hash/file");
    assert_eq!(server.get(&format!("/graphiql/0000000000000000/{file}")).await.status().as_u16(), 404);
    let (dir, _) = graphiql_js.rsplit_once('/').expect("hash/file");
    assert_eq!(server.get(&format!("/{dir}/verband.db")).await.status().as_u16(), 404);
    assert_eq!(server.get(&format!("/{dir}/..%2F..%2FCargo.toml")).await.status().as_u16(), 404);
}
