//! Concurrent writers and database faults: writes in parallel succeed or answer a
//! clear CONFLICT (naming the field when a unique value is taken, exactly like the
//! sequential check), never INTERNAL; every success is stored with its audit record
//! and every failure leaves nothing; an unreachable or locked database answers
//! UNAVAILABLE quickly and the server recovers by itself; every statement has a
//! time limit; the SQLite files are private.
use crate::common::*;
use entity::{audit_event, bank_account, member, payment, permission_group, sepa_mandate, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, Set, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use verband::db::failure::{MANDATE_REFERENCE, MEMBERSHIP_NUMBER, UNIQUES, USERNAME};
use verband::domain::DomainError;

const IBAN: &str = "DE89370400440532013000";
const SET_BANK: &str = "mutation($m: ID!, $iban: String!) { setBankAccount(memberId: $m, input: { iban: $iban, accountHolder: \"Inhaberin\" }) { iban } }";
const ADD_MANDATE: &str = "mutation($m: ID!, $r: String!) { addSepaMandate(memberId: $m, input: { reference: $r, signedOn: \"2026-03-01\", iban: \"DE89370400440532013000\" }) { reference } }";
const CREATE_MEMBER: &str = "mutation($u: ID!, $n: String) { createMember(input: { homeUnitId: $u, membershipNumber: $n, firstName: \"Parallel\", lastName: \"Schreiberin\" }) { membershipNumber } }";
const RECORD_PAYMENT: &str = "mutation($m: ID!) { recordPayment(memberId: $m, input: { amountCents: 1200, paidOn: \"2026-03-01\" }) { amountCents } }";
const UPDATE_MEMBER: &str =
    "mutation($m: ID!, $p: String!) { updateMember(id: $m, input: { phone: $p }) { phone } }";
const CREATE_USER: &str = "mutation($name: String!) { createUser(input: { username: $name, password: \"a long enough secret\" }) { id } }";
const CREATE_GROUP: &str = "mutation($k: String!) { createPermissionGroup(input: { key: $k, name: $k, kind: MEMBERSHIP, permissions: [MEMBER_READ] }) { id } }";
const DELETE_GROUP: &str = "mutation($id: ID!) { deletePermissionGroup(id: $id) }";
const SET_GLOBAL: &str = "mutation($u: ID!, $g: ID) { setGlobalTreeGroup(userId: $u, groupId: $g) { id } }";
const ANONYMIZE: &str = "mutation($m: ID!) { anonymizeMember(memberId: $m) { anonymizedAt } }";
const MEMBERS: &str = "{ members(first: 5) { totalCount } }";

/// Starts every request at once and waits for all answers, in order.
async fn all_at_once(server: &TestServer, token: &str, requests: Vec<(&str, Value)>) -> Vec<Value> {
    let handles: Vec<_> = requests.into_iter().map(|(q, v)| server.spawn_gql_as(token, q, v)).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("request task").1);
    }
    out
}

fn assert_no_internal(bodies: &[Value]) {
    for b in bodies {
        assert!(!matches!(error_code(b), Some("INTERNAL") | Some("UNAVAILABLE") | Some("TIMEOUT")), "{b}");
    }
}

async fn audits(conn: &DatabaseConnection, action: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(action))
        .count(conn)
        .await
        .expect("count")
}

async fn members_numbered(conn: &DatabaseConnection, prefix: &str) -> u64 {
    member::Entity::find()
        .filter(member::Column::MembershipNumber.starts_with(prefix))
        .count(conn)
        .await
        .expect("count")
}

const ACTIONS: [&str; 5] =
    ["bank_account.set", "sepa_mandate.add", "member.create", "payment.record", "member.update"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writers_on_different_rows_all_succeed_with_their_audit_records() {
    const N: usize = 8;
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let members = members_without_login(&conn, "Landesverband Hessen").await;
    let members = &members[..N];
    let home = gid("OrgUnit", unit(&conn, "Stamm Fulda").await.id);
    let mut before = Vec::new();
    for action in ACTIONS {
        before.push(audits(&conn, action).await);
    }
    let payments = payment::Entity::find().count(&conn).await.expect("count");

    let mut requests = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let id = gid("Member", m.id);
        requests.push((SET_BANK, json!({ "m": id, "iban": IBAN })));
        requests.push((ADD_MANDATE, json!({ "m": id, "r": format!("PAR-{i}") })));
        requests.push((CREATE_MEMBER, json!({ "u": home, "n": format!("PAR-{i}") })));
        requests.push((RECORD_PAYMENT, json!({ "m": id })));
        requests.push((UPDATE_MEMBER, json!({ "m": id, "p": format!("+49 69 {i}") })));
    }
    let bodies = all_at_once(&server, &admin, requests).await;
    for b in &bodies {
        assert!(b.get("errors").is_none(), "every write succeeds: {b}");
    }

    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let stored = bank_account::Entity::find()
        .filter(bank_account::Column::MemberId.is_in(ids.clone()))
        .filter(bank_account::Column::Iban.eq(IBAN))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(stored, N as u64);
    let mandates = sepa_mandate::Entity::find()
        .filter(sepa_mandate::Column::Reference.starts_with("PAR-"))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(mandates, N as u64);
    assert_eq!(members_numbered(&conn, "PAR-").await, N as u64);
    assert_eq!(payment::Entity::find().count(&conn).await.expect("count"), payments + N as u64);
    for (i, m) in members.iter().enumerate() {
        let now = member::Entity::find_by_id(m.id).one(&conn).await.expect("q").expect("member");
        assert_eq!(now.phone.as_deref(), Some(format!("+49 69 {i}").as_str()));
    }
    for (action, before) in ACTIONS.iter().zip(before) {
        assert_eq!(audits(&conn, action).await, before + N as u64, "{action}: one record per write");
    }
}

/// `n` parallel requests for one unique value: exactly one stores it, every other
/// answers CONFLICT naming `field` with the message of the sequential check.
fn exactly_one_wins(bodies: &[Value], field: &str, message: &str) {
    let won = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(won, 1, "{bodies:?}");
    for b in bodies.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!((error_code(b), error_field(b)), (Some("CONFLICT"), Some(field)), "{b}");
        assert_eq!(b["errors"][0]["message"], message, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r13_a_race_for_a_membership_number_answers_conflict_naming_the_field() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let home = gid("OrgUnit", unit(&conn, "Stamm Fulda").await.id);
    let before = audits(&conn, "member.create").await;
    let same = json!({ "u": home, "n": "RACE-1" });
    let bodies = all_at_once(&server, &admin, vec![(CREATE_MEMBER, same.clone()); 10]).await;
    exactly_one_wins(&bodies, "membershipNumber", MEMBERSHIP_NUMBER.message);
    // The sequential duplicate answers the same.
    let (_, body) = server.gql_as(&admin, CREATE_MEMBER, same).await;
    exactly_one_wins(&[json!({ "data": {} }), body], "membershipNumber", MEMBERSHIP_NUMBER.message);
    assert_eq!(members_numbered(&conn, "RACE-1").await, 1);
    assert_eq!(audits(&conn, "member.create").await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r13_a_race_for_a_mandate_reference_answers_conflict_naming_the_field() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let members = members_without_login(&conn, "Landesverband Hessen").await;
    let before = audits(&conn, "sepa_mandate.add").await;
    let requests = members[..10]
        .iter()
        .map(|m| (ADD_MANDATE, json!({ "m": gid("Member", m.id), "r": "RACE-REF" })))
        .collect();
    let bodies = all_at_once(&server, &admin, requests).await;
    exactly_one_wins(&bodies, "reference", MANDATE_REFERENCE.message);
    let stored = sepa_mandate::Entity::find()
        .filter(sepa_mandate::Column::Reference.eq("RACE-REF"))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(stored, 1);
    assert_eq!(audits(&conn, "sepa_mandate.add").await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r13_a_race_for_a_username_answers_conflict_naming_the_field() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let before = audits(&conn, "user.create").await;
    let bodies =
        all_at_once(&server, &admin, vec![(CREATE_USER, json!({ "name": "parallel.user" })); 10]).await;
    exactly_one_wins(&bodies, "username", USERNAME.message);
    let stored = user::Entity::find()
        .filter(user::Column::Username.eq("parallel.user"))
        .count(&conn)
        .await
        .expect("count");
    assert_eq!(stored, 1);
    assert_eq!(audits(&conn, "user.create").await, before + 1);
}

/// A foreign-key race: a permission group deleted while it is being given as a
/// global tree group. Whichever commits first wins; the other answers CONFLICT (or
/// "no such group"), never INTERNAL, and no user keeps a deleted group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_deleted_while_it_is_given_answers_conflict_never_internal() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let target = server.user("sf.pegnitz").await;
    for round in 0..6 {
        let (_, body) = server.gql_as(&admin, CREATE_GROUP, json!({ "k": format!("race{round}") })).await;
        let group = body["data"]["createPermissionGroup"]["id"].clone();
        assert!(group.is_string(), "{body}");
        let bodies = all_at_once(
            &server,
            &admin,
            vec![
                (SET_GLOBAL, json!({ "u": gid("User", target.id), "g": group })),
                (DELETE_GROUP, json!({ "id": group })),
            ],
        )
        .await;
        let won: Vec<bool> = bodies.iter().map(|b| b.get("errors").is_none()).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one wins: {bodies:?}");
        for b in bodies.iter().filter(|b| b.get("errors").is_some()) {
            assert!(matches!(error_code(b), Some("CONFLICT") | Some("BAD_USER_INPUT")), "{b}");
        }
        let exists =
            permission_group::Entity::find_by_id(raw_id(&group)).one(&conn).await.expect("q").is_some();
        let holds = server.user("sf.pegnitz").await.global_tree_group_id == Some(raw_id(&group));
        assert_eq!((exists, holds), (won[0], won[0]), "round {round}: {bodies:?}");
        // Back to none for the next round.
        let (_, body) =
            server.gql_as(&admin, SET_GLOBAL, json!({ "u": gid("User", target.id), "g": null })).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

/// A member anonymized while bank data is being written for it: the bank writes
/// either come first (and are deleted with the anonymization) or answer CONFLICT;
/// never INTERNAL, and no bank data survives the anonymization.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_data_written_during_an_anonymization_never_survives_it() {
    let server = TestServer::demo().await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let members = members_without_login(&conn, "Landesverband Bayern").await;
    let members = &members[..6];
    for m in members {
        // Left in 2010: the retention period is over.
        let mut row = m.clone().into_active_model();
        row.status = Set(entity::MemberStatus::Left);
        row.left_on = Set(chrono::NaiveDate::from_ymd_opt(2010, 6, 30));
        row.retention_until = Set(chrono::NaiveDate::from_ymd_opt(2020, 12, 31));
        row.update(&conn).await.expect("leave");
    }
    let (sets, adds) = (audits(&conn, "bank_account.set").await, audits(&conn, "sepa_mandate.add").await);
    let mut requests = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let id = gid("Member", m.id);
        requests.push((SET_BANK, json!({ "m": id, "iban": IBAN })));
        requests.push((ANONYMIZE, json!({ "m": id })));
        requests.push((ADD_MANDATE, json!({ "m": id, "r": format!("ANON-{i}") })));
    }
    let bodies = all_at_once(&server, &admin, requests).await;
    assert_no_internal(&bodies);
    for chunk in bodies.chunks(3) {
        assert!(chunk[1].get("errors").is_none(), "the anonymization succeeds: {:?}", chunk[1]);
        for b in [&chunk[0], &chunk[2]] {
            assert!(matches!(error_code(b), None | Some("CONFLICT")), "{b}");
        }
    }
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let banks = bank_account::Entity::find()
        .filter(bank_account::Column::MemberId.is_in(ids.clone()))
        .count(&conn)
        .await;
    let mandates = sepa_mandate::Entity::find()
        .filter(sepa_mandate::Column::MemberId.is_in(ids.clone()))
        .count(&conn)
        .await;
    assert_eq!((banks.expect("count"), mandates.expect("count")), (0, 0), "no bank data survives");
    // Every bank write answered with success was audited, and only those.
    let ok = |k: usize| bodies.chunks(3).filter(|c| c[k].get("errors").is_none()).count() as u64;
    assert_eq!(audits(&conn, "bank_account.set").await, sets + ok(0));
    assert_eq!(audits(&conn, "sepa_mandate.add").await, adds + ok(2));
}

/// PostgreSQL unreachable (the database refuses connections, existing ones are
/// cut): requests answer UNAVAILABLE quickly, `/readyz` 503, nothing is written;
/// once it accepts connections again, the same server works without a restart.
/// On SQLite, the write lock held by another process past the busy timeout: writes
/// answer UNAVAILABLE and write nothing, reads go on; afterwards writes work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_or_locked_database_answers_unavailable_and_the_server_recovers() {
    let db = TestDb::demo().await;
    let server = TestServer::start_with(db, |s| {
        s.db_acquire_timeout = Duration::from_millis(500);
        s.db_statement_timeout = Duration::from_millis(500);
    })
    .await;
    let conn = server.db.connect().await;
    let admin = server.token("admin").await;
    let home = gid("OrgUnit", unit(&conn, "Stamm Fulda").await.id);
    let write = |n: &str| json!({ "u": home, "n": n });

    match postgres_admin().await {
        Some(pg) => {
            let name = server.db.name().to_owned();
            conn.close().await.ok();
            pg.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                .await
                .expect("block");
            pg.execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await
            .expect("cut");

            let started = Instant::now();
            let ready = server.get("/readyz").await.status().as_u16();
            assert_eq!(ready, 503);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "readyz answers fast: {:?}",
                started.elapsed()
            );
            for (query, vars) in [(CREATE_MEMBER, write("DOWN-1")), (MEMBERS, json!({}))] {
                let started = Instant::now();
                let (status, body) = server.gql_as(&admin, query, vars).await;
                assert_eq!(error_code(&body), Some("UNAVAILABLE"), "{status} {body}");
                assert!(matches!(status, 200 | 503), "{status}");
                assert!(started.elapsed() < Duration::from_secs(5), "fails fast: {:?}", started.elapsed());
            }

            pg.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                .await
                .expect("unblock");
        }
        None => {
            // Another connection (another process, as far as the server can tell)
            // holds SQLite's write lock.
            let other = verband::db::connect_for_maintenance(&server.db.settings()).await.expect("connect");
            let holder = other
                .begin_with_options(sea_orm::TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
                .expect("write lock");
            let started = Instant::now();
            let (_, body) = server.gql_as(&admin, CREATE_MEMBER, write("DOWN-1")).await;
            assert_eq!(error_code(&body), Some("UNAVAILABLE"), "{body}");
            assert!(started.elapsed() < Duration::from_secs(5), "gives up after the busy timeout");
            let (_, body) = server.gql_as(&admin, MEMBERS, json!({})).await;
            assert!(body.get("errors").is_none(), "reads go on beside a writer: {body}");
            assert_eq!(server.get("/readyz").await.status().as_u16(), 200);
            holder.rollback().await.expect("release");
        }
    }

    // Recovery without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/readyz").await.status().as_u16() != 200 {
        assert!(Instant::now() < deadline, "readyz recovers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = server.gql_as(&admin, CREATE_MEMBER, write("DOWN-2")).await;
    assert!(body.get("errors").is_none(), "{body}");
    let conn = server.db.connect().await;
    assert_eq!(members_numbered(&conn, "DOWN-1").await, 0, "the refused write left nothing");
    assert_eq!(members_numbered(&conn, "DOWN-2").await, 1);
}

/// Every statement has a time limit: PostgreSQL's statement_timeout, SQLite's
/// progress handler. The answer is TIMEOUT, and the connection works afterwards.
#[tokio::test]
async fn a_statement_over_its_time_limit_is_stopped_and_answers_timeout() {
    let db = TestDb::empty().await;
    let mut settings = db.settings();
    settings.db_statement_timeout = Duration::from_millis(300);
    let conn = verband::db::connect(&settings).await.expect("connect");
    let backend = conn.get_database_backend();
    let endless = match backend {
        DatabaseBackend::Postgres => "SELECT pg_sleep(30)",
        _ => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    };
    for in_transaction in [false, true] {
        let started = Instant::now();
        let err = if in_transaction {
            let txn = conn.begin().await.expect("begin");
            txn.query_one_raw(Statement::from_string(backend, endless)).await.expect_err("stopped")
        } else {
            conn.query_one_raw(Statement::from_string(backend, endless)).await.expect_err("stopped")
        };
        assert!(started.elapsed() < Duration::from_secs(5), "stopped after {:?}", started.elapsed());
        assert!(matches!(DomainError::from(err), DomainError::Timeout));
        let one = conn.query_one_raw(Statement::from_string(backend, "SELECT 1 AS one")).await;
        assert!(one.expect("the pool works afterwards").is_some());
    }
    // Maintenance (migrations) runs without a limit.
    let long = match backend {
        DatabaseBackend::Postgres => "SELECT pg_sleep(0.6)",
        _ => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"
        }
    };
    let maintenance = verband::db::connect_for_maintenance(&settings).await.expect("connect");
    maintenance.query_one_raw(Statement::from_string(backend, long)).await.expect("no limit");
    // Work that runs long by nature in one transaction (an import) gets a longer
    // limit on SQLite; PostgreSQL's limit is per statement.
    if backend == DatabaseBackend::Sqlite {
        settings.db_statement_timeout = Duration::from_millis(10);
        let strict = verband::db::connect(&settings).await.expect("connect");
        let err = strict.query_one_raw(Statement::from_string(backend, long)).await.expect_err("stopped");
        assert!(matches!(DomainError::from(err), DomainError::Timeout));
        let longer = verband::db::with_statement_budget(Duration::from_secs(600), async {
            let txn = strict.begin().await.expect("begin");
            txn.query_one_raw(Statement::from_string(backend, long)).await
        });
        longer.await.expect("a longer budget lets it finish");
    }
}

/// Every unique constraint of the migrated schema is known to the one mapping of
/// database errors, so a race for any unique value answers CONFLICT (naming the
/// field where the caller chose the value).
#[tokio::test]
async fn every_unique_constraint_of_the_schema_is_mapped() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    let backend = conn.get_database_backend();
    let query = |sql: &str| conn.query_all_raw(Statement::from_string(backend, sql.to_owned()));
    let mut found: Vec<String> = Vec::new();
    if backend == DatabaseBackend::Postgres {
        // Unique constraints and indexes, except surrogate `id` keys.
        let rows = query(
            "SELECT i.indexrelid::regclass::text AS name FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE i.indisunique AND n.nspname = 'public'
               AND NOT (i.indnatts = 1 AND EXISTS (SELECT 1 FROM pg_attribute a
                   WHERE a.attrelid = t.oid AND a.attnum = i.indkey[0] AND a.attname = 'id'))",
        )
        .await
        .expect("constraints");
        for row in rows {
            let name: String = row.try_get("", "name").expect("name");
            assert!(UNIQUES.iter().any(|u| u.postgres == name), "{name} is not in db::failure::UNIQUES");
            found.push(name);
        }
    } else {
        let tables =
            query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .await
                .expect("tables");
        for t in tables {
            let table: String = t.try_get("", "name").expect("name");
            for idx in query(&format!("PRAGMA index_list('{table}')")).await.expect("indexes") {
                if idx.try_get::<i32>("", "unique").expect("unique") == 0 {
                    continue;
                }
                let index: String = idx.try_get("", "name").expect("name");
                let columns: Vec<String> = query(&format!("PRAGMA index_info('{index}')"))
                    .await
                    .expect("columns")
                    .into_iter()
                    .map(|c| format!("{table}.{}", c.try_get::<String>("", "name").expect("column")))
                    .collect();
                let columns = columns.join(", ");
                assert!(
                    UNIQUES.iter().any(|u| u.sqlite == columns),
                    "{columns} is not in db::failure::UNIQUES"
                );
                found.push(columns);
            }
        }
    }
    assert!(found.len() >= 10, "the schema's unique constraints were read: {found:?}");
}

/// SQLite: every pooled connection is configured (not only the first): WAL,
/// foreign keys, a busy timeout, full sync.
#[tokio::test]
async fn every_pooled_sqlite_connection_is_configured() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    if conn.get_database_backend() != DatabaseBackend::Sqlite {
        return;
    }
    // Three transactions at once hold three different connections of the pool.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(conn.begin().await.expect("begin"));
    }
    for txn in &held {
        let pragma = |name: &str| Statement::from_string(DatabaseBackend::Sqlite, format!("PRAGMA {name}"));
        let value = |row: Option<sea_orm::QueryResult>, col: &str| -> String {
            let row = row.expect("row");
            row.try_get::<String>("", col)
                .or_else(|_| row.try_get::<i64>("", col).map(|v| v.to_string()))
                .expect(col)
        };
        assert_eq!(value(txn.query_one_raw(pragma("foreign_keys")).await.expect("q"), "foreign_keys"), "1");
        assert_eq!(value(txn.query_one_raw(pragma("journal_mode")).await.expect("q"), "journal_mode"), "wal");
        assert_eq!(value(txn.query_one_raw(pragma("synchronous")).await.expect("q"), "synchronous"), "2");
        assert_eq!(value(txn.query_one_raw(pragma("busy_timeout")).await.expect("q"), "timeout"), "5000");
    }
}

/// SQLite: the database (IBANs, password hashes) and its -wal and -shm files are
/// readable by the owner only, whatever the umask; an older file readable by
/// others is made private.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    if is_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut settings = verband::Settings::sqlite_in(&data);
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.demo_data = false;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("file").permissions().mode() & 0o777;
    let conn = verband::db::connect(&settings).await.expect("connect");
    verband::db::migrate(&conn).await.expect("migrate");
    let file = data.join("verband.db");
    assert_eq!(mode(&data), 0o700);
    for f in [file.clone(), data.join("verband.db-wal"), data.join("verband.db-shm")] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    conn.close().await.expect("close");
    // A file of an earlier version, readable by everyone.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let conn = verband::db::connect(&settings).await.expect("connect");
    assert_eq!(mode(&file), 0o600);
    conn.close().await.expect("close");
}
