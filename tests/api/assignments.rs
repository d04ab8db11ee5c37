//! Offices (Tätigkeitszuordnungen) over HTTP as the demo personas: giving, changing
//! and ending them under R5, R8–R10, R14 and R16. Expectations come from the rules
//! (docs/authorization.md) and the documented personas; the demo day is 2026-03-15.
use crate::common::{TestServer, error_code, error_field, gid, raw_id, today};
use entity::{activity, assignment, audit_event, member, org_unit, permission_group};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const ASSIGN: &str = "mutation($input: AssignActivityInput!) {
  assignActivity(input: $input) {
    id status effective startsOn endsOn createdAt
    member { id } activity { id } orgUnit { id } levelGroup { id } treeGroup { id }
  }
}";

const UPDATE: &str = "mutation($id: ID!, $input: UpdateAssignmentInput!) {
  updateAssignment(id: $id, input: $input) {
    id status effective startsOn endsOn levelGroup { id } treeGroup { id }
  }
}";

const END: &str = "mutation($id: ID!, $endsOn: Date) {
  endAssignment(id: $id, endsOn: $endsOn) { id effective endsOn }
}";

const NODE: &str = "query($id: ID!) {
  node(id: $id) {
    id
    ... on Assignment { member { id } orgUnit { id } activity { id } effective status }
  }
}";

const EXPLAIN_BANK_READ: &str =
    "query($m: ID!) { explainAccess(memberId: $m, permission: BANK_READ) { granted } }";

/// The demo with a database connection for lookups.
struct Demo {
    server: TestServer,
    conn: DatabaseConnection,
}

impl Demo {
    async fn start() -> Demo {
        let server = TestServer::demo().await;
        let conn = server.db.connect().await;
        Demo { server, conn }
    }

    async fn unit(&self, name: &str) -> String {
        gid("OrgUnit", self.unit_row(name).await.id)
    }

    async fn unit_row(&self, name: &str) -> org_unit::Model {
        org_unit::Entity::find()
            .filter(org_unit::Column::Name.eq(name))
            .one(&self.conn)
            .await
            .expect("q")
            .unwrap_or_else(|| panic!("unit {name}"))
    }

    async fn activity(&self, name: &str) -> String {
        let a = activity::Entity::find()
            .filter(activity::Column::Name.eq(name))
            .one(&self.conn)
            .await
            .expect("q")
            .unwrap_or_else(|| panic!("activity {name}"));
        gid("Activity", a.id)
    }

    async fn group(&self, key: &str) -> String {
        let g = permission_group::Entity::find()
            .filter(permission_group::Column::Key.eq(key))
            .one(&self.conn)
            .await
            .expect("q")
            .unwrap_or_else(|| panic!("group {key}"));
        gid("PermissionGroup", g.id)
    }

    /// The member of a persona.
    async fn member_of(&self, username: &str) -> i64 {
        self.server.user(username).await.member_id.expect("member user")
    }

    /// Some member of `unit` other than `except`.
    async fn some_member_of(&self, unit: &str, except: i64) -> i64 {
        let unit = self.unit_row(unit).await;
        member::Entity::find()
            .filter(member::Column::HomeUnitId.eq(unit.id))
            .filter(member::Column::Id.ne(except))
            .one(&self.conn)
            .await
            .expect("q")
            .expect("a member")
            .id
    }

    async fn assignment_count(&self) -> u64 {
        assignment::Entity::find().count(&self.conn).await.expect("count")
    }

    async fn audit_count(&self) -> u64 {
        audit_event::Entity::find().count(&self.conn).await.expect("count")
    }

    async fn audit_events(&self, action: &str, assignment_id: i64) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq(action))
            .filter(audit_event::Column::Entity.eq("assignment"))
            .filter(audit_event::Column::EntityId.eq(assignment_id.to_string()))
            .all(&self.conn)
            .await
            .expect("audit")
    }

    async fn assign(&self, token: &str, input: Value) -> Value {
        let (status, body) = self.server.gql_as(token, ASSIGN, json!({ "input": input })).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Does the caller hold bank.read on the member? A member they cannot see at all
    /// (NOT_FOUND) is not granted either.
    async fn bank_read_granted(&self, token: &str, member_id: i64) -> bool {
        let (_, body) =
            self.server.gql_as(token, EXPLAIN_BANK_READ, json!({ "m": gid("Member", member_id) })).await;
        match error_code(&body) {
            Some("NOT_FOUND") => false,
            Some(other) => panic!("explainAccess failed with {other}: {body}"),
            None => body["data"]["explainAccess"]["granted"].as_bool().expect("granted"),
        }
    }

    /// A treasurer office for ehemalig at Stamm Fulda since 2026-03-01, as mv.hessen
    /// gives it.
    async fn treasurer_input_for_ehemalig(&self) -> Value {
        json!({
            "memberId": gid("Member", self.member_of("ehemalig").await),
            "activityId": self.activity("Stammesschatzmeister/in").await,
            "orgUnitId": self.unit("Stamm Fulda").await,
            "levelGroupId": self.group("treasurer").await,
            "startsOn": "2026-03-01",
        })
    }
}

fn assert_no_errors(body: &Value) {
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn r5_an_ended_assignment_stops_granting_at_once() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let ehemalig = demo.server.token("ehemalig").await;
    let ursula = demo.member_of("ehemalig").await;
    let fulda_member = demo.some_member_of("Stamm Fulda", ursula).await;
    assert!(!demo.bank_read_granted(&ehemalig, fulda_member).await, "her old office ended 2025-06-30 (R5)");

    let input = demo.treasurer_input_for_ehemalig().await;
    let body = demo.assign(&mv, input.clone()).await;
    assert_no_errors(&body);
    let created = &body["data"]["assignActivity"];
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["effective"], true);
    assert_eq!(created["startsOn"], "2026-03-01");
    assert_eq!(created["endsOn"], Value::Null);
    assert_eq!(created["member"]["id"], input["memberId"]);
    assert_eq!(created["activity"]["id"], input["activityId"]);
    assert_eq!(created["orgUnit"]["id"], input["orgUnitId"]);
    assert_eq!(created["levelGroup"]["id"], input["levelGroupId"]);
    assert_eq!(created["treeGroup"], Value::Null);
    let id = raw_id(&created["id"]);
    assert_eq!(demo.audit_events("assignment.create", id).await.len(), 1);

    // Her very next request holds the new office's rights: no stale cached grants.
    assert!(demo.bank_read_granted(&ehemalig, fulda_member).await);

    let yesterday = today().pred_opt().expect("yesterday").to_string();
    let (_, body) =
        demo.server.gql_as(&mv, END, json!({ "id": created["id"], "endsOn": yesterday.clone() })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["endAssignment"]["endsOn"], json!(yesterday));
    assert_eq!(body["data"]["endAssignment"]["effective"], false);
    let ended = demo.audit_events("assignment.end", id).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].before.as_ref().map(|b| b["ends_on"].clone()), Some(Value::Null));
    assert_eq!(ended[0].after.as_ref().map(|a| a["ends_on"].clone()), Some(json!(yesterday)));

    assert!(!demo.bank_read_granted(&ehemalig, fulda_member).await, "ended yesterday: nothing today (R5)");
}

#[tokio::test]
async fn r5_an_office_that_is_not_active_grants_nothing() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let ehemalig = demo.server.token("ehemalig").await;
    let ursula = demo.member_of("ehemalig").await;
    let fulda_member = demo.some_member_of("Stamm Fulda", ursula).await;
    let mut input = demo.treasurer_input_for_ehemalig().await;
    input["status"] = json!("REQUESTED");
    let body = demo.assign(&mv, input).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["assignActivity"]["status"], "REQUESTED");
    assert_eq!(body["data"]["assignActivity"]["effective"], false);
    assert!(!demo.bank_read_granted(&ehemalig, fulda_member).await);

    // Confirming it (status ACTIVE) grants at once.
    let id = body["data"]["assignActivity"]["id"].clone();
    let (_, body) =
        demo.server.gql_as(&mv, UPDATE, json!({ "id": id, "input": { "status": "ACTIVE" } })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["updateAssignment"]["effective"], true);
    assert!(demo.bank_read_granted(&ehemalig, fulda_member).await);
}

#[tokio::test]
async fn r10_a_state_member_admin_cannot_grant_state_treasurer() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let (assignments, audits) = (demo.assignment_count().await, demo.audit_count().await);
    // state_treasurer holds unit.read_finance and admission.approve_adult, which
    // state_member_admin does not.
    let state_treasurer = demo.group("state_treasurer").await;
    let body = demo
        .assign(
            &mv,
            json!({
                "memberId": gid("Member", demo.member_of("ehemalig").await),
                "activityId": demo.activity("Landesschatzmeister/in").await,
                "orgUnitId": demo.unit("Landesverband Hessen").await,
                "levelGroupId": state_treasurer,
                "treeGroupId": state_treasurer,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(demo.assignment_count().await, assignments);
    assert_eq!(demo.audit_count().await, audits);
}

#[tokio::test]
async fn r10_without_assignment_write_at_the_unit_assigning_is_forbidden_and_writes_nothing() {
    let demo = Demo::start().await;
    let lsm = demo.server.token("lsm.bayern").await;
    let (assignments, audits) = (demo.assignment_count().await, demo.audit_count().await);
    // Sabine Huber sees Tobias Keller (Bayern) and even holds reader's member.read at
    // Stamm Isar, but not assignment.write.
    let body = demo
        .assign(
            &lsm,
            json!({
                "memberId": gid("Member", demo.member_of("ssm.isar").await),
                "activityId": demo.activity("Stammesführer/in").await,
                "orgUnitId": demo.unit("Stamm Isar").await,
                "levelGroupId": demo.group("reader").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(demo.assignment_count().await, assignments);
    assert_eq!(demo.audit_count().await, audits);
}

#[tokio::test]
async fn r10_extending_an_office_whose_groups_the_caller_does_not_hold_is_forbidden_but_ending_it_is_not() {
    let demo = Demo::start().await;
    let admin = demo.server.token("admin").await;
    let mv = demo.server.token("mv.hessen").await;
    let state_treasurer = demo.group("state_treasurer").await;
    let body = demo
        .assign(
            &admin,
            json!({
                "memberId": gid("Member", demo.member_of("ehemalig").await),
                "activityId": demo.activity("Landesschatzmeister/in").await,
                "orgUnitId": demo.unit("Landesverband Hessen").await,
                "levelGroupId": state_treasurer,
                "treeGroupId": state_treasurer,
                "startsOn": "2026-01-01",
                "endsOn": "2026-12-31",
            }),
        )
        .await;
    assert_no_errors(&body);
    let id = body["data"]["assignActivity"]["id"].clone();

    // Extending it would grant state_treasurer for longer.
    let (_, body) =
        demo.server.gql_as(&mv, UPDATE, json!({ "id": id, "input": { "endsOn": "2027-12-31" } })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let (_, body) = demo.server.gql_as(&mv, UPDATE, json!({ "id": id, "input": { "endsOn": null } })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");

    // Taking rights away is always possible for whoever manages offices there.
    let (_, body) = demo.server.gql_as(&mv, END, json!({ "id": id })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["endAssignment"]["endsOn"], "2026-03-15");
}

#[tokio::test]
async fn r9_a_group_not_allowed_for_the_activity_is_bad_user_input() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let (assignments, audits) = (demo.assignment_count().await, demo.audit_count().await);
    let member = gid("Member", demo.member_of("ehemalig").await);
    let fulda = demo.unit("Stamm Fulda").await;

    // Stammesführer/in allows only reader.
    let body = demo
        .assign(
            &mv,
            json!({
                "memberId": member,
                "activityId": demo.activity("Stammesführer/in").await,
                "orgUnitId": fulda,
                "levelGroupId": demo.group("treasurer").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("levelGroupId"));

    let body = demo
        .assign(
            &mv,
            json!({
                "memberId": member,
                "activityId": demo.activity("Stammesführer/in").await,
                "orgUnitId": fulda,
                "levelGroupId": demo.group("reader").await,
                "treeGroupId": demo.group("member_admin").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("treeGroupId"));

    // An activity of the Land level cannot be held in a Stamm.
    let body = demo
        .assign(
            &mv,
            json!({
                "memberId": member,
                "activityId": demo.activity("Landesbeauftragte/r").await,
                "orgUnitId": fulda,
                "levelGroupId": demo.group("reader").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("activityId"));

    assert_eq!(demo.assignment_count().await, assignments);
    assert_eq!(demo.audit_count().await, audits);
}

#[tokio::test]
async fn r9_an_update_to_a_group_not_allowed_for_the_activity_is_bad_user_input() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let body = demo.assign(&mv, demo.treasurer_input_for_ehemalig().await).await;
    assert_no_errors(&body);
    let id = body["data"]["assignActivity"]["id"].clone();
    let (_, body) = demo
        .server
        .gql_as(&mv, UPDATE, json!({ "id": id, "input": { "levelGroupId": demo.group("reader").await } }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("levelGroupId"));
}

#[tokio::test]
async fn r8_a_system_group_in_an_assignment_is_bad_user_input() {
    let demo = Demo::start().await;
    let admin = demo.server.token("admin").await;
    let (assignments, audits) = (demo.assignment_count().await, demo.audit_count().await);
    let body = demo
        .assign(
            &admin,
            json!({
                "memberId": gid("Member", demo.member_of("ehemalig").await),
                "activityId": demo.activity("Stammesschatzmeister/in").await,
                "orgUnitId": demo.unit("Stamm Fulda").await,
                "levelGroupId": demo.group("system_admin").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("levelGroupId"));
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("SYSTEM")), "{body}");
    assert_eq!(demo.assignment_count().await, assignments);
    assert_eq!(demo.audit_count().await, audits);
}

#[tokio::test]
async fn r14_an_archived_unit_is_read_only_for_assignments() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let assignments = demo.assignment_count().await;
    let body = demo
        .assign(
            &mv,
            json!({
                "memberId": gid("Member", demo.member_of("ehemalig").await),
                "activityId": demo.activity("Stammesführer/in").await,
                "orgUnitId": demo.unit("Stamm Nidda").await,
                "levelGroupId": demo.group("reader").await,
            }),
        )
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(demo.assignment_count().await, assignments);
}

#[tokio::test]
async fn r14_an_invisible_unit_and_r11_an_invisible_member_are_no_such_unit_and_no_such_member() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let base = demo.treasurer_input_for_ehemalig().await;

    // Stamm Regnitz (Bayern) is HIDDEN to her: the same answer as a missing unit.
    let mut hidden = base.clone();
    hidden["orgUnitId"] = json!(demo.unit("Stamm Regnitz").await);
    let mut missing = base.clone();
    missing["orgUnitId"] = json!(gid("OrgUnit", 999_999));
    let hidden = demo.assign(&mv, hidden).await;
    let missing = demo.assign(&mv, missing).await;
    assert_eq!(error_code(&hidden), Some("BAD_USER_INPUT"), "{hidden}");
    assert_eq!(error_field(&hidden), Some("orgUnitId"));
    assert_eq!(hidden["errors"][0]["message"], missing["errors"][0]["message"]);
    assert_eq!(error_field(&missing), Some("orgUnitId"));

    // A member of Bayern is invisible to her: the same answer as a missing member.
    let mut invisible = base.clone();
    invisible["memberId"] = json!(gid("Member", demo.member_of("ssm.isar").await));
    let mut missing = base.clone();
    missing["memberId"] = json!(gid("Member", 999_999));
    let invisible = demo.assign(&mv, invisible).await;
    let missing = demo.assign(&mv, missing).await;
    assert_eq!(error_code(&invisible), Some("BAD_USER_INPUT"), "{invisible}");
    assert_eq!(error_field(&invisible), Some("memberId"));
    assert_eq!(invisible["errors"][0]["message"], missing["errors"][0]["message"]);
}

#[tokio::test]
async fn assign_activity_names_the_field_of_bad_input() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let base = demo.treasurer_input_for_ehemalig().await;
    let cases: Vec<(&str, Value)> = vec![
        ("memberId", json!("garbage")),
        ("activityId", json!(demo.unit("Stamm Fulda").await)),
        ("orgUnitId", json!(gid("Member", 1))),
        ("levelGroupId", json!("garbage")),
        ("treeGroupId", json!(gid("Activity", 1))),
        ("activityId", json!(gid("Activity", 999_999))),
        ("levelGroupId", json!(gid("PermissionGroup", 999_999))),
    ];
    for (field, value) in cases {
        let mut input = base.clone();
        input[field] = value;
        let body = demo.assign(&mv, input).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{field}: {body}");
        assert_eq!(error_field(&body), Some(field), "{body}");
    }

    let mut input = base.clone();
    input["startsOn"] = json!("2026-03-15");
    input["endsOn"] = json!("2026-03-14");
    let body = demo.assign(&mv, input).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("endsOn"));
}

#[tokio::test]
async fn assigning_needs_a_signed_in_caller() {
    let demo = Demo::start().await;
    let input = demo.treasurer_input_for_ehemalig().await;
    let body = demo.server.gql(ASSIGN, json!({ "input": input })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
}

#[tokio::test]
async fn r16_an_assignment_shows_no_member_the_caller_cannot_read() {
    let demo = Demo::start().await;
    let admin = demo.server.token("admin").await;
    let keller = gid("Member", demo.member_of("ssm.isar").await);
    let hessen = demo.unit("Landesverband Hessen").await;
    let body = demo
        .assign(
            &admin,
            json!({
                "memberId": keller,
                "activityId": demo.activity("Landesbeauftragte/r").await,
                "orgUnitId": hessen,
                "levelGroupId": demo.group("reader").await,
            }),
        )
        .await;
    assert_no_errors(&body);
    let id = body["data"]["assignActivity"]["id"].clone();

    // mv.hessen manages offices at Hessen, so she sees the office, but not the member
    // of Stamm Isar holding it: null, without an error.
    let mv = demo.server.token("mv.hessen").await;
    let (_, body) = demo.server.gql_as(&mv, NODE, json!({ "id": id })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["node"]["id"], id);
    assert_eq!(body["data"]["node"]["member"], Value::Null);
    assert_eq!(body["data"]["node"]["orgUnit"]["id"], json!(hessen));
    assert_eq!(body["data"]["node"]["effective"], true);
    assert!(body["extensions"]["redacted"].is_null(), "nothing to redact: {body}");

    // lsm.bayern may read Tobias Keller, so the office is part of his record for her.
    let lsm = demo.server.token("lsm.bayern").await;
    let (_, body) = demo.server.gql_as(&lsm, NODE, json!({ "id": id })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["node"]["member"]["id"], json!(keller));

    // lv.niedersachsen sees neither member nor manages Hessen: like a missing one.
    let lv = demo.server.token("lv.niedersachsen").await;
    let (_, body) = demo.server.gql_as(&lv, NODE, json!({ "id": id })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["node"], Value::Null);
    let (_, missing) = demo.server.gql_as(&lv, NODE, json!({ "id": gid("Assignment", 999_999) })).await;
    assert_eq!(missing, body);
}

#[tokio::test]
async fn an_assignment_the_caller_cannot_see_is_not_found_for_every_mutation() {
    let demo = Demo::start().await;
    let lsm = demo.server.token("lsm.bayern").await;
    // mv.hessen's own office at Hessen, held by a member of Stamm Taunus: neither
    // visible to nor managed by lsm.bayern.
    let claudia = demo.member_of("mv.hessen").await;
    let theirs = assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(claudia))
        .one(&demo.conn)
        .await
        .expect("q")
        .expect("mv.hessen's office");
    for id in [gid("Assignment", theirs.id), gid("Assignment", 999_999)] {
        let (_, body) = demo.server.gql_as(&lsm, END, json!({ "id": id })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
        let (_, body) =
            demo.server.gql_as(&lsm, UPDATE, json!({ "id": id, "input": { "endsOn": "2026-03-20" } })).await;
        assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
        let (_, body) = demo.server.gql_as(&lsm, NODE, json!({ "id": id })).await;
        assert_eq!(body["data"]["node"], Value::Null, "{body}");
    }

    // ssm.isar's office is visible to her (she reads his record) but she does not
    // manage offices: FORBIDDEN, and nothing changes.
    let keller = demo.member_of("ssm.isar").await;
    let his = assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(keller))
        .one(&demo.conn)
        .await
        .expect("q")
        .expect("ssm.isar's office");
    let (_, body) = demo.server.gql_as(&lsm, END, json!({ "id": gid("Assignment", his.id) })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let unchanged = assignment::Entity::find_by_id(his.id).one(&demo.conn).await.expect("q").expect("row");
    assert_eq!(unchanged, his);
}

#[tokio::test]
async fn update_assignment_changes_only_what_is_given_and_is_audited() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let body = demo.assign(&mv, demo.treasurer_input_for_ehemalig().await).await;
    assert_no_errors(&body);
    let id = body["data"]["assignActivity"]["id"].clone();
    let member_admin = demo.group("member_admin").await;

    let (_, body) = demo
        .server
        .gql_as(
            &mv,
            UPDATE,
            json!({ "id": id, "input": { "levelGroupId": member_admin, "endsOn": "2026-12-31" } }),
        )
        .await;
    assert_no_errors(&body);
    let updated = &body["data"]["updateAssignment"];
    assert_eq!(updated["levelGroup"]["id"], json!(member_admin));
    assert_eq!(updated["treeGroup"], Value::Null);
    assert_eq!(updated["startsOn"], "2026-03-01");
    assert_eq!(updated["endsOn"], "2026-12-31");
    assert_eq!(updated["status"], "ACTIVE");

    let events = demo.audit_events("assignment.update", raw_id(&id)).await;
    assert_eq!(events.len(), 1);
    let (before, after) =
        (events[0].before.clone().expect("before"), events[0].after.clone().expect("after"));
    assert_ne!(before["level_group_id"], after["level_group_id"]);
    assert_eq!(before["ends_on"], Value::Null);
    assert_eq!(after["ends_on"], "2026-12-31");

    // null removes the group and opens the end.
    let (_, body) = demo
        .server
        .gql_as(&mv, UPDATE, json!({ "id": id, "input": { "levelGroupId": null, "endsOn": null } }))
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["updateAssignment"]["levelGroup"], Value::Null);
    assert_eq!(body["data"]["updateAssignment"]["endsOn"], Value::Null);
    assert_eq!(demo.audit_events("assignment.update", raw_id(&id)).await.len(), 2);

    // A start after the end names the field that was changed.
    let (_, body) =
        demo.server.gql_as(&mv, UPDATE, json!({ "id": id, "input": { "endsOn": "2026-04-01" } })).await;
    assert_no_errors(&body);
    let (_, body) =
        demo.server.gql_as(&mv, UPDATE, json!({ "id": id, "input": { "startsOn": "2026-05-01" } })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("startsOn"));
}

#[tokio::test]
async fn end_assignment_never_ends_before_the_start_nor_extends_an_ended_office() {
    let demo = Demo::start().await;
    let mv = demo.server.token("mv.hessen").await;
    let ursula = demo.member_of("ehemalig").await;
    let old = assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(ursula))
        .one(&demo.conn)
        .await
        .expect("q")
        .expect("ehemalig's old office");
    let id = gid("Assignment", old.id);

    // Ended 2025-06-30: "ending" it today would bring it back.
    let (_, body) = demo.server.gql_as(&mv, END, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("endsOn"));
    let (_, body) = demo.server.gql_as(&mv, END, json!({ "id": id, "endsOn": "2020-12-31" })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("endsOn"));
    let unchanged = assignment::Entity::find_by_id(old.id).one(&demo.conn).await.expect("q").expect("row");
    assert_eq!(unchanged, old);

    // Ending it earlier is fine.
    let (_, body) = demo.server.gql_as(&mv, END, json!({ "id": id, "endsOn": "2025-03-31" })).await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["endAssignment"]["endsOn"], "2025-03-31");
    assert_eq!(demo.audit_events("assignment.end", old.id).await.len(), 1);
}

const UNIT_OFFICES: &str = "query($id: ID!) {
  orgUnit(id: $id) { assignments { id member { id } activity { id } startsOn } }
}";

#[tokio::test]
async fn r16_the_offices_of_a_unit_are_those_of_visible_members_unless_the_caller_manages_them() {
    let demo = Demo::start().await;
    let admin = demo.server.token("admin").await;
    let hessen = demo.unit("Landesverband Hessen").await;
    let keller = gid("Member", demo.member_of("ssm.isar").await);
    let claudia = gid("Member", demo.member_of("mv.hessen").await);
    let reader = demo.group("reader").await;
    let beauftragte = demo.activity("Landesbeauftragte/r").await;
    // Two offices for Tobias Keller (Stamm Isar) at Hessen, the later one given first.
    for starts_on in ["2026-02-01", "2025-02-01"] {
        let body = demo
            .assign(
                &admin,
                json!({
                    "memberId": keller,
                    "activityId": beauftragte,
                    "orgUnitId": hessen,
                    "levelGroupId": reader,
                    "startsOn": starts_on,
                }),
            )
            .await;
        assert_no_errors(&body);
    }
    let offices = |body: &Value| -> Vec<(Value, Value, Value)> {
        body["data"]["orgUnit"]["assignments"]
            .as_array()
            .unwrap_or_else(|| panic!("assignments: {body}"))
            .iter()
            .map(|a| (a["member"]["id"].clone(), a["activity"]["id"].clone(), a["startsOn"].clone()))
            .collect()
    };

    // mv.hessen manages offices at Hessen: all of them, Keller's without his record,
    // ordered by activity (catalogue order), then start.
    let mv = demo.server.token("mv.hessen").await;
    let (_, body) = demo.server.gql_as(&mv, UNIT_OFFICES, json!({ "id": hessen })).await;
    assert_no_errors(&body);
    let mitgliederverwalter = demo.activity("Mitgliederverwalter/in Land").await;
    assert_eq!(
        offices(&body),
        vec![
            (Value::Null, json!(beauftragte), json!("2025-02-01")),
            (Value::Null, json!(beauftragte), json!("2026-02-01")),
            (json!(claudia), json!(mitgliederverwalter), json!("2022-09-01")),
        ]
    );

    // lsm.bayern reads Keller's record but not Claudia Lorenz's, and manages nothing
    // at Hessen: only Keller's offices, as part of his record.
    let lsm = demo.server.token("lsm.bayern").await;
    let (_, body) = demo.server.gql_as(&lsm, UNIT_OFFICES, json!({ "id": hessen })).await;
    assert_no_errors(&body);
    assert_eq!(
        offices(&body),
        vec![
            (json!(keller), json!(beauftragte), json!("2025-02-01")),
            (json!(keller), json!(beauftragte), json!("2026-02-01")),
        ]
    );

    // Anonymous callers see the PUBLIC unit but no member, hence no office.
    let body = demo.server.gql(UNIT_OFFICES, json!({ "id": hessen })).await;
    assert_no_errors(&body);
    assert_eq!(offices(&body), Vec::new());
}
