//! A list is one SQL statement plus a constant number of batched loads (DESIGN.md
//! section 8): a page of members with every relation costs the same number of
//! statements for 10 rows as for 500, counted by the server itself on `/metrics`.
use crate::common::{TestDb, TestServer, hasher, statements_so_far};
use entity::{activity, assignment, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use verband::domain::seed::synthetic::{SyntheticSpec, seed};

pub const FULL_PAGE: &str = "query($first: Int!, $after: String) { members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id membershipNumber firstName lastName status email address { city } joinedOn votingRights tags viewerPermissions
    homeUnit { id name level { name } }
    assignments { id status startsOn activity { name } orgUnit { name } levelGroup { key } }
    bankAccount { iban bic accountHolder }
    sepaMandates { reference status }
    payments { amountCents paidOn }
  } } } }";

/// The statements one request causes (requests of this test run one at a time).
async fn statements_of(server: &TestServer, token: &str, first: i64, after: Option<&str>) -> (u64, Value) {
    let before = statements_so_far(server).await;
    let (status, body) = server.gql_as(token, FULL_PAGE, json!({ "first": first, "after": after })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    (statements_so_far(server).await - before, body)
}

#[tokio::test]
async fn a_page_of_members_with_every_relation_costs_the_same_statements_for_10_and_500_rows() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    seed(&conn, &hasher(), SyntheticSpec { members: 1_200, units: 30, seed: 7 })
        .await
        .expect("synthetic seed");
    // The Bundesschatzmeister/in holds state_treasurer at the Bund, level and tree:
    // every member with bank data and payments.
    let office = activity::Entity::find()
        .filter(activity::Column::Name.eq("Bundesschatzmeister/in"))
        .one(&conn)
        .await
        .expect("q")
        .expect("activity");
    let holder = assignment::Entity::find()
        .filter(assignment::Column::ActivityId.eq(office.id))
        .one(&conn)
        .await
        .expect("q")
        .expect("assignment");
    let login = user::Entity::find()
        .filter(user::Column::MemberId.eq(holder.member_id))
        .one(&conn)
        .await
        .expect("q")
        .expect("user");
    let server = TestServer::start(db).await;
    let token = server.token(&login.username).await;
    // Warm up: the caller's grants are compiled once and cached.
    statements_of(&server, &token, 1, None).await;

    let (large, body) = statements_of(&server, &token, 500, None).await;
    let edges = body["data"]["members"]["edges"].as_array().expect("edges").clone();
    assert_eq!(edges.len(), 500);
    let has = |n: &Value, field: &str| match &n[field] {
        Value::Array(a) => !a.is_empty(),
        Value::Null => false,
        _ => true,
    };
    let full = |n: &Value| {
        ["bankAccount", "sepaMandates", "payments", "assignments", "homeUnit"].iter().all(|f| has(n, f))
    };
    // Every relation was really there to load on the large page.
    assert!(edges.iter().any(|e| full(&e["node"])), "a member with every relation");
    // Home units are null where R14 hides them (HIDDEN needs unit.write), else have a level.
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["homeUnit"].is_null() || e["node"]["homeUnit"]["level"]["name"].is_string())
    );
    // The small page: 10 rows that hold every kind of relation too (a page without,
    // say, any office skips that batch and costs less).
    let start = edges.iter().position(|e| full(&e["node"])).expect("a full member");
    let after = start.checked_sub(1).map(|i| edges[i]["cursor"].as_str().expect("cursor").to_owned());
    let (small, body) = statements_of(&server, &token, 10, after.as_deref()).await;
    let small_edges = body["data"]["members"]["edges"].as_array().expect("edges");
    assert_eq!(small_edges.len(), 10);
    assert!(full(&small_edges[0]["node"]), "the small page starts with the full member");
    assert_eq!(small, large, "10 rows: {small} statements, 500 rows: {large}");
    // And it is a small constant: authentication, the page, its count, and one
    // batch per relation and round.
    assert!(large <= 15, "{large} statements for a page of 500");
    println!("statements per request, page of 10: {small}, page of 500: {large}");
}
