//! Hostile requests, as an attacker would send them: each is refused as a request
//! error with the right code (never INTERNAL), before the work it asks for is done,
//! and another caller's ordinary request is answered while it is refused.
//!
//! Memory is bounded structurally: the refusals name the limit that caught them
//! (`extensions.limit`), and those limits are checked on the text before parsing
//! or on per-fragment summaries before anything is expanded (see the unit tests
//! of `graphql::cost`). Times and memory of a release build: `benches/hostile/`.
use crate::common::{TestDb, TestServer, error_code, error_field, gid, members_without_login, unit};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::future::Future;
use verband::domain::seed::demo::DEMO_PASSWORD;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const ORDINARY: &str = "{ orgUnits(first: 5) { totalCount edges { node { name } } } }";

/// POSTs a JSON body asking for `application/graphql-response+json`: (status, body).
async fn post(server: &TestServer, token: Option<&str>, body: &Value) -> (u16, Value) {
    post_text(server, token, body.to_string(), &[]).await
}

async fn post_text(
    server: &TestServer,
    token: Option<&str>,
    body: String,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("content-type", "application/json")
        .header("accept", GRAPHQL_RESPONSE)
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

async fn query(server: &TestServer, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    post(server, token, &json!({ "query": query, "variables": variables })).await
}

/// No error of the response is INTERNAL, and none leaks SQL.
fn no_internal(body: &Value) {
    for error in body["errors"].as_array().into_iter().flatten() {
        assert_ne!(error["extensions"]["code"], "INTERNAL", "{body}");
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(!message.contains("select ") && !message.contains("sqlx"), "{body}");
    }
}

/// A request error: 400, `code`, no `data` at all.
fn refused_with(status: u16, body: &Value, code: &str) {
    no_internal(body);
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(body), Some(code), "{body}");
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
}

/// Refused by the limit named `limit`.
fn refused_by(status: u16, body: &Value, limit: &str) {
    refused_with(status, body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["limit"], limit, "{body}");
}

/// Runs `bomb` while another (anonymous) caller asks an ordinary question, which
/// must be answered.
async fn while_others_are_answered<F: Future>(server: &TestServer, bomb: F) -> F::Output {
    let ordinary = async {
        // Sent while the bomb is on its way or being refused.
        tokio::task::yield_now().await;
        query(server, None, ORDINARY, json!({})).await
    };
    let (out, (status, body)) = tokio::join!(bomb, ordinary);
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["orgUnits"]["totalCount"].as_i64().is_some_and(|n| n > 0), "{body}");
    out
}

async fn metrics(server: &TestServer) -> String {
    server.get("/metrics").await.text().await.expect("metrics")
}

/// One sample of `/metrics` (`name{labels}` as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().expect("number"))
}

/// `fragment F0 on Query { ...F1 ...F1 } … fragment F<levels> on Query { viewer … }`
fn fan_out(levels: usize) -> String {
    let mut q = String::from("query { ...F0 }");
    for k in 0..levels {
        let _ = write!(q, " fragment F{k} on Query {{ ...F{n} ...F{n} }}", n = k + 1);
    }
    let _ = write!(q, " fragment F{levels} on Query {{ orgUnits {{ totalCount }} }}");
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_fan_out_is_refused_before_anything_is_expanded() {
    let server = TestServer::demo().await;
    for levels in [26, 30, 60] {
        let bomb = fan_out(levels);
        assert!(bomb.len() < 3_000, "a small request: {} bytes", bomb.len());
        let (status, body) = while_others_are_answered(&server, query(&server, None, &bomb, json!({}))).await;
        refused_by(status, &body, "fields");
    }
    // A fragment that spreads itself, directly or through another.
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { orgUnits { totalCount } ...A }";
    let (status, body) = query(&server, None, cycle, json!({})).await;
    refused_by(status, &body, "fragment_cycle");
    let text = metrics(&server).await;
    assert!(sample(&text, r#"verband_requests_refused_total{limit="fields"}"#) >= 3.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_amplification_is_refused() {
    let server = TestServer::demo().await;
    let admin = server.token("admin").await;
    // 2,000 cheap-looking counts (79 KB): 2,000 statements. Refused before it is
    // even parsed; 60 of them once it is.
    let counts = |n: usize| {
        let mut q = String::from("{");
        for i in 0..n {
            let _ = write!(q, " a{i}: members(first: 500) {{ totalCount }}");
        }
        q.push('}');
        q
    };
    let (status, body) =
        while_others_are_answered(&server, query(&server, Some(&admin), &counts(2000), json!({}))).await;
    refused_by(status, &body, "tokens");
    let (status, body) = query(&server, Some(&admin), &counts(60), json!({})).await;
    refused_by(status, &body, "root_fields");
    // 40 pages of 500 members: 20,000 rows.
    let mut pages = String::from("{");
    for i in 0..40 {
        let _ = write!(
            pages,
            " a{i}: members(first: 500) {{ edges {{ node {{ id firstName lastName email homeUnit {{ name }} }} }} }}"
        );
    }
    pages.push('}');
    let (status, body) = query(&server, Some(&admin), &pages, json!({})).await;
    refused_by(status, &body, "cost");
    // Few root fields, but each a full page with every relation: the cost counts
    // the page size times what a member costs.
    let node = "id firstName lastName email homeUnit { name level { name } } \
                assignments { id activity { name } orgUnit { name } levelGroup { key } } \
                bankAccount { iban bic accountHolder } sepaMandates { reference } payments { amountCents paidOn }";
    let two = format!(
        "{{ a: members(first: 500) {{ edges {{ node {{ {node} }} }} }} b: members(first: 500) {{ edges {{ node {{ {node} }} }} }} }}"
    );
    let (status, body) = query(&server, Some(&admin), &two, json!({})).await;
    refused_by(status, &body, "cost");
    // One such page is an ordinary request.
    let one = format!("{{ members(first: 500) {{ edges {{ node {{ {node} }} }} }} }}");
    let (status, body) = query(&server, Some(&admin), &one, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_texts_many_tokens_and_deep_nesting_are_refused_before_parsing() {
    let server = TestServer::demo().await;
    // A megabyte of aliases (the body limit is 1 MiB).
    let mut mega = String::from("{");
    while mega.len() < 1_000_000 {
        let _ = write!(mega, " a{}: __typename", mega.len());
    }
    mega.push('}');
    let (status, body) = while_others_are_answered(&server, query(&server, None, &mega, json!({}))).await;
    refused_by(status, &body, "query_bytes");
    // Tokens: 30,000 in 60 KB.
    let tokens = format!("{{ {} }}", "a ".repeat(30_000));
    let (status, body) = query(&server, None, &tokens, json!({})).await;
    refused_by(status, &body, "tokens");
    // Brackets nested 10,000 deep would overflow the parser's stack (the process
    // aborts): refused before it runs.
    let lists =
        format!("{{ orgUnits(first: {}1{}) {{ totalCount }} }}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, body) = while_others_are_answered(&server, query(&server, None, &lists, json!({}))).await;
    refused_by(status, &body, "nesting");
    let fields = format!("{}x{}", "{ a ".repeat(10_000), "}".repeat(10_000));
    let (status, body) = query(&server, None, &fields, json!({})).await;
    refused_by(status, &body, "nesting");
    // The server is still there.
    let (status, _) = query(&server, None, ORDINARY, json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn directives_operations_and_depth_are_bounded() {
    let server = TestServer::demo().await;
    let skips = format!("{{ orgUnits {{ totalCount {} }} }}", "@skip(if: false) ".repeat(1_000));
    let (status, body) = query(&server, None, &skips, json!({})).await;
    refused_with(status, &body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["extensions"]["limit"].is_string(), "{body}");
    // 1,500 operations in one document: validation would visit them all.
    let mut many = String::new();
    for i in 0..1500 {
        let _ = write!(many, "query Q{i} {{ orgUnits {{ totalCount }} }} ");
    }
    let (status, body) = post(&server, None, &json!({ "query": many, "operationName": "Q7" })).await;
    refused_by(status, &body, "fields");
    let deep = "{ orgUnits { edges { node { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { name } } } } } } } } } } } } } }";
    let (status, body) = query(&server, None, deep, json!({})).await;
    refused_by(status, &body, "depth");
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery`, depth 15).
const INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name } } } } } } } } } }
}";

#[tokio::test]
async fn the_standard_introspection_query_works_with_the_default_limits() {
    let server = TestServer::demo().await;
    let (status, body) = post(&server, None, &json!({ "query": INTROSPECTION })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Member"), "the documentation pane has the types");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_bombs_are_refused() {
    let server = TestServer::demo().await;
    let walk = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let (status, body) = query(&server, None, walk, json!({})).await;
    refused_by(status, &body, "introspection");
    // The whole schema again and again through aliases.
    let fragments = &INTROSPECTION[INTROSPECTION.find("fragment FullType").expect("fragments")..];
    let mut aliases = String::from("{");
    for i in 0..15 {
        let _ = write!(aliases, " s{i}: __schema {{ types {{ ...FullType }} }}");
    }
    aliases.push('}');
    aliases.push_str(fragments);
    let (status, body) = while_others_are_answered(&server, query(&server, None, &aliases, json!({}))).await;
    refused_by(status, &body, "fields");
}

#[tokio::test]
async fn introspection_can_be_switched_off_for_anonymous_callers() {
    let server = TestServer::start_with(TestDb::demo().await, |s| {
        s.introspection = verband::config::Introspection::SignedIn;
    })
    .await;
    let (status, body) = post(&server, None, &json!({ "query": INTROSPECTION })).await;
    no_internal(&body);
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let (status, body) = query(&server, None, "{ __type(name: \"Member\") { name } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    // Anonymous data queries still work, `__typename` included.
    let (status, body) = query(&server, None, "{ __typename orgUnits { totalCount } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let token = server.token("sf.pegnitz").await;
    let (status, body) = post(&server, Some(&token), &json!({ "query": INTROSPECTION })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn login_comes_once_per_request_and_opens_no_session_when_refused() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let sessions = entity::session::Entity::find().count(&conn).await.expect("count");
    let mut many = String::from("mutation {");
    for i in 0..300 {
        let _ = write!(
            many,
            " l{i}: login(username: \"lsm.bayern\", password: \"{DEMO_PASSWORD}\") {{ accessToken }}"
        );
    }
    many.push('}');
    let (status, body) = query(&server, None, &many, json!({})).await;
    refused_by(status, &body, "mutation_fields");
    let mut two = String::from("mutation {");
    for (i, user) in ["lsm.bayern", "ssm.isar"].iter().enumerate() {
        let _ = write!(
            two,
            " l{i}: login(username: \"{user}\", password: \"{DEMO_PASSWORD}\") {{ accessToken }}"
        );
    }
    two.push('}');
    let (status, body) = query(&server, None, &two, json!({})).await;
    refused_by(status, &body, "login");
    assert_eq!(
        entity::session::Entity::find().count(&conn).await.expect("count"),
        sessions,
        "no session opened"
    );
}

const LOGIN: &str =
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }";

/// A sign-in from `address` (through the trusted proxy at 127.0.0.1).
async fn login_from(server: &TestServer, address: &str, username: &str, password: &str) -> (u16, Value) {
    let body = json!({ "query": LOGIN, "variables": { "u": username, "p": password } }).to_string();
    post_text(server, None, body, &[("x-forwarded-for", address)]).await
}

#[tokio::test]
async fn password_spraying_from_one_address_is_as_slow_as_guessing_one_password() {
    let server = TestServer::start_with(TestDb::demo().await, |s| {
        s.trusted_proxies = verband::http::client::parse_list("127.0.0.1").expect("list");
        s.login_address_max_failures = 4;
    })
    .await;
    let (_, wrong) = login_from(&server, "203.0.113.7", "ehemalig", "Sommer2026!").await;
    for user in ["bsm", "sf.pegnitz", "mv.hessen"] {
        let (status, body) = login_from(&server, "203.0.113.7", user, "Sommer2026!").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    }
    // The address is spent: even the right password gets a wrong password's answer.
    let (status, body) = login_from(&server, "203.0.113.7", "lsm.bayern", DEMO_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"], wrong["errors"], "the same answer as a wrong password");
    assert!(body["data"].is_null(), "{body}");
    // Another address signs in (the forwarded header counts because the proxy at
    // 127.0.0.1 is trusted).
    let (_, body) = login_from(&server, "198.51.100.20", "lsm.bayern", DEMO_PASSWORD).await;
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    let text = metrics(&server).await;
    assert_eq!(sample(&text, r#"verband_sign_in_throttled_total{scope="address"}"#), 1.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_pass_the_lockout_and_the_owner_gets_back_in_after_it() {
    let server = TestServer::start_with(TestDb::demo().await, |s| {
        s.trusted_proxies = verband::http::client::parse_list("127.0.0.1").expect("list");
        s.login_lockout_seconds = 2;
    })
    .await;
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let address = format!("203.0.113.{i}");
            let server = &server;
            async move { login_from(server, &address, "ssm.isar", &format!("guess-{i}-xx")).await }
        })
        .collect();
    for (status, body) in async_graphql::futures_util::future::join_all(guesses).await {
        assert_eq!(status, 200);
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    }
    // Five guesses were checked (the lockout's count); the other fifteen were not.
    let text = metrics(&server).await;
    assert_eq!(sample(&text, r#"verband_sign_in_throttled_total{scope="account"}"#), 15.0, "{text}");
    // No longer than the lockout: once it has passed, the owner signs in.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (_, body) = login_from(&server, "192.0.2.55", "ssm.isar", DEMO_PASSWORD).await;
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn missing_and_malformed_variables_are_request_errors_naming_them() {
    let server = TestServer::demo().await;
    let (status, body) =
        query(&server, None, "query($f: Int!) { orgUnits(first: $f) { totalCount } }", json!({})).await;
    refused_with(status, &body, "BAD_USER_INPUT");
    assert_eq!(error_field(&body), Some("f"));
    let token = server.token("lsm.bayern").await;
    let root = gid("OrgUnit", unit(&server.db.connect().await, "Landesverband Bayern").await.id);
    let counts = "query($u: ID!, $d: Date!) { memberCounts(orgUnitId: $u, from: $d, to: $d) { count } }";
    for bad in ["2025-02-30", "2025-1-5", "0000-01-01", "-0001-01-01", "9999-12-31"] {
        let (status, body) = query(&server, Some(&token), counts, json!({ "u": root, "d": bad })).await;
        refused_with(status, &body, "BAD_USER_INPUT");
        assert_eq!(error_field(&body), Some("d"), "{bad}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["variable"], "d");
    }
    // A literal that fails its scalar names the argument.
    let literal = format!(
        "{{ memberCounts(orgUnitId: \"{root}\", from: \"2025-02-30\", to: \"2025-03-01\") {{ count }} }}"
    );
    let (status, body) = query(&server, Some(&token), &literal, json!({})).await;
    refused_with(status, &body, "BAD_USER_INPUT");
    assert_eq!(error_field(&body), Some("from"), "{body}");
    // A huge list in a variable.
    let statuses = vec!["ACTIVE"; 50_000];
    let q = "query($s: [MemberStatus!]) { members(filter: { status: $s }) { totalCount } }";
    let (status, body) = query(&server, Some(&token), q, json!({ "s": statuses })).await;
    refused_with(status, &body, "BAD_USER_INPUT");
    assert_eq!(error_field(&body), Some("s"));
    // Nested 200 deep: not even a GraphQL request.
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let raw = format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{ \"x\": {deep} }}}}");
    let (status, body) = post_text(&server, None, raw, &[]).await;
    refused_with(status, &body, "BAD_USER_INPUT");
}

#[tokio::test]
async fn malformed_envelopes_are_bad_user_input() {
    let server = TestServer::demo().await;
    // NUL in the operation name, and in a variable nobody declared.
    let body = json!({ "query": "query A { orgUnits { totalCount } }", "operationName": "A\u{0}" });
    let (status, body) = post(&server, None, &body).await;
    refused_with(status, &body, "BAD_USER_INPUT");
    let body = json!({ "query": ORDINARY, "variables": { "x": "\u{0}" } });
    let (status, body) = post(&server, None, &body).await;
    assert_eq!(status, 200, "undeclared variables are ignored: {body}");
    // Batches (a JSON array) are not accepted.
    let batch = json!([{ "query": ORDINARY }, { "query": ORDINARY }]);
    let (status, body) = post(&server, None, &batch).await;
    refused_with(status, &body, "BAD_USER_INPUT");
}

#[tokio::test]
async fn forged_ids_and_cursors_are_bad_user_input() {
    let server = TestServer::demo().await;
    let token = server.token("lsm.bayern").await;
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for (id, what) in [
        ("!!!not base64!!!".to_owned(), "garbage"),
        (b64("Member:abc"), "not a number"),
        (b64("Member:99999999999999999999999"), "out of range"),
        (b64("\u{0}\u{1}\u{2}"), "control bytes"),
        ("\u{0}".to_owned(), "NUL"),
    ] {
        let (status, body) =
            query(&server, Some(&token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }))
                .await;
        no_internal(&body);
        assert!(status == 200 || status == 400, "{what}: {body}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{what}: {body}");
        assert_eq!(error_field(&body), Some("id"), "{what}: {body}");
    }
    for cursor in ["garbage", &b64("{\"id\": 1}"), &b64("-1"), "\u{0}"] {
        let (_, body) = query(
            &server,
            Some(&token),
            "query($a: String) { members(after: $a) { totalCount } }",
            json!({ "a": cursor }),
        )
        .await;
        no_internal(&body);
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{cursor:?}: {body}");
    }
}

const CREATE: &str = "mutation($i: CreateMemberInput!) { createMember(input: $i) { id } }";

#[tokio::test]
async fn hygiene_refuses_what_names_and_dates_cannot_be_and_changes_nothing() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let hessen = gid("OrgUnit", unit(&conn, "Landesverband Hessen").await.id);
    use sea_orm::{EntityTrait, PaginatorTrait};
    let members = entity::member::Entity::find().count(&conn).await.expect("count");
    let input = |extra: Value| {
        let mut i = json!({ "homeUnitId": hessen, "firstName": "Anna", "lastName": "Berg" });
        for (k, v) in extra.as_object().expect("object") {
            i[k] = v.clone();
        }
        json!({ "i": i })
    };
    for (extra, field) in [
        (json!({ "firstName": "Anna\u{0}Lena" }), "firstName"),
        (json!({ "firstName": "Anna\u{7}Lena" }), "firstName"),
        (json!({ "lastName": "\u{1b}[31mBerg\u{1b}[0m" }), "lastName"),
        (json!({ "lastName": "Berg\nDROP" }), "lastName"),
        (json!({ "lastName": "Berg\u{202E}greB" }), "lastName"),
        (json!({ "lastName": "Berg\u{2066}x\u{2069}" }), "lastName"),
        (json!({ "address": { "city": "Fulda\r\nX" } }), "address.city"),
        (json!({ "birthDate": "1800-01-01" }), "birthDate"),
        (json!({ "birthDate": "0000-01-01" }), "birthDate"),
        (json!({ "birthDate": "-0001-01-01" }), "birthDate"),
        (json!({ "birthDate": "2025-1-5" }), "birthDate"),
        (json!({ "birthDate": "2025-02-30" }), "birthDate"),
        (json!({ "birthDate": "2027-01-01" }), "birthDate"),
        (json!({ "joinedOn": "9999-12-31" }), "joinedOn"),
        (json!({ "joinedOn": "2030-01-01" }), "joinedOn"),
        (json!({ "birthDate": "2010-05-05", "joinedOn": "2009-01-01" }), "joinedOn"),
        (json!({ "tags": ["ok", "bad\u{0}"] }), "tags"),
    ] {
        let (_, body) = query(&server, Some(&token), CREATE, input(extra.clone())).await;
        no_internal(&body);
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{extra}: {body}");
        assert_eq!(error_field(&body), Some(field), "{extra}: {body}");
    }
    // The same through literals: the field, never the mutation.
    let literal = format!(
        "mutation {{ createMember(input: {{ homeUnitId: \"{hessen}\", firstName: \"A\", lastName: \"B\", birthDate: \"2025-02-30\" }}) {{ id }} }}"
    );
    let (_, body) = query(&server, Some(&token), &literal, json!({})).await;
    assert_eq!(error_field(&body), Some("birthDate"), "{body}");
    assert_eq!(entity::member::Entity::find().count(&conn).await.expect("count"), members, "nothing stored");
    // What is fine stays fine: umlauts, apostrophes, right-to-left scripts.
    let (_, body) = query(
        &server,
        Some(&token),
        CREATE,
        input(json!({ "firstName": "Zoë-Ünal", "lastName": "O'Brien אברהם" })),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");

    // null for a field that cannot be null names it.
    let member = &members_without_login(&conn, "Landesverband Hessen").await[0];
    let update =
        "mutation($id: ID!, $i: UpdateMemberInput!) { updateMember(id: $id, input: $i) { lastName } }";
    for field in ["lastName", "firstName", "status", "votingRights", "tags", "homeUnitId"] {
        let vars = json!({ "id": gid("Member", member.id), "i": { field: null } });
        let (_, body) = query(&server, Some(&token), update, vars).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{field}: {body}");
        assert_eq!(error_field(&body), Some(field), "{body}");
    }
    let after = entity::member::Entity::find_by_id(member.id).one(&conn).await.expect("q").expect("member");
    assert_eq!(after.last_name, member.last_name);

    // Searches: NUL matched everything on SQLite and broke PostgreSQL.
    for search in ["\u{0}", "a\u{1b}[2J"] {
        let (_, body) = query(
            &server,
            Some(&token),
            "query($s: String) { members(filter: { search: $s }) { totalCount } }",
            json!({ "s": search }),
        )
        .await;
        no_internal(&body);
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{search:?}: {body}");
    }
    // Free text keeps its line breaks.
    let pay = "mutation($m: ID!, $i: PaymentInput!) { recordPayment(memberId: $m, input: $i) { note } }";
    let payment = |note: &str| json!({ "m": gid("Member", member.id), "i": { "amountCents": 1200, "paidOn": "2026-03-01", "note": note } });
    let (_, body) = query(&server, Some(&token), pay, payment("Beitrag 2026\nbar bezahlt")).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "mv.hessen records no payments: {body}");
    let admin = server.token("admin").await;
    let (_, body) = query(&server, Some(&admin), pay, payment("Beitrag 2026\nbar bezahlt")).await;
    assert_eq!(body["data"]["recordPayment"]["note"], "Beitrag 2026\nbar bezahlt", "{body}");
    let (_, body) = query(&server, Some(&admin), pay, payment("Beitrag\u{1b}[2J")).await;
    assert_eq!(error_field(&body), Some("note"), "{body}");
}

#[tokio::test]
async fn anonymous_applications_get_the_same_hygiene() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let public = entity::org_unit::Entity::find()
        .filter(entity::org_unit::Column::Visibility.eq(entity::Visibility::Public))
        .filter(entity::org_unit::Column::Status.eq(entity::OrgUnitStatus::Active))
        .one(&conn)
        .await
        .expect("q")
        .expect("a public unit");
    let apply = "mutation($i: ApplyForMembershipInput!) { applyForMembership(input: $i) { status } }";
    for (first, birth, field) in [
        ("Anna\u{202E}", "2010-01-01", "firstName"),
        ("Anna\u{0}", "2010-01-01", "firstName"),
        ("Anna", "1800-01-01", "birthDate"),
        ("Anna", "2010-1-1", "birthDate"),
    ] {
        let vars = json!({ "i": { "orgUnitId": gid("OrgUnit", public.id), "firstName": first, "lastName": "Berg", "birthDate": birth } });
        let (_, body) = query(&server, None, apply, vars).await;
        no_internal(&body);
        assert_eq!(error_field(&body), Some(field), "{first:?} {birth}: {body}");
    }
}

#[tokio::test]
async fn queries_past_their_budget_are_timeout_and_mutations_are_never_cut_off() {
    let server = TestServer::start_with(TestDb::demo().await, |s| {
        // Over before the first millisecond (the timer's resolution) has passed.
        s.request_timeout = std::time::Duration::from_nanos(1);
    })
    .await;
    // Hundreds of statements: far more than a millisecond's work.
    let mut slow = String::from("{");
    for i in 0..20 {
        let _ = write!(
            slow,
            " a{i}: orgUnits(first: 50) {{ edges {{ node {{ members(first: 1) {{ totalCount }} }} }} }}"
        );
    }
    slow.push('}');
    let (status, body) = query(&server, None, &slow, json!({})).await;
    no_internal(&body);
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), Some("TIMEOUT"));
    assert!(body.get("data").is_none(), "{body}");
    // A mutation runs to its end, and its answer tells the truth.
    let conn = server.db.connect().await;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let public = entity::org_unit::Entity::find()
        .filter(entity::org_unit::Column::Visibility.eq(entity::Visibility::Public))
        .filter(entity::org_unit::Column::Status.eq(entity::OrgUnitStatus::Active))
        .one(&conn)
        .await
        .expect("q")
        .expect("a public unit");
    let before = entity::admission::Entity::find().count(&conn).await.expect("count");
    let apply = "mutation($i: ApplyForMembershipInput!) { applyForMembership(input: $i) { status } }";
    let vars = json!({ "i": { "orgUnitId": gid("OrgUnit", public.id), "firstName": "Lena", "lastName": "Busch", "birthDate": "2012-04-01" } });
    let (status, body) = query(&server, None, apply, vars).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["applyForMembership"]["status"], "PENDING", "{body}");
    assert_eq!(entity::admission::Entity::find().count(&conn).await.expect("count"), before + 1);
    let text = metrics(&server).await;
    assert_eq!(sample(&text, r#"verband_requests_refused_total{limit="timeout"}"#), 1.0, "{text}");
}

/// Sum of the histogram's observations in buckets above `le` (cumulative counts).
fn observations_above(text: &str, name: &str, le: &str) -> f64 {
    sample(text, &format!("{name}_count")) - sample(text, &format!("{name}_bucket{{le=\"{le}\"}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_uses_only_its_own_few_connections() {
    // Each of 15 aliases lists the units, and for each unit its members: hundreds
    // of statements that async-graphql would all start at once.
    let mut wide = String::from("{");
    for i in 0..15 {
        let _ = write!(
            wide,
            " a{i}: orgUnits(first: 50) {{ edges {{ node {{ members(first: 1) {{ totalCount }} }} }} }}"
        );
    }
    wide.push('}');
    const NAME: &str = "verband_connections_per_request";
    for (cap, capped) in [(2, true), (64, false)] {
        let server = TestServer::start_with(TestDb::demo().await, |s| {
            s.db_max_connections = 3;
            s.max_connections_per_request = cap;
        })
        .await;
        let admin = server.token("admin").await;
        let (status, body) =
            while_others_are_answered(&server, query(&server, Some(&admin), &wide, json!({}))).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        let text = metrics(&server).await;
        if capped {
            assert_eq!(observations_above(&text, NAME, "2"), 0.0, "never more than 2 at once: {text}");
        } else {
            // Uncapped, the same request holds many at once (the cap is what bounds it).
            assert!(observations_above(&text, NAME, "2") >= 1.0, "{text}");
        }
    }
}

/// A request id the client brings lands in logs and audit records: a usable one is
/// kept (to follow a request through both sides' logs), anything long or odd is
/// replaced, and an audited bank read never fails over it.
#[tokio::test]
async fn forged_request_ids_are_replaced_not_stored() {
    let server = TestServer::demo().await;
    let token = server.token("lsm.bayern").await;
    let bank_read = "{ members(first: 3) { edges { node { bankAccount { iban } } } } }";
    let send = |id: String| {
        let client = server.client.clone();
        let url = format!("{}/graphql", server.base);
        let token = token.clone();
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("x-request-id", id)
                .json(&json!({ "query": bank_read }))
                .send()
                .await
                .expect("request")
        }
    };
    let kept = send("client-42.retry:1".to_owned()).await;
    assert_eq!(kept.headers()["x-request-id"], "client-42.retry:1");
    for forged in ["x".repeat(300), "a b\tc".to_owned(), "ä".repeat(10)] {
        let response = send(forged.clone()).await;
        let id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        assert_ne!(id, forged);
        assert!(id.len() <= 64, "{id}");
        let body: Value = response.json().await.expect("json");
        no_internal(&body);
        assert!(body["data"]["members"]["edges"][0]["node"]["bankAccount"].is_object(), "{body}");
    }
}
