//! User administration and the catalogue over HTTP, as the demo personas. The
//! expectations come from the rules (docs/authorization.md) and the personas' documented rights.
use crate::common::{TestServer, error_code, error_field, gid, members_without_login, unit};
use entity::{audit_event, member, permission_group, permission_group_permission, user, user_system_group};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn group_id(conn: &DatabaseConnection, key: &str) -> i64 {
    permission_group::Entity::find()
        .filter(permission_group::Column::Key.eq(key))
        .one(conn)
        .await
        .expect("q")
        .unwrap_or_else(|| panic!("group {key}"))
        .id
}

async fn audit_count(conn: &DatabaseConnection, action: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .count(conn)
        .await
        .expect("count")
}

fn ok(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"]
}

const CREATE_USER: &str = "mutation($input: CreateUserInput!) {
  createUser(input: $input) { id username email level disabled isMemberUser member { id } systemGroups { key } }
}";

const SET_GLOBAL: &str = "mutation($u: ID!, $g: ID) {
  setGlobalTreeGroup(userId: $u, groupId: $g) { id globalTreeGroup { key kind } }
}";

const EXPLAIN: &str =
    "query($m: ID!, $p: Permission!) { explainAccess(memberId: $m, permission: $p) { granted } }";

const ENABLE_LOGIN: &str = "mutation($m: ID!, $u: String, $p: String) {
  enableMemberLogin(memberId: $m, username: $u, password: $p) {
    initialPassword
    user { id username level isMemberUser member { id membershipNumber } }
  }
}";

fn new_user(username: &str) -> Value {
    json!({ "input": { "username": username, "email": format!("{username}@example.org"), "password": "a long enough secret" } })
}

#[tokio::test]
async fn r7_creating_a_system_user_needs_user_manage() {
    let server = TestServer::demo().await;
    let useradmin = server.token("useradmin").await;
    let (status, body) = server.gql_as(&useradmin, CREATE_USER, new_user("kasse.skript")).await;
    assert_eq!(status, 200);
    let created = &ok(&body)["createUser"];
    assert_eq!(created["username"], "kasse.skript");
    assert_eq!(created["isMemberUser"], false, "createUser makes system users only");
    assert!(created["member"].is_null());
    assert_eq!(created["level"], 3, "system users default to level 3, where system groups act (R7)");
    assert_eq!(created["disabled"], false);
    // The new login works.
    let login = server.login("kasse.skript", "a long enough secret").await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");

    // A treasurer holds no SYSTEM permission.
    let lsm = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&lsm, CREATE_USER, new_user("nicht.erlaubt")).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    // Anonymous callers are told to sign in.
    let body = server.gql(CREATE_USER, new_user("anonym")).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");

    let conn = server.db.connect().await;
    for name in ["nicht.erlaubt", "anonym"] {
        let found =
            user::Entity::find().filter(user::Column::Username.eq(name)).count(&conn).await.expect("q");
        assert_eq!(found, 0, "{name} must not be written");
    }
}

#[tokio::test]
async fn a_taken_username_is_a_conflict_and_nothing_is_written() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let useradmin = server.token("useradmin").await;
    let users_before = user::Entity::find().count(&conn).await.expect("count");
    let audits_before = audit_count(&conn, "user.create").await;

    let (_, body) = server.gql_as(&useradmin, CREATE_USER, new_user("lsm.bayern")).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert!(!body.to_string().to_lowercase().contains("unique"), "no database internals: {body}");
    assert_eq!(user::Entity::find().count(&conn).await.expect("count"), users_before);
    assert_eq!(audit_count(&conn, "user.create").await, audits_before);

    // Bad input names the field and writes nothing either.
    let mut short = new_user("kurz");
    short["input"]["password"] = json!("kurz");
    let (_, body) = server.gql_as(&useradmin, CREATE_USER, short).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("password")), "{body}");
    let mut bad_level = new_user("zu.hoch");
    bad_level["input"]["level"] = json!(10);
    let (_, body) = server.gql_as(&useradmin, CREATE_USER, bad_level).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("level")), "{body}");
    assert_eq!(user::Entity::find().count(&conn).await.expect("count"), users_before);
    assert_eq!(audit_count(&conn, "user.create").await, audits_before);
}

#[tokio::test]
async fn r8_a_system_group_cannot_be_a_global_tree_group() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let useradmin = server.token("useradmin").await;
    let target = server.user("ssm.isar").await;
    let system_admin = group_id(&conn, "system_admin").await;
    let vars = json!({ "u": gid("User", target.id), "g": gid("PermissionGroup", system_admin) });
    let (_, body) = server.gql_as(&useradmin, SET_GLOBAL, vars).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("groupId")), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("R8"), "{body}");
    assert_eq!(server.user("ssm.isar").await.global_tree_group_id, None, "nothing written");
    assert_eq!(audit_count(&conn, "user.set_global_tree_group").await, 0);
}

#[tokio::test]
async fn r8_a_membership_group_cannot_be_a_system_group() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let target = server.user("useradmin").await;
    let reader = group_id(&conn, "reader").await;
    let auditor = group_id(&conn, "auditor").await;
    let q = "mutation($u: ID!, $g: [ID!]!) { setSystemGroups(userId: $u, groupIds: $g) { systemGroups { key } } }";
    let vars = json!({ "u": gid("User", target.id), "g": [gid("PermissionGroup", auditor), gid("PermissionGroup", reader)] });
    let (_, body) = server.gql_as(&admin, q, vars).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("groupIds")), "{body}");
    let kept = user_system_group::Entity::find()
        .filter(user_system_group::Column::UserId.eq(target.id))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(kept, 1, "useradmin keeps exactly user_admin");

    // SYSTEM groups are fine and replace the set.
    let user_admin = group_id(&conn, "user_admin").await;
    let vars = json!({ "u": gid("User", target.id), "g": [gid("PermissionGroup", user_admin), gid("PermissionGroup", auditor)] });
    let (_, body) = server.gql_as(&admin, q, vars).await;
    let keys: BTreeSet<&str> = ok(&body)["setSystemGroups"]["systemGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["key"].as_str())
        .collect();
    assert_eq!(keys, BTreeSet::from(["auditor", "user_admin"]));
}

#[tokio::test]
async fn r10_no_escalation_a_user_manager_cannot_hand_out_system_rights_they_lack() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let useradmin = server.token("useradmin").await;
    let me = server.user("useradmin").await;
    let user_admin = group_id(&conn, "user_admin").await;
    let system_admin = group_id(&conn, "system_admin").await;
    let q = "mutation($u: ID!, $g: [ID!]!) { setSystemGroups(userId: $u, groupIds: $g) { id } }";
    let vars = json!({ "u": gid("User", me.id), "g": [gid("PermissionGroup", user_admin), gid("PermissionGroup", system_admin)] });
    let (_, body) = server.gql_as(&useradmin, q, vars).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(audit_count(&conn, "user.set_system_groups").await, 0);
}

#[tokio::test]
async fn r10_setting_a_global_tree_group_needs_user_manage_and_is_audited() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let target = server.user("ssm.isar").await;
    let reader = group_id(&conn, "reader").await;
    let vars = json!({ "u": gid("User", target.id), "g": gid("PermissionGroup", reader) });

    // mv.hessen administers members and assignments, not users.
    let mv = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&mv, SET_GLOBAL, vars.clone()).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(server.user("ssm.isar").await.global_tree_group_id, None);

    // R10: user.manage alone is not enough: the setter must hold every permission
    // of the group at every unit. The demo's user administrator is a system user
    // holding no member permission anywhere.
    let useradmin = server.token("useradmin").await;
    let (_, body) = server.gql_as(&useradmin, SET_GLOBAL, vars.clone()).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["permission"], "member.read", "{body}");
    let root = unit(&conn, "Jugendbund Deutschland").await;
    assert_eq!(body["errors"][0]["extensions"]["unit"], json!(gid("OrgUnit", root.id)), "{body}");
    assert_eq!(server.user("ssm.isar").await.global_tree_group_id, None);

    // The administrator holds federation_admin on the whole tree.
    let admin = server.token("admin").await;
    let actor = server.user("admin").await;
    let (_, body) = server.gql_as(&admin, SET_GLOBAL, vars).await;
    assert_eq!(
        ok(&body)["setGlobalTreeGroup"]["globalTreeGroup"],
        json!({ "key": "reader", "kind": "MEMBERSHIP" })
    );
    assert_eq!(server.user("ssm.isar").await.global_tree_group_id, Some(reader));

    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("user.set_global_tree_group"))
        .all(&conn)
        .await
        .expect("audit");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.actor_user_id, Some(actor.id));
    assert_eq!(event.entity, "user");
    assert_eq!(event.entity_id, target.id.to_string());
    assert_eq!(event.before.as_ref().map(|b| b["global_tree_group_id"].clone()), Some(Value::Null));
    assert_eq!(event.after.as_ref().map(|a| a["global_tree_group_id"].clone()), Some(json!(reader)));
    assert!(event.request_id.is_some(), "the request id is recorded");
    let no_hash = event.after.as_ref().map(|a| a.get("password_hash").is_none()).unwrap_or(false);
    assert!(no_hash, "audit records never hold password hashes");
}

#[tokio::test]
async fn r4_a_revoked_global_tree_group_stops_working_at_once() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let subject = server.user("sf.pegnitz").await;
    let hessen_member = members_without_login(&conn, "Landesverband Hessen").await.remove(0);
    let vars = json!({ "m": gid("Member", hessen_member.id), "p": "MEMBER_READ" });
    let pegnitz = server.token("sf.pegnitz").await;

    // Before: a reader at Stamm Pegnitz cannot see a member in Hessen (its grants
    // are now cached for the day).
    let (_, body) = server.gql_as(&pegnitz, EXPLAIN, vars.clone()).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");

    let useradmin = server.token("admin").await;
    let reader = group_id(&conn, "reader").await;
    let grant = json!({ "u": gid("User", subject.id), "g": gid("PermissionGroup", reader) });
    let (_, body) = server.gql_as(&useradmin, SET_GLOBAL, grant).await;
    ok(&body);
    let (_, body) = server.gql_as(&pegnitz, EXPLAIN, vars.clone()).await;
    assert_eq!(ok(&body)["explainAccess"]["granted"], true, "R4: reader on the whole tree");

    let revoke = json!({ "u": gid("User", subject.id), "g": null });
    let (_, body) = server.gql_as(&useradmin, SET_GLOBAL, revoke).await;
    assert!(ok(&body)["setGlobalTreeGroup"]["globalTreeGroup"].is_null());
    let (_, body) = server.gql_as(&pegnitz, EXPLAIN, vars).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "the very next request no longer holds it: {body}");
    assert_eq!(audit_count(&conn, "user.set_global_tree_group").await, 2);
}

#[tokio::test]
async fn r13_a_member_administrator_enables_a_login_for_a_member_of_their_state() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let member = members_without_login(&conn, "Landesverband Hessen").await.remove(0);
    let mv = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&mv, ENABLE_LOGIN, json!({ "m": gid("Member", member.id) })).await;
    let payload = &ok(&body)["enableMemberLogin"];
    let password = payload["initialPassword"].as_str().expect("a generated password");
    assert!(password.chars().count() >= 20, "{password}");
    let created = &payload["user"];
    assert_eq!(created["username"], json!(member.membership_number), "defaults to the membership number");
    assert_eq!(created["level"], 2, "member users have level 2");
    assert_eq!(created["isMemberUser"], true);
    assert_eq!(created["member"]["membershipNumber"], json!(member.membership_number));

    let stored = server.user(&member.membership_number).await;
    assert_eq!(stored.member_id, Some(member.id));
    assert!(
        stored.password_hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$") && !h.contains(password))
    );
    assert_eq!(audit_count(&conn, "user.enable_member_login").await, 1);

    // The member signs in with the password shown once.
    let login = server.login(&member.membership_number, password).await;
    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");

    // A second login for the same member is a conflict.
    let again = json!({ "m": gid("Member", member.id), "u": "zweiter.login", "p": "a long enough secret" });
    let (_, body) = server.gql_as(&mv, ENABLE_LOGIN, again).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    // So is a taken username.
    let other = members_without_login(&conn, "Landesverband Hessen").await.remove(0);
    let taken = json!({ "m": gid("Member", other.id), "u": "admin", "p": "a long enough secret" });
    let (_, body) = server.gql_as(&mv, ENABLE_LOGIN, taken).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(audit_count(&conn, "user.enable_member_login").await, 1, "nothing more written");
}

#[tokio::test]
async fn r11_enabling_a_login_for_an_invisible_member_is_not_found_like_a_missing_one() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let bayern = members_without_login(&conn, "Landesverband Bayern").await.remove(0);
    let missing =
        member::Entity::find().order_by_desc(member::Column::Id).one(&conn).await.expect("q").expect("m").id
            + 1000;
    let users_before = user::Entity::find().count(&conn).await.expect("count");
    let mv = server.token("mv.hessen").await;

    let (_, invisible) = server.gql_as(&mv, ENABLE_LOGIN, json!({ "m": gid("Member", bayern.id) })).await;
    let (_, absent) = server.gql_as(&mv, ENABLE_LOGIN, json!({ "m": gid("Member", missing) })).await;
    assert_eq!(error_code(&invisible), Some("NOT_FOUND"), "{invisible}");
    assert_eq!(invisible["errors"][0]["message"], absent["errors"][0]["message"]);
    assert_eq!(invisible["errors"][0]["extensions"], absent["errors"][0]["extensions"]);
    assert_eq!(invisible["data"], absent["data"]);
    assert_eq!(user::Entity::find().count(&conn).await.expect("count"), users_before);

    // A reader can see members of Stamm Pegnitz but not write them.
    let pegnitz_member = members_without_login(&conn, "Stamm Pegnitz").await.remove(0);
    let sf = server.token("sf.pegnitz").await;
    let (_, body) = server.gql_as(&sf, ENABLE_LOGIN, json!({ "m": gid("Member", pegnitz_member.id) })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(user::Entity::find().count(&conn).await.expect("count"), users_before);
}

#[tokio::test]
async fn r16_a_user_managers_view_of_users_hides_members_they_cannot_read() {
    let server = TestServer::demo().await;
    let q = "query($s: String) { users(search: $s, first: 10) { totalCount edges { node { username isMemberUser member { id } } } } }";
    let useradmin = server.token("useradmin").await;
    let (_, body) = server.gql_as(&useradmin, q, json!({ "s": "lsm.bayern" })).await;
    let users = &ok(&body)["users"];
    assert_eq!(users["totalCount"], 1, "{body}");
    let node = &users["edges"][0]["node"];
    assert_eq!(node["username"], "lsm.bayern");
    assert_eq!(node["isMemberUser"], true);
    assert!(node["member"].is_null(), "a system user never reads member data (R6): {body}");
    assert!(body["errors"].is_null());

    // Searching by membership number only finds members the caller may read.
    let lsm = server.user("lsm.bayern").await;
    let conn = server.db.connect().await;
    let number = member::Entity::find_by_id(lsm.member_id.expect("member user"))
        .one(&conn)
        .await
        .expect("q")
        .expect("m");
    let by_number = json!({ "s": number.membership_number });
    let (_, body) = server.gql_as(&useradmin, q, by_number.clone()).await;
    assert_eq!(ok(&body)["users"]["totalCount"], 0, "{body}");
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, q, by_number).await;
    assert_eq!(ok(&body)["users"]["totalCount"], 1, "{body}");
    assert!(ok(&body)["users"]["edges"][0]["node"]["member"]["id"].is_string(), "admin reads every member");

    // `%` and `_` are literal characters, not wildcards: no demo user has them.
    for wildcard in ["%", "_"] {
        let (_, body) = server.gql_as(&useradmin, q, json!({ "s": wildcard })).await;
        assert_eq!(ok(&body)["users"]["totalCount"], 0, "{wildcard}: {body}");
    }
    let (_, body) = server.gql_as(&useradmin, q, json!({ "s": "BAYERN" })).await;
    assert_eq!(ok(&body)["users"]["totalCount"], 1, "search ignores case: {body}");

    // Listing users needs user.manage.
    let lsm_token = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&lsm_token, q, json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let body = server.gql(q, json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
}

#[tokio::test]
async fn users_are_paged_with_cursors_and_visible_through_node_only_to_managers_and_themselves() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let all = user::Entity::find().count(&conn).await.expect("count");
    let useradmin = server.token("useradmin").await;
    let q = "query($after: String) { users(first: 3, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = server.gql_as(&useradmin, q, json!({ "after": after })).await;
        let page = &ok(&body)["users"];
        assert_eq!(page["totalCount"], json!(all));
        for e in page["edges"].as_array().expect("edges") {
            assert!(seen.insert(e["node"]["id"].as_str().expect("id").to_owned()), "no user twice");
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len() as u64, all);

    let node = "query($id: ID!) { node(id: $id) { ... on User { username } } }";
    let lsm = server.user("lsm.bayern").await;
    let bsm = server.user("bsm").await;
    let lsm_token = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&lsm_token, node, json!({ "id": gid("User", lsm.id) })).await;
    assert_eq!(ok(&body)["node"]["username"], "lsm.bayern", "a user sees themself");
    let (_, body) = server.gql_as(&lsm_token, node, json!({ "id": gid("User", bsm.id) })).await;
    assert!(ok(&body)["node"].is_null(), "but no other user");
    let (_, body) = server.gql_as(&useradmin, node, json!({ "id": gid("User", bsm.id) })).await;
    assert_eq!(ok(&body)["node"]["username"], "bsm");
}

#[tokio::test]
async fn r6_user_level_pledge_and_disabling_are_user_manage_changes() {
    let server = TestServer::demo().await;
    let useradmin = server.token("useradmin").await;
    let me = server.user("useradmin").await;
    let target = server.user("ohne.pledge").await;
    let u = gid("User", target.id);

    let pledge = "mutation($u: ID!, $d: Date!) { recordPrivacyPledge(userId: $u, signedOn: $d) { privacyPledgeSignedOn } }";
    let (_, body) = server.gql_as(&useradmin, pledge, json!({ "u": u, "d": "2026-03-16" })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("signedOn")), "{body}");
    let (_, body) = server.gql_as(&useradmin, pledge, json!({ "u": u, "d": "2026-03-15" })).await;
    assert_eq!(ok(&body)["recordPrivacyPledge"]["privacyPledgeSignedOn"], "2026-03-15");

    let level = "mutation($u: ID!, $l: Int!) { setUserLevel(userId: $u, level: $l) { level } }";
    let (_, body) = server.gql_as(&useradmin, level, json!({ "u": u, "l": 0 })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("level")), "{body}");
    let (_, body) = server.gql_as(&useradmin, level, json!({ "u": u, "l": 3 })).await;
    assert_eq!(ok(&body)["setUserLevel"]["level"], 3);
    let lsm = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&lsm, level, json!({ "u": u, "l": 4 })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");

    let disable =
        "mutation($u: ID!, $d: Boolean!) { setUserDisabled(userId: $u, disabled: $d) { disabled } }";
    let (_, body) = server.gql_as(&useradmin, disable, json!({ "u": gid("User", me.id), "d": true })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("userId")), "{body}");
    let victim_token = server.token("ohne.pledge").await;
    let (_, body) = server.gql_as(&useradmin, disable, json!({ "u": u, "d": true })).await;
    assert_eq!(ok(&body)["setUserDisabled"]["disabled"], true);
    let (status, _) = server.gql_as(&victim_token, "{ viewer { username } }", json!({})).await;
    assert_eq!(status, 401, "a disabled user's token stops working at once");
    let login = server.login("ohne.pledge", verband::domain::seed::demo::DEMO_PASSWORD).await;
    assert!(login["data"]["login"].is_null(), "{login}");
}

const UPDATE_GROUP: &str = "mutation($id: ID!, $p: [Permission!]) {
  updatePermissionGroup(id: $id, input: { permissions: $p }) { key permissions }
}";

#[tokio::test]
async fn r2_a_permission_added_to_a_group_holds_for_its_holders_at_once() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let pegnitz = unit(&conn, "Stamm Pegnitz").await;
    let sf = server.user("sf.pegnitz").await;
    let member = member::Entity::find()
        .filter(member::Column::HomeUnitId.eq(pegnitz.id))
        .filter(member::Column::Id.ne(sf.member_id.expect("member user")))
        .one(&conn)
        .await
        .expect("q")
        .expect("another member of Stamm Pegnitz");
    let explain = json!({ "m": gid("Member", member.id), "p": "BANK_READ" });
    let sf_token = server.token("sf.pegnitz").await;
    let (_, body) = server.gql_as(&sf_token, EXPLAIN, explain.clone()).await;
    assert_eq!(ok(&body)["explainAccess"]["granted"], false, "a reader reads no bank data");

    let reader = gid("PermissionGroup", group_id(&conn, "reader").await);
    let change = json!({ "id": reader, "p": ["MEMBER_READ", "BANK_READ"] });
    // Neither a user manager nor a treasurer may change the catalogue.
    for who in ["useradmin", "lsm.bayern"] {
        let token = server.token(who).await;
        let (_, body) = server.gql_as(&token, UPDATE_GROUP, change.clone()).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{who}: {body}");
    }
    let lines = permission_group_permission::Entity::find()
        .filter(permission_group_permission::Column::PermissionGroupId.eq(group_id(&conn, "reader").await))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(lines, 1, "reader still grants member.read only");

    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, UPDATE_GROUP, change).await;
    assert_eq!(ok(&body)["updatePermissionGroup"]["permissions"], json!(["MEMBER_READ", "BANK_READ"]));
    assert_eq!(audit_count(&conn, "permission_group.update").await, 1);
    let (_, body) = server.gql_as(&sf_token, EXPLAIN, explain).await;
    assert_eq!(ok(&body)["explainAccess"]["granted"], true, "the next request holds bank.read: {body}");

    // R8: a MEMBERSHIP group takes no SYSTEM permission.
    let bad = json!({ "id": reader, "p": ["MEMBER_READ", "USER_MANAGE"] });
    let (_, body) = server.gql_as(&admin, UPDATE_GROUP, bad).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        (Some("BAD_USER_INPUT"), Some("permissions")),
        "{body}"
    );
}

#[tokio::test]
async fn r8_permission_groups_hold_only_permissions_of_their_kind_and_are_deleted_only_when_unused() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let create = "mutation($i: CreatePermissionGroupInput!) { createPermissionGroup(input: $i) { id key kind description permissions } }";
    let mixed = json!({ "i": { "key": "kasse", "name": "Kasse", "kind": "MEMBERSHIP", "permissions": ["PAYMENT_READ", "INVOICE_CREATE"] } });
    let (_, body) = server.gql_as(&admin, create, mixed).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        (Some("BAD_USER_INPUT"), Some("permissions")),
        "{body}"
    );

    let good = json!({ "i": { "key": "kasse", "name": "Kasse", "kind": "MEMBERSHIP", "description": "Beiträge lesen", "permissions": ["PAYMENT_READ"] } });
    let (_, body) = server.gql_as(&admin, create, good.clone()).await;
    let created = ok(&body)["createPermissionGroup"].clone();
    assert_eq!(created["kind"], "MEMBERSHIP");
    assert_eq!(created["description"], "Beiträge lesen");
    assert_eq!(created["permissions"], json!(["PAYMENT_READ"]));
    let (_, body) = server.gql_as(&admin, create, good).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "the key is taken: {body}");

    let list = "query($k: GroupKind) { permissionGroups(kind: $k) { key kind } }";
    let sf = server.token("sf.pegnitz").await;
    let (_, body) = server.gql_as(&sf, list, json!({ "k": "MEMBERSHIP" })).await;
    let groups = ok(&body)["permissionGroups"].as_array().expect("groups").clone();
    assert!(groups.iter().all(|g| g["kind"] == "MEMBERSHIP"));
    assert!(groups.iter().any(|g| g["key"] == "kasse"), "every signed-in caller reads the catalogue");

    let delete = "mutation($id: ID!) { deletePermissionGroup(id: $id) }";
    let reader = gid("PermissionGroup", group_id(&conn, "reader").await);
    let (_, body) = server.gql_as(&admin, delete, json!({ "id": reader })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "reader is used by assignments: {body}");
    assert_eq!(
        permission_group::Entity::find()
            .filter(permission_group::Column::Key.eq("reader"))
            .count(&conn)
            .await
            .expect("q"),
        1
    );
    let (_, body) = server.gql_as(&sf, delete, json!({ "id": created["id"] })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let (_, body) = server.gql_as(&admin, delete, json!({ "id": created["id"] })).await;
    assert_eq!(ok(&body)["deletePermissionGroup"], true);
    let (_, body) = server.gql_as(&sf, list, json!({})).await;
    assert!(!ok(&body)["permissionGroups"].as_array().expect("groups").iter().any(|g| g["key"] == "kasse"));
    assert_eq!(audit_count(&conn, "permission_group.delete").await, 1);
}

#[tokio::test]
async fn r9_activities_allow_only_membership_groups_and_are_deleted_only_when_unused() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    // Front ends find the level ids through `levels`.
    let (_, body) = server.gql_as(&admin, "{ levels { id name } }", json!({})).await;
    let stamm = ok(&body)["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .find(|l| l["name"] == "Stamm")
        .map(|l| l["id"].clone())
        .expect("level Stamm");
    let body = server.gql("{ levels { id } }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let reader = gid("PermissionGroup", group_id(&conn, "reader").await);
    let billing = gid("PermissionGroup", group_id(&conn, "billing").await);
    let create = "mutation($i: CreateActivityInput!) { createActivity(input: $i) { id name levelId level { name } allowedGroups { key } } }";
    let bad =
        json!({ "i": { "name": "Kassenprüfer/in", "levelId": stamm, "allowedGroupIds": [reader, billing] } });
    let (_, body) = server.gql_as(&admin, create, bad).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        (Some("BAD_USER_INPUT"), Some("allowedGroupIds")),
        "{body}"
    );

    let good = json!({ "i": { "name": "Kassenprüfer/in", "levelId": stamm, "allowedGroupIds": [reader] } });
    let (_, body) = server.gql_as(&admin, create, good).await;
    let created = ok(&body)["createActivity"].clone();
    assert_eq!(created["level"]["name"], "Stamm");
    assert_eq!(created["levelId"], stamm);
    assert_eq!(created["allowedGroups"], json!([{ "key": "reader" }]));

    let list = "query($l: ID) { activities(levelId: $l) { name level { name } } levels { name rank } }";
    let sf = server.token("sf.pegnitz").await;
    let (_, body) = server.gql_as(&sf, list, json!({ "l": created["levelId"] })).await;
    let data = ok(&body);
    let activities = data["activities"].as_array().expect("activities");
    assert!(activities.iter().all(|a| a["level"]["name"] == "Stamm"));
    assert!(activities.iter().any(|a| a["name"] == "Kassenprüfer/in"));
    assert_eq!(data["levels"][0], json!({ "name": "Bund", "rank": 0 }));

    let update = "mutation($id: ID!, $i: UpdateActivityInput!) { updateActivity(id: $id, input: $i) { name allowedGroups { key } } }";
    let treasurer = gid("PermissionGroup", group_id(&conn, "treasurer").await);
    let vars =
        json!({ "id": created["id"], "i": { "name": "Kassenprüfer", "allowedGroupIds": [treasurer] } });
    let (_, body) = server.gql_as(&admin, update, vars).await;
    assert_eq!(
        ok(&body)["updateActivity"],
        json!({ "name": "Kassenprüfer", "allowedGroups": [{ "key": "treasurer" }] })
    );

    let delete = "mutation($id: ID!) { deleteActivity(id: $id) }";
    let used = entity::assignment::Entity::find().one(&conn).await.expect("q").expect("an assignment");
    let (_, body) = server.gql_as(&admin, delete, json!({ "id": gid("Activity", used.activity_id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    let (_, body) = server.gql_as(&admin, delete, json!({ "id": created["id"] })).await;
    assert_eq!(ok(&body)["deleteActivity"], true);
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let (_, body) = server.gql_as(&admin, node, json!({ "id": created["id"] })).await;
    assert!(ok(&body)["node"].is_null());
}

#[tokio::test]
async fn r10_no_escalation_a_catalogue_manager_cannot_add_system_rights_they_lack() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    // A system user holding catalogue.manage only.
    let (_, body) = server.gql_as(&admin, CREATE_USER, new_user("katalog")).await;
    let katalog_id = ok(&body)["createUser"]["id"].clone();
    let catalogue_admin = group_id(&conn, "catalogue_admin").await;
    let q = "mutation($u: ID!, $g: [ID!]!) { setSystemGroups(userId: $u, groupIds: $g) { id } }";
    let (_, body) = server
        .gql_as(&admin, q, json!({ "u": katalog_id, "g": [gid("PermissionGroup", catalogue_admin)] }))
        .await;
    ok(&body);
    let login = server.login("katalog", "a long enough secret").await;
    let katalog = login["data"]["login"]["accessToken"].as_str().expect("token").to_owned();

    // Giving their own group user.manage would make them a user manager.
    let change =
        json!({ "id": gid("PermissionGroup", catalogue_admin), "p": ["CATALOGUE_MANAGE", "USER_MANAGE"] });
    let (_, body) = server.gql_as(&katalog, UPDATE_GROUP, change).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let create = "mutation($i: CreatePermissionGroupInput!) { createPermissionGroup(input: $i) { key } }";
    let sneaky = json!({ "i": { "key": "helfer", "name": "Helfer", "kind": "SYSTEM", "permissions": ["AUDIT_READ"] } });
    let (_, body) = server.gql_as(&katalog, create, sneaky).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(audit_count(&conn, "permission_group.create").await, 0);

    // What they hold themselves they may hand on.
    let fine = json!({ "i": { "key": "katalog2", "name": "Katalog 2", "kind": "SYSTEM", "permissions": ["CATALOGUE_MANAGE"] } });
    let (_, body) = server.gql_as(&katalog, create, fine).await;
    assert_eq!(ok(&body)["createPermissionGroup"]["key"], "katalog2");
}
