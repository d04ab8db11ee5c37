//! Admissions and transfers (docs/workflows.md) over HTTP as the demo personas,
//! on the fixed day 2026-03-15. Expectations come from the rules and the groups of
//! docs/catalogue.md: mv.hessen holds admission.approve and member.write in Hessen
//! but not admission.approve_adult; lv.niedersachsen holds admission.approve_adult
//! but neither admission.approve nor member.write; lsm.bayern reads Bayern without
//! member.write; admin holds everything everywhere.
use crate::common::{TestServer, error_code, error_field, gid, members_without_login, raw_id, unit};
use entity::{
    AdmissionStatus, MemberStatus, TransferStatus, admission, audit_event, counter, member, transfer,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::{Value, json};

async fn counter_value(conn: &DatabaseConnection) -> i64 {
    counter::Entity::find_by_id(counter::MEMBERSHIP_NUMBER)
        .one(conn)
        .await
        .expect("q")
        .expect("counter")
        .value
}

async fn audits(conn: &DatabaseConnection, action: &str, entity: &str, id: i64) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .filter(audit_event::Column::Entity.eq(entity))
        .filter(audit_event::Column::EntityId.eq(id.to_string()))
        .all(conn)
        .await
        .expect("audit")
}

const APPLY: &str =
    "mutation($input: ApplyForMembershipInput!) { applyForMembership(input: $input) { admissionId status } }";

fn application(unit_id: i64, birth_date: &str) -> Value {
    json!({ "input": {
        "orgUnitId": gid("OrgUnit", unit_id), "firstName": "Lena", "lastName": "Antragstellerin",
        "birthDate": birth_date, "gender": "f", "email": "lena@example.org", "phone": "+49 661 1234",
        "address": { "street": "Am Markt 1", "postalCode": "36037", "city": "Fulda", "country": "de" } } })
}

/// Files an application anonymously; returns the admission's raw id.
async fn apply_anonymously(server: &TestServer, unit_id: i64, birth_date: &str) -> i64 {
    let body = server.gql(APPLY, application(unit_id, birth_date)).await;
    assert_eq!(body["data"]["applyForMembership"]["status"], "PENDING", "{body}");
    raw_id(&body["data"]["applyForMembership"]["admissionId"])
}

const APPROVE: &str = "mutation($id: ID!) { approveAdmission(id: $id) { id membershipNumber lastName status joinedOn homeUnit { name } } }";
const REJECT: &str = "mutation($id: ID!, $reason: String!) { rejectAdmission(id: $id, reason: $reason) { status reason decidedAt } }";
const ADMISSION: &str =
    "query($id: ID!) { admission(id: $id) { id lastName status adult viewerMayApprove reason
  member { membershipNumber } orgUnit { name } address { city country } } }";

async fn stored_admission(conn: &DatabaseConnection, id: i64) -> admission::Model {
    admission::Entity::find_by_id(id).one(conn).await.expect("q").expect("admission")
}

// ---------------------------------------------------------------------------
// Admissions

#[tokio::test]
async fn r14_anonymous_applicants_apply_to_public_units_and_others_are_no_such_unit() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    let id = apply_anonymously(&server, fulda.id, "2010-05-01").await;
    let stored = stored_admission(&conn, id).await;
    assert_eq!(stored.status, AdmissionStatus::Pending);
    assert_eq!(stored.created_by, None, "anonymous");
    assert_eq!(stored.country.as_deref(), Some("DE"), "normalised");
    assert_eq!(audits(&conn, "admission.apply", "admission", id).await.len(), 1);

    // INTERNAL: not visible to anonymous callers, the same answer as a missing unit.
    let lahn = unit(&conn, "Stamm Lahn").await;
    let before = admission::Entity::find().count(&conn).await.expect("count");
    for unit_id in [lahn.id, 999_999] {
        let body = server.gql(APPLY, application(unit_id, "2010-05-01")).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(error_field(&body), Some("orgUnitId"));
        assert!(body["errors"][0]["message"].as_str().unwrap_or("").contains("no such unit"), "{body}");
    }

    // Signed in, INTERNAL units are visible: created_by records who filed it.
    let token = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&token, APPLY, application(lahn.id, "2010-05-01")).await;
    let filed = raw_id(&body["data"]["applyForMembership"]["admissionId"]);
    assert_eq!(stored_admission(&conn, filed).await.created_by, Some(server.user("mv.hessen").await.id));

    // ARCHIVED (R14): visible but read-only.
    let nidda = unit(&conn, "Stamm Nidda").await;
    let (_, body) = server.gql_as(&token, APPLY, application(nidda.id, "2010-05-01")).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // Input is checked, naming the field.
    for (field, value, expected) in [
        ("birthDate", json!("2026-03-16"), "birthDate"),
        ("firstName", json!("  "), "firstName"),
        ("lastName", json!(""), "lastName"),
        ("email", json!("lena.example.org"), "email"),
    ] {
        let mut vars = application(fulda.id, "2010-05-01");
        vars["input"][field] = value;
        let body = server.gql(APPLY, vars).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{field}: {body}");
        assert_eq!(error_field(&body), Some(expected), "{body}");
    }
    let mut vars = application(fulda.id, "2010-05-01");
    vars["input"]["address"]["country"] = json!("Deutschland");
    let body = server.gql(APPLY, vars).await;
    assert_eq!(error_field(&body), Some("address.country"), "{body}");
    assert_eq!(
        admission::Entity::find().count(&conn).await.expect("count"),
        before + 1,
        "only the signed-in application to Stamm Lahn was added"
    );
}

#[tokio::test]
async fn approving_a_minor_creates_the_member_with_the_next_number_atomically_and_audited() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    // 17 today: 18 only tomorrow.
    let id = apply_anonymously(&server, fulda.id, "2008-03-16").await;
    let token = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&token, ADMISSION, json!({ "id": gid("Admission", id) })).await;
    let seen = &body["data"]["admission"];
    assert_eq!(seen["adult"], false, "{body}");
    assert_eq!(seen["viewerMayApprove"], true);
    assert_eq!(seen["orgUnit"]["name"], "Stamm Fulda");
    assert_eq!(seen["member"], Value::Null, "not approved yet");

    let number_before = counter_value(&conn).await;
    let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
    let created = &body["data"]["approveAdmission"];
    assert_eq!(created["membershipNumber"], json!((number_before + 1).to_string()), "{body}");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["joinedOn"], "2026-03-15");
    assert_eq!(created["homeUnit"]["name"], "Stamm Fulda");
    assert_eq!(counter_value(&conn).await, number_before + 1, "the counter moved by exactly one");

    let member_id = raw_id(&created["id"]);
    let m = member::Entity::find_by_id(member_id).one(&conn).await.expect("q").expect("member");
    assert_eq!((m.home_unit_id, m.last_name.as_str()), (fulda.id, "Antragstellerin"));
    assert_eq!(m.email.as_deref(), Some("lena@example.org"), "contact data from the application");
    assert_eq!(m.city.as_deref(), Some("Fulda"));
    let mv = server.user("mv.hessen").await.id;
    let stored = stored_admission(&conn, id).await;
    assert_eq!(stored.status, AdmissionStatus::Approved);
    assert_eq!((stored.member_id, stored.decided_by), (Some(member_id), Some(mv)));
    assert!(stored.decided_at.is_some());
    let approve = audits(&conn, "admission.approve", "admission", id).await;
    assert_eq!(approve.len(), 1);
    assert_eq!(approve[0].actor_user_id, Some(mv));
    assert_eq!(audits(&conn, "member.create", "member", member_id).await.len(), 1);

    // The admission now points to its member.
    let (_, body) = server.gql_as(&token, ADMISSION, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(body["data"]["admission"]["status"], "APPROVED");
    assert_eq!(body["data"]["admission"]["member"]["membershipNumber"], created["membershipNumber"]);
    assert_eq!(body["data"]["admission"]["viewerMayApprove"], false);

    // A second approval: CONFLICT, and nothing else is written.
    let members_before = member::Entity::find().count(&conn).await.expect("count");
    let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(counter_value(&conn).await, number_before + 1);
    assert_eq!(member::Entity::find().count(&conn).await.expect("count"), members_before);
}

#[tokio::test]
async fn an_applicant_of_18_needs_admission_approve_adult_as_well() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    // 18 exactly today.
    let id = apply_anonymously(&server, fulda.id, "2008-03-15").await;
    let token = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&token, ADMISSION, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(body["data"]["admission"]["adult"], true, "{body}");
    assert_eq!(body["data"]["admission"]["viewerMayApprove"], false);

    let number_before = counter_value(&conn).await;
    let members_before = member::Entity::find().count(&conn).await.expect("count");
    let audits_before = audit_event::Entity::find().count(&conn).await.expect("count");
    let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap_or("").contains("admission.approve_adult"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["permission"], "admission.approve_adult");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(stored_admission(&conn, id).await.status, AdmissionStatus::Pending, "nothing written");
    assert_eq!(counter_value(&conn).await, number_before);
    assert_eq!(member::Entity::find().count(&conn).await.expect("count"), members_before);
    assert_eq!(audit_event::Entity::find().count(&conn).await.expect("count"), audits_before);

    // admin holds both.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, APPROVE, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(
        body["data"]["approveAdmission"]["membershipNumber"],
        json!((number_before + 1).to_string()),
        "{body}"
    );
    assert_eq!(stored_admission(&conn, id).await.status, AdmissionStatus::Approved);
}

#[tokio::test]
async fn admission_approve_adult_alone_does_not_approve_or_reject() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let leine = unit(&conn, "Stamm Leine").await;
    let adult = apply_anonymously(&server, leine.id, "1990-01-01").await;
    let minor = apply_anonymously(&server, leine.id, "2012-01-01").await;
    let token = server.token("lv.niedersachsen").await;
    // The board sees the applications it has a say in…
    let (_, body) = server
        .gql_as(&token, "{ admissions { totalCount nodes { adult viewerMayApprove } } }", json!({}))
        .await;
    assert_eq!(body["data"]["admissions"]["totalCount"], 2, "{body}");
    assert!(
        body["data"]["admissions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["viewerMayApprove"] == false)
    );
    // …but approving needs admission.approve in any case.
    for id in [adult, minor] {
        let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["permission"], "admission.approve", "{body}");
        let (_, body) =
            server.gql_as(&token, REJECT, json!({ "id": gid("Admission", id), "reason": "nein" })).await;
        assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
        assert_eq!(stored_admission(&conn, id).await.status, AdmissionStatus::Pending);
    }
}

#[tokio::test]
async fn rejecting_an_admission_needs_a_reason_and_ends_it() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    let id = apply_anonymously(&server, fulda.id, "2012-06-01").await;
    let token = server.token("mv.hessen").await;
    let (_, body) =
        server.gql_as(&token, REJECT, json!({ "id": gid("Admission", id), "reason": "   " })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("reason"));
    assert_eq!(stored_admission(&conn, id).await.status, AdmissionStatus::Pending);

    let (_, body) = server
        .gql_as(&token, REJECT, json!({ "id": gid("Admission", id), "reason": "Gruppe ist voll" }))
        .await;
    assert_eq!(body["data"]["rejectAdmission"]["status"], "REJECTED", "{body}");
    assert_eq!(body["data"]["rejectAdmission"]["reason"], "Gruppe ist voll");
    let stored = stored_admission(&conn, id).await;
    assert_eq!((stored.status, stored.member_id), (AdmissionStatus::Rejected, None));
    assert_eq!(audits(&conn, "admission.reject", "admission", id).await.len(), 1);

    let number_before = counter_value(&conn).await;
    let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "a rejected application stays rejected: {body}");
    assert_eq!(counter_value(&conn).await, number_before);
}

#[tokio::test]
async fn of_two_concurrent_approvals_exactly_one_wins() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    let id = apply_anonymously(&server, fulda.id, "2012-06-01").await;
    let token = server.token("mv.hessen").await;
    let number_before = counter_value(&conn).await;
    let vars = json!({ "id": gid("Admission", id) });
    let (a, b) = tokio::join!(
        server.gql_as(&token, APPROVE, vars.clone()),
        server.gql_as(&token, APPROVE, vars.clone())
    );
    let codes: Vec<Option<&str>> = vec![error_code(&a.1), error_code(&b.1)];
    assert!(codes.contains(&None) && codes.contains(&Some("CONFLICT")), "{a:?} {b:?}");
    assert_eq!(counter_value(&conn).await, number_before + 1);
    let created =
        member::Entity::find().filter(member::Column::LastName.eq("Antragstellerin")).count(&conn).await;
    assert_eq!(created.expect("count"), 1);
}

#[tokio::test]
async fn applicants_data_is_seen_only_by_the_units_officers() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let fulda = unit(&conn, "Stamm Fulda").await;
    let hessen = unit(&conn, "Landesverband Hessen").await;
    let id = apply_anonymously(&server, fulda.id, "2012-06-01").await;
    let list = "query($unit: ID, $sub: Boolean! = false) { admissions(orgUnitId: $unit, includeDescendants: $sub, status: PENDING) {
      totalCount edges { cursor node { id lastName } } } }";

    let mv = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&mv, list, json!({ "unit": gid("OrgUnit", hessen.id), "sub": true })).await;
    assert_eq!(body["data"]["admissions"]["totalCount"], 1, "{body}");
    assert_eq!(body["data"]["admissions"]["edges"][0]["node"]["lastName"], "Antragstellerin");
    let (_, body) =
        server.gql_as(&mv, list, json!({ "unit": gid("OrgUnit", hessen.id), "sub": false })).await;
    assert_eq!(body["data"]["admissions"]["totalCount"], 0, "not at the Land itself: {body}");

    for persona in ["lsm.bayern", "sf.pegnitz", "lv.niedersachsen"] {
        let token = server.token(persona).await;
        let (_, body) = server.gql_as(&token, list, json!({})).await;
        assert_eq!(body["data"]["admissions"]["totalCount"], 0, "{persona}: {body}");
        assert_eq!(body["data"]["admissions"]["edges"], json!([]));
        let (_, body) = server.gql_as(&token, ADMISSION, json!({ "id": gid("Admission", id) })).await;
        assert_eq!(body["data"]["admission"], Value::Null, "{persona}: {body}");
        let (_, body) = server
            .gql_as(&token, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": gid("Admission", id) }))
            .await;
        assert_eq!(body["data"]["node"], Value::Null, "{persona}: {body}");
        let (_, body) = server.gql_as(&token, APPROVE, json!({ "id": gid("Admission", id) })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{persona}: {body}");
        let (_, body) =
            server.gql_as(&token, REJECT, json!({ "id": gid("Admission", id), "reason": "x" })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{persona}: {body}");
    }
    // Anonymous callers see none, and cannot decide.
    let body = server.gql(list, json!({})).await;
    assert_eq!(body["data"]["admissions"]["totalCount"], 0, "{body}");
    let body = server.gql(APPROVE, json!({ "id": gid("Admission", id) })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert_eq!(stored_admission(&conn, id).await.status, AdmissionStatus::Pending);
}

// ---------------------------------------------------------------------------
// Transfers

const REQUEST: &str = "mutation($m: ID!, $to: ID!, $reason: String) { requestTransfer(memberId: $m, toUnitId: $to, reason: $reason) {
  id status reason fromUnit { name } toUnit { name } member { lastName } } }";
const ACCEPT: &str =
    "mutation($id: ID!) { acceptTransfer(id: $id) { status decidedAt member { homeUnit { name } } } }";
const REJECT_TRANSFER: &str =
    "mutation($id: ID!, $reason: String!) { rejectTransfer(id: $id, reason: $reason) { status reason } }";
const CANCEL: &str = "mutation($id: ID!) { cancelTransfer(id: $id) { status } }";
const MEMBER: &str =
    "query($id: ID!) { member(id: $id) { lastName bankAccount { iban } homeUnit { name } } }";

async fn stored_member(conn: &DatabaseConnection, id: i64) -> member::Model {
    member::Entity::find_by_id(id).one(conn).await.expect("q").expect("member")
}

async fn stored_transfer(conn: &DatabaseConnection, id: i64) -> transfer::Model {
    transfer::Entity::find_by_id(id).one(conn).await.expect("q").expect("transfer")
}

#[tokio::test]
async fn a_transfer_requested_at_the_source_is_accepted_at_the_destination_and_moves_the_member() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let moving = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let fulda = unit(&conn, "Stamm Fulda").await;
    let mv = server.token("mv.hessen").await;
    let lsm = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&mv, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"], Value::Null, "not hers before the request: {body}");

    // No Bayern persona holds member.write: admin requests at the source.
    let admin = server.token("admin").await;
    let (_, body) = server
        .gql_as(
            &admin,
            REQUEST,
            json!({ "m": gid("Member", moving.id), "to": gid("OrgUnit", fulda.id), "reason": "Umzug" }),
        )
        .await;
    let requested = &body["data"]["requestTransfer"];
    assert_eq!(requested["status"], "PENDING", "{body}");
    assert_eq!(
        (requested["fromUnit"]["name"].as_str(), requested["toUnit"]["name"].as_str()),
        (Some("Stamm Isar"), Some("Stamm Fulda"))
    );
    let id = raw_id(&requested["id"]);
    assert_eq!(audits(&conn, "transfer.request", "transfer", id).await.len(), 1);
    assert_eq!(
        stored_member(&conn, moving.id).await.home_unit_id,
        moving.home_unit_id,
        "pending: not moved yet"
    );

    // R15: the destination reads the member, but no bank data.
    let (_, body) = server.gql_as(&mv, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"]["lastName"], json!(moving.last_name), "{body}");
    assert_eq!(body["data"]["member"]["bankAccount"], Value::Null, "R15: no bank data");
    let incoming = "{ transfers(direction: INCOMING, status: PENDING) { totalCount nodes { id viewerMayDecide viewerMayCancel member { lastName } } } }";
    let (_, body) = server.gql_as(&mv, incoming, json!({})).await;
    assert_eq!(body["data"]["transfers"]["totalCount"], 1, "{body}");
    let node = &body["data"]["transfers"]["nodes"][0];
    assert_eq!(
        (node["viewerMayDecide"].as_bool(), node["viewerMayCancel"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(node["member"]["lastName"], json!(moving.last_name));
    let (_, body) = server.gql_as(&mv, "{ transfers(direction: OUTGOING) { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["transfers"]["totalCount"], 0, "{body}");

    // Without member.write at the destination: the transfer does not exist for
    // them (no member.write at either end), and nothing moves.
    for persona in ["lv.niedersachsen", "lsm.bayern"] {
        let token = server.token(persona).await;
        let (_, body) = server.gql_as(&token, ACCEPT, json!({ "id": gid("Transfer", id) })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{persona}: {body}");
        let (_, body) = server.gql_as(&token, "{ transfers { totalCount } }", json!({})).await;
        assert_eq!(body["data"]["transfers"]["totalCount"], 0, "{persona}: {body}");
    }
    assert_eq!(stored_member(&conn, moving.id).await.home_unit_id, moving.home_unit_id, "refused: not moved");
    assert_eq!(stored_transfer(&conn, id).await.status, TransferStatus::Pending);

    let (_, body) = server.gql_as(&mv, ACCEPT, json!({ "id": gid("Transfer", id) })).await;
    assert_eq!(body["data"]["acceptTransfer"]["status"], "ACCEPTED", "{body}");
    assert_eq!(body["data"]["acceptTransfer"]["member"]["homeUnit"]["name"], "Stamm Fulda");
    let mv_id = server.user("mv.hessen").await.id;
    let moved = stored_member(&conn, moving.id).await;
    assert_eq!((moved.home_unit_id, moved.updated_by), (fulda.id, Some(mv_id)));
    let stored = stored_transfer(&conn, id).await;
    assert_eq!((stored.status, stored.decided_by), (TransferStatus::Accepted, Some(mv_id)));
    assert_eq!(audits(&conn, "member.transfer", "member", moving.id).await.len(), 1);
    assert_eq!(audits(&conn, "transfer.accept", "transfer", id).await.len(), 1);

    // Hers now, with bank data (bank.read in Hessen); Bayern no longer sees it.
    let (_, body) = server.gql_as(&mv, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"]["homeUnit"]["name"], "Stamm Fulda", "{body}");
    assert!(body["extensions"]["redacted"].is_null(), "bank data no longer withheld: {body}");
    let (_, body) = server.gql_as(&lsm, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"], Value::Null, "{body}");

    let (_, body) = server.gql_as(&mv, ACCEPT, json!({ "id": gid("Transfer", id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "decided once: {body}");
}

#[tokio::test]
async fn transfer_requests_are_refused_without_rights_or_with_a_bad_destination() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let mv = server.token("mv.hessen").await;
    let isar_member = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let fulda_member = members_without_login(&conn, "Stamm Fulda").await.remove(0);
    let fulda = unit(&conn, "Stamm Fulda").await;
    let isar = unit(&conn, "Stamm Isar").await;
    let leine = unit(&conn, "Stamm Leine").await;
    let ilmenau = unit(&conn, "Stamm Ilmenau").await;
    let nidda = unit(&conn, "Stamm Nidda").await;
    let request = |token: String, m: i64, to: i64| {
        let server = &server;
        async move {
            server.gql_as(&token, REQUEST, json!({ "m": gid("Member", m), "to": gid("OrgUnit", to) })).await.1
        }
    };

    // A member outside Hessen does not exist for her (R11).
    let body = request(mv.clone(), isar_member.id, fulda.id).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    // Reading is not writing: lv.niedersachsen holds member.read only.
    let lv = server.token("lv.niedersachsen").await;
    let leine_member = members_without_login(&conn, "Stamm Leine").await.remove(0);
    let body = request(lv, leine_member.id, fulda.id).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    // The destination: not the home unit, visible (HIDDEN Stamm Ilmenau is not to
    // her), not archived.
    let body = request(mv.clone(), fulda_member.id, fulda.id).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("toUnitId")), "{body}");
    let body = request(mv.clone(), fulda_member.id, ilmenau.id).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("toUnitId")), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or("").contains("no such unit"), "{body}");
    let body = request(mv.clone(), fulda_member.id, nidda.id).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "archived: {body}");
    assert_eq!(transfer::Entity::find().count(&conn).await.expect("count"), 0, "nothing written");

    // One pending transfer per member.
    let body = request(mv.clone(), fulda_member.id, isar.id).await;
    assert_eq!(body["data"]["requestTransfer"]["status"], "PENDING", "{body}");
    let first = raw_id(&body["data"]["requestTransfer"]["id"]);
    let body = request(mv.clone(), fulda_member.id, leine.id).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // The source cannot accept its own request (no member.write at Stamm Isar).
    let (_, body) = server.gql_as(&mv, ACCEPT, json!({ "id": gid("Transfer", first) })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["permission"], "member.write", "{body}");
    let (_, body) =
        server.gql_as(&mv, REJECT_TRANSFER, json!({ "id": gid("Transfer", first), "reason": "x" })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(stored_member(&conn, fulda_member.id).await.home_unit_id, fulda.id, "not moved");

    // …but may cancel it; then a new request is possible.
    let (_, body) = server.gql_as(&mv, CANCEL, json!({ "id": gid("Transfer", first) })).await;
    assert_eq!(body["data"]["cancelTransfer"]["status"], "CANCELLED", "{body}");
    assert_eq!(audits(&conn, "transfer.cancel", "transfer", first).await.len(), 1);
    let body = request(mv.clone(), fulda_member.id, isar.id).await;
    let second = raw_id(&body["data"]["requestTransfer"]["id"]);

    // The destination rejects, with a reason.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, CANCEL, json!({ "id": gid("Transfer", second) })).await;
    assert!(body["errors"].is_null(), "admin holds member.write at the source too: {body}");
    let body = request(mv.clone(), fulda_member.id, isar.id).await;
    let third = raw_id(&body["data"]["requestTransfer"]["id"]);
    let (_, body) =
        server.gql_as(&admin, REJECT_TRANSFER, json!({ "id": gid("Transfer", third), "reason": " " })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("reason")), "{body}");
    let (_, body) = server
        .gql_as(&admin, REJECT_TRANSFER, json!({ "id": gid("Transfer", third), "reason": "Stamm ist voll" }))
        .await;
    assert_eq!(body["data"]["rejectTransfer"]["status"], "REJECTED", "{body}");
    assert_eq!(body["data"]["rejectTransfer"]["reason"], "Stamm ist voll");
    assert_eq!(stored_member(&conn, fulda_member.id).await.home_unit_id, fulda.id, "rejected: not moved");
    let (_, body) = server.gql_as(&admin, CANCEL, json!({ "id": gid("Transfer", third) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    let (_, body) = server
        .gql_as(&mv, "{ transfers(direction: OUTGOING) { totalCount nodes { status } } }", json!({}))
        .await;
    assert_eq!(body["data"]["transfers"]["totalCount"], 3, "{body}");
}

#[tokio::test]
async fn r15_ends_with_the_transfer_and_a_left_member_is_not_transferred() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let mv = server.token("mv.hessen").await;
    let moving = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let fulda = unit(&conn, "Stamm Fulda").await;
    let (_, body) = server
        .gql_as(&admin, REQUEST, json!({ "m": gid("Member", moving.id), "to": gid("OrgUnit", fulda.id) }))
        .await;
    let id = raw_id(&body["data"]["requestTransfer"]["id"]);
    let (_, body) = server.gql_as(&mv, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"]["lastName"], json!(moving.last_name), "{body}");
    let (_, body) = server
        .gql_as(&mv, REJECT_TRANSFER, json!({ "id": gid("Transfer", id), "reason": "kein Platz" }))
        .await;
    assert_eq!(body["data"]["rejectTransfer"]["status"], "REJECTED", "{body}");
    let (_, body) = server.gql_as(&mv, MEMBER, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"], Value::Null, "R15 only while pending: {body}");
    let (_, body) = server
        .gql_as(
            &mv,
            "query($id: ID!) { transfer(id: $id) { status member { lastName } } }",
            json!({ "id": gid("Transfer", id) }),
        )
        .await;
    assert_eq!(body["data"]["transfer"]["status"], "REJECTED", "{body}");
    assert_eq!(body["data"]["transfer"]["member"], Value::Null);

    let mut left = stored_member(&conn, moving.id).await.into_active_model();
    left.status = Set(MemberStatus::Left);
    left.update(&conn).await.expect("left");
    let (_, body) = server
        .gql_as(&admin, REQUEST, json!({ "m": gid("Member", moving.id), "to": gid("OrgUnit", fulda.id) }))
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
}

#[tokio::test]
async fn of_two_concurrent_transfer_requests_for_one_member_exactly_one_is_pending() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let mv = server.token("mv.hessen").await;
    let moving = members_without_login(&conn, "Stamm Fulda").await.remove(0);
    let isar = unit(&conn, "Stamm Isar").await;
    let leine = unit(&conn, "Stamm Leine").await;
    let vars = |to: i64| json!({ "m": gid("Member", moving.id), "to": gid("OrgUnit", to) });
    let (a, b) =
        tokio::join!(server.gql_as(&mv, REQUEST, vars(isar.id)), server.gql_as(&mv, REQUEST, vars(leine.id)));
    let codes = [error_code(&a.1), error_code(&b.1)];
    assert!(codes.contains(&None) && codes.contains(&Some("CONFLICT")), "{a:?} {b:?}");
    let pending = transfer::Entity::find()
        .filter(transfer::Column::MemberId.eq(moving.id))
        .filter(transfer::Column::Status.eq(TransferStatus::Pending))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(pending, 1);
}
