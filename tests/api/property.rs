//! R11, R12, R15, R16, R17 as a property, through the database and the API: on
//! random worlds (trees with every visibility, members with and without bank data
//! and payments, member and system users with and without pledge, disabled or not,
//! offices with every status and with dates around today, global tree groups,
//! pending and decided transfers), for every user:
//!
//! - the members the SQL visibility condition selects (the `members` list and its
//!   `totalCount`) are exactly those the row check (`member_access`) admits, and
//!   exactly those `member(id)` returns;
//! - for every visible member, the fields returned agree with `viewerPermissions`
//!   (bank data with BANK_READ, payments with PAYMENT_READ), and `viewerPermissions`
//!   is what the row check holds on it.
//!
//! The src/authz property test compares compiled grants with Casbin; this one goes
//! through SQL, the loaders and the resolvers. Worlds come from fixed seeds (the
//! same in every run); `VERBAND_PROPERTY_SEED` picks another base seed.
use crate::common::{TestDb, TestServer, gid, today};
use chrono::{Days, NaiveDate, Utc};
use entity::*;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use verband::auth::tokens::TokenService;
use verband::authz::members::member_access;
use verband::authz::{Authz, PermSet};

const WORLDS: u64 = 12;

/// The permissions that matter for members, and a few that do not.
const PERMISSIONS: [(&str, u32); 8] = [
    ("member.read", 60),
    ("bank.read", 40),
    ("payment.read", 40),
    ("member.write", 35),
    ("member.create", 15),
    ("unit.write", 15),
    ("payment.write", 15),
    ("assignment.write", 10),
];

struct World {
    /// id → path
    units: BTreeMap<i64, String>,
    /// member id → (home unit, has a bank account)
    members: BTreeMap<i64, (i64, bool)>,
    users: Vec<i64>,
}

fn chance<R: Rng>(rng: &mut R, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

fn day_around<R: Rng>(rng: &mut R, before: u64, after: u64) -> NaiveDate {
    let offset = rng.random_range(0..=(before + after));
    today() - Days::new(before) + Days::new(offset)
}

async fn build_world(conn: &DatabaseConnection, rng: &mut ChaCha8Rng) -> World {
    let now = Utc::now();
    let level = level::ActiveModel { name: Set("Ebene".into()), rank: Set(0), ..Default::default() }
        .insert(conn)
        .await
        .expect("level");
    let activity =
        activity::ActiveModel { name: Set("Amt".into()), level_id: Set(level.id), ..Default::default() }
            .insert(conn)
            .await
            .expect("activity");

    // Groups with random permission sets.
    let mut groups = Vec::new();
    for g in 0..rng.random_range(3..7) {
        let row = permission_group::ActiveModel {
            key: Set(format!("g{g}")),
            name: Set(format!("Gruppe {g}")),
            kind: Set(GroupKind::Membership),
            description: Set(String::new()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await
        .expect("group");
        let perms: Vec<permission_group_permission::ActiveModel> = PERMISSIONS
            .iter()
            .filter(|(_, p)| chance(rng, *p))
            .map(|(name, _)| permission_group_permission::ActiveModel {
                permission_group_id: Set(row.id),
                permission: Set((*name).into()),
            })
            .collect();
        if !perms.is_empty() {
            permission_group_permission::Entity::insert_many(perms).exec(conn).await.expect("permissions");
        }
        groups.push(row.id);
    }

    // A random tree: each unit below a random earlier one.
    let mut units: BTreeMap<i64, String> = BTreeMap::new();
    let mut unit_rows = Vec::new();
    let unit_count = rng.random_range(8..18);
    for id in 1..=unit_count {
        let (parent, path, depth) = if id == 1 {
            (None, "/1/".to_owned(), 0)
        } else {
            let parent = rng.random_range(1..id);
            let ppath = &units[&parent];
            (Some(parent), org_unit::child_path(ppath, id), ppath.matches('/').count() as i32 - 1)
        };
        let visibility =
            *[Visibility::Public, Visibility::Internal, Visibility::Restricted, Visibility::Hidden]
                .choose(rng)
                .expect("visibility");
        unit_rows.push(org_unit::ActiveModel {
            id: Set(id),
            parent_id: Set(parent),
            level_id: Set(level.id),
            name: Set(format!("Einheit {id}")),
            short_name: Set(None),
            status: Set(OrgUnitStatus::Active),
            visibility: Set(visibility),
            ends_on: Set(None),
            path: Set(path.clone()),
            depth: Set(depth),
            created_at: Set(now),
            updated_at: Set(now),
        });
        units.insert(id, path);
    }
    org_unit::Entity::insert_many(unit_rows).exec(conn).await.expect("units");
    let unit_ids: Vec<i64> = units.keys().copied().collect();

    // Members, some with bank data, mandates and payments.
    let mut members = BTreeMap::new();
    let (mut member_rows, mut banks, mut mandates, mut payments) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in 1..=rng.random_range(40..90) {
        let home = *unit_ids.choose(rng).expect("unit");
        let status = match rng.random_range(0..10) {
            0 => MemberStatus::Inactive,
            1 => MemberStatus::Left,
            _ => MemberStatus::Active,
        };
        member_rows.push(member::ActiveModel {
            id: Set(id),
            membership_number: Set(format!("P{id:05}")),
            home_unit_id: Set(home),
            first_name: Set(format!("Vorname{id}")),
            last_name: Set(format!("Nachname{id}")),
            birth_date: Set(NaiveDate::from_ymd_opt(2000, 1, 1)),
            gender: Set(None),
            email: Set(Some(format!("m{id}@example.org"))),
            phone: Set(None),
            street: Set(None),
            postal_code: Set(None),
            city: Set(Some("Ort".into())),
            country: Set(None),
            status: Set(status),
            joined_on: Set(NaiveDate::from_ymd_opt(2020, 1, 1)),
            left_on: Set((status == MemberStatus::Left).then(|| today() - Days::new(10))),
            voting_rights: Set(false),
            tags: Set(json!([])),
            retention_until: Set(None),
            anonymized_at: Set(None),
            created_by: Set(None),
            updated_by: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        let bank = chance(rng, 50);
        if bank {
            banks.push(bank_account::ActiveModel {
                member_id: Set(id),
                iban: Set("DE89370400440532013000".into()),
                bic: Set(None),
                account_holder: Set(format!("Nachname{id}")),
                created_at: Set(now),
                updated_at: Set(now),
            });
            if chance(rng, 50) {
                mandates.push(sepa_mandate::ActiveModel {
                    id: Set(id),
                    member_id: Set(id),
                    reference: Set(format!("REF-{id}")),
                    signed_on: Set(today() - Days::new(100)),
                    iban: Set("DE89370400440532013000".into()),
                    status: Set(MandateStatus::Active),
                    created_at: Set(now),
                });
            }
        }
        if chance(rng, 50) {
            payments.push(payment::ActiveModel {
                id: Set(id),
                member_id: Set(id),
                amount_cents: Set(1200),
                currency: Set("EUR".into()),
                paid_on: Set(today() - Days::new(20)),
                period_from: Set(None),
                period_to: Set(None),
                note: Set(None),
                created_by: Set(None),
                created_at: Set(now),
            });
        }
        members.insert(id, (home, bank));
    }
    member::Entity::insert_many(member_rows).exec(conn).await.expect("members");
    if !banks.is_empty() {
        bank_account::Entity::insert_many(banks).exec(conn).await.expect("banks");
    }
    if !mandates.is_empty() {
        sepa_mandate::Entity::insert_many(mandates).exec(conn).await.expect("mandates");
    }
    if !payments.is_empty() {
        payment::Entity::insert_many(payments).exec(conn).await.expect("payments");
    }

    // Users: mostly member users (distinct members), some system users.
    let member_ids: Vec<i64> = members.keys().copied().collect();
    let mut holders: Vec<i64> = member_ids.choose_multiple(rng, 10).copied().collect();
    let mut users = Vec::new();
    let (mut user_rows, mut assignments) = (Vec::new(), Vec::new());
    let mut assignment_id = 1;
    for id in 1..=rng.random_range(6..11) {
        let member_id = if chance(rng, 85) { holders.pop() } else { None };
        user_rows.push(user::ActiveModel {
            id: Set(id),
            username: Set(format!("u{id}")),
            email: Set(None),
            password_hash: Set(None),
            member_id: Set(member_id),
            level: Set(if chance(rng, 20) { 3 } else { 2 }),
            global_tree_group_id: Set(if chance(rng, 15) { groups.choose(rng).copied() } else { None }),
            privacy_pledge_signed_on: Set(match rng.random_range(0..10) {
                0 => None,
                1 => Some(today() + Days::new(5)),
                _ => Some(today() - Days::new(50)),
            }),
            disabled: Set(chance(rng, 8)),
            external_subject: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            failed_logins: Set(0),
            locked_until: Set(None),
        });
        users.push(id);
        let Some(member_id) = member_id else { continue };
        for _ in 0..rng.random_range(0..5) {
            let starts_on = day_around(rng, 400, 60);
            let ends_on = chance(rng, 50).then(|| starts_on + Days::new(rng.random_range(0..400)));
            let status = match rng.random_range(0..10) {
                0 => AssignmentStatus::Requested,
                1 => AssignmentStatus::Waitlist,
                2 => AssignmentStatus::ToDelete,
                _ => AssignmentStatus::Active,
            };
            let pick =
                |rng: &mut ChaCha8Rng| if chance(rng, 75) { groups.choose(rng).copied() } else { None };
            assignments.push(assignment::ActiveModel {
                id: Set(assignment_id),
                member_id: Set(member_id),
                activity_id: Set(activity.id),
                org_unit_id: Set(*unit_ids.choose(rng).expect("unit")),
                level_group_id: Set(pick(rng)),
                tree_group_id: Set(pick(rng)),
                starts_on: Set(starts_on),
                ends_on: Set(ends_on),
                status: Set(status),
                created_by: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
            assignment_id += 1;
        }
    }
    user::Entity::insert_many(user_rows).exec(conn).await.expect("users");
    if !assignments.is_empty() {
        assignment::Entity::insert_many(assignments).exec(conn).await.expect("assignments");
    }

    // Transfers: at most one pending per member, and some decided ones.
    let moving: Vec<i64> = member_ids.choose_multiple(rng, 12).copied().collect();
    for (i, member_id) in moving.into_iter().enumerate() {
        let from = members[&member_id].0;
        let to = *unit_ids.choose(rng).expect("unit");
        if to == from {
            continue;
        }
        let status = if i % 3 == 2 { TransferStatus::Rejected } else { TransferStatus::Pending };
        transfer::ActiveModel {
            member_id: Set(member_id),
            from_unit_id: Set(from),
            to_unit_id: Set(to),
            status: Set(status),
            reason: Set(None),
            requested_by: Set(None),
            decided_by: Set(None),
            requested_at: Set(now),
            decided_at: Set(None),
            ..Default::default()
        }
        .insert(conn)
        .await
        .expect("transfer");
    }
    verband::domain::seed::reset_sequences(conn).await.expect("sequences");
    World { units, members, users }
}

/// A session and its access token for `user_id`, as `login` would give (without
/// going through the password check: these users have no password).
async fn token_for(conn: &DatabaseConnection, tokens: &TokenService, user_id: i64) -> String {
    let session_id = format!("property-{user_id}");
    let now = Utc::now();
    let (token, expires_at) = tokens.issue(user_id, &session_id, now).expect("token");
    session::ActiveModel {
        id: Set(session_id),
        user_id: Set(user_id),
        method: Set("password".into()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    }
    .insert(conn)
    .await
    .expect("session");
    token
}

const LIST: &str = "query($first: Int!) { members(first: $first) { totalCount edges { node {
  id firstName email bankAccount { iban } sepaMandates { reference } payments { amountCents } viewerPermissions
} } } }";

fn names(set: PermSet) -> BTreeSet<String> {
    set.iter().map(|p| p.as_str().to_uppercase().replace('.', "_")).collect()
}

#[derive(Default)]
struct Tally {
    users: usize,
    refused_users: usize,
    visibility: usize,
    lookups: usize,
    fields: usize,
    /// Kinds of visible rows seen, so that a run shows what it covered.
    own_record: usize,
    through_transfer: usize,
    through_transfer_with_payments_or_bank: usize,
    bank_shown: usize,
    bank_withheld: usize,
}

async fn check_world(seed: u64, tally: &mut Tally) {
    let db = TestDb::empty().await;
    let conn = db.connect().await;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let world = build_world(&conn, &mut rng).await;
    let settings = db.settings();
    let tokens = TokenService::new(
        &settings.signing_keys().expect("keys"),
        &settings.tokens.issuer,
        &settings.tokens.audience,
        settings.tokens.ttl_seconds,
    )
    .expect("tokens");
    let server = TestServer::start(db).await;
    // The row check, in this process, on the same database.
    let authz = Authz::new(conn.clone());
    let pending: HashMap<i64, Vec<String>> = {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for t in transfer::Entity::find().all(&conn).await.expect("transfers") {
            if t.status == TransferStatus::Pending {
                out.entry(t.member_id).or_default().push(world.units[&t.to_unit_id].clone());
            }
        }
        out
    };
    let first = world.members.len() as i64;

    for &user_id in &world.users {
        tally.users += 1;
        let who = format!("seed {seed}, user {user_id}");
        let grants = authz.grants(user_id, today()).await.expect("grants");
        let expected: BTreeMap<i64, PermSet> = world
            .members
            .iter()
            .filter_map(|(&id, &(home, _))| {
                let to: Vec<&str> =
                    pending.get(&id).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
                let access = member_access(&grants, id, &world.units[&home], &to);
                access.visible().then_some((id, access.permissions))
            })
            .collect();
        let token = token_for(&conn, &tokens, user_id).await;
        let (status, body) = server.gql_as(&token, LIST, json!({ "first": first })).await;
        if status == 401 {
            // R6: disabled users and users whose member is not ACTIVE cannot sign
            // in; their sessions do not work. (The row check agrees: nothing.)
            let user = user::Entity::find_by_id(user_id).one(&conn).await.expect("q").expect("user");
            let member_active = match user.member_id {
                Some(m) => {
                    member::Entity::find_by_id(m).one(&conn).await.expect("q").expect("member").status
                        == MemberStatus::Active
                }
                None => true,
            };
            assert!(user.disabled || !member_active, "{who}: refused without reason: {body}");
            tally.refused_users += 1;
            continue;
        }
        assert_eq!(status, 200, "{who}: {body}");
        assert!(body["errors"].is_null(), "{who}: {body}");
        let edges = body["data"]["members"]["edges"].as_array().expect("edges");
        let listed: BTreeSet<i64> = edges.iter().map(|e| crate::common::raw_id(&e["node"]["id"])).collect();
        let admitted: BTreeSet<i64> = expected.keys().copied().collect();
        // R11/R16: the SQL condition and the row check select the same members…
        assert_eq!(listed, admitted, "{who}: SQL condition vs row check");
        assert_eq!(body["data"]["members"]["totalCount"], json!(admitted.len()), "{who}: totalCount");
        tally.visibility += world.members.len();

        // …and for each visible member the fields agree with viewerPermissions,
        // which is what the row check holds on it (R12, R15, R17).
        let mut withheld = 0;
        for edge in edges {
            let node = &edge["node"];
            let id = crate::common::raw_id(&node["id"]);
            let shown: BTreeSet<String> = node["viewerPermissions"]
                .as_array()
                .expect("viewerPermissions")
                .iter()
                .map(|p| p.as_str().expect("name").to_owned())
                .collect();
            assert_eq!(shown, names(expected[&id]), "{who}, member {id}: viewerPermissions vs row check");
            let bank = shown.contains("BANK_READ");
            let payments = shown.contains("PAYMENT_READ");
            assert!(shown.contains("MEMBER_READ") && node["firstName"].is_string(), "{who}, member {id}");
            let has_account = world.members[&id].1;
            assert_eq!(
                node["bankAccount"].is_object(),
                bank && has_account,
                "{who}, member {id}: bankAccount"
            );
            assert_eq!(node["sepaMandates"].is_array(), bank, "{who}, member {id}: sepaMandates");
            assert_eq!(node["payments"].is_array(), payments, "{who}, member {id}: payments");
            withheld += usize::from(!bank) * 2 + usize::from(!payments);
            tally.fields += 4;
            let held_at_home = grants.at_unit(&world.units[&world.members[&id].0]);
            if grants.self_member_id() == Some(id) {
                tally.own_record += 1;
            } else if !held_at_home.contains(verband::authz::Permission::MemberRead) {
                tally.through_transfer += 1;
                tally.through_transfer_with_payments_or_bank += usize::from(bank || payments);
            }
            if bank {
                tally.bank_shown += 1;
            } else {
                tally.bank_withheld += 1;
            }
        }
        let total = body["extensions"]["redacted"]["total"].as_u64().unwrap_or(0) as usize;
        assert_eq!(total, withheld, "{who}: every withheld field is listed in extensions.redacted");

        // R11: lookups by id answer exactly for the visible members.
        let ids: Vec<i64> = world.members.keys().copied().collect();
        for chunk in ids.chunks(25) {
            let fields: Vec<String> = chunk
                .iter()
                .map(|id| format!("m{id}: member(id: \"{}\") {{ id }}", gid("Member", *id)))
                .collect();
            let (_, body) = server.gql_as(&token, &format!("{{ {} }}", fields.join(" ")), json!({})).await;
            assert!(body["errors"].is_null(), "{who}: {body}");
            for id in chunk {
                let found = !body["data"][format!("m{id}")].is_null();
                assert_eq!(found, admitted.contains(id), "{who}: member({id})");
                tally.lookups += 1;
            }
        }
    }
}

#[tokio::test]
async fn r11_r12_r15_r16_sql_visibility_row_check_fields_and_viewer_permissions_agree_on_random_worlds() {
    let base: u64 = std::env::var("VERBAND_PROPERTY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let mut tally = Tally::default();
    for world in 0..WORLDS {
        check_world(base * 1000 + world, &mut tally).await;
    }
    let decisions = tally.visibility + tally.lookups + tally.fields;
    println!(
        "property: {WORLDS} worlds, {} users ({} refused at sign-in, R6), {decisions} decisions: \
         {} list visibility, {} lookups, {} fields; visible rows: {} own (R17), {} through a \
         transfer only (R15; {} of them with payments or bank data from the home unit), bank data \
         {} shown / {} withheld",
        tally.users,
        tally.refused_users,
        tally.visibility,
        tally.lookups,
        tally.fields,
        tally.own_record,
        tally.through_transfer,
        tally.through_transfer_with_payments_or_bank,
        tally.bank_shown,
        tally.bank_withheld,
    );
    assert!(decisions > 5_000, "the property must decide thousands of cases: {decisions}");
    assert!(tally.users > tally.refused_users + WORLDS as usize, "most users sign in");
    // The worlds reach every case the rules distinguish.
    for (what, n) in [
        ("own records", tally.own_record),
        ("rows visible through a transfer only", tally.through_transfer),
        ("bank data shown", tally.bank_shown),
        ("bank data withheld", tally.bank_withheld),
    ] {
        assert!(n > 0, "no {what} in {WORLDS} worlds");
    }
}
