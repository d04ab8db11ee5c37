//! Leaving and retention over HTTP (docs/workflows.md): ending a membership keeps
//! the record until the end of the tenth calendar year after leaving and ends the
//! login; anonymizing (member.delete) is refused before that with the date, and after
//! it blanks personal and bank data while counts and payment sums stay. The lifecycle
//! job ends units past their last day and lets scheduled leavings take effect.
use crate::common::{TestDb, TestServer, error_code, error_field, gid, today, unit};
use chrono::NaiveDate;
use entity::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::{Value, json};
use verband::domain::lifecycle;

const END: &str = "mutation($id: ID!, $on: Date!) { endMembership(memberId: $id, leftOn: $on) {
  id status leftOn retentionUntil votingRights } }";
const ANONYMIZE: &str = "mutation($id: ID!) { anonymizeMember(memberId: $id) {
  id membershipNumber firstName lastName birthDate gender email phone address { street postalCode city country }
  status joinedOn leftOn retentionUntil votingRights tags
  bankAccount { iban } sepaMandates { reference } payments { amountCents paidOn } } }";
const VIEWER: &str = "{ viewer { username } }";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

async fn member_of(server: &TestServer, username: &str) -> member::Model {
    let id = server.user(username).await.member_id.expect("member user");
    let conn = server.db.connect().await;
    member::Entity::find_by_id(id).one(&conn).await.expect("q").expect("member")
}

async fn audit_rows(conn: &DatabaseConnection, action: &str, entity_id: i64) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .filter(audit_event::Column::EntityId.eq(entity_id.to_string()))
        .all(conn)
        .await
        .expect("q")
}

async fn payment_totals(conn: &DatabaseConnection, member_id: i64) -> (usize, i64) {
    let rows =
        payment::Entity::find().filter(payment::Column::MemberId.eq(member_id)).all(conn).await.expect("q");
    (rows.len(), rows.iter().map(|p| p.amount_cents).sum())
}

fn ok<'a>(status: u16, body: &'a Value, field: &str) -> &'a Value {
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    &body["data"][field]
}

#[tokio::test]
async fn leaving_keeps_the_record_ten_years_and_ends_the_login() {
    let server = TestServer::demo().await;
    let ursula = member_of(&server, "ehemalig").await;
    let her_token = server.token("ehemalig").await;
    let (status, body) = server.gql_as(&her_token, VIEWER, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let mv = server.token("mv.hessen").await;
    let id = gid("Member", ursula.id);
    // A pending transfer of hers is cancelled by her leaving.
    let conn = server.db.connect().await;
    let hessen = org_unit::Entity::find()
        .filter(org_unit::Column::Name.eq("Landesverband Hessen"))
        .one(&conn)
        .await
        .expect("q")
        .expect("unit");
    let pending = transfer::ActiveModel {
        member_id: Set(ursula.id),
        from_unit_id: Set(ursula.home_unit_id),
        to_unit_id: Set(hessen.id),
        status: Set(TransferStatus::Pending),
        reason: Set(Some("Umzug".into())),
        requested_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .expect("transfer");

    let (status, body) = server.gql_as(&mv, END, json!({ "id": id, "on": "2026-03-15" })).await;
    let m = ok(status, &body, "endMembership");
    assert_eq!(m["status"], "LEFT");
    assert_eq!(m["leftOn"], "2026-03-15");
    assert_eq!(m["retentionUntil"], "2036-12-31");
    assert_eq!(m["votingRights"], false);

    // Her token is refused at once and a new login gets the generic answer.
    let (status, _) = server.gql_as(&her_token, VIEWER, json!({})).await;
    assert_eq!(status, 401);
    let login = server.login("ehemalig", "verband-demo").await;
    let wrong = server.login("ehemalig", "not-her-password").await;
    assert!(login["data"]["login"].is_null(), "{login}");
    assert_eq!(error_code(&login), Some("UNAUTHENTICATED"), "{login}");
    assert_eq!(login["errors"][0]["message"], wrong["errors"][0]["message"], "no hint that she left");

    let cancelled = transfer::Entity::find_by_id(pending.id).one(&conn).await.expect("q").expect("transfer");
    assert_eq!(cancelled.status, TransferStatus::Cancelled);
    let user = server.user("ehemalig").await;
    let open = session::Entity::find()
        .filter(session::Column::UserId.eq(user.id))
        .filter(session::Column::RevokedAt.is_null())
        .count(&conn)
        .await
        .expect("q");
    assert_eq!(open, 0, "every session of hers ended");
    // Her office ended 2025-06-30 already: the earlier end stays.
    let offices = assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(ursula.id))
        .all(&conn)
        .await
        .expect("q");
    assert!(!offices.is_empty());
    assert!(offices.iter().all(|a| a.ends_on == Some(day(2025, 6, 30))), "{offices:?}");
    let audit = audit_rows(&conn, "member.end", ursula.id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].after.as_ref().expect("after")["retention_until"], "2036-12-31");

    // Ending twice is a conflict.
    let (_, body) = server.gql_as(&mv, END, json!({ "id": id, "on": "2026-03-15" })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // Anonymizing during retention: refused with the date, nothing changed.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, ANONYMIZE, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("retained until 2036-12-31"), "{message}");
    let still = member::Entity::find_by_id(ursula.id).one(&conn).await.expect("q").expect("member");
    assert_eq!(still.first_name, ursula.first_name);
    assert!(still.anonymized_at.is_none());
    assert!(audit_rows(&conn, "member.anonymize", ursula.id).await.is_empty());

    // Without member.delete: FORBIDDEN, whatever the dates.
    let (_, body) = server.gql_as(&mv, ANONYMIZE, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn anonymizing_after_retention_blanks_the_person_and_keeps_counts_and_sums() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let ursula = member_of(&server, "ehemalig").await;
    let id = gid("Member", ursula.id);
    // She joined long ago, so she can have left in 2014.
    let mut m = ursula.clone().into_active_model();
    m.joined_on = Set(Some(day(2005, 4, 1)));
    m.update(&conn).await.expect("joined earlier");
    let her_token = server.token("ehemalig").await;
    let admin = server.token("admin").await;

    // Bank data, a mandate and a payment with a note naming her.
    let (status, body) = server
        .gql_as(
            &admin,
            "mutation($id: ID!) { setBankAccount(memberId: $id, input: { iban: \"DE89370400440532013000\", accountHolder: \"Ursula Jung\" }) { iban } }",
            json!({ "id": id }),
        )
        .await;
    ok(status, &body, "setBankAccount");
    let (status, body) = server
        .gql_as(
            &admin,
            "mutation($id: ID!) { addSepaMandate(memberId: $id, input: { reference: \"JBD-RETENTION-1\", signedOn: \"2010-01-01\" }) { reference } }",
            json!({ "id": id }),
        )
        .await;
    ok(status, &body, "addSepaMandate");
    let (status, body) = server
        .gql_as(
            &admin,
            "mutation($id: ID!) { recordPayment(memberId: $id, input: { amountCents: 2400, paidOn: \"2014-01-20\", note: \"Beitrag Ursula Jung\" }) { amountCents } }",
            json!({ "id": id }),
        )
        .await;
    ok(status, &body, "recordPayment");
    let (count, sum) = payment_totals(&conn, ursula.id).await;
    assert!(count >= 1 && sum >= 2400);

    let (status, body) = server.gql_as(&admin, END, json!({ "id": id, "on": "2014-06-30" })).await;
    let m = ok(status, &body, "endMembership");
    assert_eq!(m["retentionUntil"], "2024-12-31");
    assert_eq!(m["status"], "LEFT");

    let (status, body) = server.gql_as(&admin, ANONYMIZE, json!({ "id": id })).await;
    let m = ok(status, &body, "anonymizeMember");
    assert_eq!(m["firstName"], "Anonymisiert");
    assert_eq!(m["lastName"], "Anonymisiert");
    assert_eq!(m["membershipNumber"], format!("ANON-{}", ursula.id));
    for field in ["birthDate", "gender", "email", "phone", "bankAccount"] {
        assert!(m[field].is_null(), "{field}: {m}");
    }
    for field in ["street", "postalCode", "city"] {
        assert!(m["address"][field].is_null(), "{field}: {m}");
    }
    assert_eq!(m["tags"], json!([]));
    assert_eq!(m["sepaMandates"], json!([]));
    assert_eq!(m["status"], "LEFT");
    assert_eq!(m["joinedOn"], "2005-04-01");
    assert_eq!(m["leftOn"], "2014-06-30");
    assert_eq!(m["votingRights"], false);
    assert_eq!(m["payments"].as_array().expect("payments").len(), count);

    // Counts and sums stay; notes, bank data and logins go.
    assert_eq!(payment_totals(&conn, ursula.id).await, (count, sum));
    let notes = payment::Entity::find()
        .filter(payment::Column::MemberId.eq(ursula.id))
        .filter(payment::Column::Note.is_not_null())
        .count(&conn)
        .await
        .expect("q");
    assert_eq!(notes, 0);
    assert!(bank_account::Entity::find_by_id(ursula.id).one(&conn).await.expect("q").is_none());
    let mandates = sepa_mandate::Entity::find()
        .filter(sepa_mandate::Column::MemberId.eq(ursula.id))
        .count(&conn)
        .await
        .expect("q");
    assert_eq!(mandates, 0);
    let users = app_user_count(&conn, ursula.id).await;
    assert_eq!(users, 0, "her login is deleted");
    let row = member::Entity::find_by_id(ursula.id).one(&conn).await.expect("q").expect("record stays");
    assert!(row.anonymized_at.is_some());
    assert_eq!(row.home_unit_id, ursula.home_unit_id);
    let (status, _) = server.gql_as(&her_token, VIEWER, json!({})).await;
    assert_eq!(status, 401);
    let login = server.login("ehemalig", "verband-demo").await;
    assert_eq!(error_code(&login), Some("UNAUTHENTICATED"), "{login}");

    // The audit trail records the anonymization without personal data, and the
    // member's earlier records no longer name her.
    let audit = audit_rows(&conn, "member.anonymize", ursula.id).await;
    assert_eq!(audit.len(), 1);
    let history = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("member"))
        .filter(audit_event::Column::EntityId.eq(ursula.id.to_string()))
        .all(&conn)
        .await
        .expect("q");
    assert!(history.len() >= 5, "bank, mandate, payment, end, anonymize");
    for event in &history {
        let text = format!("{:?} {:?}", event.before, event.after);
        for personal in [ursula.last_name.as_str(), "Ursula", "DE89", ursula.membership_number.as_str()] {
            assert!(!text.contains(personal), "{} still holds {personal}: {text}", event.action);
        }
    }

    // Twice: a conflict.
    let (_, body) = server.gql_as(&admin, ANONYMIZE, json!({ "id": id })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");
}

async fn app_user_count(conn: &DatabaseConnection, member_id: i64) -> u64 {
    user::Entity::find().filter(user::Column::MemberId.eq(member_id)).count(conn).await.expect("q")
}

#[tokio::test]
async fn ending_needs_member_write_in_scope_and_a_sensible_date() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let mv = server.token("mv.hessen").await;
    let finn = member_of(&server, "ohne.pledge").await;
    let ursula = member_of(&server, "ehemalig").await;

    // Outside her scope (Niedersachsen): as if it did not exist.
    let (_, body) =
        server.gql_as(&mv, END, json!({ "id": gid("Member", finn.id), "on": "2026-03-15" })).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    let (_, body) =
        server.gql_as(&mv, END, json!({ "id": gid("Member", 999_999), "on": "2026-03-15" })).await;
    assert_eq!(error_code(&body), Some("NOT_FOUND"), "{body}");
    // A member user without rights cannot end anybody, not even themselves.
    let finn_token = server.token("ohne.pledge").await;
    let (_, body) =
        server.gql_as(&finn_token, END, json!({ "id": gid("Member", finn.id), "on": "2026-03-15" })).await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let body = server.gql(END, json!({ "id": gid("Member", ursula.id), "on": "2026-03-15" })).await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    let (_, body) = server.gql_as(&mv, END, json!({ "id": "garbage", "on": "2026-03-15" })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("memberId")), "{body}");

    // Before joining, or beyond a two-year notice period: BAD_USER_INPUT on leftOn.
    let joined = ursula.joined_on.expect("joined");
    let before_joining = joined.pred_opt().expect("day").to_string();
    let (_, body) =
        server.gql_as(&mv, END, json!({ "id": gid("Member", ursula.id), "on": before_joining })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("leftOn")), "{body}");
    let (_, body) =
        server.gql_as(&mv, END, json!({ "id": gid("Member", ursula.id), "on": "2029-03-15" })).await;
    assert_eq!((error_code(&body), error_field(&body)), (Some("BAD_USER_INPUT"), Some("leftOn")), "{body}");
    let unchanged = member::Entity::find_by_id(ursula.id).one(&conn).await.expect("q").expect("member");
    assert_eq!(unchanged, ursula, "a refused write changes nothing");

    // Anonymizing a member who has not left: CONFLICT.
    let admin = server.token("admin").await;
    let (_, body) = server.gql_as(&admin, ANONYMIZE, json!({ "id": gid("Member", finn.id) })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // Members of an archived unit can still leave (their right; the retention
    // clock must start).
    let nidda = org_unit::Entity::find()
        .filter(org_unit::Column::Name.eq("Stamm Nidda"))
        .one(&conn)
        .await
        .expect("q")
        .expect("unit");
    assert_eq!(nidda.status, OrgUnitStatus::Archived);
    let archived_member = member::Entity::find()
        .filter(member::Column::HomeUnitId.eq(nidda.id))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .one(&conn)
        .await
        .expect("q")
        .expect("an active member in Stamm Nidda");
    let on = archived_member.joined_on.map_or(today(), |j| j.max(day(2026, 1, 31))).to_string();
    let (status, body) =
        server.gql_as(&mv, END, json!({ "id": gid("Member", archived_member.id), "on": on })).await;
    assert_eq!(ok(status, &body, "endMembership")["status"], "LEFT");
}

#[tokio::test]
async fn a_leaving_date_ahead_takes_effect_through_the_lifecycle_job() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let finn = member_of(&server, "ohne.pledge").await;
    let finn_token = server.token("ohne.pledge").await;

    let (status, body) =
        server.gql_as(&admin, END, json!({ "id": gid("Member", finn.id), "on": "2026-12-31" })).await;
    let m = ok(status, &body, "endMembership");
    assert_eq!(m["status"], "ACTIVE", "still a member until the end of the year");
    assert_eq!(m["leftOn"], "2026-12-31");
    assert_eq!(m["retentionUntil"], "2036-12-31");
    let (status, _) = server.gql_as(&finn_token, VIEWER, json!({})).await;
    assert_eq!(status, 200, "he can still sign in");
    let offices = assignment::Entity::find()
        .filter(assignment::Column::MemberId.eq(finn.id))
        .all(&conn)
        .await
        .expect("q");
    assert!(offices.iter().all(|a| a.ends_on == Some(day(2026, 12, 31))), "{offices:?}");
    // Recorded once: a second leaving date is a conflict.
    let (_, body) =
        server.gql_as(&admin, END, json!({ "id": gid("Member", finn.id), "on": "2026-06-30" })).await;
    assert_eq!(error_code(&body), Some("CONFLICT"), "{body}");

    // Nothing is due yet on the last day of membership…
    let report = lifecycle::run(&conn, day(2026, 12, 30)).await.expect("job");
    assert!(!report.members_left.contains(&finn.id));
    // …and on the leaving day he is LEFT, his sessions end.
    let report = lifecycle::run(&conn, day(2026, 12, 31)).await.expect("job");
    assert_eq!(report.members_left, vec![finn.id]);
    let row = member::Entity::find_by_id(finn.id).one(&conn).await.expect("q").expect("member");
    assert_eq!(row.status, MemberStatus::Left);
    assert!(!row.voting_rights);
    // The job ran in another process (here: another connection): on PostgreSQL
    // its announcement reaches the server within a second; on SQLite every request
    // checks the member anyway.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let (status, _) = server.gql_as(&finn_token, VIEWER, json!({})).await;
        if status == 401 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still signed in a second after leaving: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audit_rows(&conn, "member.left", finn.id).await.len(), 1);
    let again = lifecycle::run(&conn, day(2026, 12, 31)).await.expect("job");
    assert!(again.members_left.is_empty());
    assert_eq!(audit_rows(&conn, "member.left", finn.id).await.len(), 1);
}

async fn set_ends_on(conn: &DatabaseConnection, unit: &org_unit::Model, on: NaiveDate) {
    let mut u = unit.clone().into_active_model();
    u.ends_on = Set(Some(on));
    u.update(conn).await.expect("ends_on");
}

#[tokio::test]
async fn units_past_their_last_day_end_once_archived_ones_stay() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let leine = unit(&conn, "Stamm Leine").await;
    let isar = unit(&conn, "Stamm Isar").await;
    let nidda = unit(&conn, "Stamm Nidda").await;
    set_ends_on(&conn, &leine, day(2026, 3, 14)).await;
    // The end day is inclusive: still active today.
    set_ends_on(&conn, &isar, today()).await;
    set_ends_on(&conn, &nidda, day(2020, 1, 1)).await;

    let report = lifecycle::run(&conn, today()).await.expect("job");
    assert_eq!(report.units_ended, vec![leine.id]);
    assert_eq!(unit(&conn, "Stamm Leine").await.status, OrgUnitStatus::Ended);
    assert_eq!(unit(&conn, "Stamm Isar").await.status, OrgUnitStatus::Active);
    assert_eq!(unit(&conn, "Stamm Nidda").await.status, OrgUnitStatus::Archived);
    let audit = audit_rows(&conn, "org_unit.ended", leine.id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entity, "org_unit");
    assert!(audit[0].actor_user_id.is_none(), "the system did it");

    // Idempotent: a second run changes nothing and records nothing.
    let again = lifecycle::run(&conn, today()).await.expect("job");
    assert!(!again.changed_anything(), "{again:?}");
    assert_eq!(audit_rows(&conn, "org_unit.ended", leine.id).await.len(), 1);

    // The server runs the job at start: Stamm Isar ends when it starts a day later.
    set_ends_on(&conn, &isar, day(2026, 3, 14)).await;
    let _server = TestServer::start(db).await;
    assert_eq!(unit(&conn, "Stamm Isar").await.status, OrgUnitStatus::Ended);
    assert_eq!(audit_rows(&conn, "org_unit.ended", isar.id).await.len(), 1);
}
