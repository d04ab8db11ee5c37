//! Several instances behind a load balancer share one database (docs/operations.md,
//! "Several instances"): a right revoked through one instance stops working on every other within a
//! second, and a browser sign-in started on one completes on another. The
//! revocation tests need PostgreSQL (LISTEN/NOTIFY); on SQLite there is one
//! process, and they are skipped.
use crate::common::{TestDb, TestServer, gid, is_postgres, members_without_login};
use crate::idp::Idp;
use entity::{assignment, permission_group};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, Set,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use verband::config::OidcIssuer;

const MEMBER: &str = "query($id: ID!) { member(id: $id) { id lastName bankAccount { iban } } }";

/// A second instance on the database of `first`.
async fn another_instance(first: &TestServer) -> TestServer {
    TestServer::start(first.db.shared()).await
}

/// Two instances on one demo database, or None on SQLite (one process: no
/// notifications between instances to test).
async fn two_demo_instances() -> Option<(TestServer, TestServer)> {
    if !is_postgres() {
        eprintln!("skipped: several instances need PostgreSQL");
        return None;
    }
    let a = TestServer::demo().await;
    let b = another_instance(&a).await;
    Some((a, b))
}

/// Polls `check` until it is true; returns how long that took, or panics after
/// `limit`.
async fn within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn member_as(server: &TestServer, token: &str, member_id: i64) -> Value {
    let (status, body) = server.gql_as(token, MEMBER, json!({ "id": gid("Member", member_id) })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["member"].clone()
}

/// A member of Stamm Isar (without login) who has a bank account.
async fn isar_member_with_bank_data(conn: &DatabaseConnection) -> entity::member::Model {
    let with_bank: Vec<i64> = entity::bank_account::Entity::find()
        .all(conn)
        .await
        .expect("q")
        .into_iter()
        .map(|b| b.member_id)
        .collect();
    members_without_login(conn, "Stamm Isar")
        .await
        .into_iter()
        .find(|m| with_bank.contains(&m.id))
        .expect("a member with bank data at Stamm Isar")
}

async fn assignment_of(conn: &DatabaseConnection, member_id: i64) -> assignment::Model {
    assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(member_id))
        .one(conn)
        .await
        .expect("q")
        .expect("assignment")
}

#[tokio::test]
async fn r5_r10_a_revoked_office_and_a_removed_permission_stop_working_on_another_instance_within_a_second() {
    let Some((a, b)) = two_demo_instances().await else { return };
    let conn = a.db.connect().await;
    let member = isar_member_with_bank_data(&conn).await;
    // ssm.isar: treasurer at Stamm Isar (member.read, bank.read, payment.read).
    let treasurer = b.token("ssm.isar").await;
    let seen = member_as(&b, &treasurer, member.id).await;
    assert!(seen["bankAccount"]["iban"].is_string(), "before: bank data on instance B: {seen}");

    // Through instance A, the catalogue administrator takes bank.read out of the
    // treasurer group.
    let admin = a.token("admin").await;
    let group = permission_group::Entity::find()
        .filter(permission_group::Column::Key.eq("treasurer"))
        .one(&conn)
        .await
        .expect("q")
        .expect("group");
    let q = "mutation($id: ID!) { updatePermissionGroup(id: $id, input: { permissions: [MEMBER_READ, PAYMENT_READ] }) { key } }";
    let (_, body) = a.gql_as(&admin, q, json!({ "id": gid("PermissionGroup", group.id) })).await;
    assert!(body["errors"].is_null(), "{body}");
    let took = within(Duration::from_secs(1), "the removed permission on instance B", async || {
        member_as(&b, &treasurer, member.id).await["bankAccount"].is_null()
    })
    .await;
    println!("a removed permission stopped working on the other instance after {took:?}");
    assert!(member_as(&b, &treasurer, member.id).await["lastName"].is_string(), "member.read is still held");

    // Through instance A, the office ends yesterday: ssm.isar holds nothing today.
    let office = assignment_of(&conn, a.user("ssm.isar").await.member_id.expect("member")).await;
    let q = "mutation($id: ID!) { endAssignment(id: $id, endsOn: \"2026-03-14\") { endsOn } }";
    let (_, body) = a.gql_as(&admin, q, json!({ "id": gid("Assignment", office.id) })).await;
    assert!(body["errors"].is_null(), "{body}");
    let took = within(Duration::from_secs(1), "the revoked office on instance B", async || {
        member_as(&b, &treasurer, member.id).await.is_null()
    })
    .await;
    println!("a revoked office stopped working on the other instance after {took:?}");
}

#[tokio::test]
async fn a_lost_listener_connection_drops_every_cached_grant() {
    if !is_postgres() {
        eprintln!("skipped: notifications need PostgreSQL");
        return;
    }
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let treasurer = server.token("ssm.isar").await;
    assert!(member_as(&server, &treasurer, member.id).await["lastName"].is_string());

    // A change that notifies nobody (as if its notification had been missed): the
    // grants cached for the day still hold.
    let office = assignment_of(&conn, server.user("ssm.isar").await.member_id.expect("member")).await;
    let mut ended = office.into_active_model();
    ended.ends_on = Set(Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 14).expect("date")));
    ended.update(&conn).await.expect("update");
    assert!(
        member_as(&server, &treasurer, member.id).await["lastName"].is_string(),
        "served from the cache while nothing was announced"
    );

    // The listening connection dies; the instance can no longer trust its cache.
    let killed = conn
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = '{}'",
            verband::authz::notify::APPLICATION_NAME
        ))
        .await
        .expect("terminate");
    assert!(killed.rows_affected() >= 1, "the listener's connection was found");
    within(Duration::from_secs(5), "the change after the lost connection", async || {
        member_as(&server, &treasurer, member.id).await.is_null()
    })
    .await;
}

/// A server trusting `idp` as a confidential client for the browser sign-in.
async fn browser_server(db: TestDb, idp: &Idp, public_url: Option<String>) -> TestServer {
    let issuer = OidcIssuer {
        issuer: idp.issuer.clone(),
        audience: "verband-api".into(),
        client_id: Some("verband-web".into()),
        client_secret: Some("web-secret".into()),
    };
    TestServer::start_with(db, move |s| {
        s.oidc = vec![issuer];
        s.oidc_min_refresh = Duration::ZERO;
        s.public_url = public_url;
    })
    .await
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status().as_u16() / 100, 3, "a redirect: {}", response.status());
    response.headers()["location"].to_str().expect("location").to_owned()
}

#[tokio::test]
async fn a_browser_sign_in_started_on_one_instance_completes_on_another() {
    let idp = Idp::start().await;
    // Behind one public address: instance B takes the callbacks, A the starts.
    let b = browser_server(TestDb::demo().await, &idp, None).await;
    let a = browser_server(b.db.shared(), &idp, Some(b.base.clone())).await;
    let admin = a.token("useradmin").await;
    let user = a.user("lv.niedersachsen").await;
    let q = "mutation($u: ID!, $i: String!) { linkExternalIdentity(userId: $u, issuer: $i, subject: \"johndoe\") }";
    let (_, body) = a.gql_as(&admin, q, json!({ "u": gid("User", user.id), "i": idp.issuer })).await;
    assert_eq!(body["data"]["linkExternalIdentity"], true, "{body}");

    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let start = browser.get(format!("{}/auth/login", a.base)).send().await.expect("login on A");
    let at_issuer = browser.get(location(&start)).send().await.expect("authorize");
    let callback = location(&at_issuer);
    assert!(callback.starts_with(&format!("{}/auth/callback?", b.base)), "{callback}");
    // Nothing of the sign-in is kept in clear in the database: not the state.
    let state = reqwest::Url::parse(&callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let conn = a.db.connect().await;
    let stored = entity::pending_sign_in::Entity::find().all(&conn).await.expect("q");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].state_hash, state, "the state is stored hashed");

    let done = browser.get(&callback).send().await.expect("callback on B");
    assert_eq!(done.status().as_u16(), 200);
    let body: Value = done.json().await.expect("json");
    let token = body["accessToken"].as_str().expect("session token").to_owned();
    for server in [&a, &b] {
        let (status, viewer) = server.gql_as(&token, "{ viewer { username } }", json!({})).await;
        assert_eq!((status, viewer["data"]["viewer"]["username"].as_str()), (200, Some("lv.niedersachsen")));
    }
    // Single use, on every instance; nothing left behind.
    let replay_b = browser.get(&callback).send().await.expect("replay on B");
    assert_eq!(replay_b.status().as_u16(), 400);
    let on_a = callback.replacen(&b.base, &a.base, 1);
    let replay_a = browser.get(&on_a).send().await.expect("replay on A");
    assert_eq!(replay_a.status().as_u16(), 400);
    assert!(entity::pending_sign_in::Entity::find().all(&conn).await.expect("q").is_empty());
}

#[tokio::test]
async fn expired_pending_sign_ins_are_refused_and_cleaned_up() {
    let idp = Idp::start().await;
    let server = browser_server(TestDb::demo().await, &idp, None).await;
    let conn = server.db.connect().await;
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let start = browser.get(format!("{}/auth/login", server.base)).send().await.expect("login");
    let callback = location(&browser.get(location(&start)).send().await.expect("authorize"));
    // Ten minutes later…
    let stored = entity::pending_sign_in::Entity::find().one(&conn).await.expect("q").expect("pending");
    let mut aged = stored.into_active_model();
    aged.expires_at = Set(chrono::Utc::now() - chrono::Duration::seconds(1));
    aged.update(&conn).await.expect("age");
    let done = browser.get(&callback).send().await.expect("callback");
    assert_eq!(done.status().as_u16(), 400, "an expired state is refused");
    assert_eq!(done.json::<Value>().await.expect("json")["code"], "BAD_USER_INPUT");
    assert!(entity::pending_sign_in::Entity::find().all(&conn).await.expect("q").is_empty(), "and used up");

    // Expired ones go when the next sign-in starts.
    let stale = entity::pending_sign_in::ActiveModel {
        state_hash: Set("0".repeat(64)),
        issuer: Set(idp.issuer.clone()),
        verifier: Set("v".into()),
        nonce: Set("n".into()),
        created_at: Set(chrono::Utc::now() - chrono::Duration::hours(1)),
        expires_at: Set(chrono::Utc::now() - chrono::Duration::minutes(50)),
    };
    stale.insert(&conn).await.expect("stale");
    browser.get(format!("{}/auth/login", server.base)).send().await.expect("login");
    let left = entity::pending_sign_in::Entity::find().all(&conn).await.expect("q");
    assert_eq!(left.len(), 1, "only the new one: {left:?}");
    assert_ne!(left[0].state_hash, "0".repeat(64));
}

#[tokio::test]
async fn a_logout_through_one_instance_ends_the_session_on_another_within_a_second() {
    let Some((a, b)) = two_demo_instances().await else { return };
    let token = a.token("ssm.isar").await;
    let viewer =
        async |server: &TestServer| server.gql_as(&token, "{ viewer { username } }", json!({})).await.0;
    // Instance B knows the session (checked once, then without statements).
    assert_eq!(viewer(&b).await, 200);
    assert_eq!(viewer(&b).await, 200);
    let (_, body) = a.gql_as(&token, "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let took =
        within(Duration::from_secs(1), "the logout on instance B", async || viewer(&b).await == 401).await;
    println!("a logout ended the session on the other instance after {took:?}");
}
