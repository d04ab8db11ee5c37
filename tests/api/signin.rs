//! Local sign-in over HTTP: login, bearer tokens, lockout, logout, setPassword, and
//! who may not sign in (docs/workflows.md, README "Signing in").
use crate::common::{TestDb, TestServer, error_code, error_field, is_postgres, statements_so_far};
use entity::{MemberStatus, Visibility, member, org_unit, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};
use verband::domain::seed::demo::DEMO_PASSWORD;

#[tokio::test]
async fn a_persona_signs_in_and_sees_what_r14_allows() {
    let server = TestServer::demo().await;
    let body = server.login("lsm.bayern", DEMO_PASSWORD).await;
    assert_eq!(body["data"]["login"]["tokenType"], "Bearer", "{body}");
    let token = server.token("lsm.bayern").await;
    let (status, body) = server
        .gql_as(&token, "{ viewer { username level } orgUnits(first: 500) { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["viewer"]["username"], "lsm.bayern", "{body}");
    // R14 for her: PUBLIC and INTERNAL units, plus RESTRICTED ones where she holds
    // member.read (the Bayern subtree); HIDDEN ones need unit.write, which she lacks.
    let conn = server.db.connect().await;
    let units = org_unit::Entity::find().all(&conn).await.expect("units");
    let bayern = units.iter().find(|u| u.name == "Landesverband Bayern").expect("Bayern").path.clone();
    let expected = units
        .iter()
        .filter(|u| match u.visibility {
            Visibility::Public | Visibility::Internal => true,
            Visibility::Restricted => u.path.starts_with(&bayern),
            Visibility::Hidden => false,
        })
        .count();
    assert_eq!(body["data"]["orgUnits"]["totalCount"], json!(expected));
    // Anonymous: no viewer.
    let body = server.gql("{ viewer { username } }", json!({})).await;
    assert_eq!(body["data"]["viewer"], Value::Null);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let server = TestServer::demo().await;
    let wrong = server.login("lsm.bayern", "not the password").await;
    let unknown = server.login("nobody.here", "not the password").await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert!(wrong["data"].is_null());
}

#[tokio::test]
async fn repeated_failures_lock_the_login_for_a_while() {
    let db = TestDb::demo().await;
    let server = TestServer::start_with(db, |s| {
        s.login_max_failures = 3;
        s.login_lockout_seconds = 2;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(error_code(&server.login("ssm.isar", "wrong password").await), Some("UNAUTHENTICATED"));
    }
    let locked = server.login("ssm.isar", DEMO_PASSWORD).await;
    assert_eq!(error_code(&locked), Some("UNAUTHENTICATED"), "the right password is refused while locked");
    assert!(server.user("ssm.isar").await.locked_until.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let body = server.login("ssm.isar", DEMO_PASSWORD).await;
    assert!(body["data"]["login"]["accessToken"].is_string(), "after the lockout: {body}");
    assert_eq!(server.user("ssm.isar").await.failed_logins, 0);
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let server = TestServer::demo().await;
    let token = server.token("sf.pegnitz").await;
    let (status, body) = server.gql_as(&token, "mutation { logout }", json!({})).await;
    assert_eq!((status, &body["data"]["logout"]), (200, &json!(true)), "{body}");
    let (status, body) = server.gql_as(&token, "{ viewer { username } }", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    // Another session of the same user is untouched.
    let other = server.token("sf.pegnitz").await;
    assert_eq!(server.gql_as(&other, "{ viewer { username } }", json!({})).await.0, 200);
}

#[tokio::test]
async fn bad_credentials_are_refused_never_served_as_anonymous() {
    let server = TestServer::demo().await;
    let q = "{ orgUnits { totalCount } }";
    for auth in ["Bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer", "Bearer a.b.c"] {
        let (status, body) = server.gql_with_auth(auth, q, json!({})).await;
        assert_eq!(status, 401, "{auth}");
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{auth}");
        assert!(body["data"].is_null());
    }
    // A token signed with another key (another server's) is refused.
    use verband::auth::tokens::{SigningKey, TokenService};
    let foreign =
        TokenService::new(&[SigningKey { kid: "x".into(), secret: vec![9; 32] }], "verband", "verband", 900)
            .expect("service");
    let user_id = server.user("admin").await.id;
    let (forged, _) = foreign.issue(user_id, "made-up", chrono::Utc::now()).expect("issue");
    assert_eq!(server.gql_as(&forged, q, json!({})).await.0, 401);
}

#[tokio::test]
async fn members_who_left_and_disabled_users_cannot_sign_in() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    // A token issued before the change stops working with it.
    let token = server.token("ohne.pledge").await;
    let user = server.user("ohne.pledge").await;
    let mut m = member::Entity::find_by_id(user.member_id.expect("member"))
        .one(&conn)
        .await
        .expect("q")
        .expect("m")
        .into_active_model();
    m.status = Set(MemberStatus::Left);
    m.update(&conn).await.expect("update");
    assert_eq!(error_code(&server.login("ohne.pledge", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));
    assert_eq!(server.gql_as(&token, "{ viewer { username } }", json!({})).await.0, 401);

    let token = server.token("sf.pegnitz").await;
    let mut u = server.user("sf.pegnitz").await.into_active_model();
    u.disabled = Set(true);
    u.update(&conn).await.expect("update");
    assert_eq!(error_code(&server.login("sf.pegnitz", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));
    assert_eq!(server.gql_as(&token, "{ viewer { username } }", json!({})).await.0, 401);

    // A system user (no member) signs in; a member without pledge does too (R6
    // limits rights, not sign-in).
    assert!(server.login("useradmin", DEMO_PASSWORD).await["data"]["login"].is_object());
}

const SET_PASSWORD: &str = "mutation($u: ID, $old: String, $new: String!) { setPassword(userId: $u, oldPassword: $old, newPassword: $new) }";

fn user_gid(id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("User:{id}"))
}

#[tokio::test]
async fn passwords_change_with_the_old_one_or_by_a_user_manager() {
    let server = TestServer::demo().await;
    let token = server.token("bsm").await;
    let second_session = server.token("bsm").await;

    let (_, body) =
        server.gql_as(&token, SET_PASSWORD, json!({ "old": "wrong", "new": "a brand new secret" })).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        (Some("BAD_USER_INPUT"), Some("oldPassword")),
        "{body}"
    );
    let (_, body) =
        server.gql_as(&token, SET_PASSWORD, json!({ "old": DEMO_PASSWORD, "new": "short" })).await;
    assert_eq!(error_field(&body), Some("newPassword"), "{body}");
    let (_, body) = server
        .gql_as(&token, SET_PASSWORD, json!({ "old": DEMO_PASSWORD, "new": "a brand new secret" }))
        .await;
    assert_eq!(body["data"]["setPassword"], true, "{body}");
    assert_eq!(error_code(&server.login("bsm", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));
    assert!(server.login("bsm", "a brand new secret").await["data"]["login"].is_object());
    assert_eq!(
        server.gql_as(&token, "{ viewer { username } }", json!({})).await.0,
        200,
        "this session stays"
    );
    assert_eq!(
        server.gql_as(&second_session, "{ viewer { username } }", json!({})).await.0,
        401,
        "others end"
    );

    // Another user's password: FORBIDDEN without user.manage, fine with it.
    let target = user_gid(server.user("ssm.isar").await.id);
    let (_, body) =
        server.gql_as(&token, SET_PASSWORD, json!({ "u": target, "new": "reset by someone" })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let admin = server.token("useradmin").await;
    let (_, body) =
        server.gql_as(&admin, SET_PASSWORD, json!({ "u": target, "new": "reset by the admin" })).await;
    assert_eq!(body["data"]["setPassword"], true, "{body}");
    assert!(server.login("ssm.isar", "reset by the admin").await["data"]["login"].is_object());
}

#[tokio::test]
async fn the_signing_key_file_is_private() {
    let server = TestServer::demo().await;
    let key_file = server.db.data_dir.join("token-keys");
    let meta = std::fs::metadata(&key_file).expect("key file made on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let _ = meta;
}

const CREATE_TOKEN: &str = "mutation($n: String!, $s: [Permission!]!, $e: DateTime) {
  createApiToken(name: $n, scopes: $s, expiresAt: $e) { secret token { id name scopes expiresAt lastUsedAt } }
}";

#[tokio::test]
async fn api_tokens_show_their_secret_once_and_store_only_a_hash() {
    let server = TestServer::demo().await;
    let session = server.token("lsm.bayern").await;
    let (_, body) =
        server.gql_as(&session, CREATE_TOKEN, json!({ "n": "Nachtstatistik", "s": ["MEMBER_READ"] })).await;
    let secret = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("vbt_") && secret.len() > 40, "{body}");
    let conn = server.db.connect().await;
    let stored = entity::api_token::Entity::find().all(&conn).await.expect("q");
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, secret);
    assert!(!stored[0].token_hash.contains(&secret[4..]));
    let (_, body) = server.gql_as(&session, "{ apiTokens { name scopes lastUsedAt } }", json!({})).await;
    assert_eq!(body["data"]["apiTokens"][0]["name"], "Nachtstatistik");
    assert!(!body.to_string().contains(&secret), "listing never shows the secret");

    // The script uses it; last_used_at is recorded.
    let (status, body) = server.gql_as(&secret, "{ viewer { username } }", json!({})).await;
    assert_eq!((status, body["data"]["viewer"]["username"].as_str()), (200, Some("lsm.bayern")), "{body}");
    let used = entity::api_token::Entity::find().one(&conn).await.expect("q").expect("token");
    assert!(used.last_used_at.is_some());
}

#[tokio::test]
async fn api_token_scopes_only_narrow_the_owners_rights() {
    let server = TestServer::demo().await;
    // useradmin holds user.manage; a token without that scope does not.
    let session = server.token("useradmin").await;
    let q = "{ viewer { systemPermissions } }";
    let (_, body) = server.gql_as(&session, q, json!({})).await;
    assert_eq!(body["data"]["viewer"]["systemPermissions"], json!(["USER_MANAGE"]));
    let (_, body) =
        server.gql_as(&session, CREATE_TOKEN, json!({ "n": "read only", "s": ["MEMBER_READ"] })).await;
    let narrow = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    let (_, body) = server.gql_as(&narrow, q, json!({})).await;
    assert_eq!(body["data"]["viewer"]["systemPermissions"], json!([]), "{body}");

    // A scope the owner lacks adds nothing.
    let sf = server.token("sf.pegnitz").await;
    let (_, body) =
        server.gql_as(&sf, CREATE_TOKEN, json!({ "n": "greedy", "s": ["USER_MANAGE", "MEMBER_READ"] })).await;
    let greedy = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    let (_, body) = server.gql_as(&greedy, q, json!({})).await;
    assert_eq!(body["data"]["viewer"]["systemPermissions"], json!([]), "{body}");

    // R14 through a token: without member.read, RESTRICTED units disappear.
    let lsm = server.token("lsm.bayern").await;
    let count = "{ orgUnits(first: 500) { totalCount } }";
    let full =
        server.gql_as(&lsm, count, json!({})).await.1["data"]["orgUnits"]["totalCount"].as_u64().expect("n");
    let (_, body) = server.gql_as(&lsm, CREATE_TOKEN, json!({ "n": "units only", "s": [] })).await;
    let bare = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    let narrowed =
        server.gql_as(&bare, count, json!({})).await.1["data"]["orgUnits"]["totalCount"].as_u64().expect("n");
    assert!(narrowed < full, "{narrowed} < {full}");

    // Tokens cannot mint tokens or log out.
    let (_, body) = server.gql_as(&narrow, CREATE_TOKEN, json!({ "n": "child", "s": [] })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn revoked_and_expired_api_tokens_are_unauthenticated_at_once() {
    let server = TestServer::demo().await;
    let session = server.token("ssm.isar").await;
    let (_, body) = server.gql_as(&session, CREATE_TOKEN, json!({ "n": "cron", "s": ["MEMBER_READ"] })).await;
    let secret = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    let id = body["data"]["createApiToken"]["token"]["id"].as_str().expect("id").to_owned();
    assert_eq!(server.gql_as(&secret, "{ viewer { username } }", json!({})).await.0, 200);
    // Someone else's token is not theirs to revoke (and not even found).
    let other = server.token("sf.pegnitz").await;
    let revoke = "mutation($id: ID!) { revokeApiToken(id: $id) }";
    let (_, body) = server.gql_as(&other, revoke, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let (_, body) = server.gql_as(&session, revoke, json!({ "id": id })).await;
    assert_eq!(body["data"]["revokeApiToken"], true, "{body}");
    let (status, body) = server.gql_as(&secret, "{ viewer { username } }", json!({})).await;
    assert_eq!((status, error_code(&body)), (401, Some("UNAUTHENTICATED")));

    // Expiry: a date in the past is refused; a token past its expiry is refused.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (_, body) = server.gql_as(&session, CREATE_TOKEN, json!({ "n": "old", "s": [], "e": past })).await;
    assert_eq!(error_field(&body), Some("expiresAt"), "{body}");
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, body) =
        server.gql_as(&session, CREATE_TOKEN, json!({ "n": "short-lived", "s": [], "e": soon })).await;
    let secret = body["data"]["createApiToken"]["secret"].as_str().expect("secret").to_owned();
    let conn = server.db.connect().await;
    let mut row: entity::api_token::ActiveModel = entity::api_token::Entity::find()
        .filter(entity::api_token::Column::Name.eq("short-lived"))
        .one(&conn)
        .await
        .expect("q")
        .expect("token")
        .into();
    row.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    row.update(&conn).await.expect("update");
    assert_eq!(server.gql_as(&secret, "{ viewer { username } }", json!({})).await.0, 401);
}

#[tokio::test]
async fn deleting_a_member_deletes_its_user() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let user = server.user("sf.pegnitz").await;
    let member_id = user.member_id.expect("member user");
    // Payments block deleting a member (fee records are kept; members are
    // anonymized instead), so this member's go first. Bank data, mandates,
    // assignments and the user go with the member.
    use sea_orm::QueryFilter;
    entity::payment::Entity::delete_many()
        .filter(entity::payment::Column::MemberId.eq(member_id))
        .exec(&conn)
        .await
        .expect("payments");
    member::Entity::delete_by_id(member_id).exec(&conn).await.expect("delete member");
    assert!(user::Entity::find_by_id(user.id).one(&conn).await.expect("q").is_none());
    assert_eq!(error_code(&server.login("sf.pegnitz", DEMO_PASSWORD).await), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn linking_an_external_identity_needs_user_manage_and_is_unique() {
    let server = TestServer::demo().await;
    let q = "mutation($u: ID!) { linkExternalIdentity(userId: $u, issuer: \"https://id.example.org\", subject: \"abc\") }";
    let bsm = user_gid(server.user("bsm").await.id);
    let lsm = user_gid(server.user("lsm.bayern").await.id);
    let (_, body) = server.gql_as(&server.token("bsm").await, q, json!({ "u": bsm })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let admin = server.token("useradmin").await;
    let (_, body) = server.gql_as(&admin, q, json!({ "u": bsm })).await;
    assert_eq!(body["data"]["linkExternalIdentity"], true, "{body}");
    assert_eq!(server.user("bsm").await.external_subject.as_deref(), Some("https://id.example.org|abc"));
    let (_, body) = server.gql_as(&admin, q, json!({ "u": lsm })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("CONFLICT"), Some("subject")), "{body}");
}

/// The statements a request with `token` causes that needs nothing else from the
/// database: its authentication (grants are cached after the first request).
async fn authentication_statements(server: &TestServer, token: &str) -> (u16, u64) {
    let before = statements_so_far(server).await;
    let (status, _) = server.gql_as(token, "{ __typename }", json!({})).await;
    (status, statements_so_far(server).await - before)
}

#[tokio::test]
async fn a_known_session_costs_no_statement_and_logout_still_ends_it_at_once() {
    let server = TestServer::demo().await;
    let token = server.token("lsm.bayern").await;
    let (status, first) = authentication_statements(&server, &token).await;
    assert_eq!(status, 200);
    assert!(first > 3, "the first request checks the session and compiles the grants");
    // Then the session is known where other processes announce their changes
    // (PostgreSQL); on SQLite every request checks session, user and member.
    let known = if is_postgres() { 0 } else { 3 };
    assert_eq!(authentication_statements(&server, &token).await, (200, known));
    assert_eq!(authentication_statements(&server, &token).await, (200, known));

    let (_, body) = server.gql_as(&token, "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_eq!(authentication_statements(&server, &token).await.0, 401, "logged out: refused at once");
}

#[tokio::test]
async fn r6_a_known_session_ends_at_once_when_its_user_is_disabled_or_changes_the_password() {
    let server = TestServer::demo().await;
    let pegnitz = server.token("sf.pegnitz").await;
    assert_eq!(authentication_statements(&server, &pegnitz).await.0, 200);
    assert_eq!(authentication_statements(&server, &pegnitz).await.0, 200, "known");
    let admin = server.token("useradmin").await;
    let q = "mutation($u: ID!) { setUserDisabled(userId: $u, disabled: true) { disabled } }";
    let (_, body) =
        server.gql_as(&admin, q, json!({ "u": user_gid(server.user("sf.pegnitz").await.id) })).await;
    assert_eq!(body["data"]["setUserDisabled"]["disabled"], true, "{body}");
    assert_eq!(authentication_statements(&server, &pegnitz).await.0, 401, "disabled: refused at once");

    let first = server.token("bsm").await;
    let second = server.token("bsm").await;
    assert_eq!(authentication_statements(&server, &second).await.0, 200);
    assert_eq!(authentication_statements(&server, &second).await.0, 200, "known");
    let (_, body) = server
        .gql_as(&first, SET_PASSWORD, json!({ "old": DEMO_PASSWORD, "new": "a brand new secret" }))
        .await;
    assert_eq!(body["data"]["setPassword"], true, "{body}");
    assert_eq!(authentication_statements(&server, &second).await.0, 401, "the other session ended at once");
    assert_eq!(authentication_statements(&server, &first).await.0, 200, "this one stays");
}
