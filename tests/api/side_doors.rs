//! The edges of the rules, tried as each kind of user would: the audit trail and
//! explanations under R18, the catalogue and global tree groups under R10, writes
//! at HIDDEN units (R13 before R14), R15 with R12. Expectations come from the rules
//! (docs/authorization.md); the worlds are the demo with a few offices added in the database.
use crate::common::{
    TestDb, TestServer, error_code, error_field, gid, hasher, members_without_login, today, unit,
};
use chrono::Utc;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use verband::domain::seed::demo::DEMO_PASSWORD;

async fn group(conn: &DatabaseConnection, key: &str) -> permission_group::Model {
    permission_group::Entity::find()
        .filter(permission_group::Column::Key.eq(key))
        .one(conn)
        .await
        .expect("q")
        .unwrap_or_else(|| panic!("group {key}"))
}

async fn user_named(conn: &DatabaseConnection, username: &str) -> user::Model {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(conn)
        .await
        .expect("q")
        .unwrap_or_else(|| panic!("user {username}"))
}

/// A new permission group with exactly `permissions`.
async fn new_group(conn: &DatabaseConnection, key: &str, permissions: &[&str]) -> permission_group::Model {
    let g = permission_group::ActiveModel {
        key: Set(key.into()),
        name: Set(key.into()),
        kind: Set(GroupKind::Membership),
        description: Set(String::new()),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("group");
    for p in permissions {
        permission_group_permission::ActiveModel {
            permission_group_id: Set(g.id),
            permission: Set((*p).into()),
        }
        .insert(conn)
        .await
        .expect("permission");
    }
    g
}

/// Gives `username`'s member an office at `unit_name` with `level_group` (written
/// before the server starts, so no cache is involved).
async fn give_office(conn: &DatabaseConnection, username: &str, unit_name: &str, level_group: i64) {
    let member_id = user_named(conn, username).await.member_id.expect("a member user");
    let u = unit(conn, unit_name).await;
    let activity =
        activity::Entity::find().filter(activity::Column::LevelId.eq(u.level_id)).one(conn).await.expect("q");
    assignment::ActiveModel {
        member_id: Set(member_id),
        activity_id: Set(activity.expect("an activity on the level").id),
        org_unit_id: Set(u.id),
        level_group_id: Set(Some(level_group)),
        tree_group_id: Set(None),
        starts_on: Set(today() - chrono::Days::new(30)),
        ends_on: Set(None),
        status: Set(AssignmentStatus::Active),
        created_by: Set(None),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("assignment");
}

/// A system user (no member, level 3) with SYSTEM groups.
async fn system_user(conn: &DatabaseConnection, username: &str, groups: &[&str]) -> user::Model {
    let u = user::ActiveModel {
        username: Set(username.into()),
        email: Set(None),
        password_hash: Set(Some(hasher().hash(DEMO_PASSWORD).expect("hash"))),
        member_id: Set(None),
        level: Set(3),
        global_tree_group_id: Set(None),
        privacy_pledge_signed_on: Set(None),
        disabled: Set(false),
        external_subject: Set(None),
        created_at: Set(Utc::now()),
        updated_at: Set(Utc::now()),
        failed_logins: Set(0),
        locked_until: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await
    .expect("user");
    for key in groups {
        user_system_group::ActiveModel {
            user_id: Set(u.id),
            permission_group_id: Set(group(conn, key).await.id),
        }
        .insert(conn)
        .await
        .expect("system group");
    }
    u
}

fn ok(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"]
}

/// The redacted paths of a response, as `path/joined/by/slashes` → needs.
fn redacted(body: &Value) -> Vec<(String, String)> {
    body["extensions"]["redacted"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    let path: Vec<String> = f["path"]
                        .as_array()
                        .expect("path")
                        .iter()
                        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                        .collect();
                    (path.join("/"), f["needs"].as_str().expect("needs").to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

const AUDIT: &str = "query($f: AuditFilter) { auditLog(filter: $f, first: 200) {
  totalCount nodes { id at actorName action entity entityId requestId before after } } }";

/// Member data of every kind in the audit trail: a member's names and address
/// changed, bank data set, a payment recorded, and an application filed.
async fn audited_changes(server: &TestServer, member: &member::Model) {
    let admin = server.token("admin").await;
    let m = gid("Member", member.id);
    let changes = [
        (
            "mutation($m: ID!) { updateMember(id: $m, input: { lastName: \"Geheimname\", city: \"Geheimstadt\", birthDate: \"1990-01-02\" }) { id } }",
            json!({ "m": m }),
        ),
        (
            "mutation($m: ID!) { setBankAccount(memberId: $m, input: { iban: \"DE89370400440532013000\", accountHolder: \"Geheimname\" }) { iban } }",
            json!({ "m": m }),
        ),
        (
            "mutation($m: ID!) { recordPayment(memberId: $m, input: { amountCents: 4711, paidOn: \"2026-03-01\" }) { id } }",
            json!({ "m": m }),
        ),
    ];
    for (q, vars) in changes {
        let (_, body) = server.gql_as(&admin, q, vars).await;
        ok(&body);
    }
    let isar = unit(&server.db.connect().await, "Stamm Isar").await;
    let apply = "mutation($u: ID!) { applyForMembership(input: { orgUnitId: $u, firstName: \"Antragsvorname\", lastName: \"Antragsname\", birthDate: \"2012-05-06\" }) { admissionId } }";
    let body = server.gql(apply, json!({ "u": gid("OrgUnit", isar.id) })).await;
    ok(&body);
}

/// Personal data written by `audited_changes`; none of it may reach a caller who
/// may not read it.
const SECRETS: [&str; 7] =
    ["Geheimname", "Geheimstadt", "1990-01-02", "DE89", "4711", "Antragsname", "2012-05-06"];

#[tokio::test]
async fn r18_a_system_auditor_sees_who_did_what_when_and_no_member_data() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    system_user(&conn, "pruefer", &["auditor"]).await;
    let server = TestServer::start(db).await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    audited_changes(&server, &member).await;

    let auditor = server.token("pruefer").await;
    let (status, body) = server.gql_as(&auditor, AUDIT, json!({})).await;
    assert_eq!(status, 200);
    let nodes = ok(&body)["auditLog"]["nodes"].as_array().expect("nodes").clone();
    // The frames: every event, with who, what, which record and when.
    let actions: BTreeSet<&str> = nodes.iter().filter_map(|n| n["action"].as_str()).collect();
    for action in ["member.update", "bank_account.set", "payment.record", "admission.apply", "user.login"] {
        assert!(actions.contains(action), "{action} in {actions:?}");
    }
    let update = nodes.iter().find(|n| n["action"] == "member.update").expect("update");
    assert_eq!(update["actorName"], "admin");
    assert_eq!(update["entity"], "member");
    assert_eq!(update["entityId"], member.id.to_string());
    assert!(update["at"].is_string() && update["requestId"].is_string());
    // No member data, anywhere in the response (request ids are random UUIDs,
    // which may contain "4711" by chance).
    let mut scanned = body.clone();
    if let Some(nodes) = scanned["data"]["auditLog"]["nodes"].as_array_mut() {
        for n in nodes {
            n["requestId"] = Value::Null;
        }
    }
    let text = scanned.to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked to a system auditor: {text}");
    }
    // Field by field: null, and listed with what it needs.
    assert_eq!(update["after"], json!({ "last_name": null, "city": null, "birth_date": null }));
    let index = nodes.iter().position(|n| n["action"] == "member.update").expect("index");
    let listed = redacted(&body);
    let prefix = format!("auditLog/nodes/{index}/after/");
    for key in ["last_name", "city", "birth_date"] {
        assert!(listed.contains(&(format!("{prefix}{key}"), "member.read".into())), "{key}: {listed:?}");
    }
    let payment = nodes.iter().position(|n| n["action"] == "payment.record").expect("payment");
    assert!(
        listed.contains(&(format!("auditLog/nodes/{payment}/after/amount_cents"), "payment.read".into())),
        "{listed:?}"
    );
    let bank = nodes.iter().position(|n| n["action"] == "bank_account.set").expect("bank");
    assert!(
        listed.contains(&(format!("auditLog/nodes/{bank}/after/iban"), "bank.read".into())),
        "{listed:?}"
    );
    let admission = nodes.iter().position(|n| n["action"] == "admission.apply").expect("admission");
    assert!(
        listed.contains(&(format!("auditLog/nodes/{admission}/after/last_name"), "admission.approve".into())),
        "{listed:?}"
    );

    // The administrator (audit.read, and every member permission everywhere) reads
    // the same events in full.
    let admin = server.token("admin").await;
    let (_, full) = server.gql_as(&admin, AUDIT, json!({})).await;
    let text = ok(&full).to_string();
    for secret in SECRETS {
        assert!(text.contains(secret), "{secret} for the administrator");
    }
    assert!(full["extensions"]["redacted"].is_null(), "{}", full["extensions"]);
}

#[tokio::test]
async fn r18_member_write_without_payment_read_sees_no_payment_amounts() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    // An office with member.read and member.write, but no payment.read, at Stamm Isar.
    let writer = new_group(&conn, "schreibend_ohne_finanzen", &["member.read", "member.write"]).await;
    give_office(&conn, "sf.pegnitz", "Stamm Isar", writer.id).await;
    let server = TestServer::start(db).await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    audited_changes(&server, &member).await;

    let token = server.token("sf.pegnitz").await;
    let filter = json!({ "f": { "entityId": gid("Member", member.id) } });
    let (_, body) = server.gql_as(&token, AUDIT, filter).await;
    let nodes = ok(&body)["auditLog"]["nodes"].as_array().expect("nodes").clone();
    let payment = nodes.iter().find(|n| n["action"] == "payment.record").expect("the frame is visible");
    let after = payment["after"].as_object().expect("after");
    assert!(after.values().all(Value::is_null), "no amounts without payment.read: {payment}");
    let bank = nodes.iter().find(|n| n["action"] == "bank_account.set").expect("bank frame");
    assert_eq!(bank["after"]["iban"], Value::Null, "no bank data without bank.read");
    // What they may read, they read: the member.read fields of the update.
    let update = nodes.iter().find(|n| n["action"] == "member.update").expect("update");
    assert_eq!(update["after"]["last_name"], "Geheimname");
    let listed = redacted(&body);
    assert!(
        listed.iter().any(|(p, n)| p.ends_with("/after/amount_cents") && n == "payment.read"),
        "{listed:?}"
    );
    assert!(!body.to_string().contains("4711"));
}

#[tokio::test]
async fn r18_explain_access_about_an_unreadable_member_answers_as_for_a_missing_one() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    system_user(&conn, "pruefer", &["auditor"]).await;
    let server = TestServer::start(db).await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let ssm = user_named(&conn, "ssm.isar").await;
    let q = "query($m: ID!, $u: ID) { explainAccess(memberId: $m, permission: MEMBER_READ, userId: $u) {
        granted grants { rule orgUnitName } denials { rule reason } } }";
    for asker in ["pruefer", "useradmin"] {
        let token = server.token(asker).await;
        let about = |m: i64| json!({ "m": gid("Member", m), "u": gid("User", ssm.id) });
        let (_, existing) = server.gql_as(&token, q, about(member.id)).await;
        let (_, missing) = server.gql_as(&token, q, about(99_999_999)).await;
        assert_eq!(error_code(&existing), Some("NOT_FOUND"), "{asker}: {existing}");
        assert_eq!(existing["errors"][0]["message"], missing["errors"][0]["message"], "{asker}");
        assert_eq!(existing["data"], missing["data"], "{asker}");
        assert!(!existing.to_string().contains("Isar"), "no placement: {existing}");
    }
    // whoCanAccess about a HIDDEN unit the caller does not see: as for a missing unit.
    let hidden = unit(&conn, "Stamm Regnitz").await;
    let token = server.token("useradmin").await;
    let q = "query($u: ID!) { whoCanAccess(orgUnitId: $u, permission: MEMBER_READ) { username } }";
    let (_, existing) = server.gql_as(&token, q, json!({ "u": gid("OrgUnit", hidden.id) })).await;
    let (_, missing) = server.gql_as(&token, q, json!({ "u": gid("OrgUnit", 99_999_999) })).await;
    assert_eq!(error_code(&existing), Some("NOT_FOUND"), "{existing}");
    assert_eq!(existing["errors"][0]["message"], missing["errors"][0]["message"]);
}

const UPDATE_GROUP: &str = "mutation($id: ID!, $p: [Permission!]!) {
  updatePermissionGroup(id: $id, input: { permissions: $p }) { key permissions } }";

#[tokio::test]
async fn r10_a_catalogue_manager_cannot_add_a_permission_where_they_do_not_hold_it() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    // ssm.isar, treasurer at Stamm Isar, is also given catalogue_admin.
    let ssm = user_named(&conn, "ssm.isar").await;
    let mut u: user::ActiveModel = ssm.clone().into();
    u.level = Set(3);
    u.update(&conn).await.expect("level");
    user_system_group::ActiveModel {
        user_id: Set(ssm.id),
        permission_group_id: Set(group(&conn, "catalogue_admin").await.id),
    }
    .insert(&conn)
    .await
    .expect("catalogue_admin");
    let server = TestServer::start(db).await;
    let token = server.token("ssm.isar").await;
    let treasurer = group(&conn, "treasurer").await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);

    // Adding member.write to the group of their own office.
    let vars = json!({ "id": gid("PermissionGroup", treasurer.id),
        "p": ["MEMBER_READ", "BANK_READ", "PAYMENT_READ", "MEMBER_WRITE"] });
    let (_, body) = server.gql_as(&token, UPDATE_GROUP, vars.clone()).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let ext = &body["errors"][0]["extensions"];
    assert_eq!(ext["permission"], "member.write", "{body}");
    // The unit named is one where the group grants now: an office with it as level
    // or tree group, effective today or starting later.
    let uses: BTreeSet<String> = assignment::Entity::find()
        .filter(assignment::Column::Status.eq(AssignmentStatus::Active))
        .all(&conn)
        .await
        .expect("q")
        .into_iter()
        .filter(|a| a.ends_on.is_none_or(|e| e >= today()))
        .filter(|a| a.level_group_id == Some(treasurer.id) || a.tree_group_id == Some(treasurer.id))
        .map(|a| gid("OrgUnit", a.org_unit_id))
        .collect();
    assert!(uses.contains(ext["unit"].as_str().expect("unit")), "{ext} in {uses:?}");
    assert!(body["errors"][0]["message"].as_str().expect("message").contains("(R10)"));
    // Nothing changed: the group, and what the treasurer may do.
    let after = group(&conn, "treasurer").await;
    assert_eq!(after.updated_at, treasurer.updated_at);
    let rename = "mutation($m: ID!) { updateMember(id: $m, input: { lastName: \"Anders\" }) { lastName } }";
    let (_, body) = server.gql_as(&token, rename, json!({ "m": gid("Member", member.id) })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let explain = "query($m: ID!) { explainAccess(memberId: $m, permission: MEMBER_WRITE) { granted } }";
    let (_, body) = server.gql_as(&token, explain, json!({ "m": gid("Member", member.id) })).await;
    assert_eq!(ok(&body)["explainAccess"]["granted"], false);

    // Removing is never escalation.
    let fewer = json!({ "id": gid("PermissionGroup", treasurer.id), "p": ["MEMBER_READ", "BANK_READ"] });
    let (_, body) = server.gql_as(&token, UPDATE_GROUP, fewer).await;
    ok(&body);
    // A group nobody holds grants nothing yet: anything of its kind may be added.
    let unused = new_group(&conn, "noch_ungenutzt", &["member.read"]).await;
    let more = json!({ "id": gid("PermissionGroup", unused.id), "p": ["MEMBER_READ", "MEMBER_WRITE"] });
    let (_, body) = server.gql_as(&token, UPDATE_GROUP, more).await;
    ok(&body);

    // A group someone holds as global tree group grants at every unit.
    let global = new_group(&conn, "ueberall_lesen", &["member.read"]).await;
    let mut holder: user::ActiveModel = user_named(&conn, "sf.pegnitz").await.into();
    holder.global_tree_group_id = Set(Some(global.id));
    holder.update(&conn).await.expect("global");
    let (_, body) = server
        .gql_as(
            &token,
            UPDATE_GROUP,
            json!({ "id": gid("PermissionGroup", global.id), "p": ["MEMBER_READ", "BANK_READ"] }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["permission"], "bank.read");
    let root = unit(&conn, "Jugendbund Deutschland").await;
    assert_eq!(body["errors"][0]["extensions"]["unit"], json!(gid("OrgUnit", root.id)));

    // The administrator holds every member permission everywhere: allowed.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, UPDATE_GROUP, vars).await;
    ok(&body);
}

#[tokio::test]
async fn r10_user_manage_alone_cannot_hand_out_a_global_tree_group() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let target = user_named(&conn, "ssm.isar").await;
    let federation_admin = group(&conn, "federation_admin").await;
    let q = "mutation($u: ID!, $g: ID) { setGlobalTreeGroup(userId: $u, groupId: $g) { id } }";
    let vars = json!({ "u": gid("User", target.id), "g": gid("PermissionGroup", federation_admin.id) });
    // The demo's user administrator: user.manage, and no member permission anywhere.
    let useradmin = server.token("useradmin").await;
    let (_, body) = server.gql_as(&useradmin, q, vars.clone()).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let root = unit(&conn, "Jugendbund Deutschland").await;
    assert_eq!(body["errors"][0]["extensions"]["unit"], json!(gid("OrgUnit", root.id)));
    assert!(body["errors"][0]["extensions"]["permission"].is_string());
    assert_eq!(user_named(&conn, "ssm.isar").await.global_tree_group_id, None, "nothing changed");
    // Nor for themself (a system user would hold nothing through it anyway, R6).
    let own = user_named(&conn, "useradmin").await;
    let mine = json!({ "u": gid("User", own.id), "g": gid("PermissionGroup", federation_admin.id) });
    let (_, body) = server.gql_as(&useradmin, q, mine).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    // Who holds every member permission everywhere may.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, q, vars).await;
    ok(&body);
}

const CREATE: &str = "mutation($u: ID!) { createMember(input: { homeUnitId: $u, firstName: \"Neu\", lastName: \"Mitglied\" }) { id homeUnit { name } } }";
const MOVE: &str =
    "mutation($m: ID!, $u: ID!) { updateMember(id: $m, input: { homeUnitId: $u }) { homeUnit { name } } }";

#[tokio::test]
async fn r13_r14_member_administrators_of_a_hidden_unit_see_it_and_write_there() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let member_admin = group(&conn, "member_admin").await.id;
    // sf.pegnitz becomes Mitgliederverwalter of the HIDDEN Stamm Regnitz and of
    // his own Stamm Pegnitz.
    give_office(&conn, "sf.pegnitz", "Stamm Regnitz", member_admin).await;
    give_office(&conn, "sf.pegnitz", "Stamm Pegnitz", member_admin).await;
    // lv.niedersachsen may create members at the RESTRICTED Stamm Donaumoos (in
    // Bayern), and nothing else there: the unit stays invisible to him (R14), the
    // write is his (R13).
    let creator = new_group(&conn, "nur_anlegen", &["member.create"]).await;
    give_office(&conn, "lv.niedersachsen", "Stamm Donaumoos", creator.id).await;
    let server = TestServer::start(db).await;
    let regnitz = unit(&conn, "Stamm Regnitz").await;
    let token = server.token("sf.pegnitz").await;

    // R14: visible to those who administer it.
    let q = "query($u: ID!) { orgUnit(id: $u) { name } }";
    let (_, body) = server.gql_as(&token, q, json!({ "u": gid("OrgUnit", regnitz.id) })).await;
    assert_eq!(ok(&body)["orgUnit"]["name"], "Stamm Regnitz");
    let (_, body) = server.gql_as(&token, CREATE, json!({ "u": gid("OrgUnit", regnitz.id) })).await;
    assert_eq!(ok(&body)["createMember"]["homeUnit"]["name"], "Stamm Regnitz");
    let moving = members_without_login(&conn, "Stamm Pegnitz").await.remove(0);
    let (_, body) = server
        .gql_as(&token, MOVE, json!({ "m": gid("Member", moving.id), "u": gid("OrgUnit", regnitz.id) }))
        .await;
    assert_eq!(ok(&body)["updateMember"]["homeUnit"]["name"], "Stamm Regnitz");

    // R13 decides, R14 never refuses: member.create at a RESTRICTED unit the
    // caller cannot see.
    let donaumoos = unit(&conn, "Stamm Donaumoos").await;
    let lv = server.token("lv.niedersachsen").await;
    let (_, body) = server.gql_as(&lv, q, json!({ "u": gid("OrgUnit", donaumoos.id) })).await;
    assert!(ok(&body)["orgUnit"].is_null(), "RESTRICTED: not visible without member.read");
    let (_, body) = server.gql_as(&lv, CREATE, json!({ "u": gid("OrgUnit", donaumoos.id) })).await;
    assert!(ok(&body)["createMember"].is_null(), "created, and not readable for its creator: {body}");
    let created = member::Entity::find()
        .filter(member::Column::HomeUnitId.eq(donaumoos.id))
        .filter(member::Column::LastName.eq("Mitglied"))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(created, 1);

    // Without the right, the unit does not exist for the write, like a missing one.
    let ssm = server.token("ssm.isar").await;
    let (_, hidden) = server.gql_as(&ssm, CREATE, json!({ "u": gid("OrgUnit", regnitz.id) })).await;
    let (_, missing) = server.gql_as(&ssm, CREATE, json!({ "u": gid("OrgUnit", 99_999_999) })).await;
    assert_eq!((error_code(&hidden), error_field(&hidden)), (Some("BAD_USER_INPUT"), Some("homeUnitId")));
    assert_eq!(hidden["errors"][0]["message"], missing["errors"][0]["message"]);
}

#[tokio::test]
async fn r15_fields_and_viewer_permissions_agree_for_a_member_seen_through_a_transfer() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    // sf.pegnitz: member_admin at Stamm Pegnitz (the destination) and finance
    // (payment.read, payment.write) at Stamm Isar (the home unit), no member.read
    // there.
    give_office(&conn, "sf.pegnitz", "Stamm Pegnitz", group(&conn, "member_admin").await.id).await;
    give_office(&conn, "sf.pegnitz", "Stamm Isar", group(&conn, "finance").await.id).await;
    let member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let isar = unit(&conn, "Stamm Isar").await;
    let pegnitz = unit(&conn, "Stamm Pegnitz").await;
    let server = TestServer::start(db).await;
    let token = server.token("sf.pegnitz").await;
    let q = "query($m: ID!) { member(id: $m) { lastName bankAccount { iban } sepaMandates { reference }
        payments { amountCents } viewerPermissions } }";
    let vars = json!({ "m": gid("Member", member.id) });
    let (_, body) = server.gql_as(&token, q, vars.clone()).await;
    assert!(ok(&body)["member"].is_null(), "no member.read at Isar and no transfer yet: {body}");

    transfer::ActiveModel {
        member_id: Set(member.id),
        from_unit_id: Set(isar.id),
        to_unit_id: Set(pegnitz.id),
        status: Set(TransferStatus::Pending),
        reason: Set(None),
        requested_by: Set(None),
        decided_by: Set(None),
        requested_at: Set(Utc::now()),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("transfer");
    let (_, body) = server.gql_as(&token, q, vars).await;
    let m = &ok(&body)["member"];
    assert!(m["lastName"].is_string(), "R15: the destination reads the member: {body}");
    let perms: BTreeSet<&str> =
        m["viewerPermissions"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
    assert!(perms.contains("MEMBER_READ") && perms.contains("PAYMENT_READ"), "{perms:?}");
    assert!(!perms.contains("BANK_READ"), "{perms:?}");
    // R12 from what is held at the home unit: payments yes, bank data no.
    assert!(m["payments"].is_array(), "payment.read at the home unit: {body}");
    assert!(m["bankAccount"].is_null() && m["sepaMandates"].is_null());
    let listed = redacted(&body);
    assert_eq!(
        listed,
        vec![
            ("member/bankAccount".into(), "bank.read".into()),
            ("member/sepaMandates".into(), "bank.read".into())
        ]
    );
}
