//! The demo: the default catalogue, a small federation (Bund; 3 Länder; 2 Bezirke
//! each; 3 Stämme each) with mixed visibilities, ~300 members and one login per role.
use super::fake::{self, CITIES};
use super::generate::{Generator, Place, unit_row};
use super::{NextIds, Rows, allocate_membership_numbers, ensure_empty_tree, reset_sequences};
use crate::auth::password::PasswordHasher;
use crate::clock::Clock;
use crate::domain::bootstrap::{self, AdminInput};
use crate::domain::catalogue::{self, BEZIRK, BUND, LAND, STAMM};
use crate::domain::{DomainError, audit};
use chrono::{NaiveDate, Utc};
use entity::{
    AssignmentStatus, MemberStatus, OrgUnitStatus, Visibility, assignment, user, user_system_group,
};
use rand::SeedableRng;
use sea_orm::{DatabaseConnection, Set};
use std::collections::HashMap;

/// Every demo login uses this password.
pub const DEMO_PASSWORD: &str = "verband-demo";
pub const ROOT_NAME: &str = "Jugendbund Deutschland";
const SEED: u64 = 20_261_122;

use Visibility::{Hidden, Internal, Public, Restricted};

/// (Land, visibility, [(Bezirk, visibility, [(Stamm, visibility, city index)])])
type Tree = &'static [(
    &'static str,
    Visibility,
    &'static [(&'static str, Visibility, &'static [(&'static str, Visibility, usize)])],
)];

pub const TREE: Tree = &[
    (
        "Landesverband Bayern",
        Public,
        &[
            (
                "Bezirk Oberbayern",
                Public,
                &[
                    ("Stamm Isar", Public, 0),
                    ("Stamm Ammersee", Internal, 0),
                    ("Stamm Donaumoos", Restricted, 5),
                ],
            ),
            (
                "Bezirk Franken",
                Internal,
                &[("Stamm Pegnitz", Public, 1), ("Stamm Main", Restricted, 4), ("Stamm Regnitz", Hidden, 1)],
            ),
        ],
    ),
    (
        "Landesverband Hessen",
        Public,
        &[
            (
                "Bezirk Nordhessen",
                Public,
                &[("Stamm Fulda", Public, 2), ("Stamm Lahn", Internal, 4), ("Stamm Eder", Restricted, 2)],
            ),
            (
                "Bezirk Südhessen",
                Restricted,
                &[("Stamm Taunus", Public, 1), ("Stamm Odenwald", Public, 3), ("Stamm Nidda", Internal, 0)],
            ),
        ],
    ),
    (
        "Landesverband Niedersachsen",
        Internal,
        &[
            (
                "Bezirk Hannover",
                Internal,
                &[("Stamm Leine", Public, 0), ("Stamm Oker", Restricted, 1), ("Stamm Harz", Internal, 4)],
            ),
            (
                "Bezirk Weser-Ems",
                Public,
                &[("Stamm Hunte", Public, 2), ("Stamm Hase", Internal, 3), ("Stamm Ilmenau", Hidden, 5)],
            ),
        ],
    ),
];

/// This Stamm is ARCHIVED (read-only) in the demo.
pub const ARCHIVED_UNIT: &str = "Stamm Nidda";
pub const MEMBERS_PER_STAMM: usize = 16;

pub struct Office {
    pub activity: &'static str,
    pub unit: &'static str,
    pub level_group: Option<&'static str>,
    pub tree_group: Option<&'static str>,
    pub starts_on: (i32, u32, u32),
    pub ends_on: Option<(i32, u32, u32)>,
}

pub struct Persona {
    pub username: &'static str,
    pub role: &'static str,
    /// (first name, last name, home unit); None for a system user.
    pub member: Option<(&'static str, &'static str, &'static str)>,
    pub office: Option<Office>,
    pub pledge: bool,
    pub level: i32,
    pub system_groups: &'static [&'static str],
}

pub const PERSONAS: &[Persona] = &[
    Persona {
        username: "lsm.bayern",
        role: "Landesschatzmeisterin Bayern: state_treasurer at Bayern and below",
        member: Some(("Sabine", "Huber", "Stamm Isar")),
        office: Some(Office {
            activity: "Landesschatzmeister/in",
            unit: "Landesverband Bayern",
            level_group: Some("state_treasurer"),
            tree_group: Some("state_treasurer"),
            starts_on: (2024, 3, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "ssm.isar",
        role: "Stammesschatzmeister Stamm Isar: treasurer at his Stamm",
        member: Some(("Tobias", "Keller", "Stamm Isar")),
        office: Some(Office {
            activity: "Stammesschatzmeister/in",
            unit: "Stamm Isar",
            level_group: Some("treasurer"),
            tree_group: None,
            starts_on: (2023, 1, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "mv.hessen",
        role: "Mitgliederverwalterin Land Hessen: state_member_admin at Hessen and below",
        member: Some(("Claudia", "Lorenz", "Stamm Taunus")),
        office: Some(Office {
            activity: "Mitgliederverwalter/in Land",
            unit: "Landesverband Hessen",
            level_group: Some("state_member_admin"),
            tree_group: Some("state_member_admin"),
            starts_on: (2022, 9, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "lv.niedersachsen",
        role: "Landesvorsitzender Niedersachsen: state_board at Niedersachsen and below",
        member: Some(("Markus", "Vogel", "Stamm Leine")),
        office: Some(Office {
            activity: "Landesvorsitzende/r",
            unit: "Landesverband Niedersachsen",
            level_group: Some("state_board"),
            tree_group: Some("state_board"),
            starts_on: (2024, 5, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "sf.pegnitz",
        role: "Stammesführer Stamm Pegnitz: reader at his Stamm",
        member: Some(("Jonas", "Becker", "Stamm Pegnitz")),
        office: Some(Office {
            activity: "Stammesführer/in",
            unit: "Stamm Pegnitz",
            level_group: Some("reader"),
            tree_group: None,
            starts_on: (2025, 1, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "bsm",
        role: "Bundesschatzmeisterin: state_treasurer at the Bund and everywhere below",
        member: Some(("Petra", "Lang", ROOT_NAME)),
        office: Some(Office {
            activity: "Bundesschatzmeister/in",
            unit: ROOT_NAME,
            level_group: Some("state_treasurer"),
            tree_group: Some("state_treasurer"),
            starts_on: (2023, 6, 1),
            ends_on: None,
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "useradmin",
        role: "System user without member: user_admin (level 3), no member data at all",
        member: None,
        office: None,
        pledge: false,
        level: 3,
        system_groups: &["user_admin"],
    },
    Persona {
        username: "ohne.pledge",
        role: "Stammesführer Stamm Leine without privacy pledge: holds nothing (R6)",
        member: Some(("Finn", "Schubert", "Stamm Leine")),
        office: Some(Office {
            activity: "Stammesführer/in",
            unit: "Stamm Leine",
            level_group: Some("reader"),
            tree_group: None,
            starts_on: (2024, 1, 1),
            ends_on: None,
        }),
        pledge: false,
        level: 2,
        system_groups: &[],
    },
    Persona {
        username: "ehemalig",
        role: "Former Stammesschatzmeisterin Stamm Fulda, office ended 2025-06-30: holds nothing (R5)",
        member: Some(("Ursula", "Jung", "Stamm Fulda")),
        office: Some(Office {
            activity: "Stammesschatzmeister/in",
            unit: "Stamm Fulda",
            level_group: Some("treasurer"),
            tree_group: None,
            starts_on: (2021, 1, 1),
            ends_on: Some((2025, 6, 30)),
        }),
        pledge: true,
        level: 2,
        system_groups: &[],
    },
];

/// The first administrator of the demo (as `verband bootstrap` would create it).
pub const ADMIN_USERNAME: &str = "admin";

fn day((y, m, d): (i32, u32, u32)) -> Result<NaiveDate, DomainError> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| DomainError::Internal(format!("bad date {y}-{m}-{d}")))
}

/// Loads the demo into a migrated database without an organisation tree, in one
/// transaction.
pub async fn seed(db: &DatabaseConnection, hasher: &PasswordHasher, clock: Clock) -> Result<(), DomainError> {
    let txn = crate::db::write_transaction(db).await?;
    ensure_empty_tree(&txn).await?;
    let cat = catalogue::ensure_default(&txn).await?;
    let now = Utc::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let mut ids = NextIds::load(&txn).await?;
    let mut rows = Rows::default();
    // name → (id, path, depth, city list index)
    let mut units: HashMap<&'static str, (i64, String, i32)> = HashMap::new();
    // (unit id, state index) of every Stamm, and of every Land/Bund for staff members.
    let mut stamm_units = Vec::new();
    let mut upper_units = Vec::new();

    let (row, root_id, root_path, root_depth) = unit_row(
        &mut ids,
        None,
        cat.levels[BUND],
        ROOT_NAME,
        Some("JBD"),
        Public,
        OrgUnitStatus::Active,
        now,
    );
    rows.units.push(row);
    units.insert(ROOT_NAME, (root_id, root_path.clone(), root_depth));
    upper_units.push((root_id, 0usize));
    for (state_idx, (land, land_vis, bezirke)) in TREE.iter().enumerate() {
        let (row, land_id, land_path, land_depth) = unit_row(
            &mut ids,
            Some((root_id, &root_path, root_depth)),
            cat.levels[LAND],
            land,
            None,
            *land_vis,
            OrgUnitStatus::Active,
            now,
        );
        rows.units.push(row);
        units.insert(land, (land_id, land_path.clone(), land_depth));
        upper_units.push((land_id, state_idx));
        for (bezirk, bez_vis, staemme) in bezirke.iter() {
            let (row, bez_id, bez_path, bez_depth) = unit_row(
                &mut ids,
                Some((land_id, &land_path, land_depth)),
                cat.levels[BEZIRK],
                bezirk,
                None,
                *bez_vis,
                OrgUnitStatus::Active,
                now,
            );
            rows.units.push(row);
            units.insert(bezirk, (bez_id, bez_path.clone(), bez_depth));
            for (stamm, vis, city) in staemme.iter() {
                let status =
                    if *stamm == ARCHIVED_UNIT { OrgUnitStatus::Archived } else { OrgUnitStatus::Active };
                let (row, id, path, depth) = unit_row(
                    &mut ids,
                    Some((bez_id, &bez_path, bez_depth)),
                    cat.levels[STAMM],
                    stamm,
                    None,
                    *vis,
                    status,
                    now,
                );
                rows.units.push(row);
                units.insert(stamm, (id, path, depth));
                stamm_units.push((id, state_idx, *city));
            }
        }
    }

    let staff_per_upper = 2;
    let generated = stamm_units.len() * MEMBERS_PER_STAMM + upper_units.len() * staff_per_upper;
    let persona_members = PERSONAS.iter().filter(|p| p.member.is_some()).count();
    let mut number = allocate_membership_numbers(&txn, (generated + persona_members) as i64).await?;
    let mut generator = Generator { rng: &mut rng, ids: &mut ids, now, mandate_prefix: "JBD" };
    for &(unit_id, state, city) in &stamm_units {
        let (city, postal_code) = CITIES[state][city];
        for _ in 0..MEMBERS_PER_STAMM {
            generator.member(&mut rows, number, unit_id, &Place { city, postal_code });
            number += 1;
        }
    }
    for &(unit_id, state) in &upper_units {
        let (city, postal_code) = CITIES[state][0];
        for _ in 0..staff_per_upper {
            generator.member(&mut rows, number, unit_id, &Place { city, postal_code });
            number += 1;
        }
    }

    let password_hash = hasher.hash(DEMO_PASSWORD).map_err(|e| DomainError::Internal(e.to_string()))?;
    let unit = |name: &str| {
        units.get(name).map(|u| u.0).ok_or_else(|| DomainError::Internal(format!("demo unit {name} missing")))
    };
    // A persona lives where their home unit is.
    let home_place: HashMap<i64, (&str, &str)> = stamm_units
        .iter()
        .map(|&(id, state, city)| (id, CITIES[state][city]))
        .chain(upper_units.iter().map(|&(id, state)| (id, CITIES[state][0])))
        .collect();
    for persona in PERSONAS {
        let member_id = match persona.member {
            Some((first, last, home)) => {
                let p = fake::Person {
                    first_name: first,
                    last_name: last,
                    gender: if fake::FIRST_NAMES_F.contains(&first) { "female" } else { "male" },
                    birth_date: fake::date(generator.rng, 1965, 1998),
                };
                let home = unit(home)?;
                let (city, postal_code) = home_place.get(&home).copied().unwrap_or(CITIES[0][0]);
                let id = generator.push_member(
                    &mut rows,
                    number,
                    home,
                    &Place { city, postal_code },
                    &p,
                    MemberStatus::Active,
                );
                number += 1;
                Some(id)
            }
            None => None,
        };
        let user_id = generator.ids.user;
        generator.ids.user += 1;
        rows.users.push(user::ActiveModel {
            id: Set(user_id),
            username: Set(persona.username.to_owned()),
            email: Set(Some(format!("{}@example.org", persona.username))),
            password_hash: Set(Some(password_hash.clone())),
            member_id: Set(member_id),
            level: Set(persona.level),
            global_tree_group_id: Set(None),
            privacy_pledge_signed_on: Set(persona
                .pledge
                .then(|| NaiveDate::from_ymd_opt(2024, 1, 15))
                .flatten()),
            disabled: Set(false),
            external_subject: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            failed_logins: Set(0),
            locked_until: Set(None),
        });
        for key in persona.system_groups {
            rows.user_system_groups.push(user_system_group::ActiveModel {
                user_id: Set(user_id),
                permission_group_id: Set(cat.group(key)?),
            });
        }
        if let (Some(office), Some(member_id)) = (&persona.office, member_id) {
            let id = generator.ids.assignment;
            generator.ids.assignment += 1;
            rows.assignments.push(assignment::ActiveModel {
                id: Set(id),
                member_id: Set(member_id),
                activity_id: Set(cat.activity(office.activity)?),
                org_unit_id: Set(unit(office.unit)?),
                level_group_id: Set(office.level_group.map(|k| cat.group(k)).transpose()?),
                tree_group_id: Set(office.tree_group.map(|k| cat.group(k)).transpose()?),
                starts_on: Set(day(office.starts_on)?),
                ends_on: Set(office.ends_on.map(day).transpose()?),
                status: Set(AssignmentStatus::Active),
                created_by: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
    }
    rows.write(&txn).await?;
    reset_sequences(&txn).await?;

    bootstrap::create_admin(
        &txn,
        hasher,
        clock,
        &cat,
        root_id,
        AdminInput { username: ADMIN_USERNAME, password: DEMO_PASSWORD },
    )
    .await?;
    audit::record(
        &txn,
        now,
        audit::AuditRecord {
            actor_user_id: None,
            action: "seed.demo",
            entity: "org_unit",
            entity_id: root_id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "units": units.len(), "members": generated + persona_members })),
            request_id: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
