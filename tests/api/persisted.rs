//! Automatic persisted queries (Apollo's protocol): a hash instead of the text, a
//! miss answered `PersistedQueryNotFound`, registration with the text, GET with a
//! hash for cacheable URLs.
use crate::common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const QUERY: &str = "query Units($first: Int!) { orgUnits(first: $first) { totalCount } }";

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn extension(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(server: &TestServer, body: Value) -> (u16, Option<String>, Value) {
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, cache, response.json().await.expect("json"))
}

async fn get(server: &TestServer, params: &[(&str, String)]) -> (u16, Value) {
    let response =
        server.client.get(format!("{}/graphql", server.base)).query(params).send().await.expect("get");
    (response.status().as_u16(), response.json().await.expect("json"))
}

#[tokio::test]
async fn a_hash_runs_the_query_it_was_registered_with() {
    let server = TestServer::demo().await;
    let hash = sha256(QUERY);
    let variables = json!({ "first": 5 });

    // Unknown: the client is told to send the text, and nobody may cache that.
    let (status, cache, body) =
        post(&server, json!({ "variables": variables, "extensions": extension(&hash) })).await;
    assert_eq!(status, 400, "a request error under application/graphql-response+json: {body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(error_code(&body), Some("PERSISTED_QUERY_NOT_FOUND"));
    assert!(body.get("data").is_none());
    assert!(cache.is_some_and(|c| c.contains("no-cache")));

    // Text and hash: answered and registered.
    let full = server.gql(QUERY, variables.clone()).await;
    let expected = full["data"]["orgUnits"]["totalCount"].as_i64().expect("count");
    let (status, _, body) =
        post(&server, json!({ "query": QUERY, "variables": variables, "extensions": extension(&hash) }))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["orgUnits"]["totalCount"], expected);

    // From now on the hash alone is enough, by POST and by GET.
    let (status, _, body) =
        post(&server, json!({ "variables": variables, "extensions": extension(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["orgUnits"]["totalCount"], expected);
    let (status, body) =
        get(&server, &[("variables", variables.to_string()), ("extensions", extension(&hash).to_string())])
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["orgUnits"]["totalCount"], expected);
}

#[tokio::test]
async fn text_that_does_not_match_its_hash_is_refused_and_not_registered() {
    let server = TestServer::demo().await;
    let wrong = sha256("{ viewer { username } }");
    let (status, _, body) = post(
        &server,
        json!({ "query": QUERY, "variables": { "first": 1 }, "extensions": extension(&wrong) }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let (_, _, body) = post(&server, json!({ "extensions": extension(&wrong) })).await;
    assert_eq!(error_code(&body), Some("PERSISTED_QUERY_NOT_FOUND"), "{body}");

    for bad in [
        json!({ "version": 2, "sha256Hash": wrong }),
        json!({ "version": 1, "sha256Hash": "abc" }),
        json!("x"),
    ] {
        let (status, _, body) = post(&server, json!({ "extensions": { "persistedQuery": bad } })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
        assert_eq!(error_field(&body), Some("extensions.persistedQuery"));
    }
}

#[tokio::test]
async fn a_query_refused_by_the_limits_is_not_remembered() {
    let server = TestServer::demo().await;
    // 60 root fields: over the default limit of root fields per operation.
    let fields: String = (0..60).map(|i| format!("a{i}: viewer {{ username }} ")).collect();
    let query = format!("{{ {fields} }}");
    let hash = sha256(&query);
    let (status, _, body) = post(&server, json!({ "query": query, "extensions": extension(&hash) })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    let (_, _, body) = post(&server, json!({ "extensions": extension(&hash) })).await;
    assert_eq!(error_code(&body), Some("PERSISTED_QUERY_NOT_FOUND"), "{body}");
}

#[tokio::test]
async fn a_persisted_mutation_is_not_run_by_get() {
    let server = TestServer::demo().await;
    let mutation = "mutation { logout }";
    let hash = sha256(mutation);
    // Registered by POST (an anonymous logout is refused, but the text is admitted).
    post(&server, json!({ "query": mutation, "extensions": extension(&hash) })).await;
    let (status, body) = get(&server, &[("extensions", extension(&hash).to_string())]).await;
    assert_eq!(status, 405, "{body}");
}

#[tokio::test]
async fn persisted_queries_can_be_switched_off() {
    let db = TestDb::demo().await;
    let server = TestServer::start_with(db, |s| s.persisted_queries = 0).await;
    let (_, _, body) = post(
        &server,
        json!({ "query": QUERY, "variables": { "first": 1 }, "extensions": extension(&sha256(QUERY)) }),
    )
    .await;
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotSupported");
    assert_eq!(error_code(&body), Some("PERSISTED_QUERY_NOT_SUPPORTED"));
}
