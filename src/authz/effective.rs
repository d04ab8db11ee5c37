//! Which of a user's assignments and groups count today (R5–R8), as "lines": a
//! group's permissions over a scope. The compiled grants and the Casbin enforcer are
//! both built from these lines, so they can be compared decision by decision.
use super::catalogue::Catalogue;
use super::facts::SubjectFacts;
use super::permission::PermSet;
use chrono::NaiveDate;
use entity::{GroupKind, MemberStatus};

/// The rule of DESIGN.md section 4 behind a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Level group: at the assignment's unit.
    R2,
    /// Tree group: strictly below the assignment's unit.
    R3,
    /// Global tree group: everywhere.
    R4,
    /// SYSTEM group of a user above level 2.
    R7,
    /// Own record.
    R17,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::R2 => "R2",
            Rule::R3 => "R3",
            Rule::R4 => "R4",
            Rule::R7 => "R7",
            Rule::R17 => "R17",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// At this unit only (R2).
    AtUnit { unit_id: i64, path: String },
    /// At every unit strictly below this one (R3).
    BelowUnit { unit_id: i64, path: String },
    /// At every unit (R4), or unscoped (R7).
    Everywhere,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub group_id: i64,
    pub permissions: PermSet,
    pub scope: Scope,
    pub rule: Rule,
    /// The assignment behind an R2/R3 line.
    pub assignment_id: Option<i64>,
}

/// Why a user holds no MEMBERSHIP permission at all (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// A system user (no member) never holds any.
    SystemUser,
    Disabled,
    MemberNotActive,
    NoPrivacyPledge,
}

impl Ineligible {
    pub fn describe(self) -> &'static str {
        match self {
            Ineligible::SystemUser => "a system user (without member) holds no membership permissions (R6)",
            Ineligible::Disabled => "the user is disabled (R6)",
            Ineligible::MemberNotActive => "the user's member is not ACTIVE (R6)",
            Ineligible::NoPrivacyPledge => "no privacy pledge on record (R6)",
        }
    }
}

/// R6: may this user hold MEMBERSHIP permissions on `today`?
pub fn membership_eligibility(facts: &SubjectFacts, today: NaiveDate) -> Result<(), Ineligible> {
    let Some(member) = &facts.member else {
        return Err(Ineligible::SystemUser);
    };
    if facts.user.disabled {
        return Err(Ineligible::Disabled);
    }
    if member.status != MemberStatus::Active {
        return Err(Ineligible::MemberNotActive);
    }
    if facts.user.privacy_pledge_signed_on.is_none_or(|pledged| pledged > today) {
        return Err(Ineligible::NoPrivacyPledge);
    }
    Ok(())
}

/// R7: SYSTEM groups act only for an enabled user above level 2.
pub fn system_groups_act(facts: &SubjectFacts) -> bool {
    !facts.user.disabled && facts.user.level > entity::user::MEMBER_USER_LEVEL
}

/// The lines that grant something on `today`.
pub fn effective_lines(facts: &SubjectFacts, catalogue: &Catalogue, today: NaiveDate) -> Vec<Line> {
    let mut lines = Vec::new();
    // R8: a group only counts in the slot of its kind, and only with permissions of
    // that kind.
    let group = |id: i64, kind: GroupKind| {
        catalogue.group(id).filter(|g| g.kind == kind).map(|g| g.permissions.of_kind(kind))
    };
    if membership_eligibility(facts, today).is_ok() {
        for fact in &facts.assignments {
            let a = &fact.assignment;
            if !a.is_effective_on(today) {
                continue; // R5
            }
            let slots = [(a.level_group_id, Rule::R2), (a.tree_group_id, Rule::R3)];
            for (group_id, rule) in slots {
                let Some(group_id) = group_id else { continue };
                let Some(permissions) = group(group_id, GroupKind::Membership) else {
                    continue;
                };
                let scope = match rule {
                    Rule::R2 => Scope::AtUnit { unit_id: a.org_unit_id, path: fact.unit_path.clone() },
                    _ => Scope::BelowUnit { unit_id: a.org_unit_id, path: fact.unit_path.clone() },
                };
                lines.push(Line { group_id, permissions, scope, rule, assignment_id: Some(a.id) });
            }
        }
        if let Some(group_id) = facts.user.global_tree_group_id
            && let Some(permissions) = group(group_id, GroupKind::Membership)
        {
            lines.push(Line {
                group_id,
                permissions,
                scope: Scope::Everywhere,
                rule: Rule::R4,
                assignment_id: None,
            });
        }
    }
    if system_groups_act(facts) {
        for &group_id in &facts.system_group_ids {
            if let Some(permissions) = group(group_id, GroupKind::System) {
                lines.push(Line {
                    group_id,
                    permissions,
                    scope: Scope::Everywhere,
                    rule: Rule::R7,
                    assignment_id: None,
                });
            }
        }
    }
    lines
}
