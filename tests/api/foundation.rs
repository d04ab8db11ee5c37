//! The server, the unit queries for anonymous callers (R14), limits and errors.
use crate::common::{TestDb, TestServer, error_code, error_field, gid};
use entity::{Visibility, org_unit};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const UNITS_PAGE: &str = "query($first: Int!, $after: String) {
  orgUnits(first: $first, after: $after) {
    totalCount
    edges { cursor node { id name visibility } }
    pageInfo { hasNextPage endCursor }
  }
}";

async fn unit_named(server: &TestServer, name: &str) -> org_unit::Model {
    let conn = server.db.connect().await;
    org_unit::Entity::find()
        .filter(org_unit::Column::Name.eq(name))
        .one(&conn)
        .await
        .expect("query")
        .expect("unit")
}

fn global_id(id: i64) -> String {
    gid("OrgUnit", id)
}

#[tokio::test]
async fn r14_anonymous_callers_see_exactly_the_public_units() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let all = org_unit::Entity::find().all(&conn).await.expect("units");
    let public: BTreeSet<String> =
        all.iter().filter(|u| u.visibility == Visibility::Public).map(|u| u.name.clone()).collect();
    assert!(public.len() < all.len(), "the demo must have non-public units for this test to mean anything");

    let body = server.gql(UNITS_PAGE, json!({ "first": 500 })).await;
    assert!(body["errors"].is_null(), "{body}");
    let seen: BTreeSet<String> = body["data"]["orgUnits"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(seen, public);
    assert_eq!(body["data"]["orgUnits"]["totalCount"], json!(public.len()));
    assert!(
        body["data"]["orgUnits"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .all(|e| e["node"]["visibility"] == "PUBLIC")
    );
}

#[tokio::test]
async fn r14_invisible_units_are_null_and_their_children_unlisted_for_anonymous() {
    let server = TestServer::demo().await;
    let hidden = unit_named(&server, "Stamm Regnitz").await;
    let internal_parent = unit_named(&server, "Bezirk Franken").await;
    assert_eq!(hidden.visibility, Visibility::Hidden);
    assert_eq!(internal_parent.visibility, Visibility::Internal);

    let q = "query($id: ID!) { orgUnit(id: $id) { name } node(id: $id) { id } }";
    let body = server.gql(q, json!({ "id": global_id(hidden.id) })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["orgUnit"], Value::Null);
    assert_eq!(body["data"]["node"], Value::Null);
    // A non-existent unit answers exactly the same (no existence leak).
    let missing = server.gql(q, json!({ "id": global_id(999_999) })).await;
    assert_eq!(missing, body);

    // Stamm Pegnitz is PUBLIC; its parent Bezirk Franken is INTERNAL: null, no error.
    let pegnitz = unit_named(&server, "Stamm Pegnitz").await;
    let body = server
        .gql(
            "query($id: ID!) { orgUnit(id: $id) { name parent { name } } }",
            json!({ "id": global_id(pegnitz.id) }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["orgUnit"]["name"], "Stamm Pegnitz");
    assert_eq!(body["data"]["orgUnit"]["parent"], Value::Null);

    // The public children of an invisible unit do not reveal it.
    let q = "query($p: ID!) { orgUnits(parentId: $p) { totalCount edges { node { name } } } }";
    let body = server.gql(q, json!({ "p": global_id(internal_parent.id) })).await;
    assert_eq!(body["data"]["orgUnits"]["totalCount"], 0, "{body}");
    // ...while those of a visible unit are listed, again only the public ones.
    let bayern = unit_named(&server, "Landesverband Bayern").await;
    let body = server.gql(q, json!({ "p": global_id(bayern.id) })).await;
    let names: Vec<&str> = body["data"]["orgUnits"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["Bezirk Oberbayern"]);
}

#[tokio::test]
async fn org_units_page_with_cursors_without_gaps_or_repeats() {
    let server = TestServer::demo().await;
    let everything = server.gql(UNITS_PAGE, json!({ "first": 500 })).await;
    let total = everything["data"]["orgUnits"]["totalCount"].as_u64().expect("count");
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = server.gql(UNITS_PAGE, json!({ "first": 4, "after": after })).await;
        let conn = &body["data"]["orgUnits"];
        assert_eq!(conn["totalCount"].as_u64(), Some(total), "totalCount ignores paging");
        for e in conn["edges"].as_array().expect("edges") {
            seen.push(e["node"]["id"].as_str().expect("id").to_owned());
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().expect("flag") {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(seen.len() as u64, total);
    assert_eq!(unique.len(), seen.len());
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input_naming_the_field() {
    let server = TestServer::demo().await;
    let body = server.gql(UNITS_PAGE, json!({ "first": 501 })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("first"));
    let body = server.gql(UNITS_PAGE, json!({ "first": -1 })).await;
    assert_eq!(error_field(&body), Some("first"));
    let body = server.gql(UNITS_PAGE, json!({ "first": 5, "after": "garbage" })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert_eq!(error_field(&body), Some("after"));
    let body = server.gql("{ orgUnit(id: \"not-an-id\") { name } }", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert_eq!(error_field(&body), Some("id"));
}

#[tokio::test]
async fn syntax_errors_are_bad_user_input() {
    let server = TestServer::demo().await;
    let body = server.gql("{ orgUnits { ", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = server.gql("{ noSuchField }", json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

#[tokio::test]
async fn query_depth_is_limited() {
    let server = TestServer::start_with(TestDb::demo().await, |s| s.limits.max_depth = 3).await;
    let body = server.gql("{ orgUnits { edges { node { parent { parent { name } } } } } }", json!({})).await;
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("too deep"), "{body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    assert!(body["data"].is_null());
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = TestServer::start_with(TestDb::demo().await, |s| s.max_body_bytes = 1024).await;
    let padding = "x".repeat(4096);
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .json(&json!({ "query": "{ orgUnits { totalCount } }", "variables": { "pad": padding } }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 413);
}

#[tokio::test]
async fn health_readiness_graphiql_and_request_ids() {
    let server = TestServer::demo().await;
    let health = server.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(server.get("/readyz").await.status().as_u16(), 200);
    let page = server.get("/").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("body").contains("graphiql"));
    let get = server.get("/graphql?query=%7BorgUnits%7BtotalCount%7D%7D").await;
    let body: Value = get.json().await.expect("json");
    assert!(body["data"]["orgUnits"]["totalCount"].as_u64().expect("count") > 0);
}

#[tokio::test]
async fn schema_snapshot_matches_the_code() {
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert_eq!(checked_in, verband::graphql::sdl(), "run `cargo run -- schema > schema.graphql`");
}

/// README and docs/ are for the repository's users: they name nothing outside it,
/// and their relative links lead to files that exist.
#[test]
fn documentation_stays_inside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("assets/graphiql/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        files.push(entry.expect("entry").path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for outside in ["../shared", "DESIGN.md", "shared/reference"] {
            assert!(!text.contains(outside), "{} names {outside}", file.display());
        }
        // Markdown links `](target)` without a scheme are files of the repository.
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')').expect("closing parenthesis")];
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            let resolved = file.parent().expect("dir").join(path);
            assert!(resolved.exists(), "{}: broken link {target}", file.display());
        }
    }
}

#[tokio::test]
async fn explaining_access_needs_a_signed_in_caller() {
    let server = TestServer::demo().await;
    let member = gid("Member", 1);
    let body = server
        .gql(
            "query($m: ID!) { explainAccess(memberId: $m, permission: BANK_READ) { granted } }",
            json!({ "m": member }),
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let unit = global_id(1);
    let body = server
        .gql(
            "query($u: ID!) { whoCanAccess(orgUnitId: $u, permission: MEMBER_READ) { username } }",
            json!({ "u": unit }),
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
}
