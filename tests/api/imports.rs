//! Member imports over HTTP (`POST /imports/members.csv`) and GraphQL
//! (`importMembers`) as the demo personas: all or nothing, dry runs, matching by
//! number and by name and birth date, R11 and R13 per row, exports read back in
//! both dialects, Idempotency-Key. Expectations come from docs/workflows.md
//! (imports), R11 and R13 and the documented personas; the demo day is 2026-03-15.
use crate::common::{TestServer, error_code, gid, members_without_login, unit};
use entity::{audit_event, bank_account, member};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

/// The answer to an upload.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn counts(&self) -> (u64, u64, u64, u64) {
        let n = |k: &str| self.body[k].as_u64().unwrap_or_else(|| panic!("{k} in {}", self.body));
        (n("created"), n("updated"), n("unchanged"), n("errorCount"))
    }

    /// (line, field, code) of each listed error.
    fn errors(&self) -> Vec<(u64, Option<String>, String)> {
        self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("errors in {}", self.body))
            .iter()
            .map(|e| {
                (
                    e["line"].as_u64().expect("line"),
                    e["field"].as_str().map(str::to_owned),
                    e["code"].as_str().expect("code").to_owned(),
                )
            })
            .collect()
    }
}

async fn upload(
    server: &TestServer,
    token: Option<&str>,
    query: &str,
    body: impl Into<Vec<u8>>,
    key: Option<&str>,
) -> Answer {
    let mut request = server
        .client
        .post(format!("{}/imports/members.csv{query}", server.base))
        .header("content-type", "text/csv")
        .body(body.into());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Answer { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
}

async fn member_count(conn: &DatabaseConnection) -> u64 {
    member::Entity::find().count(conn).await.expect("count")
}

async fn audit_count(conn: &DatabaseConnection) -> u64 {
    audit_event::Entity::find().count(conn).await.expect("count")
}

async fn by_name(conn: &DatabaseConnection, first: &str, last: &str) -> Vec<member::Model> {
    member::Entity::find()
        .filter(member::Column::FirstName.eq(first))
        .filter(member::Column::LastName.eq(last))
        .all(conn)
        .await
        .expect("members")
}

async fn reload(conn: &DatabaseConnection, m: &member::Model) -> member::Model {
    member::Entity::find_by_id(m.id).one(conn).await.expect("q").expect("member")
}

async fn events(conn: &DatabaseConnection, action: &str, member_id: i64) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .filter(audit_event::Column::EntityId.eq(member_id.to_string()))
        .all(conn)
        .await
        .expect("audit")
}

/// A row of `cells` for the header `membershipNumber,firstName,lastName,birthDate,
/// email,city,homeUnit` that keeps `m` as it is, but for `city`.
fn keep_row(m: &member::Model, city: &str, unit: &str) -> String {
    format!(
        "{},{},{},{},{},{city},{unit}\n",
        m.membership_number,
        m.first_name,
        m.last_name,
        m.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        m.email.clone().unwrap_or_default(),
    )
}

const HEADER: &str = "membershipNumber,firstName,lastName,birthDate,email,city,homeUnit\n";

#[tokio::test]
async fn a_good_file_creates_and_updates_members_each_with_its_audit_record() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let existing = members_without_login(&conn, "Stamm Fulda").await.remove(0);
    let highest = member::Entity::find()
        .all(&conn)
        .await
        .expect("members")
        .iter()
        .filter_map(|m| m.membership_number.parse::<u64>().ok())
        .max()
        .expect("numbers");
    let members_before = member_count(&conn).await;
    let file = format!(
        "membershipNumber,firstName,lastName,birthDate,email,city,homeUnit,iban,accountHolder\n\
         ,Mara,Quandt,2012-04-01,mara@example.org,Fulda,Stamm Fulda,DE89 3704 0044 0532 0130 00,Eltern Quandt\n\
         ,Nils,Quandt,2014-09-30,,Marburg,Stamm Lahn,,\n\
         {},{},{},{},{}, Neustadt ,Stamm Fulda,,\n",
        existing.membership_number,
        existing.first_name,
        existing.last_name,
        existing.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        existing.email.clone().unwrap_or_default(),
    );
    let answer = upload(&server, Some(&token), "", file, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.counts(), (2, 1, 0, 0), "{}", answer.body);
    assert_eq!(answer.body["committed"], true);
    assert_eq!(answer.body["rows"], 3);

    assert_eq!(member_count(&conn).await, members_before + 2);
    let mara = by_name(&conn, "Mara", "Quandt").await.remove(0);
    let nils = by_name(&conn, "Nils", "Quandt").await.remove(0);
    assert_eq!(mara.home_unit_id, unit(&conn, "Stamm Fulda").await.id);
    assert_eq!(nils.home_unit_id, unit(&conn, "Stamm Lahn").await.id);
    assert_eq!((mara.email.as_deref(), nils.email.as_deref()), (Some("mara@example.org"), None));
    // The defaults of createMember, and the next numbers of the counter.
    assert_eq!((mara.status, mara.joined_on), (entity::MemberStatus::Active, Some(crate::common::today())));
    let mut numbers: Vec<u64> =
        [&mara, &nils].iter().map(|m| m.membership_number.parse().expect("a number")).collect();
    numbers.sort_unstable();
    assert!(numbers[0] > highest && numbers[1] == numbers[0] + 1, "{numbers:?} after {highest}");
    let bank = bank_account::Entity::find_by_id(mara.id).one(&conn).await.expect("q").expect("account");
    assert_eq!(
        (bank.iban.as_str(), bank.account_holder.as_str()),
        ("DE89370400440532013000", "Eltern Quandt")
    );
    assert!(bank_account::Entity::find_by_id(nils.id).one(&conn).await.expect("q").is_none());
    // Only the city changed.
    let updated = reload(&conn, &existing).await;
    assert_eq!(updated.city.as_deref(), Some("Neustadt"));
    let unchanged = member::Model {
        city: existing.city.clone(),
        updated_at: existing.updated_at,
        updated_by: existing.updated_by,
        ..updated.clone()
    };
    assert_eq!(unchanged, existing, "nothing else changed");

    // One record per change, with the request's id; bank data masked.
    let request_id = answer.header("x-request-id").expect("request id").to_owned();
    for (action, id) in
        [("member.create", mara.id), ("member.create", nils.id), ("bank_account.set", mara.id)]
    {
        let found = events(&conn, action, id).await;
        assert_eq!(found.len(), 1, "{action} {id}");
        assert_eq!(found[0].request_id.as_deref(), Some(request_id.as_str()));
        assert!(!format!("{:?}", found[0].after).contains("0532013000"), "IBAN in the audit trail");
    }
    let update = events(&conn, "member.update", existing.id).await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].after, Some(json!({ "city": "Neustadt" })));
    assert_eq!(update[0].before, Some(json!({ "city": existing.city })));
}

#[tokio::test]
async fn one_bad_row_in_the_middle_writes_nothing_and_is_reported_by_line() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let (members, audits) = (member_count(&conn).await, audit_count(&conn).await);
    // 2,500 rows: the bad one is in the second chunk, after a chunk was written.
    let mut file = String::from("firstName,lastName,birthDate,homeUnit\n");
    for i in 0..2_500 {
        let day = if i == 1_698 { "2010-13-01".to_owned() } else { format!("2010-01-{:02}", i % 28 + 1) };
        file.push_str(&format!("Kind{i},Import,{day},Stamm Fulda\n"));
    }
    let answer = upload(&server, Some(&token), "", file.clone(), None).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.errors(), vec![(1_700, Some("birthDate".to_owned()), "BAD_USER_INPUT".to_owned())]);
    assert_eq!(answer.body["committed"], false);
    assert_eq!(answer.counts(), (2_499, 0, 0, 1), "what would have happened");
    assert_eq!((member_count(&conn).await, audit_count(&conn).await), (members, audits), "nothing written");
    assert!(by_name(&conn, "Kind0", "Import").await.is_empty());

    // VALID_ROWS writes the good rows and reports the bad one.
    let answer = upload(&server, Some(&token), "?mode=VALID_ROWS", file, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.counts(), (2_499, 0, 0, 1));
    assert_eq!(answer.body["committed"], true);
    assert_eq!(member_count(&conn).await, members + 2_499);
    assert!(by_name(&conn, "Kind1698", "Import").await.is_empty());
}

#[tokio::test]
async fn a_dry_run_tells_what_would_happen_and_changes_nothing() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let fulda = members_without_login(&conn, "Stamm Fulda").await;
    let (moved, kept) = (&fulda[0], &fulda[1]);
    let file = format!(
        "{HEADER},Lia,Sommer,2013-06-07,,Fulda,Stamm Fulda\n{}{}",
        keep_row(moved, "Bad Hersfeld", "Stamm Fulda"),
        keep_row(kept, kept.city.as_deref().unwrap_or_default(), "Stamm Fulda"),
    );
    let (members, audits) = (member_count(&conn).await, audit_count(&conn).await);
    let answer = upload(&server, Some(&token), "?dryRun=true", file.clone(), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.counts(), (1, 1, 1, 0));
    assert_eq!(
        (answer.body["dryRun"].clone(), answer.body["committed"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!((member_count(&conn).await, audit_count(&conn).await), (members, audits));
    assert_eq!(reload(&conn, moved).await.city, moved.city);

    // The real run does what the dry run said.
    let answer = upload(&server, Some(&token), "", file, None).await;
    assert_eq!(answer.counts(), (1, 1, 1, 0), "{}", answer.body);
    assert_eq!(reload(&conn, moved).await.city.as_deref(), Some("Bad Hersfeld"));
    assert_eq!(member_count(&conn).await, members + 1);
}

#[tokio::test]
async fn the_same_file_twice_changes_nothing_the_second_time() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let existing = members_without_login(&conn, "Stamm Eder").await.remove(0);
    let file = format!(
        "membershipNumber,firstName,lastName,birthDate,email,city,homeUnit,iban,accountHolder\n\
         ,Jule,Brandt,2011-11-11,jule@example.org,Kassel,Stamm Eder,DE89370400440532013000,Jule Brandt\n\
         ,Timo,Brandt,,,Kassel,Stamm Eder,,\n\
         ,Jule,Brandt,2011-11-11,,,Stamm Eder,,\n\
         {},{},{},{},{},Homberg,Stamm Eder,,\n",
        existing.membership_number,
        existing.first_name,
        existing.last_name,
        existing.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        existing.email.clone().unwrap_or_default()
    );
    let first = upload(&server, Some(&token), "", file.clone(), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // Jule's second row says nothing new about her: the same person, not a second one.
    assert_eq!(first.counts(), (2, 1, 1, 0), "{}", first.body);
    let (members, audits) = (member_count(&conn).await, audit_count(&conn).await);
    let second = upload(&server, Some(&token), "", file, None).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.counts(), (0, 0, 4, 0), "{}", second.body);
    assert_eq!((member_count(&conn).await, audit_count(&conn).await), (members, audits));
    assert_eq!(by_name(&conn, "Jule", "Brandt").await.len(), 1);

    // The same person with something else to say is a DUPLICATE naming the member.
    let jule = by_name(&conn, "Jule", "Brandt").await.remove(0);
    let answer = upload(
        &server,
        Some(&token),
        "",
        "firstName,lastName,birthDate,email,homeUnit\nJule,Brandt,2011-11-11,jule@example.net,Stamm Eder\n",
        None,
    )
    .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.errors(), vec![(2, Some("membershipNumber".to_owned()), "DUPLICATE".to_owned())]);
    assert_eq!(answer.body["errors"][0]["membershipNumber"], jule.membership_number.as_str());
    assert!(answer.body["errors"][0]["message"].as_str().unwrap_or_default().contains("email"));
}

/// ssm.isar (treasurer at Stamm Isar) also made member administrator there.
async fn stamm_officer(server: &TestServer, conn: &DatabaseConnection) -> String {
    use entity::{activity, permission_group};
    let admin = server.token("admin").await;
    let activity = activity::Entity::find()
        .filter(activity::Column::Name.eq("Stammesschatzmeister/in"))
        .one(conn)
        .await
        .expect("q")
        .expect("activity");
    let group = permission_group::Entity::find()
        .filter(permission_group::Column::Key.eq("member_admin"))
        .one(conn)
        .await
        .expect("q")
        .expect("group");
    let input = json!({
        "memberId": gid("Member", server.user("ssm.isar").await.member_id.expect("member")),
        "activityId": gid("Activity", activity.id),
        "orgUnitId": gid("OrgUnit", unit(conn, "Stamm Isar").await.id),
        "levelGroupId": gid("PermissionGroup", group.id),
        "startsOn": "2026-03-01",
    });
    let (_, body) = server
        .gql_as(
            &admin,
            "mutation($i: AssignActivityInput!) { assignActivity(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    server.token("ssm.isar").await
}

#[tokio::test]
async fn r13_a_stamm_officer_imports_rows_for_their_stamm_only() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    // A plain treasurer may create nobody.
    let treasurer = server.token("ssm.isar").await;
    let answer =
        upload(&server, Some(&treasurer), "", "firstName,lastName,homeUnit\nEmil,Vogt,Stamm Isar\n", None)
            .await;
    assert_eq!(answer.errors(), vec![(2, Some("homeUnit".to_owned()), "FORBIDDEN".to_owned())]);
    assert_eq!(answer.body["errors"][0]["permission"], "member.create");

    let officer = stamm_officer(&server, &conn).await;
    let own = members_without_login(&conn, "Stamm Isar").await.remove(0);
    let other = members_without_login(&conn, "Stamm Pegnitz").await.remove(0);
    let (members, audits) = (member_count(&conn).await, audit_count(&conn).await);
    let file = format!(
        "membershipNumber,firstName,lastName,homeUnit,iban,accountHolder\n\
         ,Emil,Vogt,Stamm Isar,DE89370400440532013000,Emil Vogt\n\
         ,Greta,Vogt,Stamm Pegnitz,,\n\
         {},{},{},Stamm Pegnitz,,\n\
         {},{},{},Stamm Pegnitz,,\n\
         ,Hanna,Vogt,Stamm Isar,,\n",
        own.membership_number,
        own.first_name,
        own.last_name,
        other.membership_number,
        other.first_name,
        other.last_name,
    );
    let answer = upload(&server, Some(&officer), "", file, None).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(
        answer.errors(),
        vec![
            (3, Some("homeUnit".to_owned()), "FORBIDDEN".to_owned()),
            (4, Some("homeUnit".to_owned()), "FORBIDDEN".to_owned()),
            // Not theirs to see (R11): as if the number did not exist.
            (5, Some("membershipNumber".to_owned()), "NOT_FOUND".to_owned()),
        ]
    );
    let permissions: Vec<&str> = answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["permission"].as_str())
        .collect();
    assert_eq!(permissions, ["member.create", "member.write"]);
    assert!(answer.body["errors"][1]["message"].as_str().unwrap_or_default().contains("Stamm Pegnitz"));
    assert_eq!(answer.counts(), (2, 0, 0, 3));
    // The good rows are not written either.
    assert_eq!((member_count(&conn).await, audit_count(&conn).await), (members, audits));
    assert!(by_name(&conn, "Emil", "Vogt").await.is_empty());
    assert_eq!(reload(&conn, &own).await.home_unit_id, own.home_unit_id);

    // Without the refused rows, the import goes through.
    let answer = upload(
        &server,
        Some(&officer),
        "",
        "firstName,lastName,homeUnit,iban,accountHolder\nEmil,Vogt,Stamm Isar,DE89370400440532013000,Emil Vogt\n",
        None,
    )
    .await;
    assert_eq!((answer.status, answer.counts()), (200, (1, 0, 0, 0)), "{}", answer.body);
}

#[tokio::test]
async fn r11_a_hidden_members_number_is_not_found_like_a_number_nobody_has() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    // A member in Bayern: invisible to Hessen's member administrator.
    let hidden = members_without_login(&conn, "Landesverband Bayern").await.remove(0);
    let unknown = "99999999";
    let file = |number: &str| format!("membershipNumber,firstName,lastName\n{number},Eva,Neu\n");
    let for_hidden = upload(&server, Some(&token), "", file(&hidden.membership_number), None).await;
    let for_unknown = upload(&server, Some(&token), "", file(unknown), None).await;
    assert_eq!(for_hidden.status, for_unknown.status);
    assert_eq!(for_hidden.errors(), vec![(2, Some("membershipNumber".to_owned()), "NOT_FOUND".to_owned())]);
    let neutral = |a: &Answer, n: &str| a.body.to_string().replace(n, "N");
    assert_eq!(neutral(&for_hidden, &hidden.membership_number), neutral(&for_unknown, unknown));
    assert_eq!(reload(&conn, &hidden).await, hidden, "nothing changed on the hidden member");

    // Never matched as a duplicate either: the same identity is a new member.
    let twin = format!(
        "firstName,lastName,birthDate,homeUnit\n{},{},{},Stamm Fulda\n",
        hidden.first_name,
        hidden.last_name,
        hidden.birth_date.map(|d| d.to_string()).unwrap_or_default()
    );
    let answer = upload(&server, Some(&token), "?dryRun=true", twin, None).await;
    assert_eq!((answer.status, answer.counts()), (200, (1, 0, 0, 0)), "{}", answer.body);
    assert!(!answer.body.to_string().contains(&hidden.membership_number));
}

/// `text` with the cell of `column` in the row of member `number` set to `value`,
/// and `extra` appended as a row (cells by column name), in the file's dialect.
fn edit(
    text: &str,
    delimiter: u8,
    number: &str,
    column: &str,
    value: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let bom = text.starts_with('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    let at =
        |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let mut out = if bom { "\u{feff}".as_bytes().to_vec() } else { Vec::new() };
    {
        let mut writer = csv::WriterBuilder::new().delimiter(delimiter).from_writer(&mut out);
        writer.write_record(&header).expect("header");
        for record in reader.records() {
            let mut cells: Vec<String> = record.expect("row").iter().map(str::to_owned).collect();
            if cells[0] == number {
                cells[at(column)] = value.to_owned();
            }
            writer.write_record(&cells).expect("row");
        }
        let mut row = vec![String::new(); header.len()];
        for (name, value) in extra {
            row[at(name)] = (*value).to_owned();
        }
        writer.write_record(&row).expect("row");
        writer.flush().expect("flush");
    }
    out
}

#[tokio::test]
async fn an_export_edited_and_imported_back_changes_what_was_edited_in_both_dialects() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let hessen = unit(&conn, "Landesverband Hessen").await;
    let columns = "membershipNumber,firstName,lastName,email,phone,street,postalCode,city,country,birthDate,\
                   status,joinedOn,leftOn,votingRights,homeUnit,iban,bic,accountHolder";
    let edited = members_without_login(&conn, "Stamm Odenwald").await.remove(0);
    for (dialect, delimiter, headers) in [
        ("standard", b',', ("city", "firstName", "lastName", "homeUnit")),
        ("excel", b';', ("Ort", "Vorname", "Nachname", "Gliederung")),
    ] {
        let path = format!(
            "/exports/members.csv?orgUnitId={}&columns={columns}&dialect={dialect}",
            gid("OrgUnit", hessen.id)
        );
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("export");
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers().get("x-omitted-columns").is_none(), "bank columns readable");
        let text = response.text().await.expect("body");
        let rows = text.lines().count() as u64 - 1;
        assert!(rows > 20, "{rows} rows");

        // As exported: nothing to change.
        let answer = upload(&server, Some(&token), "", text.clone(), None).await;
        assert_eq!(answer.status, 200, "{dialect}: {}", answer.body);
        assert_eq!(answer.counts(), (0, 0, rows, 0), "{dialect}: {}", answer.body);

        // One city edited and one member added.
        let city = format!("Erbach {dialect}");
        let first = format!("Neu{dialect}");
        let file = edit(
            &text,
            delimiter,
            &edited.membership_number,
            headers.0,
            &city,
            &[(headers.1, &first), (headers.2, "Import"), (headers.3, "Stamm Odenwald")],
        );
        let answer = upload(&server, Some(&token), "", file, None).await;
        assert_eq!(answer.status, 200, "{dialect}: {}", answer.body);
        assert_eq!(answer.counts(), (1, 1, rows - 1, 0), "{dialect}: {}", answer.body);
        assert_eq!(reload(&conn, &edited).await.city.as_deref(), Some(city.as_str()));
        assert_eq!(by_name(&conn, &first, "Import").await.len(), 1);
    }
}

#[tokio::test]
async fn a_german_spreadsheet_file_is_read_with_its_headers_dates_and_flags() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let file = "\u{feff}Vorname;Nachname;Geburtsdatum;Gliederung;Stimmrecht;Telefon;IBAN;Kontoinhaber\r\n\
                Lena;Roth;03.05.2008;Stamm Fulda;WAHR;+49 661 123456;DE89 3704 0044 0532 0130 00;Lena Roth\r\n\
                '=Ida;Roth;;Stamm Fulda;FALSCH;;;\r\n";
    let answer = upload(&server, Some(&token), "", file, None).await;
    assert_eq!((answer.status, answer.counts()), (200, (2, 0, 0, 0)), "{}", answer.body);
    let lena = by_name(&conn, "Lena", "Roth").await.remove(0);
    assert_eq!(lena.birth_date.map(|d| d.to_string()).as_deref(), Some("2008-05-03"));
    assert!(lena.voting_rights);
    assert_eq!(lena.phone.as_deref(), Some("+49 661 123456"));
    assert!(bank_account::Entity::find_by_id(lena.id).one(&conn).await.expect("q").is_some());
    // A defused cell reads back as what was defused.
    assert_eq!(by_name(&conn, "=Ida", "Roth").await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_answers_a_retry_with_the_first_report() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let file = "firstName,lastName,homeUnit\nOle,Kranz,Stamm Fulda\nPia,Kranz,Stamm Fulda\n";
    let key = "6f1c2b0e-7d3a-4f5e-9c8b-1a2b3c4d5e6f";
    let first = upload(&server, Some(&token), "", file, Some(key)).await;
    assert_eq!((first.status, first.counts()), (200, (2, 0, 0, 0)), "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let audits = audit_count(&conn).await;
    let retry = upload(&server, Some(&token), "", file, Some(key)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body, "the first import's report");
    assert_eq!(by_name(&conn, "Ole", "Kranz").await.len(), 1);
    assert_eq!(audit_count(&conn).await, audits);
    // The key belongs to those rows.
    let other =
        upload(&server, Some(&token), "", "firstName,lastName,homeUnit\nOle,Kranz,Stamm Lahn\n", Some(key))
            .await;
    assert_eq!((other.status, other.body["code"].as_str()), (409, Some("CONFLICT")), "{}", other.body);
    // Without the key, the same file is simply unchanged.
    let again = upload(&server, Some(&token), "", file, None).await;
    assert_eq!(again.counts(), (0, 0, 2, 0));
    let bad = upload(&server, Some(&token), "", file, Some("mit leerzeichen")).await;
    assert_eq!((bad.status, bad.body["code"].as_str()), (400, Some("BAD_USER_INPUT")));
}

const IMPORT: &str =
    "mutation($rows: [MemberImportRow!]!, $dryRun: Boolean! = false, $mode: ImportMode! = ALL_OR_NOTHING, $key: String) {
  importMembers(rows: $rows, dryRun: $dryRun, mode: $mode, idempotencyKey: $key) {
    dryRun mode committed replayed rows created updated unchanged errorCount
    errors { line field code message permission membershipNumber }
  }
}";

#[tokio::test]
async fn import_members_takes_rows_with_the_same_rules_and_report() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let token = server.token("mv.hessen").await;
    let existing = members_without_login(&conn, "Stamm Taunus").await.remove(0);
    let rows = json!([
        { "firstName": "Rita", "lastName": "Sauer", "birthDate": "2012-02-02", "homeUnit": "Stamm Taunus",
          "votingRights": false, "iban": "DE89370400440532013000", "accountHolder": "Rita Sauer" },
        { "membershipNumber": existing.membership_number, "city": null },
        { "firstName": "Udo", "lastName": "Sauer", "homeUnit": "Stamm Taunus", "iban": "DE00123" },
        { "membershipNumber": existing.membership_number, "homeUnit": gid("OrgUnit", unit(&conn, "Stamm Fulda").await.id) },
    ]);
    let (status, body) = server.gql_as(&token, IMPORT, json!({ "rows": rows })).await;
    assert_eq!(status, 200);
    let report = &body["data"]["importMembers"];
    assert_eq!(report["committed"], false, "{body}");
    assert_eq!(
        (report["created"].clone(), report["updated"].clone(), report["errorCount"].clone()),
        (json!(1), json!(2), json!(1))
    );
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["field"], "iban");
    assert_eq!(report["errors"][0]["code"], "BAD_USER_INPUT");
    assert!(by_name(&conn, "Rita", "Sauer").await.is_empty());

    let (_, body) =
        server.gql_as(&token, IMPORT, json!({ "rows": rows, "mode": "VALID_ROWS", "key": "k-1" })).await;
    let report = &body["data"]["importMembers"];
    assert_eq!(
        (report["committed"].clone(), report["replayed"].clone()),
        (json!(true), json!(false)),
        "{body}"
    );
    let moved = reload(&conn, &existing).await;
    assert_eq!((moved.city, moved.home_unit_id), (None, unit(&conn, "Stamm Fulda").await.id));
    assert_eq!(by_name(&conn, "Rita", "Sauer").await.len(), 1);
    let (_, body) =
        server.gql_as(&token, IMPORT, json!({ "rows": rows, "mode": "VALID_ROWS", "key": "k-1" })).await;
    assert_eq!(body["data"]["importMembers"]["replayed"], true, "{body}");

    // Signed-out callers import nothing.
    let body = server.gql(IMPORT, json!({ "rows": rows })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn uploads_that_are_not_imports_are_refused_with_clear_errors() {
    let server =
        TestServer::start_with(crate::common::TestDb::demo().await, |s| s.max_import_bytes = 200).await;
    let token = server.token("mv.hessen").await;
    let file = "firstName,lastName,homeUnit\nOle,Kranz,Stamm Fulda\n";
    let anonymous = upload(&server, None, "", file, None).await;
    assert_eq!((anonymous.status, anonymous.body["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    let header = upload(&server, Some(&token), "", "firstName,passwort\nA,b\n", None).await;
    assert_eq!(
        (header.status, header.body["code"].as_str()),
        (400, Some("BAD_USER_INPUT")),
        "{}",
        header.body
    );
    assert!(header.body["error"].as_str().unwrap_or_default().contains("passwort"));
    let mode = upload(&server, Some(&token), "?mode=SOME", file, None).await;
    assert_eq!(mode.status, 400);
    let unknown = upload(&server, Some(&token), "?dryrun=true", file, None).await;
    assert_eq!(unknown.status, 400, "a misspelt dry run must not import");
    let large = upload(&server, Some(&token), "", file.repeat(10), None).await;
    assert_eq!((large.status, large.body["code"].as_str()), (413, Some("BAD_USER_INPUT")), "{}", large.body);
    let form = server
        .client
        .post(format!("{}/imports/members.csv", server.base))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .expect("request");
    assert_eq!(form.status().as_u16(), 415);

    // A chunked upload has no length to refuse up front: it is cut off at the limit.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let body = file.repeat(10);
    let request = format!(
        "POST /imports/members.csv HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
