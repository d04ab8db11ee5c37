//! The audit trail: who may read which events, and bank-data reads recorded per
//! member in one statement per request.
use crate::common::{TestServer, error_code, gid};
use entity::{audit_event, member, org_unit};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::collections::BTreeSet;

const LOG: &str = "query($f: AuditFilter) { auditLog(filter: $f, first: 500) { totalCount nodes { action entity entityId actorName } } }";

async fn member_at(server: &TestServer, unit: &str) -> member::Model {
    let conn = server.db.connect().await;
    let unit = org_unit::Entity::find()
        .filter(org_unit::Column::Name.eq(unit))
        .one(&conn)
        .await
        .expect("q")
        .expect("unit");
    member::Entity::find()
        .filter(member::Column::HomeUnitId.eq(unit.id))
        .one(&conn)
        .await
        .expect("q")
        .expect("member")
}

const RENAME: &str = "mutation($id: ID!, $p: String!) { updateMember(id: $id, input: { phone: $p }) { id } }";

#[tokio::test]
async fn audit_read_sees_everything_member_write_only_its_own_members() {
    let server = TestServer::demo().await;
    let fulda = member_at(&server, "Stamm Fulda").await;
    let isar = member_at(&server, "Stamm Isar").await;
    let admin = server.token("admin").await;
    let mv = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&mv, RENAME, json!({ "id": gid("Member", fulda.id), "p": "0661 1" })).await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body) =
        server.gql_as(&admin, RENAME, json!({ "id": gid("Member", isar.id), "p": "089 1" })).await;
    assert!(body["errors"].is_null(), "{body}");

    // audit.read (admin holds system_admin): both changes and the logins.
    let (_, body) = server.gql_as(&admin, LOG, json!({ "f": { "action": "member.update" } })).await;
    let ids: BTreeSet<String> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["entityId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from([fulda.id.to_string(), isar.id.to_string()]), "{body}");
    let (_, body) = server.gql_as(&admin, LOG, json!({ "f": { "action": "user.login" } })).await;
    assert!(body["data"]["auditLog"]["totalCount"].as_u64().expect("count") >= 2);

    // member.write in Hessen: the Fulda change, not the Bayern one, no logins.
    let (_, body) = server.gql_as(&mv, LOG, json!({})).await;
    let nodes = body["data"]["auditLog"]["nodes"].as_array().expect("nodes");
    assert!(
        nodes
            .iter()
            .all(|n| ["member", "transfer", "assignment"].contains(&n["entity"].as_str().unwrap_or(""))),
        "{body}"
    );
    assert!(
        nodes.iter().any(|n| n["entityId"] == json!(fulda.id.to_string()) && n["actorName"] == "mv.hessen")
    );
    assert!(!nodes.iter().any(|n| n["entityId"] == json!(isar.id.to_string())), "not her member: {body}");
    // Filtering by one member works through its global id.
    let (_, body) = server.gql_as(&mv, LOG, json!({ "f": { "entityId": gid("Member", isar.id) } })).await;
    assert_eq!(body["data"]["auditLog"]["totalCount"], 0, "{body}");

    // Neither audit.read nor member.write: FORBIDDEN; anonymous: UNAUTHENTICATED.
    let lsm = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&lsm, LOG, json!({})).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let body = server.gql(LOG, json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
}

const TRANSFER: &str = "mutation($m: ID!, $to: ID!) { requestTransfer(memberId: $m, toUnitId: $to) { id } }";

/// R18: events about a member are framed for member.write holders on that member,
/// whatever record they are stored under (the member, its transfers, its offices).
#[tokio::test]
async fn r18_member_write_sees_the_transfer_events_of_its_members_only() {
    let server = TestServer::demo().await;
    let fulda = member_at(&server, "Stamm Fulda").await;
    let isar = member_at(&server, "Stamm Isar").await;
    let conn = server.db.connect().await;
    let unit_id = |name: &'static str| {
        let conn = conn.clone();
        async move {
            org_unit::Entity::find()
                .filter(org_unit::Column::Name.eq(name))
                .one(&conn)
                .await
                .expect("q")
                .expect("unit")
                .id
        }
    };
    let admin = server.token("admin").await;
    let mv = server.token("mv.hessen").await;
    let (_, hessen) = server
        .gql_as(
            &mv,
            TRANSFER,
            json!({ "m": gid("Member", fulda.id), "to": gid("OrgUnit", unit_id("Stamm Isar").await) }),
        )
        .await;
    let (_, bayern) = server
        .gql_as(
            &admin,
            TRANSFER,
            json!({ "m": gid("Member", isar.id), "to": gid("OrgUnit", unit_id("Stamm Pegnitz").await) }),
        )
        .await;
    let own = crate::common::raw_id(&hessen["data"]["requestTransfer"]["id"]).to_string();
    let other = crate::common::raw_id(&bayern["data"]["requestTransfer"]["id"]).to_string();

    let (_, body) = server.gql_as(&mv, LOG, json!({ "f": { "entity": "transfer" } })).await;
    let ids: BTreeSet<String> = body["data"]["auditLog"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["entityId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, BTreeSet::from([own]), "her member's transfer, not Bayern's: {body}");
    let (_, body) = server.gql_as(&admin, LOG, json!({ "f": { "entity": "transfer" } })).await;
    assert!(body.to_string().contains(&format!("\"entityId\":\"{other}\"")), "{body}");
}

#[tokio::test]
async fn bank_reads_are_audited_one_row_per_member_and_none_for_masked_or_own_data() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let reads = || async {
        audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq("bank.read"))
            .all(&conn)
            .await
            .expect("q")
    };
    let lsm = server.token("lsm.bayern").await;
    let q = "{ members(first: 500) { edges { node { id bankAccount { iban } } } } }";
    let (_, body) = server.gql_as(&lsm, q, json!({})).await;
    let me = server.user("lsm.bayern").await;
    let shown: BTreeSet<String> = body["data"]["members"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| !e["node"]["bankAccount"].is_null())
        .map(|e| crate::common::raw_id(e["node"]["id"].as_str().expect("id")))
        .filter(|id| Some(*id) != me.member_id)
        .map(|id| id.to_string())
        .collect();
    assert!(!shown.is_empty());
    let rows = reads().await;
    let audited: BTreeSet<String> = rows.iter().map(|r| r.entity_id.clone()).collect();
    assert_eq!(audited, shown, "exactly the members whose bank data she was shown");
    assert!(rows.iter().all(|r| r.actor_user_id == Some(me.id) && r.request_id.is_some()));
    // A reader sees no bank data: nothing to audit. Nor is one's own record.
    let sf = server.token("sf.pegnitz").await;
    server.gql_as(&sf, q, json!({})).await;
    let own = server.token("ohne.pledge").await;
    server.gql_as(&own, q, json!({})).await;
    assert_eq!(
        audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq("bank.read"))
            .count(&conn)
            .await
            .expect("q"),
        rows.len() as u64
    );
}
