//! Members over HTTP as each demo persona: which rows exist for whom (R11), which
//! fields are masked (R12) and listed in `extensions.redacted`, the own record
//! (R17), pending transfers (R15), and the side doors (R16): search, totalCount,
//! node(id), relations. Expectations come from the rules and the groups of the default
//! catalogue (docs/catalogue.md), not from recorded output.
use crate::common::{TestServer, error_code, error_field, gid, raw_id};
use entity::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Every field of `Member` (schema.graphql) except `accessibleBy` (tested on
/// its own: it answers a different question).
const ALL_FIELDS: &str = "id membershipNumber firstName lastName status birthDate gender email phone
  address { street postalCode city country } joinedOn leftOn votingRights tags retentionUntil
  homeUnit { name } assignments { id } viewerPermissions
  bankAccount { iban bic accountHolder } sepaMandates { reference iban } payments { amountCents paidOn }";

fn members_page() -> String {
    format!(
        "query($first: Int!, $filter: MemberFilter) {{ members(first: $first, filter: $filter) {{
           totalCount pageInfo {{ hasNextPage }} edges {{ node {{ {ALL_FIELDS} }} }} }} }}"
    )
}

/// What a persona holds, from the README's persona table and docs/catalogue.md:
/// the units whose subtrees they read (member.read), and whether their groups
/// include bank.read and payment.read there.
struct Holds {
    subtrees: &'static [&'static str],
    bank: bool,
    payments: bool,
}

fn holds(persona: &str) -> Holds {
    match persona {
        // federation_admin everywhere (R4); state_treasurer at the Bund, level and tree (R2, R3).
        "admin" | "bsm" => Holds { subtrees: &["Jugendbund Deutschland"], bank: true, payments: true },
        // state_treasurer: member.read, bank.read, payment.read (+ state_board).
        "lsm.bayern" => Holds { subtrees: &["Landesverband Bayern"], bank: true, payments: true },
        // treasurer at the Stamm (level group only; nothing lies below a Stamm).
        "ssm.isar" => Holds { subtrees: &["Stamm Isar"], bank: true, payments: true },
        // state_member_admin: member_admin (incl. bank.read, payment.read) + more.
        "mv.hessen" => Holds { subtrees: &["Landesverband Hessen"], bank: true, payments: true },
        // state_board: member.read without bank.read or payment.read.
        "lv.niedersachsen" => {
            Holds { subtrees: &["Landesverband Niedersachsen"], bank: false, payments: false }
        }
        // reader: member.read only.
        "sf.pegnitz" => Holds { subtrees: &["Stamm Pegnitz"], bank: false, payments: false },
        // R6 (system user; no pledge) and R5 (ended office): nothing but R17.
        "useradmin" | "ohne.pledge" | "ehemalig" => Holds { subtrees: &[], bank: false, payments: false },
        other => panic!("no expectation for {other}"),
    }
}

const PERSONAS: &[&str] = &[
    "admin",
    "lsm.bayern",
    "ssm.isar",
    "mv.hessen",
    "lv.niedersachsen",
    "sf.pegnitz",
    "bsm",
    "useradmin",
    "ohne.pledge",
    "ehemalig",
];

/// The demo data as the database holds it.
struct Truth {
    units: Vec<org_unit::Model>,
    members: BTreeMap<i64, member::Model>,
    banks: HashMap<i64, bank_account::Model>,
    mandates: HashMap<i64, usize>,
    payments: HashMap<i64, usize>,
    users: HashMap<String, user::Model>,
}

impl Truth {
    async fn load(conn: &DatabaseConnection) -> Truth {
        let count_by = |ids: Vec<i64>| {
            let mut m: HashMap<i64, usize> = HashMap::new();
            for id in ids {
                *m.entry(id).or_default() += 1;
            }
            m
        };
        Truth {
            units: org_unit::Entity::find().all(conn).await.expect("units"),
            members: member::Entity::find()
                .all(conn)
                .await
                .expect("members")
                .into_iter()
                .map(|m| (m.id, m))
                .collect(),
            banks: bank_account::Entity::find()
                .all(conn)
                .await
                .expect("banks")
                .into_iter()
                .map(|b| (b.member_id, b))
                .collect(),
            mandates: count_by(
                sepa_mandate::Entity::find()
                    .all(conn)
                    .await
                    .expect("q")
                    .into_iter()
                    .map(|m| m.member_id)
                    .collect(),
            ),
            payments: count_by(
                payment::Entity::find()
                    .all(conn)
                    .await
                    .expect("q")
                    .into_iter()
                    .map(|p| p.member_id)
                    .collect(),
            ),
            users: user::Entity::find()
                .all(conn)
                .await
                .expect("users")
                .into_iter()
                .map(|u| (u.username.clone(), u))
                .collect(),
        }
    }

    fn unit(&self, name: &str) -> &org_unit::Model {
        self.units.iter().find(|u| u.name == name).unwrap_or_else(|| panic!("unit {name}"))
    }

    fn path_of(&self, unit_id: i64) -> &str {
        &self.units.iter().find(|u| u.id == unit_id).expect("unit").path
    }

    fn in_subtrees(&self, m: &member::Model, roots: &[&str]) -> bool {
        let path = self.path_of(m.home_unit_id);
        roots.iter().any(|r| path.starts_with(&self.unit(r).path))
    }

    fn own_member(&self, persona: &str) -> Option<i64> {
        self.users.get(persona).and_then(|u| u.member_id)
    }

    fn member_at(&self, unit: &str) -> &member::Model {
        let id = self.unit(unit).id;
        self.members
            .values()
            .find(|m| m.home_unit_id == id && !self.users.values().any(|u| u.member_id == Some(m.id)))
            .expect("member")
    }
}

fn redacted_paths(body: &Value) -> BTreeSet<String> {
    body["extensions"]["redacted"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let path: Vec<String> = f["path"]
                        .as_array()
                        .expect("path")
                        .iter()
                        .map(|s| s.as_str().map(str::to_owned).unwrap_or_else(|| s.to_string()))
                        .collect();
                    format!("{}:{}", path.join("."), f["needs"].as_str().expect("needs"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn r11_r12_r17_every_persona_sees_exactly_the_rows_and_fields_the_rules_allow() {
    let server = TestServer::demo().await;
    let truth = Truth::load(&server.db.connect().await).await;
    for persona in PERSONAS {
        let token = server.token(persona).await;
        let (status, body) = server.gql_as(&token, &members_page(), json!({ "first": 500 })).await;
        assert_eq!(status, 200, "{persona}: {body}");
        assert!(body["errors"].is_null(), "{persona}: a masked field is null without an error: {body}");
        let h = holds(persona);
        let own = truth.own_member(persona);
        // R11 (rows) and R17 (own record).
        let expected: BTreeSet<i64> = truth
            .members
            .values()
            .filter(|m| truth.in_subtrees(m, h.subtrees) || Some(m.id) == own)
            .map(|m| m.id)
            .collect();
        let edges = body["data"]["members"]["edges"].as_array().expect("edges");
        let seen: BTreeSet<i64> =
            edges.iter().map(|e| raw_id(e["node"]["id"].as_str().expect("id"))).collect();
        assert_eq!(seen, expected, "{persona}: R11 rows");
        assert_eq!(body["data"]["members"]["totalCount"], json!(expected.len()), "{persona}: R11 totalCount");

        let mut expected_redactions = 0;
        let listed = redacted_paths(&body);
        for (i, edge) in edges.iter().enumerate() {
            let node = &edge["node"];
            let id = raw_id(node["id"].as_str().expect("id"));
            let m = &truth.members[&id];
            let is_self = Some(id) == own;
            // member.read fields: always readable on a visible row.
            assert_eq!(node["membershipNumber"], json!(m.membership_number), "{persona}");
            assert_eq!(node["firstName"], json!(m.first_name));
            assert_eq!(node["lastName"], json!(m.last_name));
            assert_eq!(node["email"], json!(m.email));
            assert_eq!(node["address"]["city"], json!(m.city));
            assert_eq!(node["status"], json!(m.status.as_str()));
            // R12: bank data needs bank.read, payments payment.read; R17: all of one's own.
            let bank = h.bank || is_self;
            let payments = h.payments || is_self;
            let path = |field: &str, needs: &str| format!("members.edges.{i}.node.{field}:{needs}");
            if bank {
                let iban = truth.banks.get(&id).map(|b| json!(b.iban)).unwrap_or(Value::Null);
                assert_eq!(node["bankAccount"]["iban"], iban, "{persona} reads the IBAN of {id}");
                assert_eq!(
                    node["sepaMandates"].as_array().map(Vec::len),
                    Some(truth.mandates.get(&id).copied().unwrap_or(0))
                );
            } else {
                assert_eq!(node["bankAccount"], Value::Null, "{persona}: R12 masks bankAccount of {id}");
                assert_eq!(node["sepaMandates"], Value::Null, "{persona}: R12 masks sepaMandates");
                expected_redactions += 2;
                if listed.len() < 100 {
                    assert!(listed.contains(&path("bankAccount", "bank.read")), "{persona}: listed");
                }
            }
            if payments {
                assert_eq!(
                    node["payments"].as_array().map(Vec::len),
                    Some(truth.payments.get(&id).copied().unwrap_or(0)),
                    "{persona} reads the payments of {id}"
                );
            } else {
                assert_eq!(node["payments"], Value::Null, "{persona}: R12 masks payments");
                expected_redactions += 1;
            }
            let perms: Vec<&str> = node["viewerPermissions"]
                .as_array()
                .expect("list")
                .iter()
                .map(|p| p.as_str().expect("p"))
                .collect();
            assert!(perms.contains(&"MEMBER_READ"), "{persona}: viewerPermissions");
            assert_eq!(perms.contains(&"BANK_READ"), bank, "{persona}: viewerPermissions tells bank.read");
        }
        let redacted = &body["extensions"]["redacted"];
        if expected_redactions == 0 {
            assert!(redacted.is_null(), "{persona}: nothing redacted: {redacted}");
        } else {
            assert_eq!(redacted["total"], json!(expected_redactions), "{persona}: redacted total");
            let shown = redacted["fields"].as_array().expect("fields").len();
            assert_eq!(shown, expected_redactions.min(100), "{persona}: listing is capped");
            assert_eq!(redacted["truncated"], json!(expected_redactions > 100));
        }
    }
    // Anonymous callers see no member at all.
    let body = server.gql(&members_page(), json!({ "first": 500 })).await;
    assert_eq!(body["data"]["members"]["totalCount"], 0, "{body}");
}

#[tokio::test]
async fn r16_search_counts_and_lookups_reveal_nothing_of_invisible_members() {
    let server = TestServer::demo().await;
    let truth = Truth::load(&server.db.connect().await).await;
    let token = server.token("lsm.bayern").await;
    let hessen = truth.member_at("Stamm Fulda");
    // Searching by the number of a member she may not see: nothing, and no count.
    let q = "query($f: MemberFilter) { members(filter: $f) { totalCount edges { node { id } } } }";
    let (_, body) = server.gql_as(&token, q, json!({ "f": { "search": hessen.membership_number } })).await;
    assert_eq!(body["data"]["members"]["totalCount"], 0, "{body}");
    // Searching by name finds only the Bayern namesakes.
    let (_, body) = server.gql_as(&token, q, json!({ "f": { "search": hessen.last_name } })).await;
    let bayern_namesakes = truth
        .members
        .values()
        .filter(|m| {
            truth.in_subtrees(m, &["Landesverband Bayern"])
                && (m.last_name.to_lowercase().contains(&hessen.last_name.to_lowercase())
                    || m.first_name.to_lowercase().contains(&hessen.last_name.to_lowercase())
                    || m.email.as_deref().is_some_and(|e| e.contains(&hessen.last_name.to_lowercase())))
        })
        .count();
    assert_eq!(body["data"]["members"]["totalCount"], json!(bayern_namesakes), "{body}");
    // Filtering by a unit of another state: nothing.
    let fulda = gid("OrgUnit", truth.unit("Stamm Fulda").id);
    let (_, body) = server.gql_as(&token, q, json!({ "f": { "orgUnitId": fulda } })).await;
    assert_eq!(body["data"]["members"]["totalCount"], 0);
    // member(id), node(id) and memberByNumber: null, exactly as for a nonexistent member.
    let lookup =
        "query($id: ID!, $n: String!) { member(id: $id) { id bankAccount { iban } } node(id: $id) { id }
        memberByNumber(membershipNumber: $n) { id } }";
    let (_, hidden) = server
        .gql_as(&token, lookup, json!({ "id": gid("Member", hessen.id), "n": hessen.membership_number }))
        .await;
    let (_, missing) = server
        .gql_as(&token, lookup, json!({ "id": gid("Member", 99_999_999), "n": "no-such-number" }))
        .await;
    assert_eq!(hidden, missing, "an invisible member is indistinguishable from a missing one");
    assert_eq!(hidden["data"]["member"], Value::Null);
    assert!(hidden["errors"].is_null());
    // A treasurer's view of another state's IBAN: through the unit's member list too.
    let (_, body) = server
        .gql_as(
            &token,
            "query($u: ID!) { orgUnit(id: $u) { name members(includeDescendants: true) { totalCount edges { node { bankAccount { iban } } } } } }",
            json!({ "u": gid("OrgUnit", truth.unit("Landesverband Hessen").id) }),
        )
        .await;
    assert_eq!(body["data"]["orgUnit"]["name"], "Landesverband Hessen", "a PUBLIC unit is visible: {body}");
    assert_eq!(body["data"]["orgUnit"]["members"]["totalCount"], 0, "{body}");
    // Her own state's IBANs she reads.
    let isar = truth.member_at("Stamm Isar");
    let (_, body) = server
        .gql_as(&token, lookup, json!({ "id": gid("Member", isar.id), "n": isar.membership_number }))
        .await;
    assert_eq!(
        body["data"]["member"]["bankAccount"]["iban"],
        json!(truth.banks.get(&isar.id).map(|b| b.iban.clone()))
    );
}

#[tokio::test]
async fn r16_unit_member_lists_apply_r11_for_a_reader() {
    let server = TestServer::demo().await;
    let truth = Truth::load(&server.db.connect().await).await;
    let token = server.token("sf.pegnitz").await;
    // Bezirk Franken is INTERNAL: visible to any signed-in user; its members are not.
    let (_, body) = server
        .gql_as(
            &token,
            "query($u: ID!) { orgUnit(id: $u) { members(includeDescendants: true, first: 500) { totalCount edges { node { homeUnit { name } } } } } }",
            json!({ "u": gid("OrgUnit", truth.unit("Bezirk Franken").id) }),
        )
        .await;
    let pegnitz = truth.members.values().filter(|m| m.home_unit_id == truth.unit("Stamm Pegnitz").id).count();
    assert_eq!(body["data"]["orgUnit"]["members"]["totalCount"], json!(pegnitz), "{body}");
    let homes: BTreeSet<&str> = body["data"]["orgUnit"]["members"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["homeUnit"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(homes, BTreeSet::from(["Stamm Pegnitz"]));
}

#[tokio::test]
async fn r15_a_pending_transfer_shows_the_destination_the_member_but_not_bank_data() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let moving = truth.member_at("Stamm Isar");
    let q = "query($id: ID!) { member(id: $id) { lastName bankAccount { iban } payments { amountCents } } }";
    let token = server.token("mv.hessen").await;
    let (_, before) = server.gql_as(&token, q, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(before["data"]["member"], Value::Null, "not hers before the transfer: {before}");
    use sea_orm::ActiveModelTrait;
    transfer::ActiveModel {
        member_id: Set(moving.id),
        from_unit_id: Set(moving.home_unit_id),
        to_unit_id: Set(truth.unit("Stamm Fulda").id),
        status: Set(TransferStatus::Pending),
        requested_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("transfer");
    let (_, body) = server.gql_as(&token, q, json!({ "id": gid("Member", moving.id) })).await;
    assert_eq!(body["data"]["member"]["lastName"], json!(moving.last_name), "{body}");
    assert_eq!(body["data"]["member"]["bankAccount"], Value::Null, "R15: no bank data");
    assert_eq!(body["data"]["member"]["payments"], Value::Null, "R15: no payments");
    assert!(body["errors"].is_null());
    assert_eq!(body["extensions"]["redacted"]["total"], 2, "{body}");
}

#[tokio::test]
async fn r17_members_change_their_own_contact_data_but_nothing_else() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let me = truth.own_member("ohne.pledge").expect("member user");
    let token = server.token("ohne.pledge").await;
    let update = "mutation($id: ID!, $input: UpdateMemberInput!) { updateMember(id: $id, input: $input) { email phone address { city } lastName } }";
    let (_, body) = server
        .gql_as(
            &token,
            update,
            json!({ "id": gid("Member", me), "input": { "email": "finn@example.org", "phone": "+49 511 123", "city": "Hannover" } }),
        )
        .await;
    assert_eq!(body["data"]["updateMember"]["email"], "finn@example.org", "{body}");
    assert_eq!(body["data"]["updateMember"]["address"]["city"], "Hannover");
    let (_, body) = server
        .gql_as(&token, update, json!({ "id": gid("Member", me), "input": { "lastName": "Anders" } }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let stored = member::Entity::find_by_id(me).one(&conn).await.expect("q").expect("m");
    assert_eq!(stored.last_name, truth.members[&me].last_name, "a refused write changes nothing");
    // Someone else's record: not even visible to him (no pledge, R6).
    let other = truth.member_at("Stamm Leine");
    let (_, body) = server
        .gql_as(&token, update, json!({ "id": gid("Member", other.id), "input": { "email": "x@y.de" } }))
        .await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
}

#[tokio::test]
async fn r17_export_my_data_returns_everything_about_the_caller_and_no_secret() {
    let server = TestServer::demo().await;
    let truth = Truth::load(&server.db.connect().await).await;
    let token = server.token("ssm.isar").await;
    let (_, body) = server.gql_as(&token, "{ exportMyData }", json!({})).await;
    let data = &body["data"]["exportMyData"];
    let me = truth.own_member("ssm.isar").expect("member");
    assert_eq!(data["user"]["username"], "ssm.isar", "{body}");
    assert_eq!(data["member"]["membership_number"], json!(truth.members[&me].membership_number));
    assert_eq!(data["member"]["bank_account"]["iban"], json!(truth.banks.get(&me).map(|b| b.iban.clone())));
    assert_eq!(data["member"]["assignments"][0]["activity"], "Stammesschatzmeister/in");
    assert!(data["audit_events"].as_array().expect("list").iter().any(|e| e["action"] == "user.login"));
    let text = body.to_string();
    assert!(!text.contains("argon2") && !text.contains("password_hash"), "no secret in the export");
    let body = server.gql("{ exportMyData }", json!({})).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn accessible_by_tells_a_member_who_can_see_them() {
    let server = TestServer::demo().await;
    let truth = Truth::load(&server.db.connect().await).await;
    let me = truth.own_member("ssm.isar").expect("member");
    let q = "query($id: ID!) { member(id: $id) { accessibleBy { permission holders { username grants { rule } } } } }";
    let token = server.token("ssm.isar").await;
    let (_, body) = server.gql_as(&token, q, json!({ "id": gid("Member", me) })).await;
    let lists = body["data"]["member"]["accessibleBy"].as_array().expect("lists").clone();
    let bank = lists.iter().find(|l| l["permission"] == "BANK_READ").expect("bank.read");
    let names: BTreeSet<&str> =
        bank["holders"].as_array().expect("h").iter().map(|h| h["username"].as_str().expect("n")).collect();
    // Stamm Isar lies in Bayern: the Bund's and Bayern's treasurers, the federation
    // admin, and he himself as the Stamm's treasurer hold bank.read there.
    assert_eq!(names, BTreeSet::from(["admin", "bsm", "lsm.bayern", "ssm.isar"]), "{body}");
    // A reader without member.write on him gets null, listed as redacted.
    let token = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&token, q, json!({ "id": gid("Member", me) })).await;
    assert_eq!(body["data"]["member"]["accessibleBy"], Value::Null, "{body}");
    assert_eq!(body["extensions"]["redacted"]["fields"][0]["needs"], "member.write");
}

async fn count<E>(conn: &DatabaseConnection) -> u64
where
    E: EntityTrait,
    E::Model: Sync,
{
    E::find().count(conn).await.expect("count")
}

const CREATE: &str = "mutation($input: CreateMemberInput!) { createMember(input: $input) { id membershipNumber homeUnit { name } } }";

#[tokio::test]
async fn r13_creating_members_needs_member_create_at_the_home_unit() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let token = server.token("mv.hessen").await;
    let input = |unit: &str| json!({ "homeUnitId": gid("OrgUnit", truth.unit(unit).id), "firstName": "Lena", "lastName": "Neu", "email": "lena@example.org" });
    let (members, audits) = (count::<member::Entity>(&conn).await, count::<audit_event::Entity>(&conn).await);
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": input("Stamm Fulda") })).await;
    assert_eq!(body["data"]["createMember"]["homeUnit"]["name"], "Stamm Fulda", "{body}");
    assert!(body["data"]["createMember"]["membershipNumber"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(count::<member::Entity>(&conn).await, members + 1);
    assert_eq!(count::<audit_event::Entity>(&conn).await, audits + 1, "audited in the same transaction");
    // Outside her state: FORBIDDEN for a unit she sees, "no such unit" for one she doesn't.
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": input("Stamm Isar") })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": input("Stamm Regnitz") })).await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        (Some("BAD_USER_INPUT"), Some("homeUnitId")),
        "{body}"
    );
    // Bad input names the field; an archived unit is read-only.
    let mut bad = input("Stamm Fulda");
    bad["email"] = json!("not-an-address");
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": bad })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("email")), "{body}");
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": input("Stamm Nidda") })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    // A taken membership number.
    let mut dup = input("Stamm Fulda");
    dup["membershipNumber"] = json!(truth.member_at("Stamm Fulda").membership_number);
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": dup })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    assert_eq!(count::<member::Entity>(&conn).await, members + 1, "refused writes change nothing");
    assert_eq!(count::<audit_event::Entity>(&conn).await, audits + 1);
    // A treasurer (no member.create) may not.
    let token = server.token("lsm.bayern").await;
    let (_, body) = server.gql_as(&token, CREATE, json!({ "input": input("Stamm Isar") })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn r13_moving_a_member_needs_member_write_at_the_destination_too() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let token = server.token("mv.hessen").await;
    let m = truth.member_at("Stamm Fulda");
    let q = "mutation($id: ID!, $u: ID!) { updateMember(id: $id, input: { homeUnitId: $u }) { homeUnit { name } } }";
    let (_, body) = server
        .gql_as(
            &token,
            q,
            json!({ "id": gid("Member", m.id), "u": gid("OrgUnit", truth.unit("Stamm Isar").id) }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let stored = member::Entity::find_by_id(m.id).one(&conn).await.expect("q").expect("m");
    assert_eq!(stored.home_unit_id, m.home_unit_id, "nothing moved");
    let (_, body) = server
        .gql_as(
            &token,
            q,
            json!({ "id": gid("Member", m.id), "u": gid("OrgUnit", truth.unit("Stamm Lahn").id) }),
        )
        .await;
    assert_eq!(body["data"]["updateMember"]["homeUnit"]["name"], "Stamm Lahn", "{body}");
    // A reader may not change anyone.
    let token = server.token("sf.pegnitz").await;
    let p = truth.member_at("Stamm Pegnitz");
    let (_, body) = server
        .gql_as(
            &token,
            "mutation($id: ID!) { updateMember(id: $id, input: { lastName: \"X\" }) { id } }",
            json!({ "id": gid("Member", p.id) }),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn r13_bank_data_needs_bank_write_and_a_valid_iban() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let m = truth.member_at("Stamm Fulda");
    let q = "mutation($id: ID!, $iban: String!) { setBankAccount(memberId: $id, input: { iban: $iban, accountHolder: \"Kontoinhaberin\" }) { iban } }";
    let token = server.token("mv.hessen").await;
    let (_, body) = server
        .gql_as(&token, q, json!({ "id": gid("Member", m.id), "iban": "DE44500105175407324932" }))
        .await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("iban")), "{body}");
    let (_, body) = server
        .gql_as(&token, q, json!({ "id": gid("Member", m.id), "iban": "de44 5001 0517 5407 3249 31" }))
        .await;
    assert_eq!(body["data"]["setBankAccount"]["iban"], "DE44500105175407324931", "{body}");
    let stored = bank_account::Entity::find_by_id(m.id).one(&conn).await.expect("q").expect("bank");
    assert_eq!(stored.iban, "DE44500105175407324931");
    let audit = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("bank_account.set"))
        .one(&conn)
        .await
        .expect("q")
        .expect("audited");
    assert!(
        !audit.after.expect("after").to_string().contains("500105175407"),
        "no full IBAN in the audit trail"
    );
    // A state treasurer reads bank data but may not write it (no bank.write).
    let isar = truth.member_at("Stamm Isar");
    let token = server.token("lsm.bayern").await;
    let (_, body) = server
        .gql_as(&token, q, json!({ "id": gid("Member", isar.id), "iban": "DE44500105175407324931" }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    // Mandates: unique references.
    let token = server.token("mv.hessen").await;
    let add = "mutation($id: ID!) { addSepaMandate(memberId: $id, input: { reference: \"JBD-TEST-1\", signedOn: \"2026-03-01\" }) { reference iban } }";
    let (_, body) = server.gql_as(&token, add, json!({ "id": gid("Member", m.id) })).await;
    assert_eq!(body["data"]["addSepaMandate"]["iban"], "DE44500105175407324931", "{body}");
    let (_, body) = server.gql_as(&token, add, json!({ "id": gid("Member", m.id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
}

#[tokio::test]
async fn r13_recording_a_payment_needs_payment_write() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let m = truth.member_at("Stamm Fulda");
    let q = "mutation($id: ID!, $amount: Int!, $on: Date!) { recordPayment(memberId: $id, input: { amountCents: $amount, paidOn: $on }) { amountCents currency } }";
    let vars = |amount: i64, on: &str| json!({ "id": gid("Member", m.id), "amount": amount, "on": on });
    let payments = count::<payment::Entity>(&conn).await;
    // member_admin reads payments but has no payment.write.
    let token = server.token("mv.hessen").await;
    let (_, body) = server.gql_as(&token, q, vars(4800, "2026-03-01")).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["permission"], "payment.write",
        "the refusal names what is missing"
    );
    let token = server.token("admin").await;
    let (_, body) = server.gql_as(&token, q, vars(0, "2026-03-01")).await;
    assert_eq!(error_field(&body), Some("amountCents"), "{body}");
    let (_, body) = server.gql_as(&token, q, vars(4800, "2026-03-16")).await;
    assert_eq!(error_field(&body), Some("paidOn"), "not after today: {body}");
    assert_eq!(count::<payment::Entity>(&conn).await, payments);
    let (_, body) = server.gql_as(&token, q, vars(4800, "2026-03-01")).await;
    assert_eq!(body["data"]["recordPayment"]["currency"], "EUR", "{body}");
    assert_eq!(count::<payment::Entity>(&conn).await, payments + 1);
}

#[tokio::test]
async fn r13_r14_units_are_created_below_a_parent_with_unit_write_and_archived_ones_are_read_only() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let create = "mutation($p: ID!) { createOrgUnit(input: { parentId: $p, name: \"Stamm Werra\", visibility: PUBLIC }) { name depth level { name } viewerPermissions } }";
    let token = server.token("mv.hessen").await;
    let (_, body) = server
        .gql_as(&token, create, json!({ "p": gid("OrgUnit", truth.unit("Bezirk Nordhessen").id) }))
        .await;
    let unit = &body["data"]["createOrgUnit"];
    assert_eq!(unit["level"]["name"], "Stamm", "the level below the parent's: {body}");
    assert_eq!(unit["depth"], 3);
    assert!(
        unit["viewerPermissions"].as_array().expect("p").contains(&json!("MEMBER_CREATE")),
        "tree rights reach the new unit"
    );
    let (_, body) = server
        .gql_as(&token, create, json!({ "p": gid("OrgUnit", truth.unit("Bezirk Oberbayern").id) }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let token = server.token("lsm.bayern").await;
    let (_, body) = server
        .gql_as(&token, create, json!({ "p": gid("OrgUnit", truth.unit("Bezirk Oberbayern").id) }))
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "a treasurer holds no unit.write: {body}");
    // ARCHIVED: read-only, members included.
    let token = server.token("mv.hessen").await;
    let nidda = truth.unit("Stamm Nidda");
    let rename =
        "mutation($u: ID!) { updateOrgUnit(id: $u, input: { name: \"Stamm Nidda-Wetterau\" }) { name } }";
    let (_, body) = server.gql_as(&token, rename, json!({ "u": gid("OrgUnit", nidda.id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    let nidda_member = truth.members.values().find(|m| m.home_unit_id == nidda.id).expect("member");
    let (_, body) = server
        .gql_as(
            &token,
            "mutation($id: ID!) { updateMember(id: $id, input: { phone: \"1\" }) { id } }",
            json!({ "id": gid("Member", nidda_member.id) }),
        )
        .await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
}

#[tokio::test]
async fn r14_unit_finance_data_needs_unit_read_finance() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let truth = Truth::load(&conn).await;
    let hessen = truth.unit("Landesverband Hessen");
    // The expected total, from the rows: payments in 2025 of members below Hessen.
    let in_hessen: BTreeSet<i64> = truth
        .members
        .values()
        .filter(|m| truth.in_subtrees(m, &["Landesverband Hessen"]))
        .map(|m| m.id)
        .collect();
    let payments: Vec<payment::Model> = payment::Entity::find().all(&conn).await.expect("q");
    let year = |p: &payment::Model| {
        p.paid_on >= chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("d")
            && p.paid_on <= chrono::NaiveDate::from_ymd_opt(2025, 12, 31).expect("d")
    };
    let expected: i64 =
        payments.iter().filter(|p| in_hessen.contains(&p.member_id) && year(p)).map(|p| p.amount_cents).sum();
    assert!(expected > 0, "the demo has fees in 2025");
    let q = "query($u: ID!) { orgUnit(id: $u) { name finance(year: 2025) { paymentsCents payingMembers } } }";
    // state_board holds unit.read_finance, but in Niedersachsen only.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, q, json!({ "u": gid("OrgUnit", hessen.id) })).await;
    assert_eq!(body["data"]["orgUnit"]["finance"]["paymentsCents"], json!(expected), "{body}");
    let mv = server.token("mv.hessen").await; // state_member_admin: no unit.read_finance
    let (_, body) = server.gql_as(&mv, q, json!({ "u": gid("OrgUnit", hessen.id) })).await;
    assert_eq!(body["data"]["orgUnit"]["name"], "Landesverband Hessen", "the unit itself is visible: {body}");
    assert_eq!(body["data"]["orgUnit"]["finance"], Value::Null);
    assert_eq!(body["extensions"]["redacted"]["fields"][0]["needs"], "unit.read_finance");
    let lv = server.token("lv.niedersachsen").await;
    let nds = truth.unit("Landesverband Niedersachsen");
    let (_, body) = server.gql_as(&lv, q, json!({ "u": gid("OrgUnit", nds.id) })).await;
    assert!(body["data"]["orgUnit"]["finance"]["paymentsCents"].is_i64(), "{body}");
}

#[tokio::test]
async fn a_bad_argument_value_is_bad_user_input_even_when_found_during_execution() {
    let server = TestServer::demo().await;
    let token = server.token("mv.hessen").await;
    // An omitted nullable variable for a non-null argument, and a malformed date
    // deep in an input object: the caller's input, not an internal error.
    let (_, body) = server
        .gql_as(
            &token,
            "query($d: Boolean) { members(filter: { includeDescendants: $d }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_ne!(body["errors"][0]["message"], "internal error");
    let (_, body) = server
        .gql_as(
            &token,
            "mutation($i: CreateMemberInput!) { createMember(input: $i) { id } }",
            json!({ "i": { "homeUnitId": gid("OrgUnit", 1), "firstName": "A", "lastName": "B", "birthDate": "2020-13-45" } }),
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}
