//! Property: for random trees (depth ≤ 5), groups, users and assignments, on a
//! random day, the compiled grants decide every (user, unit, permission) exactly as
//! the Casbin enforcer does.
use super::catalogue::{Catalogue, GroupInfo};
use super::effective::effective_lines;
use super::enforcer;
use super::facts::{AssignmentFact, SubjectFacts};
use super::grants::Grants;
use super::permission::{PermSet, Permission};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{AssignmentStatus, GroupKind, MemberStatus, assignment, member, user};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids that share decimal prefixes, so that path boundaries are exercised.
const IDS: &[i64] =
    &[1, 4, 40, 41, 400, 401, 44, 14, 140, 2, 20, 200, 21, 210, 3, 30, 300, 31, 310, 5, 50, 500, 51, 6, 60];
const GROUPS: i64 = 6;

#[derive(Debug, Clone)]
struct AssignmentSpec {
    unit: usize,
    level_group: Option<i64>,
    tree_group: Option<i64>,
    status: u8,
    starts: i64,
    ends: Option<i64>,
}

#[derive(Debug, Clone)]
struct UserSpec {
    member: bool,
    member_status: u8,
    pledge: Option<i64>,
    disabled: bool,
    level: i32,
    global_group: Option<i64>,
    system_groups: Vec<i64>,
    assignments: Vec<AssignmentSpec>,
}

#[derive(Debug, Clone)]
struct Scenario {
    parents: Vec<usize>,
    group_perms: Vec<u32>,
    users: Vec<UserSpec>,
    day: i64,
}

fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + chrono::Duration::days(offset)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let tree = (2usize..IDS.len()).prop_flat_map(|n| {
        // Unit i's parent is one of the units before it; depth is capped below.
        (1..n).map(|i| 0..i).collect::<Vec<_>>()
    });
    // Biased towards what grants something: units with shared id prefixes, ACTIVE
    // status, eligible users; the rest still appears.
    let unit = prop_oneof![3 => 0usize..4, 2 => 0usize..IDS.len()];
    let status = prop_oneof![3 => Just(0u8), 2 => 0u8..5];
    let assignment = (
        unit,
        proptest::option::of(1..=GROUPS),
        proptest::option::of(1..=GROUPS),
        status,
        0i64..30,
        proptest::option::weighted(0.4, 0i64..60),
    )
        .prop_map(|(unit, level_group, tree_group, status, starts, ends)| AssignmentSpec {
            unit,
            level_group,
            tree_group,
            status,
            starts,
            ends,
        });
    let user = (
        any::<u8>(),
        prop_oneof![3 => Just(0u8), 1 => 0u8..5],
        proptest::option::weighted(0.85, 0i64..40),
        0u8..10,
        2i32..4,
        proptest::option::of(1..=GROUPS),
        proptest::collection::vec(1..=GROUPS, 0..3),
        proptest::collection::vec(assignment, 0..6),
    )
        .prop_map(
            |(m, member_status, pledge, disabled, level, global_group, system_groups, assignments)| {
                UserSpec {
                    member: m % 5 != 0,
                    member_status,
                    pledge,
                    disabled: disabled == 0,
                    level,
                    global_group,
                    system_groups,
                    assignments,
                }
            },
        );
    (
        tree,
        proptest::collection::vec(any::<u32>(), GROUPS as usize),
        proptest::collection::vec(user, 1..4),
        10i64..50,
    )
        .prop_map(|(parents, group_perms, users, day)| Scenario { parents, group_perms, users, day })
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).expect("epoch")
}

/// Paths of the units; depth is capped at 5 levels by re-parenting deep units to
/// the root.
fn paths(parents: &[usize]) -> Vec<String> {
    let mut paths = vec![format!("/{}/", IDS[0])];
    let mut depth = vec![0usize];
    for (i, &p) in parents.iter().enumerate() {
        let id = IDS[i + 1];
        let parent = if depth[p] >= 4 { 0 } else { p };
        paths.push(format!("{}{id}/", paths[parent]));
        depth.push(depth[parent] + 1);
    }
    paths
}

fn catalogue(group_perms: &[u32]) -> Catalogue {
    let all = Permission::ALL;
    Catalogue::new(group_perms.iter().enumerate().map(|(i, bits)| {
        // Groups 1–4 are MEMBERSHIP, 5–6 SYSTEM; each gets a random subset of the
        // permissions of its kind.
        let kind = if i < 4 { GroupKind::Membership } else { GroupKind::System };
        let perms =
            PermSet::from_iter(all.iter().enumerate().filter(|(b, _)| bits & (1 << b) != 0).map(|(_, p)| *p));
        GroupInfo {
            id: i as i64 + 1,
            key: format!("g{}", i + 1),
            name: String::new(),
            description: String::new(),
            kind,
            permissions: perms.of_kind(kind),
        }
    }))
}

fn facts(user_id: i64, spec: &UserSpec, paths: &[String]) -> SubjectFacts {
    let statuses = [
        AssignmentStatus::Active,
        AssignmentStatus::Active,
        AssignmentStatus::Requested,
        AssignmentStatus::Waitlist,
        AssignmentStatus::ToDelete,
    ];
    let member_statuses = [
        MemberStatus::Active,
        MemberStatus::Active,
        MemberStatus::Inactive,
        MemberStatus::Left,
        MemberStatus::Applicant,
    ];
    let member_id = user_id * 100;
    let member = spec.member.then(|| member::Model {
        id: member_id,
        membership_number: member_id.to_string(),
        home_unit_id: IDS[0],
        first_name: String::new(),
        last_name: String::new(),
        birth_date: None,
        gender: None,
        email: None,
        phone: None,
        street: None,
        postal_code: None,
        city: None,
        country: None,
        status: member_statuses[spec.member_status as usize],
        joined_on: None,
        left_on: None,
        voting_rights: false,
        tags: serde_json::json!([]),
        retention_until: None,
        anonymized_at: None,
        created_by: None,
        updated_by: None,
        created_at: now(),
        updated_at: now(),
    });
    let assignments = spec
        .assignments
        .iter()
        .enumerate()
        .filter(|_| spec.member)
        .map(|(i, a)| {
            let unit = a.unit % paths.len();
            AssignmentFact {
                assignment: assignment::Model {
                    id: member_id + i as i64,
                    member_id,
                    activity_id: 1,
                    org_unit_id: IDS[unit],
                    level_group_id: a.level_group,
                    tree_group_id: a.tree_group,
                    starts_on: day(a.starts),
                    ends_on: a.ends.map(day),
                    status: statuses[a.status as usize],
                    created_by: None,
                    created_at: now(),
                    updated_at: now(),
                },
                unit_path: paths[unit].clone(),
                unit_name: String::new(),
            }
        })
        .collect();
    SubjectFacts {
        user: user::Model {
            id: user_id,
            username: format!("u{user_id}"),
            email: None,
            password_hash: None,
            member_id: spec.member.then_some(member_id),
            level: spec.level,
            global_tree_group_id: spec.global_group,
            privacy_pledge_signed_on: spec.pledge.map(day),
            disabled: spec.disabled,
            external_subject: None,
            created_at: now(),
            updated_at: now(),
            failed_logins: 0,
            locked_until: None,
        },
        member,
        assignments,
        system_group_ids: spec.system_groups.clone(),
    }
}

static DECISIONS: AtomicU64 = AtomicU64::new(0);
static GRANTED: AtomicU64 = AtomicU64::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_grants_agree_with_the_casbin_enforcer(s in scenario()) {
        let paths = paths(&s.parents);
        let catalogue = catalogue(&s.group_perms);
        let today = day(s.day);
        let subjects: Vec<(i64, Vec<super::effective::Line>)> = s.users.iter().enumerate().map(|(i, spec)| {
            let user_id = i as i64 + 1;
            (user_id, effective_lines(&facts(user_id, spec, &paths), &catalogue, today))
        }).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let enforcer = runtime.block_on(enforcer::build(&catalogue, &subjects)).expect("enforcer");
        for (user_id, lines) in &subjects {
            let grants = Grants::compile(*user_id, None, lines);
            for path in &paths {
                for &p in Permission::ALL {
                    let compiled = grants.holds_at(p, path);
                    let casbin = enforcer::decide(&enforcer, *user_id, path, p).expect("enforce");
                    DECISIONS.fetch_add(1, Ordering::Relaxed);
                    if compiled { GRANTED.fetch_add(1, Ordering::Relaxed); }
                    prop_assert_eq!(compiled, casbin, "user {} at {} for {}: lines {:?}", user_id, path, p, lines);
                }
            }
        }
    }
}

#[test]
fn the_property_test_decides_thousands_of_cases_both_ways() {
    // Runs the property once more to report its size; fails if the generator
    // degenerated into deciding nothing (or granting nothing).
    compiled_grants_agree_with_the_casbin_enforcer();
    let decisions = DECISIONS.load(Ordering::Relaxed);
    let granted = GRANTED.load(Ordering::Relaxed);
    eprintln!("property test: {decisions} decisions, {granted} granted");
    assert!(decisions >= 10_000, "only {decisions} decisions");
    assert!(granted >= decisions / 50 && granted < decisions, "{granted} of {decisions} granted");
}
