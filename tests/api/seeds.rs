//! Migrations, bootstrap, the demo and the synthetic load, on the real database.
use crate::common::{TestDb, TestServer, hasher, today};
use chrono::{DateTime, Utc};
use entity::*;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use verband::clock::Clock;
use verband::domain::DomainError;
use verband::domain::bootstrap::{AdminInput, bootstrap};
use verband::domain::catalogue::{ACTIVITIES, LEVELS, parse_policy};
use verband::domain::seed::demo::{self, DEMO_PASSWORD, PERSONAS};
use verband::domain::seed::synthetic::{self, SyntheticSpec};

async fn group_keys(conn: &DatabaseConnection) -> HashMap<i64, String> {
    permission_group::Entity::find()
        .all(conn)
        .await
        .expect("groups")
        .into_iter()
        .map(|g| (g.id, g.key))
        .collect()
}

#[tokio::test]
async fn migrations_run_twice_without_harm() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    verband::db::migrate(&conn).await.expect("second run is a no-op");
    assert_eq!(org_unit::Entity::find().count(&conn).await.expect("count"), 0);
}

#[tokio::test]
async fn demo_catalogue_matches_design_section_3() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let levels: Vec<String> = level::Entity::find()
        .order_by_asc(level::Column::Rank)
        .all(&conn)
        .await
        .expect("levels")
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(levels, LEVELS);

    // Stored group permissions are the lines of policies/policy.csv.
    let keys = group_keys(&conn).await;
    let mut stored: BTreeMap<String, BTreeSet<verband::authz::Permission>> = BTreeMap::new();
    for row in permission_group_permission::Entity::find().all(&conn).await.expect("perms") {
        stored
            .entry(keys[&row.permission_group_id].clone())
            .or_default()
            .insert(row.permission.parse().expect("known"));
    }
    let policy = parse_policy(include_str!("../../policies/policy.csv")).expect("policy");
    assert_eq!(stored, policy);

    // Activities on their level with their allowed groups.
    let level_names: HashMap<i64, String> =
        level::Entity::find().all(&conn).await.expect("levels").into_iter().map(|l| (l.id, l.name)).collect();
    let activities = activity::Entity::find().all(&conn).await.expect("activities");
    let allowed = activity_allowed_group::Entity::find().all(&conn).await.expect("allowed");
    assert_eq!(activities.len(), ACTIVITIES.len());
    for def in ACTIVITIES {
        let a = activities.iter().find(|a| a.name == def.name).expect("activity stored");
        assert_eq!(level_names[&a.level_id], LEVELS[def.level], "{}", def.name);
        let groups: BTreeSet<&str> = allowed
            .iter()
            .filter(|r| r.activity_id == a.id)
            .map(|r| keys[&r.permission_group_id].as_str())
            .collect();
        assert_eq!(groups, def.allowed.iter().copied().collect(), "{}", def.name);
    }
}

#[tokio::test]
async fn demo_tree_is_bund_three_laender_two_bezirke_three_staemme_with_mixed_visibility() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let units = org_unit::Entity::find().all(&conn).await.expect("units");
    let levels: HashMap<i64, i32> =
        level::Entity::find().all(&conn).await.expect("levels").into_iter().map(|l| (l.id, l.rank)).collect();
    let by_id: HashMap<i64, &org_unit::Model> = units.iter().map(|u| (u.id, u)).collect();
    let roots: Vec<_> = units.iter().filter(|u| u.parent_id.is_none()).collect();
    assert_eq!(roots.len(), 1);
    let children = |id: i64| units.iter().filter(move |u| u.parent_id == Some(id)).collect::<Vec<_>>();
    let laender = children(roots[0].id);
    assert_eq!(laender.len(), 3);
    for land in laender {
        let bezirke = children(land.id);
        assert_eq!(bezirke.len(), 2, "{}", land.name);
        for bezirk in bezirke {
            assert_eq!(children(bezirk.id).len(), 3, "{}", bezirk.name);
        }
    }
    for u in &units {
        // Path, depth and level agree with the parent links.
        let expected = match u.parent_id {
            None => format!("/{}/", u.id),
            Some(p) => format!("{}{}/", by_id[&p].path, u.id),
        };
        assert_eq!(u.path, expected);
        assert_eq!(u.depth, levels[&u.level_id]);
    }
    let visibilities: BTreeSet<&str> = units.iter().map(|u| u.visibility.as_str()).collect();
    assert_eq!(visibilities, BTreeSet::from(["HIDDEN", "INTERNAL", "PUBLIC", "RESTRICTED"]));
}

#[tokio::test]
async fn demo_members_are_plausible_with_valid_bank_data() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let members = member::Entity::find().all(&conn).await.expect("members");
    assert!((280..=340).contains(&members.len()), "about 300 members, got {}", members.len());
    let numbers: BTreeSet<&str> = members.iter().map(|m| m.membership_number.as_str()).collect();
    assert_eq!(numbers.len(), members.len());
    for m in &members {
        assert!(!m.first_name.is_empty() && !m.last_name.is_empty());
        if m.status == MemberStatus::Left {
            let left = m.left_on.expect("left members have a leaving date");
            assert_eq!(
                m.retention_until,
                chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&left) + 10, 12, 31)
            );
        }
    }
    let accounts = bank_account::Entity::find().all(&conn).await.expect("accounts");
    assert!(accounts.len() > 100, "some members have bank accounts");
    for a in &accounts {
        assert!(a.iban.parse::<iban::Iban>().is_ok(), "invalid IBAN {}", a.iban);
    }
    let mandates = sepa_mandate::Entity::find().all(&conn).await.expect("mandates");
    assert!(!mandates.is_empty());
    assert!(mandates.iter().all(|m| m.iban.parse::<iban::Iban>().is_ok()));
    assert!(payment::Entity::find().count(&conn).await.expect("payments") > 100);
    let statuses: BTreeSet<&str> = members.iter().map(|m| m.status.as_str()).collect();
    assert!(statuses.contains("ACTIVE") && statuses.contains("LEFT"));
}

#[tokio::test]
async fn demo_personas_are_set_up_as_documented() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let hasher = hasher();
    let keys = group_keys(&conn).await;
    let day = today();
    for persona in PERSONAS.iter().map(|p| (p.username, p)).chain([]) {
        let (username, p) = persona;
        let user = user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&conn)
            .await
            .expect("q")
            .expect(username);
        assert!(hasher.verify(DEMO_PASSWORD, user.password_hash.as_deref().expect("hash")), "{username}");
        assert_eq!(user.level, p.level, "{username}");
        assert_eq!(user.privacy_pledge_signed_on.is_some(), p.pledge, "{username}");
        assert_eq!(user.member_id.is_some(), p.member.is_some(), "{username}");
        let system: BTreeSet<String> = user_system_group::Entity::find()
            .filter(user_system_group::Column::UserId.eq(user.id))
            .all(&conn)
            .await
            .expect("q")
            .into_iter()
            .map(|g| keys[&g.permission_group_id].clone())
            .collect();
        assert_eq!(system, p.system_groups.iter().map(|s| s.to_string()).collect(), "{username}");
        if let (Some(office), Some(member_id)) = (&p.office, user.member_id) {
            let assignments = assignment::Entity::find()
                .filter(assignment::Column::MemberId.eq(member_id))
                .all(&conn)
                .await
                .expect("q");
            assert_eq!(assignments.len(), 1, "{username}");
            let a = &assignments[0];
            let unit =
                org_unit::Entity::find_by_id(a.org_unit_id).one(&conn).await.expect("q").expect("unit");
            assert_eq!(unit.name, office.unit, "{username}");
            assert_eq!(a.level_group_id.map(|g| keys[&g].as_str()), office.level_group, "{username}");
            assert_eq!(a.tree_group_id.map(|g| keys[&g].as_str()), office.tree_group, "{username}");
            assert_eq!(a.is_effective_on(day), office.ends_on.is_none(), "{username}: R5 on {day}");
        }
    }
    // The persona roles of the issue: a system user without member, a user without
    // pledge, a member whose assignment has ended.
    assert!(PERSONAS.iter().any(|p| p.member.is_none() && p.system_groups == ["user_admin"]));
    assert!(PERSONAS.iter().any(|p| p.member.is_some() && !p.pledge));
    assert!(PERSONAS.iter().any(|p| p.office.as_ref().is_some_and(|o| o.ends_on.is_some())));

    // The demo's administrator is what `verband bootstrap` creates.
    let admin = user::Entity::find()
        .filter(user::Column::Username.eq(demo::ADMIN_USERNAME))
        .one(&conn)
        .await
        .expect("q")
        .expect("admin");
    assert_admin(&conn, &admin, &keys).await;
}

async fn assert_admin(conn: &DatabaseConnection, admin: &user::Model, keys: &HashMap<i64, String>) {
    assert_eq!(admin.level, 3);
    assert_eq!(admin.global_tree_group_id.map(|g| keys[&g].as_str()), Some("federation_admin"));
    assert!(admin.privacy_pledge_signed_on.is_some());
    let member = member::Entity::find_by_id(admin.member_id.expect("member user"))
        .one(conn)
        .await
        .expect("q")
        .expect("member");
    assert_eq!(member.status, MemberStatus::Active);
    let system: Vec<String> = user_system_group::Entity::find()
        .filter(user_system_group::Column::UserId.eq(admin.id))
        .all(conn)
        .await
        .expect("q")
        .into_iter()
        .map(|g| keys[&g.permission_group_id].clone())
        .collect();
    assert_eq!(system, vec!["system_admin".to_owned()]);
    let audit = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("user"))
        .filter(audit_event::Column::EntityId.eq(admin.id.to_string()))
        .count(conn)
        .await
        .expect("q");
    assert_eq!(audit, 1, "setting a global tree group is audited");
}

#[tokio::test]
async fn bootstrap_creates_root_and_administrator_once() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    let hasher = hasher();
    let clock = Clock::Fixed(today());
    let done = bootstrap(
        &conn,
        &hasher,
        clock,
        AdminInput { username: "chef", password: "a long enough secret" },
        "Bundesverband",
    )
    .await
    .expect("bootstrap");
    assert!(done.created_root);
    let root = org_unit::Entity::find_by_id(done.root_unit_id).one(&conn).await.expect("q").expect("root");
    assert_eq!((root.parent_id, root.path.clone(), root.depth), (None, format!("/{}/", root.id), 0));
    let admin = user::Entity::find_by_id(done.user_id).one(&conn).await.expect("q").expect("user");
    assert!(hasher.verify("a long enough secret", admin.password_hash.as_deref().expect("hash")));
    assert_admin(&conn, &admin, &group_keys(&conn).await).await;

    // The same username again: CONFLICT, nothing written.
    let before = (
        user::Entity::find().count(&conn).await.expect("q"),
        member::Entity::find().count(&conn).await.expect("q"),
    );
    let again = bootstrap(
        &conn,
        &hasher,
        clock,
        AdminInput { username: "chef", password: "another long secret" },
        "x",
    )
    .await;
    assert!(matches!(again, Err(DomainError::Taken { field: "username", .. })), "{again:?}");
    // A second administrator reuses the root.
    let short =
        bootstrap(&conn, &hasher, clock, AdminInput { username: "zwei", password: "short" }, "x").await;
    assert!(matches!(short, Err(DomainError::BadInput { field: "password", .. })), "{short:?}");
    let after = (
        user::Entity::find().count(&conn).await.expect("q"),
        member::Entity::find().count(&conn).await.expect("q"),
    );
    assert_eq!(before, after, "refused bootstraps change nothing");
    let second = bootstrap(
        &conn,
        &hasher,
        clock,
        AdminInput { username: "zwei", password: "a long enough secret" },
        "x",
    )
    .await
    .expect("second admin");
    assert!(!second.created_root);
    assert_eq!(second.root_unit_id, done.root_unit_id);
}

/// Content of a synthetic load, without timestamps.
async fn fingerprint(conn: &DatabaseConnection) -> Vec<String> {
    let mut out: Vec<String> = org_unit::Entity::find()
        .order_by_asc(org_unit::Column::Id)
        .all(conn)
        .await
        .expect("q")
        .into_iter()
        .map(|u| format!("{} {} {} {}", u.path, u.name, u.visibility.as_str(), u.level_id))
        .collect();
    out.extend(
        member::Entity::find().order_by_asc(member::Column::Id).all(conn).await.expect("q").into_iter().map(
            |m| {
                format!(
                    "{} {} {} {} {:?} {:?} {}",
                    m.membership_number,
                    m.home_unit_id,
                    m.first_name,
                    m.last_name,
                    m.birth_date,
                    m.street,
                    m.status.as_str()
                )
            },
        ),
    );
    out.extend(
        bank_account::Entity::find()
            .order_by_asc(bank_account::Column::MemberId)
            .all(conn)
            .await
            .expect("q")
            .into_iter()
            .map(|b| format!("{} {}", b.member_id, b.iban)),
    );
    out.extend(
        assignment::Entity::find()
            .order_by_asc(assignment::Column::Id)
            .all(conn)
            .await
            .expect("q")
            .into_iter()
            .map(|a| format!("{} {} {} {:?}", a.member_id, a.org_unit_id, a.activity_id, a.level_group_id)),
    );
    out
}

#[tokio::test]
async fn synthetic_load_is_deterministic_and_sized_as_asked() {
    let spec = SyntheticSpec { members: 700, units: 60, seed: 7 };
    let (a, b, c) = (TestDb::empty().await, TestDb::empty().await, TestDb::empty().await);
    let (ca, cb, cc) = (a.connect().await, b.connect().await, c.connect().await);
    let report = synthetic::seed(&ca, &hasher(), spec).await.expect("seed a");
    synthetic::seed(&cb, &hasher(), spec).await.expect("seed b");
    synthetic::seed(&cc, &hasher(), SyntheticSpec { seed: 8, ..spec }).await.expect("seed c");
    assert_eq!(report.units, 60);
    assert_eq!(report.members, 700);
    assert_eq!(org_unit::Entity::find().count(&ca).await.expect("q"), 60);
    assert_eq!(member::Entity::find().count(&ca).await.expect("q"), 700);
    assert!(report.assignments > 0 && report.users > 0);
    let (fa, fb, fc) = (fingerprint(&ca).await, fingerprint(&cb).await, fingerprint(&cc).await);
    assert_eq!(fa, fb, "same seed, same data");
    assert_ne!(fa, fc, "another seed, other data");
    // Ids continue after explicit-id inserts (PostgreSQL sequences were moved on).
    let now: DateTime<Utc> = Utc::now();
    let extra = member::ActiveModel {
        membership_number: Set("X-1".into()),
        home_unit_id: Set(1),
        first_name: Set("Neu".into()),
        last_name: Set("Mitglied".into()),
        status: Set(MemberStatus::Applicant),
        voting_rights: Set(false),
        tags: Set(serde_json::json!([])),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&ca)
    .await
    .expect("insert after the load");
    assert!(extra.id > 700);
}

#[tokio::test]
async fn seeding_refuses_a_database_that_has_a_tree() {
    let db = TestDb::demo().await;
    let conn = db.connect().await;
    let demo_again = demo::seed(&conn, &hasher(), Clock::Fixed(today())).await;
    assert!(matches!(demo_again, Err(DomainError::Conflict(_))), "{demo_again:?}");
    let synthetic = synthetic::seed(&conn, &hasher(), SyntheticSpec { members: 10, units: 5, seed: 1 }).await;
    assert!(matches!(synthetic, Err(DomainError::Conflict(_))), "{synthetic:?}");
}

/// R1 rests on "all units below X" being one indexed predicate: it must select the
/// subtree exactly, also where ids share a prefix (4 and 40) and whatever the
/// database's collation.
#[tokio::test]
async fn r1_subtree_predicate_selects_exactly_the_descendants() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    let cat = verband::domain::catalogue::ensure_default(&conn).await.expect("catalogue");
    let now = Utc::now();
    // root 1; children 4 and 40; 400 below 40; 41 below 4; 5 below 1.
    let tree: &[(i64, Option<i64>)] = &[
        (1, None),
        (4, Some(1)),
        (40, Some(1)),
        (5, Some(1)),
        (41, Some(4)),
        (400, Some(40)),
        (401, Some(41)),
    ];
    let mut paths: HashMap<i64, String> = HashMap::new();
    for &(id, parent) in tree {
        let path = match parent {
            None => format!("/{id}/"),
            Some(p) => format!("{}{id}/", paths[&p]),
        };
        paths.insert(id, path.clone());
        org_unit::ActiveModel {
            id: Set(id),
            parent_id: Set(parent),
            level_id: Set(cat.levels[0]),
            name: Set(format!("U{id}")),
            short_name: Set(None),
            status: Set(OrgUnitStatus::Active),
            visibility: Set(Visibility::Public),
            ends_on: Set(None),
            path: Set(path),
            depth: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&conn)
        .await
        .expect("unit");
    }
    let below = |root: i64| -> BTreeSet<i64> {
        let mut out = BTreeSet::from([root]);
        loop {
            let more: Vec<i64> = tree
                .iter()
                .filter(|(_, p)| p.is_some_and(|p| out.contains(&p)))
                .map(|(id, _)| *id)
                .filter(|id| !out.contains(id))
                .collect();
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    };
    for &(id, _) in tree {
        let got: BTreeSet<i64> = org_unit::Entity::find()
            .filter(org_unit::in_subtree(&paths[&id]))
            .all(&conn)
            .await
            .expect("q")
            .into_iter()
            .map(|u| u.id)
            .collect();
        assert_eq!(got, below(id), "subtree of {id}");
        let strict: BTreeSet<i64> = org_unit::Entity::find()
            .filter(org_unit::strictly_below(&paths[&id]))
            .all(&conn)
            .await
            .expect("q")
            .into_iter()
            .map(|u| u.id)
            .collect();
        let mut expected = below(id);
        expected.remove(&id);
        assert_eq!(strict, expected, "strictly below {id}");
    }
}

/// `seed --synthetic` prints these: they exist, sign in with the demo password, and
/// hold the offices the report names.
#[tokio::test]
async fn synthetic_load_names_treasurer_logins_that_sign_in() {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    let report = synthetic::seed(&conn, &hasher(), SyntheticSpec { members: 700, units: 60, seed: 7 })
        .await
        .expect("seed");
    let roles: Vec<&str> = report.logins.iter().map(|l| l.role).collect();
    assert_eq!(roles, ["federation-wide treasurer", "state treasurer", "local treasurer"]);
    let expected_office = [
        "Bundesschatzmeister/in at Synthetischer Bund (state_treasurer at the unit and below it)",
        "Landesschatzmeister/in at Landesverband",
        "Stammesschatzmeister/in at Stamm",
    ];
    for (login, office) in report.logins.iter().zip(expected_office) {
        assert!(login.offices.iter().any(|o| o.starts_with(office)), "{login:?}");
        let user = user::Entity::find()
            .filter(user::Column::Username.eq(login.username.as_str()))
            .one(&conn)
            .await
            .expect("q")
            .unwrap_or_else(|| panic!("no user {}", login.username));
        let held = assignment::Entity::find()
            .filter(assignment::Column::MemberId.eq(user.member_id.expect("a member user")))
            .count(&conn)
            .await
            .expect("q");
        assert_eq!(held as usize, login.offices.len(), "{login:?}");
    }
    // Every office holder can sign in (R6): their member is ACTIVE.
    for u in user::Entity::find().all(&conn).await.expect("users") {
        let m = member::Entity::find_by_id(u.member_id.expect("member user")).one(&conn).await.expect("q");
        assert_eq!(m.map(|m| m.status), Some(MemberStatus::Active), "{}", u.username);
    }
    let server = TestServer::start(db).await;
    for login in &report.logins {
        let token = server.token(&login.username).await;
        let (_, body) = server.gql_as(&token, "{ viewer { username } }", serde_json::json!({})).await;
        assert_eq!(body["data"]["viewer"]["username"], login.username.as_str(), "{body}");
    }
}
