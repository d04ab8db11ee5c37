//! Statistics and CSV exports on the demo data: `memberCounts` against counts made
//! here from the member rows, under R11; `/reports/member-counts.csv`;
//! `/exports/members.csv` with R11 (rows), R12 (columns left out and named in
//! `X-Omitted-Columns`), the audit of bank columns, the accreditation list, the
//! formula guard, and the refusals (400, 401, 404).
use crate::common::{TestServer, error_code, error_field, today};
use chrono::NaiveDate;
use entity::{MemberStatus, audit_event, bank_account, member, org_unit};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const COUNTS: &str = "query($unit: ID!, $from: Date!, $to: Date!, $interval: CountInterval) {
  memberCounts(orgUnitId: $unit, from: $from, to: $to, interval: $interval) { periodStart periodEnd count } }";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn gid(id: i64) -> String {
    verband::graphql::id::encode(verband::graphql::id::Kind::OrgUnit, id).0
}

async fn unit(conn: &DatabaseConnection, name: &str) -> org_unit::Model {
    org_unit::Entity::find()
        .filter(org_unit::Column::Name.eq(name))
        .one(conn)
        .await
        .expect("q")
        .expect("unit")
}

/// Every member with the path of its home unit.
async fn members_with_paths(conn: &DatabaseConnection) -> Vec<(member::Model, String)> {
    member::Entity::find()
        .find_also_related(org_unit::Entity)
        .all(conn)
        .await
        .expect("members")
        .into_iter()
        .map(|(m, u)| (m, u.expect("home unit").path))
        .collect()
}

fn active_on(m: &member::Model, d: NaiveDate) -> bool {
    m.joined_on.is_some_and(|j| j <= d) && m.left_on.is_none_or(|l| l >= d)
}

/// Members at home below `path` active on `d`, counted from the rows.
fn expected(rows: &[(member::Model, String)], path: &str, d: NaiveDate) -> i64 {
    rows.iter().filter(|(m, p)| p.starts_with(path) && active_on(m, d)).count() as i64
}

/// A minimal RFC 4180 reader: quoted cells, doubled quotes, CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

struct Csv {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Csv {
    fn rows(&self) -> Vec<Vec<String>> {
        parse_csv(&self.text)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The values of one column by its header name.
    fn column(&self, name: &str) -> Vec<String> {
        let rows = self.rows();
        let at = rows[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {:?}", rows[0]));
        rows[1..].iter().map(|r| r[at].clone()).collect()
    }
}

async fn get(server: &TestServer, token: Option<&str>, path: &str) -> Csv {
    let mut request = server.client.get(format!("{}{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Csv { status, headers, text: response.text().await.expect("body") }
}

/// The body's bytes, untouched (BOM and line ends included).
async fn get_bytes(server: &TestServer, token: &str, path: &str) -> (u16, Vec<u8>) {
    let response =
        server.client.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn counts(
    server: &TestServer,
    token: &str,
    unit: i64,
    from: &str,
    to: &str,
    interval: &str,
) -> Vec<Value> {
    let (status, body) = server
        .gql_as(token, COUNTS, json!({ "unit": gid(unit), "from": from, "to": to, "interval": interval }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["memberCounts"].as_array().expect("list").clone()
}

/// A member of `path`'s subtree active since before 2025 that has not left.
async fn long_standing_member(conn: &DatabaseConnection, path: &str) -> member::Model {
    members_with_paths(conn)
        .await
        .into_iter()
        .find(|(m, p)| {
            p.starts_with(path) && m.left_on.is_none() && m.joined_on.is_some_and(|j| j < day("2025-01-01"))
        })
        .expect("a long-standing member")
        .0
}

#[tokio::test]
async fn member_counts_equal_the_rows_per_day_week_and_month() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    // A member of Bayern leaves on 2026-02-10 (counted that day, not the next), and
    // one joins on 2026-02-20.
    let rows = members_with_paths(&conn).await;
    let mut leaving = rows
        .iter()
        .find(|(m, p)| p.starts_with(&bayern.path) && m.left_on.is_none() && m.joined_on.is_some())
        .expect("a Bayern member")
        .0
        .clone()
        .into_active_model();
    leaving.left_on = Set(Some(day("2026-02-10")));
    leaving.status = Set(MemberStatus::Left);
    leaving.update(&conn).await.expect("leave");
    let joining_id = rows
        .iter()
        .filter(|(m, p)| p.starts_with(&bayern.path) && m.left_on.is_none() && m.joined_on.is_some())
        .map(|(m, _)| m.id)
        .nth(1)
        .expect("another Bayern member");
    let mut joining =
        member::Entity::find_by_id(joining_id).one(&conn).await.expect("q").expect("m").into_active_model();
    joining.joined_on = Set(Some(day("2026-02-20")));
    joining.left_on = Set(None);
    joining.update(&conn).await.expect("join");
    let rows = members_with_paths(&conn).await;

    let admin = server.token("admin").await;
    let daily = counts(&server, &admin, bayern.id, "2026-02-01", "2026-03-15", "DAY").await;
    assert_eq!(daily.len(), 43);
    for entry in &daily {
        let d = day(entry["periodEnd"].as_str().expect("end"));
        assert_eq!(entry["periodStart"], entry["periodEnd"]);
        assert_eq!(entry["count"].as_i64(), Some(expected(&rows, &bayern.path, d)), "{d}");
    }
    let by_day: BTreeMap<String, i64> = daily
        .iter()
        .map(|e| (e["periodEnd"].as_str().expect("end").to_owned(), e["count"].as_i64().expect("count")))
        .collect();
    // The leave and the join show up on their days.
    assert_eq!(by_day["2026-02-10"] - by_day["2026-02-11"], 1);
    assert_eq!(by_day["2026-02-20"] - by_day["2026-02-19"], 1);

    // 2026-02-01 is a Sunday: the first week is that day alone.
    let weekly = counts(&server, &admin, bayern.id, "2026-02-01", "2026-03-15", "WEEK").await;
    assert_eq!(weekly[0]["periodStart"], "2026-02-01");
    assert_eq!(weekly[0]["periodEnd"], "2026-02-01");
    assert_eq!(weekly[1]["periodStart"], "2026-02-02");
    assert_eq!(weekly[1]["periodEnd"], "2026-02-08");
    for entry in &weekly {
        let d = day(entry["periodEnd"].as_str().expect("end"));
        assert_eq!(entry["count"].as_i64(), Some(expected(&rows, &bayern.path, d)), "{d}");
    }
    let monthly = counts(&server, &admin, bayern.id, "2025-01-15", "2026-03-15", "MONTH").await;
    assert_eq!(monthly.len(), 15);
    assert_eq!(monthly[0]["periodEnd"], "2025-01-31");
    assert_eq!(monthly[1]["periodEnd"], "2025-02-28");
    assert_eq!(monthly[14]["periodEnd"], "2026-03-15");
    for entry in &monthly {
        let d = day(entry["periodEnd"].as_str().expect("end"));
        assert_eq!(entry["count"].as_i64(), Some(expected(&rows, &bayern.path, d)), "{d}");
    }
    // Members without a join date never count.
    let mut undated =
        member::Entity::find_by_id(joining_id).one(&conn).await.expect("q").expect("m").into_active_model();
    undated.joined_on = Set(None);
    undated.update(&conn).await.expect("undate");
    let after = counts(&server, &admin, bayern.id, "2026-03-15", "2026-03-15", "DAY").await;
    assert_eq!(after[0]["count"].as_i64(), Some(by_day["2026-03-15"] - 1));
}

#[tokio::test]
async fn member_counts_count_only_visible_members() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let root = unit(&conn, "Jugendbund Deutschland").await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let rows = members_with_paths(&conn).await;
    let d = today();
    let lsm = server.token("lsm.bayern").await;
    let admin = server.token("admin").await;
    let mine = counts(&server, &lsm, root.id, "2026-03-15", "2026-03-15", "DAY").await;
    let all = counts(&server, &admin, root.id, "2026-03-15", "2026-03-15", "DAY").await;
    assert_eq!(mine[0]["count"].as_i64(), Some(expected(&rows, &bayern.path, d)));
    assert_eq!(all[0]["count"].as_i64(), Some(expected(&rows, &root.path, d)));
    assert!(expected(&rows, &root.path, d) > expected(&rows, &bayern.path, d));

    // The CSV says the same.
    let csv = get(
        &server,
        Some(&lsm),
        &format!(
            "/reports/member-counts.csv?orgUnitId={}&from=2026-03-01&to=2026-03-15&interval=WEEK",
            gid(root.id)
        ),
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert_eq!(csv.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").is_some_and(|v| v.starts_with("attachment; filename=")));
    let table = csv.rows();
    assert_eq!(table[0], ["period_start", "period_end", "count"]);
    let weekly = counts(&server, &lsm, root.id, "2026-03-01", "2026-03-15", "WEEK").await;
    assert_eq!(table.len() - 1, weekly.len());
    for (row, entry) in table[1..].iter().zip(&weekly) {
        assert_eq!(row[0], entry["periodStart"].as_str().expect("start"));
        assert_eq!(row[1], entry["periodEnd"].as_str().expect("end"));
        assert_eq!(row[2], entry["count"].as_i64().expect("count").to_string());
        assert_eq!(row[2], expected(&rows, &bayern.path, day(&row[1])).to_string());
    }

    // Refusals: anonymous, a range too long, a bad interval, an invisible unit.
    let (_, body) = server
        .gql_as(&lsm, COUNTS, json!({ "unit": gid(root.id), "from": "2000-01-01", "to": "2026-01-01" }))
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert_eq!(error_field(&body), Some("to"));
    let body =
        server.gql(COUNTS, json!({ "unit": gid(root.id), "from": "2026-01-01", "to": "2026-01-02" })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let anonymous = get(
        &server,
        None,
        &format!("/reports/member-counts.csv?orgUnitId={}&from=2026-03-01&to=2026-03-15", gid(root.id)),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let bad = get(
        &server,
        Some(&lsm),
        &format!(
            "/reports/member-counts.csv?orgUnitId={}&from=2026-03-01&to=2026-03-15&interval=YEAR",
            gid(root.id)
        ),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "BAD_USER_INPUT");
    assert!(bad.json()["error"].as_str().is_some_and(|e| e.contains("interval")));
    // Stamm Regnitz is HIDDEN: sf.pegnitz may not see it; a missing unit answers alike.
    let regnitz = unit(&conn, "Stamm Regnitz").await;
    let sf = server.token("sf.pegnitz").await;
    let (_, hidden) = server
        .gql_as(&sf, COUNTS, json!({ "unit": gid(regnitz.id), "from": "2026-03-01", "to": "2026-03-15" }))
        .await;
    let (_, missing) = server
        .gql_as(&sf, COUNTS, json!({ "unit": gid(999_999), "from": "2026-03-01", "to": "2026-03-15" }))
        .await;
    assert_eq!(error_code(&hidden), Some("NOT_FOUND"), "{hidden}");
    assert_eq!(hidden["errors"][0]["message"], missing["errors"][0]["message"]);
    let path =
        |id: i64| format!("/reports/member-counts.csv?orgUnitId={}&from=2026-03-01&to=2026-03-15", gid(id));
    let hidden = get(&server, Some(&sf), &path(regnitz.id)).await;
    let missing = get(&server, Some(&sf), &path(999_999)).await;
    assert_eq!((hidden.status, missing.status), (404, 404));
    assert_eq!(hidden.text, missing.text);
}

fn export(unit: i64, extra: &str) -> String {
    format!("/exports/members.csv?orgUnitId={}{extra}", gid(unit))
}

#[tokio::test]
async fn the_export_holds_exactly_the_visible_members_of_the_subtree() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let root = unit(&conn, "Jugendbund Deutschland").await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let rows = members_with_paths(&conn).await;
    let lsm = server.token("lsm.bayern").await;
    let csv = get(&server, Some(&lsm), &export(root.id, "&includeDescendants=true")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert_eq!(csv.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").is_some_and(|v| v.contains("filename=\"members-")));
    assert!(csv.header("x-omitted-columns").is_none());
    // The default columns, no bank data.
    assert_eq!(
        csv.rows()[0].join(","),
        "membershipNumber,lastName,firstName,email,phone,street,postalCode,city,country,birthDate,status,joinedOn,\
         leftOn,votingRights,homeUnit"
    );
    let got: BTreeSet<String> = csv.column("membershipNumber").into_iter().collect();
    let want: BTreeSet<String> = rows
        .iter()
        .filter(|(_, p)| p.starts_with(&bayern.path))
        .map(|(m, _)| m.membership_number.clone())
        .collect();
    assert_eq!(got, want);
    assert_eq!(csv.rows().len() - 1, want.len(), "each member once");
    let elsewhere: BTreeSet<String> = rows
        .iter()
        .filter(|(_, p)| !p.starts_with(&bayern.path))
        .map(|(m, _)| m.membership_number.clone())
        .collect();
    assert!(got.is_disjoint(&elsewhere));

    // Without descendants: the members at home in the unit itself (none in a Land).
    let own = get(&server, Some(&lsm), &export(bayern.id, "&includeDescendants=false")).await;
    assert_eq!(own.status, 200);
    let at_bayern = rows.iter().filter(|(m, _)| m.home_unit_id == bayern.id).count();
    assert_eq!(own.rows().len() - 1, at_bayern);

    // A chosen column order, and more than one chunk's worth would read the same.
    let named =
        get(&server, Some(&lsm), &export(bayern.id, "&columns=lastName,membershipNumber,homeUnit")).await;
    assert_eq!(named.rows()[0], ["lastName", "membershipNumber", "homeUnit"]);
    assert_eq!(named.rows().len(), csv.rows().len());

    // Refusals.
    let anonymous = get(&server, None, &export(bayern.id, "")).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], "UNAUTHENTICATED");
    let bad_token = get(&server, Some("not-a-token"), &export(bayern.id, "")).await;
    assert_eq!(bad_token.status, 401);
    let unknown = get(&server, Some(&lsm), &export(bayern.id, "&columns=lastName,password")).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["code"], "BAD_USER_INPUT");
    assert!(unknown.json()["error"].as_str().is_some_and(|e| e.starts_with("columns")), "{}", unknown.text);
    let no_unit = get(&server, Some(&lsm), "/exports/members.csv").await;
    assert_eq!(no_unit.status, 400);
    assert!(no_unit.json()["error"].as_str().is_some_and(|e| e.starts_with("orgUnitId")));
    let bad_day = get(&server, Some(&lsm), &export(bayern.id, "&votingOn=15.03.2026")).await;
    assert_eq!(bad_day.status, 400);
    assert!(bad_day.json()["error"].as_str().is_some_and(|e| e.starts_with("votingOn")));
    let regnitz = unit(&conn, "Stamm Regnitz").await;
    let sf = server.token("sf.pegnitz").await;
    let hidden = get(&server, Some(&sf), &export(regnitz.id, "")).await;
    let missing = get(&server, Some(&sf), &export(999_999, "")).await;
    assert_eq!((hidden.status, missing.status), (404, 404));
    assert_eq!(hidden.text, missing.text);
    assert_eq!(hidden.json()["code"], "NOT_FOUND");
    // A unit the caller sees but whose members they may not read: an empty list.
    let hessen = unit(&conn, "Landesverband Hessen").await;
    let foreign = get(&server, Some(&sf), &export(hessen.id, "")).await;
    assert_eq!(foreign.status, 200);
    assert_eq!(foreign.rows().len(), 1, "{}", foreign.text);
}

#[tokio::test]
async fn bank_columns_need_bank_read_throughout_and_are_audited() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let root = unit(&conn, "Jugendbund Deutschland").await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let niedersachsen = unit(&conn, "Landesverband Niedersachsen").await;
    let rows = members_with_paths(&conn).await;

    // state_board: member.read, no bank.read. The column is left out and named.
    let lv = server.token("lv.niedersachsen").await;
    let csv = get(&server, Some(&lv), &export(niedersachsen.id, "&columns=lastName,iban,bic")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert_eq!(csv.header("x-omitted-columns").as_deref(), Some("iban,bic"));
    assert_eq!(csv.rows()[0], ["lastName"]);
    assert!(!csv.text.contains("DE"), "no IBAN in the file");
    let only_bank = get(&server, Some(&lv), &export(niedersachsen.id, "&columns=iban")).await;
    assert_eq!(only_bank.status, 403);
    assert_eq!(only_bank.json()["code"], "FORBIDDEN");

    // state_treasurer at Bayern: IBANs of Bayern, matching the stored ones.
    let before = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("bank.export"))
        .all(&conn)
        .await
        .expect("audit")
        .len();
    let lsm = server.token("lsm.bayern").await;
    let csv =
        get(&server, Some(&lsm), &export(bayern.id, "&columns=membershipNumber,iban,accountHolder")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("x-omitted-columns").is_none());
    let accounts: BTreeMap<i64, bank_account::Model> = bank_account::Entity::find()
        .all(&conn)
        .await
        .expect("banks")
        .into_iter()
        .map(|a| (a.member_id, a))
        .collect();
    let numbers: BTreeMap<&str, i64> =
        rows.iter().map(|(m, _)| (m.membership_number.as_str(), m.id)).collect();
    let table = csv.rows();
    let mut with_iban = 0;
    for row in &table[1..] {
        let id = numbers[row[0].as_str()];
        let stored = accounts.get(&id).map(|a| a.iban.clone()).unwrap_or_default();
        assert_eq!(row[1], stored);
        with_iban += usize::from(!row[1].is_empty());
    }
    assert!(with_iban > 10, "Bayern members have IBANs");
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("bank.export"))
        .all(&conn)
        .await
        .expect("audit");
    assert_eq!(events.len(), before + 1);
    let event = events.last().expect("event");
    assert_eq!(event.entity, "org_unit");
    assert_eq!(event.entity_id, bayern.id.to_string());
    assert_eq!(event.actor_user_id, Some(server.user("lsm.bayern").await.id));
    let after = event.after.clone().expect("after");
    assert_eq!(after["rows"].as_u64(), Some((table.len() - 1) as u64));
    assert_eq!(after["columns"], json!(["membershipNumber", "iban", "accountHolder"]));

    // At the root lsm.bayern holds no bank.read: left out, and nothing audited.
    let csv = get(&server, Some(&lsm), &export(root.id, "&columns=membershipNumber,iban")).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("x-omitted-columns").as_deref(), Some("iban"));
    let count = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("bank.export"))
        .all(&conn)
        .await
        .expect("audit")
        .len();
    assert_eq!(count, before + 1);
}

#[tokio::test]
async fn the_accreditation_list_holds_the_members_entitled_to_vote_on_the_day() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let rows = members_with_paths(&conn).await;
    let voters: Vec<&member::Model> = rows
        .iter()
        .filter(|(m, p)| {
            p.starts_with(&bayern.path)
                && m.voting_rights
                && m.status != MemberStatus::Applicant
                && m.left_on.is_none()
        })
        .map(|(m, _)| m)
        .collect();
    assert!(voters.len() >= 4, "demo voters in Bayern");
    // One leaves before the assembly, one leaves on its day (still a member), one
    // joins after it, one is an applicant again.
    // (member, joined_on, left_on, status)
    type Change<'a> = (i64, Option<&'a str>, Option<&'a str>, Option<MemberStatus>);
    let changes: [Change; 4] = [
        (voters[0].id, None, Some("2026-03-01"), None),
        (voters[1].id, None, Some("2026-03-15"), None),
        (voters[2].id, Some("2026-03-16"), None, None),
        (voters[3].id, None, None, Some(MemberStatus::Applicant)),
    ];
    for (id, joined, left, status) in changes {
        let mut m =
            member::Entity::find_by_id(id).one(&conn).await.expect("q").expect("m").into_active_model();
        if let Some(j) = joined {
            m.joined_on = Set(Some(day(j)));
        }
        if let Some(l) = left {
            m.left_on = Set(Some(day(l)));
        }
        if let Some(s) = status {
            m.status = Set(s);
        }
        m.update(&conn).await.expect("update");
    }
    let rows = members_with_paths(&conn).await;
    let on = day("2026-03-15");
    let want: BTreeSet<String> = rows
        .iter()
        .filter(|(m, p)| {
            p.starts_with(&bayern.path)
                && m.voting_rights
                && m.status != MemberStatus::Applicant
                && active_on(m, on)
        })
        .map(|(m, _)| m.membership_number.clone())
        .collect();
    let number = |id: i64| rows.iter().find(|(m, _)| m.id == id).map(|(m, _)| m.membership_number.clone());

    let admin = server.token("admin").await;
    let csv = get(&server, Some(&admin), &export(bayern.id, "&votingOn=2026-03-15")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("content-disposition").is_some_and(|v| v.contains("accreditation-")));
    assert_eq!(csv.rows()[0], ["membershipNumber", "lastName", "firstName", "homeUnit"]);
    let got: BTreeSet<String> = csv.column("membershipNumber").into_iter().collect();
    assert_eq!(got, want);
    assert!(!got.contains(&number(voters[0].id).expect("n")), "left before the day");
    assert!(got.contains(&number(voters[1].id).expect("n")), "leaves on the day: still a member");
    assert!(!got.contains(&number(voters[2].id).expect("n")), "joins after the day");
    assert!(!got.contains(&number(voters[3].id).expect("n")), "applicant");
    let no_rights =
        rows.iter().find(|(m, p)| p.starts_with(&bayern.path) && !m.voting_rights).expect("a minor");
    assert!(!got.contains(&no_rights.0.membership_number));
    // Home units are named.
    let names: BTreeSet<String> = org_unit::Entity::find()
        .all(&conn)
        .await
        .expect("units")
        .into_iter()
        .filter(|u| u.path.starts_with(&bayern.path))
        .map(|u| u.name)
        .collect();
    assert!(csv.column("homeUnit").iter().all(|u| names.contains(u)), "{}", csv.text);
}

#[tokio::test]
async fn cells_that_look_like_formulas_are_defused() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let target = long_standing_member(&conn, &bayern.path).await;
    let home = org_unit::Entity::find_by_id(target.home_unit_id).one(&conn).await.expect("q").expect("unit");
    let mut m = target.clone().into_active_model();
    m.first_name = Set("=SUM(1)".to_owned());
    m.last_name = Set("Komma, \"Zitat\"".to_owned());
    m.update(&conn).await.expect("rename");
    let admin = server.token("admin").await;
    let csv =
        get(&server, Some(&admin), &export(home.id, "&columns=membershipNumber,firstName,lastName")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.text.contains(",'=SUM(1),"), "{}", csv.text);
    assert!(!csv.text.contains(",=SUM"));
    let row = csv.rows().into_iter().find(|r| r[0] == target.membership_number).expect("row");
    assert_eq!(row[1], "'=SUM(1)");
    assert_eq!(row[2], "Komma, \"Zitat\"");
}

/// The values that matter for CSV injection, as stored and as a spreadsheet must get
/// them: formulas defused with a leading `'`, numbers and phone numbers intact.
#[tokio::test]
async fn excel_dialect_is_bom_semicolons_german_headers_crlf_with_formulas_defused() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let bayern = unit(&conn, "Landesverband Bayern").await;
    let target = long_standing_member(&conn, &bayern.path).await;
    let mut m = target.clone().into_active_model();
    m.first_name = Set("=HYPERLINK(\"http://x.example/?q=1\";\"klick\")".to_owned());
    m.last_name = Set("+SUM(1,2)".to_owned());
    m.phone = Set(Some("+49 30 1234567".to_owned()));
    m.street = Set(Some("-2+3".to_owned()));
    m.city = Set(Some("@cmd".to_owned()));
    m.postal_code = Set(Some("\t=1+1".to_owned()));
    m.email = Set(Some("\r=1+1".to_owned()));
    m.update(&conn).await.expect("update");
    let admin = server.token("admin").await;
    let columns = "columns=membershipNumber,firstName,lastName,phone,street,city,postalCode,email";
    let path = format!("/exports/members.csv?orgUnitId={}&includeDescendants=true&{columns}", gid(bayern.id));
    let number = &target.membership_number;

    let (status, excel) = get_bytes(&server, &admin, &format!("{path}&dialect=excel")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&excel));
    let header = "\u{FEFF}Mitgliedsnummer;Vorname;Nachname;Telefon;Straße;Ort;PLZ;E-Mail\r\n";
    assert!(excel.starts_with(header.as_bytes()), "{:?}", String::from_utf8_lossy(&excel[..80]));
    let row = format!(
        "\r\n{number};\"'=HYPERLINK(\"\"http://x.example/?q=1\"\";\"\"klick\"\")\";'+SUM(1,2);+49 30 1234567;'-2+3;'@cmd;'\t=1+1;\"'\r=1+1\"\r\n"
    );
    let text = String::from_utf8(excel.clone()).expect("UTF-8");
    assert!(text.contains(&row), "no row {row:?} in\n{text}");
    // Every line ends with CRLF: no bare line feed outside quotes, and the file ends
    // with one.
    assert!(text.ends_with("\r\n"));
    let bare_lf = text.match_indices('\n').filter(|(i, _)| text.as_bytes()[i - 1] != b'\r').count();
    assert_eq!(bare_lf, 0);
    assert_eq!(text.matches('\u{FEFF}').count(), 1, "one BOM, at the start");

    // The default dialect: the same cells with `,`, English headers, no BOM.
    let (status, standard) = get_bytes(&server, &admin, &path).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(standard).expect("UTF-8");
    assert!(text.starts_with("membershipNumber,firstName,lastName,phone,street,city,postalCode,email\r\n"));
    let row = format!(
        "\r\n{number},\"'=HYPERLINK(\"\"http://x.example/?q=1\"\";\"\"klick\"\")\",\"'+SUM(1,2)\",+49 30 1234567,'-2+3,'@cmd,'\t=1+1,\"'\r=1+1\"\r\n"
    );
    assert!(text.contains(&row), "no row {row:?} in\n{text}");

    // The member counts in the same dialect.
    let counts = format!(
        "/reports/member-counts.csv?orgUnitId={}&from=2026-03-01&to=2026-03-03&dialect=excel",
        gid(bayern.id)
    );
    let (status, body) = get_bytes(&server, &admin, &counts).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("UTF-8");
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    assert_eq!(lines[0], "\u{FEFF}Beginn;Ende;Mitglieder");
    assert!(lines[1].starts_with("2026-03-01;2026-03-01;"), "{text:?}");

    // An unknown dialect is refused, naming the parameter.
    let bad = get(&server, Some(&admin), &format!("{path}&dialect=lotus")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "BAD_USER_INPUT");
    assert!(bad.json()["error"].as_str().is_some_and(|e| e.starts_with("dialect:")), "{}", bad.text);
}
