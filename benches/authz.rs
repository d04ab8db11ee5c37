//! `cargo bench --bench authz`: compiling a caller's grants (20 assignments, a
//! 10,000-unit tree) and deciding rows and fields with them.
use chrono::{DateTime, NaiveDate, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use entity::{AssignmentStatus, GroupKind, MemberStatus, assignment, member, user};
use std::hint::black_box;
use verband::authz::catalogue::{Catalogue, GroupInfo};
use verband::authz::effective::effective_lines;
use verband::authz::facts::{AssignmentFact, SubjectFacts};
use verband::authz::members::member_access;
use verband::authz::{Grants, PermSet, Permission};
use verband::domain::catalogue::{DEFAULT_POLICY_CSV, GROUPS, parse_policy};
use verband::domain::seed::synthetic::level_sizes;

/// A 10,000-unit tree shaped like the synthetic load: paths by index.
fn tree(units: u64) -> Vec<String> {
    let sizes = level_sizes(units);
    let mut tiers: Vec<Vec<String>> = vec![vec!["/1/".to_owned()]];
    let mut next = 2;
    for level in 1..4 {
        let above = tiers[level - 1].clone();
        let mut tier = Vec::new();
        for i in 0..sizes[level] as usize {
            tier.push(format!("{}{next}/", above[i % above.len()]));
            next += 1;
        }
        tiers.push(tier);
    }
    tiers.into_iter().flatten().collect()
}

fn catalogue() -> Catalogue {
    let policy = parse_policy(DEFAULT_POLICY_CSV).expect("policy");
    Catalogue::new(GROUPS.iter().enumerate().map(|(i, g)| GroupInfo {
        id: i as i64 + 1,
        key: g.key.to_owned(),
        name: g.name.to_owned(),
        description: g.description.to_owned(),
        kind: g.kind,
        permissions: PermSet::from_iter(policy[g.key].iter().copied()),
    }))
}

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).expect("epoch")
}

/// A member user with 20 effective assignments spread over the tree.
fn facts(paths: &[String], catalogue: &Catalogue) -> SubjectFacts {
    let membership: Vec<i64> =
        catalogue.groups().filter(|g| g.kind == GroupKind::Membership).map(|g| g.id).collect();
    let assignments = (0..20)
        .map(|i| {
            let unit = (i * 499 + 7) % paths.len();
            let path = paths[unit].clone();
            let unit_id =
                path.trim_end_matches('/').rsplit('/').next().and_then(|s| s.parse().ok()).expect("id");
            AssignmentFact {
                assignment: assignment::Model {
                    id: i as i64 + 1,
                    member_id: 1,
                    activity_id: 1,
                    org_unit_id: unit_id,
                    level_group_id: Some(membership[i % membership.len()]),
                    tree_group_id: Some(membership[(i + 3) % membership.len()]),
                    starts_on: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
                    ends_on: None,
                    status: AssignmentStatus::Active,
                    created_by: None,
                    created_at: epoch(),
                    updated_at: epoch(),
                },
                unit_path: path,
                unit_name: String::new(),
            }
        })
        .collect();
    SubjectFacts {
        user: user::Model {
            id: 1,
            username: "bench".into(),
            email: None,
            password_hash: None,
            member_id: Some(1),
            level: 2,
            global_tree_group_id: None,
            privacy_pledge_signed_on: NaiveDate::from_ymd_opt(2024, 1, 1),
            disabled: false,
            external_subject: None,
            created_at: epoch(),
            updated_at: epoch(),
            failed_logins: 0,
            locked_until: None,
        },
        member: Some(member::Model {
            id: 1,
            membership_number: "1".into(),
            home_unit_id: 1,
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
            status: MemberStatus::Active,
            joined_on: None,
            left_on: None,
            voting_rights: false,
            tags: serde_json::json!([]),
            retention_until: None,
            anonymized_at: None,
            created_by: None,
            updated_by: None,
            created_at: epoch(),
            updated_at: epoch(),
        }),
        assignments,
        system_group_ids: vec![],
    }
}

fn benches(c: &mut Criterion) {
    let paths = tree(10_000);
    assert_eq!(paths.len(), 10_000);
    let catalogue = catalogue();
    let facts = facts(&paths, &catalogue);
    let today = NaiveDate::from_ymd_opt(2026, 3, 15).expect("date");

    c.bench_function("compile grants: 20 assignments, 10k-unit tree", |b| {
        b.iter(|| {
            let lines = effective_lines(black_box(&facts), &catalogue, today);
            Grants::compile(1, Some(1), &lines)
        })
    });

    let grants = Grants::compile(1, Some(1), &effective_lines(&facts, &catalogue, today));
    let granted = paths.iter().filter(|p| grants.holds_at(Permission::MemberRead, p)).count();
    assert!(granted > 0, "the benchmark user must hold something");

    let mut group = c.benchmark_group("decisions");
    group.throughput(Throughput::Elements(paths.len() as u64));
    group.bench_function("holds_at(member.read) over 10k units", |b| {
        b.iter(|| paths.iter().filter(|p| grants.holds_at(Permission::MemberRead, black_box(p))).count())
    });
    group.bench_function("member_access (row + all R12 fields) over 10k rows", |b| {
        b.iter_batched(
            || (),
            |()| {
                paths
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| member_access(&grants, *i as i64 + 10, black_box(p), &[]).bank())
                    .count()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(authz, benches);
criterion_main!(authz);
