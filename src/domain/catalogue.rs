//! The default catalogue (docs/catalogue.md): levels, permission groups (their
//! permissions come from `policies/policy.csv`), activities with allowed groups.
use crate::authz::Permission;
use crate::domain::DomainError;
use chrono::Utc;
use entity::{
    GroupKind, activity, activity_allowed_group, counter, level, permission_group,
    permission_group_permission,
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Set};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The default group → permission lines, compiled into the binary so that it runs
/// from any directory.
pub const DEFAULT_POLICY_CSV: &str = include_str!("../../policies/policy.csv");

pub const LEVELS: &[&str] = &["Bund", "Land", "Bezirk", "Stamm"];
pub const BUND: usize = 0;
pub const LAND: usize = 1;
pub const BEZIRK: usize = 2;
pub const STAMM: usize = 3;

pub struct GroupDef {
    pub key: &'static str,
    pub name: &'static str,
    pub kind: GroupKind,
    pub description: &'static str,
}

pub const GROUPS: &[GroupDef] = &[
    GroupDef {
        key: "reader",
        name: "Lesen (Standard)",
        kind: GroupKind::Membership,
        description: "Mitgliederdaten lesen",
    },
    GroupDef {
        key: "state_board",
        name: "Landesvorstand",
        kind: GroupKind::Membership,
        description: "Lesen, Ü18-Aufnahmen genehmigen, Gruppierungsfinanzen lesen",
    },
    GroupDef {
        key: "state_treasurer",
        name: "Schatzmeister LV (Lesend)",
        kind: GroupKind::Membership,
        description: "Landesvorstand und Bankverbindungen und Beitragseingänge lesen",
    },
    GroupDef {
        key: "treasurer",
        name: "Schatzmeister (Lesend)",
        kind: GroupKind::Membership,
        description: "Lesen, Bankverbindungen und Beitragseingänge lesen",
    },
    GroupDef {
        key: "member_admin",
        name: "Mitgliederverwalter (Schreibend)",
        kind: GroupKind::Membership,
        description: "Mitglieder und Bankdaten pflegen",
    },
    GroupDef {
        key: "state_member_admin",
        name: "Mitgliederverwalter LV",
        kind: GroupKind::Membership,
        description: "Mitgliederverwalter und Aufnahmen genehmigen, Gruppierungen und Tätigkeiten verwalten",
    },
    GroupDef {
        key: "finance",
        name: "Finance",
        kind: GroupKind::Membership,
        description: "Beitragseingänge lesen und buchen",
    },
    GroupDef {
        key: "federation_admin",
        name: "Bundesverwaltung",
        kind: GroupKind::Membership,
        description: "alle Mitgliederrechte",
    },
    GroupDef {
        key: "user_admin",
        name: "Benutzerverwaltung",
        kind: GroupKind::System,
        description: "Benutzer verwalten",
    },
    GroupDef {
        key: "catalogue_admin",
        name: "Katalogverwaltung",
        kind: GroupKind::System,
        description: "Rechtegruppen, Tätigkeiten und Ebenen verwalten",
    },
    GroupDef { key: "auditor", name: "Revision", kind: GroupKind::System, description: "Protokoll lesen" },
    GroupDef {
        key: "billing",
        name: "Rechnungsstellung",
        kind: GroupKind::System,
        description: "Rechnungen erstellen",
    },
    GroupDef {
        key: "system_admin",
        name: "Systemadministration",
        kind: GroupKind::System,
        description: "alle Systemrechte",
    },
];

pub struct ActivityDef {
    pub level: usize,
    pub name: &'static str,
    pub allowed: &'static [&'static str],
}

pub const ACTIVITIES: &[ActivityDef] = &[
    ActivityDef { level: BUND, name: "Bundesvorsitzende/r", allowed: &["state_board", "reader"] },
    ActivityDef {
        level: BUND,
        name: "Bundesschatzmeister/in",
        allowed: &["state_treasurer", "finance", "reader"],
    },
    ActivityDef { level: BUND, name: "Bundesmitgliederverwaltung", allowed: &["federation_admin"] },
    ActivityDef { level: LAND, name: "Landesvorsitzende/r", allowed: &["state_board", "reader"] },
    ActivityDef { level: LAND, name: "Stv. Landesvorsitzende/r", allowed: &["state_board", "reader"] },
    ActivityDef {
        level: LAND,
        name: "Landesschatzmeister/in",
        allowed: &["state_treasurer", "member_admin", "reader"],
    },
    ActivityDef { level: LAND, name: "Landesbeauftragte/r", allowed: &["reader"] },
    ActivityDef { level: LAND, name: "Landesgeschäftsstelle", allowed: &["reader"] },
    ActivityDef { level: LAND, name: "Landeswahlobmensch", allowed: &["reader"] },
    ActivityDef { level: LAND, name: "Mitgliederverwalter/in Land", allowed: &["state_member_admin"] },
    ActivityDef { level: LAND, name: "Hauptamtliche/r", allowed: &["reader", "member_admin"] },
    ActivityDef { level: BEZIRK, name: "Bezirkssprecher/in", allowed: &["reader"] },
    ActivityDef { level: STAMM, name: "Stammesführer/in", allowed: &["reader"] },
    ActivityDef { level: STAMM, name: "Stv. Stammesführer/in", allowed: &["reader"] },
    ActivityDef { level: STAMM, name: "Stammesschatzmeister/in", allowed: &["treasurer", "member_admin"] },
    ActivityDef { level: STAMM, name: "Mitgliederverwalter/in Stamm", allowed: &["member_admin"] },
];

/// Parses `p, <group>, <permission>` lines; comments and blank lines are skipped.
/// Every permission must be known and of the group's kind (R8).
pub fn parse_policy(csv: &str) -> Result<BTreeMap<String, BTreeSet<Permission>>, DomainError> {
    let mut out: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
    for (n, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split(',').map(str::trim).collect();
        let [kind, group, permission] = parts.as_slice() else {
            return Err(DomainError::Internal(format!(
                "policy line {}: expected `p, group, permission`",
                n + 1
            )));
        };
        if *kind != "p" {
            return Err(DomainError::Internal(format!("policy line {}: only `p` lines belong here", n + 1)));
        }
        let permission: Permission =
            permission.parse().map_err(|e| DomainError::Internal(format!("policy line {}: {e}", n + 1)))?;
        out.entry((*group).to_owned()).or_default().insert(permission);
    }
    Ok(out)
}

/// Ids of the installed catalogue, by name/key.
#[derive(Debug, Default, Clone)]
pub struct CatalogueIds {
    pub levels: Vec<i64>,
    pub groups: HashMap<String, i64>,
    pub activities: HashMap<String, i64>,
}

impl CatalogueIds {
    pub fn group(&self, key: &str) -> Result<i64, DomainError> {
        self.groups.get(key).copied().ok_or_else(|| DomainError::Internal(format!("group {key} missing")))
    }

    pub fn activity(&self, name: &str) -> Result<i64, DomainError> {
        self.activities
            .get(name)
            .copied()
            .ok_or_else(|| DomainError::Internal(format!("activity {name} missing")))
    }
}

/// Installs the default catalogue into an empty database, or reads the ids of the
/// one that is there.
pub async fn ensure_default<C: ConnectionTrait>(conn: &C) -> Result<CatalogueIds, DomainError> {
    if level::Entity::find().count(conn).await? > 0 {
        return load_ids(conn).await;
    }
    let policy = parse_policy(DEFAULT_POLICY_CSV)?;
    let now = Utc::now();
    let mut ids = CatalogueIds::default();
    for (rank, name) in LEVELS.iter().enumerate() {
        let row = level::ActiveModel {
            name: Set((*name).to_owned()),
            rank: Set(rank as i32),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        ids.levels.push(row.id);
    }
    for g in GROUPS {
        let perms = policy
            .get(g.key)
            .ok_or_else(|| DomainError::Internal(format!("policy.csv has no lines for {}", g.key)))?;
        if let Some(p) = perms.iter().find(|p| p.kind() != g.kind) {
            return Err(DomainError::Internal(format!("group {} ({:?}) cannot hold {p}", g.key, g.kind)));
        }
        let row = permission_group::ActiveModel {
            key: Set(g.key.to_owned()),
            name: Set(g.name.to_owned()),
            kind: Set(g.kind),
            description: Set(g.description.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        permission_group_permission::Entity::insert_many(perms.iter().map(|p| {
            permission_group_permission::ActiveModel {
                permission_group_id: Set(row.id),
                permission: Set(p.as_str().to_owned()),
            }
        }))
        .exec(conn)
        .await?;
        ids.groups.insert(g.key.to_owned(), row.id);
    }
    for a in ACTIVITIES {
        let row = activity::ActiveModel {
            name: Set(a.name.to_owned()),
            level_id: Set(ids.levels[a.level]),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        for key in a.allowed {
            activity_allowed_group::ActiveModel {
                activity_id: Set(row.id),
                permission_group_id: Set(ids.group(key)?),
            }
            .insert(conn)
            .await?;
        }
        ids.activities.insert(a.name.to_owned(), row.id);
    }
    counter::ActiveModel { name: Set(counter::MEMBERSHIP_NUMBER.to_owned()), value: Set(100_000) }
        .insert(conn)
        .await?;
    Ok(ids)
}

async fn load_ids<C: ConnectionTrait>(conn: &C) -> Result<CatalogueIds, DomainError> {
    use sea_orm::QueryOrder;
    let levels = level::Entity::find().order_by_asc(level::Column::Rank).all(conn).await?;
    let groups = permission_group::Entity::find().all(conn).await?;
    let activities = activity::Entity::find().all(conn).await?;
    Ok(CatalogueIds {
        levels: levels.into_iter().map(|l| l.id).collect(),
        groups: groups.into_iter().map(|g| (g.key, g.id)).collect(),
        activities: activities.into_iter().map(|a| (a.name, a.id)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn policy() -> BTreeMap<String, BTreeSet<Permission>> {
        parse_policy(DEFAULT_POLICY_CSV).expect("policy.csv parses")
    }

    fn set(ps: &[Permission]) -> BTreeSet<Permission> {
        ps.iter().copied().collect()
    }

    #[test]
    fn policy_matches_the_table_of_design_section_3() {
        let p = policy();
        assert_eq!(p["reader"], set(&[MemberRead]));
        assert_eq!(p["state_board"], set(&[MemberRead, AdmissionApproveAdult, UnitReadFinance]));
        let mut st = p["state_board"].clone();
        st.extend([BankRead, PaymentRead]);
        assert_eq!(p["state_treasurer"], st, "state_treasurer = state_board + bank.read, payment.read");
        assert_eq!(p["treasurer"], set(&[MemberRead, BankRead, PaymentRead]));
        assert_eq!(
            p["member_admin"],
            set(&[MemberRead, MemberWrite, MemberCreate, BankRead, BankWrite, PaymentRead])
        );
        let mut sma = p["member_admin"].clone();
        sma.extend([AdmissionApprove, UnitWrite, AssignmentWrite]);
        assert_eq!(p["state_member_admin"], sma);
        assert_eq!(p["finance"], set(&[PaymentRead, PaymentWrite]));
        let all_membership: BTreeSet<_> =
            Permission::ALL.iter().copied().filter(|p| p.kind() == GroupKind::Membership).collect();
        assert_eq!(p["federation_admin"], all_membership);
        let all_system: BTreeSet<_> =
            Permission::ALL.iter().copied().filter(|p| p.kind() == GroupKind::System).collect();
        assert_eq!(p["system_admin"], all_system);
        assert_eq!(p["user_admin"], set(&[UserManage]));
        assert_eq!(p["catalogue_admin"], set(&[CatalogueManage]));
        assert_eq!(p["auditor"], set(&[AuditRead]));
        assert_eq!(p["billing"], set(&[InvoiceCreate]));
    }

    #[test]
    fn every_group_has_policy_lines_of_its_own_kind() {
        let p = policy();
        assert_eq!(p.len(), GROUPS.len());
        for g in GROUPS {
            assert!(p[g.key].iter().all(|perm| perm.kind() == g.kind), "{}", g.key);
        }
    }

    #[test]
    fn activities_allow_only_membership_groups_that_exist() {
        for a in ACTIVITIES {
            for key in a.allowed {
                let g = GROUPS.iter().find(|g| g.key == *key).expect("group exists");
                assert_eq!(g.kind, GroupKind::Membership, "{} allows {key}", a.name);
            }
        }
    }

    #[test]
    fn malformed_policy_lines_are_rejected() {
        assert!(parse_policy("p, reader").is_err());
        assert!(parse_policy("g, a, b").is_err());
        assert!(parse_policy("p, reader, member.fly").is_err());
    }
}
