//! Bearer tokens from an OpenID Connect issuer, against a real one (oauth2-mock-server).
use crate::common::{TestDb, TestServer, error_code};
use crate::idp::{Idp, kid_of};
use serde_json::{Value, json};
use verband::config::OidcIssuer;
use verband::domain::seed::demo::DEMO_PASSWORD;

const AUDIENCE: &str = "verband-api";
const VIEWER: &str = "{ viewer { username } }";

async fn server_trusting(idp: &Idp) -> TestServer {
    server_with_client(idp, None, None).await
}

/// A server trusting `idp`, optionally as a client of it (introspection, browser).
async fn server_with_client(idp: &Idp, client_id: Option<&str>, client_secret: Option<&str>) -> TestServer {
    let issuer = OidcIssuer {
        issuer: idp.issuer.clone(),
        audience: AUDIENCE.into(),
        client_id: client_id.map(str::to_owned),
        client_secret: client_secret.map(str::to_owned),
    };
    TestServer::start_with(TestDb::demo().await, move |s| {
        s.oidc = vec![issuer];
        s.oidc_min_refresh = std::time::Duration::ZERO;
    })
    .await
}

async fn as_bearer(server: &TestServer, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request");
    (response.status().as_u16(), response.json().await.expect("json"))
}

/// Links `issuer|subject` to `username`, as the demo's user administrator.
async fn link(server: &TestServer, username: &str, issuer: &str, subject: &str) {
    let login = server
        .gql(
            "mutation($p: String!) { login(username: \"useradmin\", password: $p) { accessToken } }",
            json!({ "p": DEMO_PASSWORD }),
        )
        .await;
    let admin = login["data"]["login"]["accessToken"].as_str().expect("token").to_owned();
    let user_id = {
        use base64::Engine;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let conn = server.db.connect().await;
        let u = entity::user::Entity::find()
            .filter(entity::user::Column::Username.eq(username))
            .one(&conn)
            .await
            .expect("q")
            .expect("user");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("User:{}", u.id))
    };
    let q = "mutation($u: ID!, $i: String!, $s: String!) { linkExternalIdentity(userId: $u, issuer: $i, subject: $s) }";
    let (_, body) = as_bearer(server, &admin, q, json!({ "u": user_id, "i": issuer, "s": subject })).await;
    assert_eq!(body["data"]["linkExternalIdentity"], true, "{body}");
}

#[tokio::test]
async fn a_client_credentials_token_is_accepted_once_linked_and_never_creates_a_user() {
    let idp = Idp::start().await;
    let server = server_trusting(&idp).await;
    let token = idp.client_token("nightly-stats", AUDIENCE, "read").await;
    let (status, body) = as_bearer(&server, &token, VIEWER, json!({})).await;
    assert_eq!((status, error_code(&body)), (401, Some("UNAUTHENTICATED")), "unknown subject: {body}");

    link(&server, "lsm.bayern", &idp.issuer, "nightly-stats").await;
    let (status, body) = as_bearer(&server, &token, VIEWER, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["username"], "lsm.bayern");
    // An identity provider's token has no session of ours to log out of.
    let (_, body) = as_bearer(&server, &token, "mutation { logout }", json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn expired_foreign_audience_foreign_issuer_and_tampered_tokens_are_refused() {
    let idp = Idp::start().await;
    let server = server_trusting(&idp).await;
    link(&server, "ssm.isar", &idp.issuer, "cron").await;
    let good = idp.client_token("cron", AUDIENCE, "read").await;
    assert_eq!(as_bearer(&server, &good, VIEWER, json!({})).await.0, 200);

    let expired = idp.client_token("cron", AUDIENCE, "read test:expired").await;
    assert_eq!(as_bearer(&server, &expired, VIEWER, json!({})).await.0, 401, "expired");
    let other_audience = idp.client_token("cron", "some-other-api", "read").await;
    assert_eq!(as_bearer(&server, &other_audience, VIEWER, json!({})).await.0, 401, "wrong audience");

    // Same subject, an issuer the server does not trust.
    let stranger = Idp::start().await;
    let foreign = stranger.client_token("cron", AUDIENCE, "read").await;
    assert_eq!(as_bearer(&server, &foreign, VIEWER, json!({})).await.0, 401, "wrong issuer");

    // A changed payload breaks the signature.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(b64.decode(&parts[1]).expect("b64")).expect("utf8");
    parts[1] = b64.encode(payload.replace("\"cron\"", "\"crox\""));
    assert_eq!(as_bearer(&server, &parts.join("."), VIEWER, json!({})).await.0, 401, "tampered");
}

#[tokio::test]
async fn a_rotated_signing_key_is_picked_up() {
    let mut idp = Idp::start().await;
    let server = server_trusting(&idp).await;
    link(&server, "bsm", &idp.issuer, "finance-export").await;
    let first = idp.client_token("finance-export", AUDIENCE, "read").await;
    assert_eq!(as_bearer(&server, &first, VIEWER, json!({})).await.0, 200, "keys fetched and cached");

    let new_kid = idp.rotate();
    assert_ne!(new_kid, kid_of(&first));
    // The mock signs with its keys in turn: get a token from the new key.
    let mut rotated = None;
    for _ in 0..4 {
        let t = idp.client_token("finance-export", AUDIENCE, "read").await;
        if kid_of(&t) == new_kid {
            rotated = Some(t);
            break;
        }
    }
    let rotated = rotated.expect("a token signed with the new key");
    let (status, body) = as_bearer(&server, &rotated, VIEWER, json!({})).await;
    assert_eq!(status, 200, "an unknown kid refreshes the JWKS: {body}");
    assert_eq!(body["data"]["viewer"]["username"], "bsm");
}

#[tokio::test]
async fn opaque_tokens_are_checked_by_introspection() {
    let idp = Idp::start().await;
    let server = server_with_client(&idp, Some("verband"), Some("introspection-secret")).await;
    link(&server, "mv.hessen", &idp.issuer, "sync-job").await;
    let active = format!("opaque:sync-job:{AUDIENCE}");
    let (status, body) = as_bearer(&server, &active, VIEWER, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["username"], "mv.hessen");
    assert_eq!(as_bearer(&server, "opaque:sync-job:another-api", VIEWER, json!({})).await.0, 401, "audience");
    assert_eq!(as_bearer(&server, "revoked-or-unknown", VIEWER, json!({})).await.0, 401, "inactive");
    assert_eq!(as_bearer(&server, "opaque:nobody:verband-api", VIEWER, json!({})).await.0, 401, "unlinked");
}

/// A client that does not follow redirects: the test is the browser.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status().as_u16() / 100, 3, "a redirect: {}", response.status());
    response.headers()["location"].to_str().expect("location").to_owned()
}

#[tokio::test]
async fn the_browser_signs_in_with_code_and_pkce_and_gets_a_session() {
    let idp = Idp::start().await;
    let server = server_with_client(&idp, Some("verband-web"), Some("web-secret")).await;
    // The mock signs every browser user in as "johndoe".
    link(&server, "lv.niedersachsen", &idp.issuer, "johndoe").await;
    let browser = browser();

    let start = browser.get(format!("{}/auth/login", server.base)).send().await.expect("login");
    let authorize = location(&start);
    assert!(authorize.starts_with(&idp.issuer), "{authorize}");
    for part in ["code_challenge=", "code_challenge_method=S256", "state=", "nonce=", "scope=openid"] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let at_issuer = browser.get(&authorize).send().await.expect("authorize");
    let callback = location(&at_issuer);
    assert!(callback.starts_with(&format!("{}/auth/callback?", server.base)), "{callback}");

    let done = browser.get(&callback).send().await.expect("callback");
    assert_eq!(done.status().as_u16(), 200);
    let body: Value = done.json().await.expect("json");
    let token = body["accessToken"].as_str().expect("session token").to_owned();
    let (status, viewer) = as_bearer(&server, &token, VIEWER, json!({})).await;
    assert_eq!((status, viewer["data"]["viewer"]["username"].as_str()), (200, Some("lv.niedersachsen")));
    // The same kind of session as a password login: logout ends it.
    assert_eq!(as_bearer(&server, &token, "mutation { logout }", json!({})).await.1["data"]["logout"], true);
    assert_eq!(as_bearer(&server, &token, VIEWER, json!({})).await.0, 401);

    // A state is good for one callback only, and made-up states are refused.
    let replay = browser.get(&callback).send().await.expect("replay");
    assert_eq!(replay.status().as_u16(), 400);
    let forged = browser
        .get(format!("{}/auth/callback?code=abc&state=made-up", server.base))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status().as_u16(), 400);
}

#[tokio::test]
async fn a_browser_identity_that_is_not_linked_gets_no_session() {
    let idp = Idp::start().await;
    let server = server_with_client(&idp, Some("verband-web"), None).await;
    let browser = browser();
    let start = browser.get(format!("{}/auth/login", server.base)).send().await.expect("login");
    let at_issuer = browser.get(location(&start)).send().await.expect("authorize");
    let done = browser.get(location(&at_issuer)).send().await.expect("callback");
    assert_eq!(done.status().as_u16(), 403, "no silent account creation");
}
