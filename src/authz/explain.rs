//! Explainable decisions: which assignment, group and rule granted a permission, or
//! which rule denied it (`explainAccess`); everyone holding a permission at a unit
//! (`whoCanAccess`).
use super::catalogue::Catalogue;
use super::effective::{
    Ineligible, Line, Rule, Scope, effective_lines, membership_eligibility, system_groups_act,
};
use super::facts::SubjectFacts;
use super::permission::Permission;
use chrono::NaiveDate;
use entity::{AssignmentStatus, GroupKind, assignment, org_unit, user};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

/// What the access is asked for: a unit, or a member (at its home unit, R1).
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub unit_path: &'a str,
    pub member_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub rule: Rule,
    pub group_id: Option<i64>,
    pub group_key: Option<String>,
    pub assignment_id: Option<i64>,
    pub activity_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// R6: no MEMBERSHIP permission at all.
    Ineligible(Ineligible),
    /// R7: SYSTEM groups act only above level 2 (or the user is disabled).
    LevelTooLow,
    /// No assignment or group that would grant it.
    NoAssignment,
    /// R5: an assignment would grant it but is not effective on that day.
    NotEffective { assignment_id: i64, reason: String },
}

impl Denial {
    pub fn rule(&self) -> &'static str {
        match self {
            Denial::Ineligible(_) => "R6",
            Denial::LevelTooLow => "R7",
            Denial::NoAssignment => "R1",
            Denial::NotEffective { .. } => "R5",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Denial::Ineligible(i) => i.describe().to_owned(),
            Denial::LevelTooLow => "system groups act only for enabled users above level 2 (R7)".to_owned(),
            Denial::NoAssignment => "no assignment or group grants it there".to_owned(),
            Denial::NotEffective { assignment_id, reason } => {
                format!("assignment {assignment_id} would grant it but {reason} (R5)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    Granted(Vec<Grant>),
    Denied(Vec<Denial>),
}

impl Explanation {
    pub fn granted(&self) -> bool {
        matches!(self, Explanation::Granted(_))
    }
}

fn covers(scope: &Scope, path: &str) -> bool {
    match scope {
        Scope::Everywhere => true,
        Scope::AtUnit { path: p, .. } => p == path,
        Scope::BelowUnit { path: p, .. } => path.len() > p.len() && path.starts_with(p.as_str()),
    }
}

fn grant(line: &Line, facts: &SubjectFacts, catalogue: &Catalogue) -> Grant {
    let fact = line.assignment_id.and_then(|id| facts.assignments.iter().find(|a| a.assignment.id == id));
    Grant {
        rule: line.rule,
        group_id: Some(line.group_id),
        group_key: catalogue.group(line.group_id).map(|g| g.key.clone()),
        assignment_id: line.assignment_id,
        activity_id: fact.map(|f| f.assignment.activity_id),
        unit_id: fact.map(|f| f.assignment.org_unit_id),
        unit_name: fact.map(|f| f.unit_name.clone()),
    }
}

fn why_not_effective(a: &assignment::Model, today: NaiveDate) -> String {
    if a.status != AssignmentStatus::Active {
        format!("its status is {}", a.status.as_str())
    } else if a.starts_on > today {
        format!("it starts on {}", a.starts_on)
    } else {
        format!("it ended on {}", a.ends_on.map(|d| d.to_string()).unwrap_or_default())
    }
}

/// Explains one decision for one user on `today`.
pub fn explain(
    facts: &SubjectFacts,
    catalogue: &Catalogue,
    today: NaiveDate,
    target: &Target<'_>,
    permission: Permission,
) -> Explanation {
    let lines = effective_lines(facts, catalogue, today);
    if permission.kind() == GroupKind::System {
        let grants: Vec<Grant> = lines
            .iter()
            .filter(|l| l.rule == Rule::R7 && l.permissions.contains(permission))
            .map(|l| grant(l, facts, catalogue))
            .collect();
        return if !grants.is_empty() {
            Explanation::Granted(grants)
        } else if !system_groups_act(facts) {
            Explanation::Denied(vec![Denial::LevelTooLow])
        } else {
            Explanation::Denied(vec![Denial::NoAssignment])
        };
    }
    let mut grants: Vec<Grant> = Vec::new();
    let self_read =
        matches!(permission, Permission::MemberRead | Permission::BankRead | Permission::PaymentRead);
    if self_read
        && !facts.user.disabled
        && target.member_id.is_some()
        && target.member_id == facts.user.member_id
    {
        grants.push(Grant {
            rule: Rule::R17,
            group_id: None,
            group_key: None,
            assignment_id: None,
            activity_id: None,
            unit_id: None,
            unit_name: None,
        });
    }
    grants.extend(
        lines
            .iter()
            .filter(|l| {
                l.rule != Rule::R7 && l.permissions.contains(permission) && covers(&l.scope, target.unit_path)
            })
            .map(|l| grant(l, facts, catalogue)),
    );
    if !grants.is_empty() {
        return Explanation::Granted(grants);
    }
    if let Err(ineligible) = membership_eligibility(facts, today) {
        return Explanation::Denied(vec![Denial::Ineligible(ineligible)]);
    }
    // Assignments that would grant it if they were effective.
    let would = |group: Option<i64>| {
        group
            .and_then(|g| catalogue.group(g))
            .is_some_and(|g| g.kind == GroupKind::Membership && g.permissions.contains(permission))
    };
    let denials: Vec<Denial> = facts
        .assignments
        .iter()
        .filter(|f| !f.assignment.is_effective_on(today))
        .filter(|f| {
            let at = f.unit_path == target.unit_path && would(f.assignment.level_group_id);
            let below = target.unit_path.len() > f.unit_path.len()
                && target.unit_path.starts_with(f.unit_path.as_str())
                && would(f.assignment.tree_group_id);
            at || below
        })
        .map(|f| Denial::NotEffective {
            assignment_id: f.assignment.id,
            reason: why_not_effective(&f.assignment, today),
        })
        .collect();
    if denials.is_empty() {
        Explanation::Denied(vec![Denial::NoAssignment])
    } else {
        Explanation::Denied(denials)
    }
}

/// Explaining someone else's access (and listing who can access a unit) needs
/// user.manage or audit.read.
pub fn may_explain_others(grants: &super::Grants) -> bool {
    grants.holds_system(Permission::UserManage) || grants.holds_system(Permission::AuditRead)
}

/// Everyone holding `permission` at the unit with `unit_path` on `today`, with the
/// grants that give it. A constant number of statements: candidates first (users
/// with a global tree group or a SYSTEM group, or whose member has an assignment on
/// the unit's path), then their facts in one batch.
pub async fn who_can_access<C: ConnectionTrait>(
    conn: &C,
    catalogue: &Catalogue,
    today: NaiveDate,
    unit_path: &str,
    permission: Permission,
) -> Result<Vec<(user::Model, Vec<Grant>)>, DbErr> {
    let on_path: Vec<i64> = org_unit::path_ids(unit_path).collect();
    let holders: Vec<i64> = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::MemberId)
        .filter(assignment::Column::OrgUnitId.is_in(on_path))
        .into_tuple::<i64>()
        .all(conn)
        .await?;
    let mut candidates: Vec<i64> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::MemberId.is_in(holders).or(user::Column::GlobalTreeGroupId.is_not_null()))
        .into_tuple::<i64>()
        .all(conn)
        .await?;
    if permission.kind() == GroupKind::System {
        candidates.extend(
            entity::user_system_group::Entity::find()
                .select_only()
                .column(entity::user_system_group::Column::UserId)
                .into_tuple::<i64>()
                .all(conn)
                .await?,
        );
    }
    candidates.sort_unstable();
    candidates.dedup();
    let target = Target { unit_path, member_id: None };
    let mut out: Vec<(user::Model, Vec<Grant>)> = SubjectFacts::load_many(conn, &candidates)
        .await?
        .into_iter()
        .filter_map(|facts| match explain(&facts, catalogue, today, &target, permission) {
            Explanation::Granted(grants) => Some((facts.user, grants)),
            Explanation::Denied(_) => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.username.cmp(&b.0.username));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::effective::{Line, Scope};
    use crate::authz::{Grants, PermSet};

    fn system(perm: Permission) -> Grants {
        let line = Line {
            group_id: 1,
            permissions: PermSet::of(perm),
            scope: Scope::Everywhere,
            rule: Rule::R7,
            assignment_id: None,
        };
        Grants::compile(1, None, &[line])
    }

    #[test]
    fn explaining_others_needs_user_manage_or_audit_read() {
        assert!(may_explain_others(&system(Permission::UserManage)));
        assert!(may_explain_others(&system(Permission::AuditRead)));
        assert!(!may_explain_others(&system(Permission::CatalogueManage)));
        assert!(!may_explain_others(&Grants::none()));
    }

    #[test]
    fn covers_follows_the_scope_semantics() {
        let at = Scope::AtUnit { unit_id: 4, path: "/1/4/".into() };
        let below = Scope::BelowUnit { unit_id: 4, path: "/1/4/".into() };
        assert!(covers(&at, "/1/4/") && !covers(&at, "/1/4/5/"));
        assert!(!covers(&below, "/1/4/") && covers(&below, "/1/4/5/") && !covers(&below, "/1/40/"));
        assert!(covers(&Scope::Everywhere, "/1/"));
    }
}
