//! `verband seed --synthetic`: a deterministic federation of any size for load tests
//! and benchmarks. The same seed gives the same tree, members and offices. Members
//! are generated and written in chunks, each chunk one transaction, so memory stays
//! flat whatever N is.
use super::fake::CITIES;
use super::generate::{Generator, Place, unit_row};
use super::{NextIds, Rows, allocate_membership_numbers, ensure_empty_tree, reset_sequences};
use crate::auth::password::PasswordHasher;
use crate::domain::DomainError;
use crate::domain::catalogue::{self, BEZIRK, BUND, LAND, STAMM};
use crate::domain::seed::demo::DEMO_PASSWORD;
use chrono::{NaiveDate, Utc};
use entity::{AssignmentStatus, MemberStatus, OrgUnitStatus, Visibility, assignment, user};
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue, ConnectionTrait, DatabaseConnection, Set, TransactionTrait};
use std::collections::HashSet;

const STATES: &[&str] = &[
    "Baden-Württemberg",
    "Bayern",
    "Berlin",
    "Brandenburg",
    "Bremen",
    "Hamburg",
    "Hessen",
    "Mecklenburg-Vorpommern",
    "Niedersachsen",
    "Nordrhein-Westfalen",
    "Rheinland-Pfalz",
    "Saarland",
    "Sachsen",
    "Sachsen-Anhalt",
    "Schleswig-Holstein",
    "Thüringen",
];
const CHUNK: usize = 5_000;

#[derive(Debug, Clone, Copy)]
pub struct SyntheticSpec {
    pub members: u64,
    pub units: u64,
    pub seed: u64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyntheticReport {
    pub units: u64,
    pub members: u64,
    pub assignments: u64,
    pub users: u64,
    /// A few of the logins made for office holders, to sign in with (all with the
    /// demo password): the federation's treasurer, a state treasurer, a local one.
    pub logins: Vec<SyntheticLogin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticLogin {
    pub username: String,
    /// What the login is an example of, e.g. "state treasurer".
    pub role: &'static str,
    /// Every office the member holds (random picks may give one member several),
    /// e.g. "Landesschatzmeister/in at Landesverband Bayern (state_treasurer at the
    /// unit, state_treasurer below it)".
    pub offices: Vec<String>,
}

/// A unit of the generated tree.
struct TreeUnit {
    id: i64,
    path: String,
    depth: i32,
    /// Index into STATES: the Land it belongs to.
    state: usize,
    name: String,
}

/// The first active member at or after `from`, wrapping around; `from` itself when
/// nobody is active.
fn next_active(active: &[u64], from: u64) -> i64 {
    let n = active.len() as u64 * 64;
    (0..n)
        .map(|k| (from + k) % n)
        .find(|i| active.get(*i as usize / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
        .unwrap_or(from) as i64
}

/// One office as the report shows it.
fn office_text(activity: &str, unit: &str, level_group: Option<&str>, tree_group: Option<&str>) -> String {
    let groups = match (level_group, tree_group) {
        (Some(l), Some(t)) if l == t => format!("{l} at the unit and below it"),
        (Some(l), Some(t)) => format!("{l} at the unit, {t} below it"),
        (Some(l), None) => format!("{l} at the unit"),
        (None, Some(t)) => format!("{t} below the unit"),
        (None, None) => "no permission group".to_owned(),
    };
    format!("{activity} at {unit} ({groups})")
}

/// How many units per level: one root, then Länder, Bezirke and Stämme.
pub fn level_sizes(units: u64) -> [u64; 4] {
    let rest = units.saturating_sub(1);
    let laender = rest.min(((units as f64).sqrt() / 8.0).ceil().clamp(1.0, 16.0) as u64);
    let bezirke = (rest - laender).min((units / 20).max(laender));
    let staemme = rest - laender - bezirke;
    [units.min(1), laender, bezirke, staemme]
}

pub async fn seed(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    spec: SyntheticSpec,
) -> Result<SyntheticReport, DomainError> {
    if spec.units == 0 {
        return Err(DomainError::bad_input("units", "must be at least 1"));
    }
    let txn = db.begin().await?;
    ensure_empty_tree(&txn).await?;
    let cat = catalogue::ensure_default(&txn).await?;
    let now = Utc::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    let mut ids = NextIds::load(&txn).await?;
    let mut report = SyntheticReport::default();

    // The tree, tier by tier.
    let sizes = level_sizes(spec.units);
    let mut rows = Rows::default();
    let mut tiers: [Vec<TreeUnit>; 4] = Default::default();
    for level in [BUND, LAND, BEZIRK, STAMM] {
        for i in 0..sizes[level] {
            let parent = if level == BUND {
                None
            } else {
                let above = &tiers[level - 1];
                Some(&above[(i as usize) % above.len()])
            };
            let state = match (level, parent) {
                (LAND, _) => i as usize % STATES.len(),
                (_, Some(p)) => p.state,
                _ => 0,
            };
            let name = match level {
                BUND => "Synthetischer Bund".to_owned(),
                LAND => format!("Landesverband {}", STATES[state]),
                BEZIRK => format!("Bezirk {} {}", STATES[state], i + 1),
                _ => format!("Stamm {}", i + 1),
            };
            let visibility = match (level, rng.random_range(0..100)) {
                (BUND | LAND, _) => Visibility::Public,
                (_, 0..50) => Visibility::Public,
                (_, 50..75) => Visibility::Internal,
                (_, 75..95) => Visibility::Restricted,
                _ => Visibility::Hidden,
            };
            let (row, id, path, depth) = unit_row(
                &mut ids,
                parent.map(|p| (p.id, p.path.as_str(), p.depth)),
                cat.levels[level],
                &name,
                None,
                visibility,
                OrgUnitStatus::Active,
                now,
            );
            rows.units.push(row);
            tiers[level].push(TreeUnit { id, path, depth, state, name });
        }
    }
    report.units = rows.units.len() as u64;
    rows.write(&txn).await?;
    reset_sequences(&txn).await?;
    txn.commit().await?;

    // Members live mostly in the lowest tier that exists; a few are staff above.
    let homes: Vec<(i64, usize)> = (0..4)
        .rev()
        .find(|&l| !tiers[l].is_empty())
        .map(|l| tiers[l].iter().map(|u| (u.id, u.state)).collect())
        .unwrap_or_default();
    let uppers: Vec<(i64, usize)> = tiers[..3].iter().flatten().map(|u| (u.id, u.state)).collect();
    let first_member_id = ids.member;
    // Which members are ACTIVE, one bit each (125 kB for a million): offices go to
    // active members only, since nobody else can sign in (R6).
    let mut active = vec![0_u64; (spec.members as usize).div_ceil(64)];
    let mut remaining = spec.members;
    while remaining > 0 {
        let n = remaining.min(CHUNK as u64);
        let txn = db.begin().await?;
        let mut number = allocate_membership_numbers(&txn, n as i64).await?;
        let mut rows = Rows::default();
        let mut g = Generator { rng: &mut rng, ids: &mut ids, now, mandate_prefix: "SYN" };
        for _ in 0..n {
            let (unit_id, state) = if g.rng.random_range(0..100) < 3 && !uppers.is_empty() {
                uppers[g.rng.random_range(0..uppers.len())]
            } else {
                homes[g.rng.random_range(0..homes.len())]
            };
            let cities = CITIES[state % CITIES.len()];
            let (city, postal_code) = cities[g.rng.random_range(0..cities.len())];
            g.member(&mut rows, number, unit_id, &Place { city, postal_code });
            number += 1;
        }
        for m in &rows.members {
            if let (ActiveValue::Set(id), ActiveValue::Set(MemberStatus::Active)) = (&m.id, &m.status) {
                let i = (id - first_member_id) as usize;
                if let Some(word) = active.get_mut(i / 64) {
                    *word |= 1 << (i % 64);
                }
            }
        }
        rows.write(&txn).await?;
        txn.commit().await?;
        remaining -= n;
        report.members += n;
    }

    // Offices: in every unit a leader (reader) and, at Bund, Land and Stamm, a
    // treasurer; each office holder gets a login.
    if spec.members > 0 {
        let txn = db.begin().await?;
        let password_hash = hasher.hash(DEMO_PASSWORD).map_err(|e| DomainError::Internal(e.to_string()))?;
        let mut rows = Rows::default();
        let mut holders = HashSet::new();
        // (member, office text) of every office, and the first treasurer of each tier.
        let mut held: Vec<(i64, String)> = Vec::new();
        let mut treasurers: [Option<i64>; 4] = [None; 4];
        let since = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or(NaiveDate::MIN);
        for (level, tier) in tiers.iter().enumerate() {
            let offices: &[(&str, Option<&str>, Option<&str>)] = match level {
                BUND => &[
                    ("Bundesvorsitzende/r", Some("state_board"), Some("state_board")),
                    ("Bundesschatzmeister/in", Some("state_treasurer"), Some("state_treasurer")),
                ],
                LAND => &[
                    ("Landesvorsitzende/r", Some("state_board"), Some("state_board")),
                    ("Landesschatzmeister/in", Some("state_treasurer"), Some("state_treasurer")),
                    ("Mitgliederverwalter/in Land", Some("state_member_admin"), Some("state_member_admin")),
                ],
                BEZIRK => &[("Bezirkssprecher/in", Some("reader"), Some("reader"))],
                _ => &[
                    ("Stammesführer/in", Some("reader"), None),
                    ("Stammesschatzmeister/in", Some("treasurer"), None),
                ],
            };
            for unit in tier {
                for (activity, level_group, tree_group) in offices {
                    let member_id = first_member_id + next_active(&active, rng.random_range(0..spec.members));
                    holders.insert(member_id);
                    held.push((member_id, office_text(activity, &unit.name, *level_group, *tree_group)));
                    if activity.contains("schatzmeister") && treasurers[level].is_none() {
                        treasurers[level] = Some(member_id);
                    }
                    let id = ids.assignment;
                    ids.assignment += 1;
                    rows.assignments.push(assignment::ActiveModel {
                        id: Set(id),
                        member_id: Set(member_id),
                        activity_id: Set(cat.activity(activity)?),
                        org_unit_id: Set(unit.id),
                        level_group_id: Set(level_group.map(|k| cat.group(k)).transpose()?),
                        tree_group_id: Set(tree_group.map(|k| cat.group(k)).transpose()?),
                        starts_on: Set(since),
                        ends_on: Set(None),
                        status: Set(AssignmentStatus::Active),
                        created_by: Set(None),
                        created_at: Set(now),
                        updated_at: Set(now),
                    });
                }
            }
        }
        let mut holders: Vec<i64> = holders.into_iter().collect();
        holders.sort_unstable();
        for member_id in holders {
            let id = ids.user;
            ids.user += 1;
            rows.users.push(user::ActiveModel {
                id: Set(id),
                username: Set(format!("m{member_id}")),
                email: Set(None),
                password_hash: Set(Some(password_hash.clone())),
                member_id: Set(Some(member_id)),
                level: Set(user::MEMBER_USER_LEVEL),
                global_tree_group_id: Set(None),
                privacy_pledge_signed_on: Set(Some(since)),
                disabled: Set(false),
                external_subject: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                failed_logins: Set(0),
                locked_until: Set(None),
            });
        }
        report.assignments = rows.assignments.len() as u64;
        report.users = rows.users.len() as u64;
        let examples =
            [(BUND, "federation-wide treasurer"), (LAND, "state treasurer"), (STAMM, "local treasurer")];
        for (level, role) in examples {
            if let Some(member_id) = treasurers[level] {
                report.logins.push(SyntheticLogin {
                    username: format!("m{member_id}"),
                    role,
                    offices: held.iter().filter(|(m, _)| *m == member_id).map(|(_, o)| o.clone()).collect(),
                });
            }
        }
        rows.write(&txn).await?;
        txn.commit().await?;
    }
    reset_sequences(db).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared("ANALYZE").await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sizes_add_up_and_keep_a_tree_shape() {
        for m in [1, 2, 5, 28, 100, 1_000, 10_000, 100_000] {
            let s = level_sizes(m);
            assert_eq!(s.iter().sum::<u64>(), m, "{m}: {s:?}");
            assert_eq!(s[0], 1);
            if m > 1 {
                assert!(s[1] >= 1 && s[1] <= 16, "{m}: {s:?}");
            }
        }
        assert_eq!(level_sizes(10_000), [1, 13, 500, 9_486]);
    }
}
