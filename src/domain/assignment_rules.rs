//! The rules for giving someone an office: R8 (kinds don't mix), R9 (allowed groups,
//! activity on the unit's level) and R10 (no escalation). Pure: the caller loads
//! the rows; nothing here touches the database.
use crate::authz::catalogue::GroupInfo;
use crate::authz::{Grants, PermSet, Permission};
use crate::domain::DomainError;
use entity::{GroupKind, activity, org_unit};

pub struct AssignmentRequest<'a> {
    pub activity: &'a activity::Model,
    /// The groups the activity allows.
    pub allowed_group_ids: &'a [i64],
    /// The level names of the activity and the unit, for messages.
    pub activity_level_name: &'a str,
    pub unit: &'a org_unit::Model,
    pub unit_level_name: &'a str,
    pub level_group: Option<&'a GroupInfo>,
    pub tree_group: Option<&'a GroupInfo>,
}

fn names(perms: PermSet) -> String {
    perms.iter().map(Permission::as_str).collect::<Vec<_>>().join(", ")
}

/// R8 and R9: BAD_USER_INPUT naming the field.
pub fn check_shape(req: &AssignmentRequest<'_>) -> Result<(), DomainError> {
    for (field, group) in [("levelGroupId", req.level_group), ("treeGroupId", req.tree_group)] {
        let Some(group) = group else { continue };
        if group.kind != GroupKind::Membership {
            return Err(DomainError::bad_input(
                field,
                format!("{} is a SYSTEM group and cannot be used in an assignment (R8)", group.key),
            ));
        }
        if !req.allowed_group_ids.contains(&group.id) {
            return Err(DomainError::bad_input(
                field,
                format!("{} is not allowed for the activity {} (R9)", group.key, req.activity.name),
            ));
        }
    }
    if req.activity.level_id != req.unit.level_id {
        return Err(DomainError::bad_input(
            "activityId",
            format!(
                "{} exists on level {}, but {} is on level {} (R9)",
                req.activity.name, req.activity_level_name, req.unit.name, req.unit_level_name
            ),
        ));
    }
    Ok(())
}

/// R10: assignment.write at the unit; the level group's permissions held at the
/// unit; the tree group's permissions held throughout the subtree below it.
pub fn check_no_escalation(grants: &Grants, req: &AssignmentRequest<'_>) -> Result<(), DomainError> {
    let unit = req.unit;
    if !grants.holds_at(Permission::AssignmentWrite, &unit.path) {
        return Err(DomainError::denied_at(
            Permission::AssignmentWrite,
            unit.id,
            format!("you do not hold assignment.write at {}", unit.name),
        ));
    }
    if let Some(group) = req.level_group {
        let missing = group.permissions.minus(grants.at_unit(&unit.path));
        if let Some(first) = missing.iter().next() {
            return Err(DomainError::denied_at(
                first,
                unit.id,
                format!(
                    "level group {} grants {}, which you do not hold at {} (R10)",
                    group.key,
                    names(missing),
                    unit.name
                ),
            ));
        }
    }
    if let Some(group) = req.tree_group {
        let missing = grants.missing_throughout_below(group.permissions, &unit.path);
        if let Some(first) = missing.iter().next() {
            return Err(DomainError::denied_at(
                first,
                unit.id,
                format!(
                    "tree group {} grants {}, which you do not hold below {} (R10)",
                    group.key,
                    names(missing),
                    unit.name
                ),
            ));
        }
    }
    Ok(())
}

/// R10 for global tree groups: setting one needs user.manage (and is audited by the
/// mutation), and every permission of the group held by the setter at every unit,
/// i.e. through their own global tree group; R8: it must be a MEMBERSHIP group.
/// `root` names "every unit" in a refusal. Clearing one is never escalation.
pub fn check_global_tree_group(
    grants: &Grants,
    group: Option<&GroupInfo>,
    root: Option<&org_unit::Model>,
) -> Result<(), DomainError> {
    if !grants.holds_system(Permission::UserManage) {
        return Err(DomainError::Forbidden("setting a global tree group needs user.manage".into()));
    }
    let Some(g) = group else { return Ok(()) };
    if g.kind != GroupKind::Membership {
        return Err(DomainError::bad_input(
            "groupId",
            format!("{} is a SYSTEM group and cannot be a global tree group (R8)", g.key),
        ));
    }
    if let Some(p) = g.permissions.minus(grants.everywhere()).iter().next() {
        let message = format!(
            "global tree group {} grants {p} at every unit, which you do not hold at every unit{} (R10)",
            g.key,
            root.map(|r| format!(" (from {} down)", r.name)).unwrap_or_default()
        );
        return Err(match root {
            Some(r) => DomainError::denied_at(p, r.id, message),
            None => DomainError::denied(p, message),
        });
    }
    Ok(())
}

/// R8: only SYSTEM groups can be assigned as system groups.
pub fn check_system_groups(groups: &[&GroupInfo]) -> Result<(), DomainError> {
    if let Some(g) = groups.iter().find(|g| g.kind != GroupKind::System) {
        return Err(DomainError::bad_input(
            "groupIds",
            format!("{} is a MEMBERSHIP group and cannot be a system group (R8)", g.key),
        ));
    }
    Ok(())
}
