//! Compiled grants: the caller's permissions per unit, built once per request from
//! the effective lines. A row or field check is O(depth) lookups in small sorted
//! vectors; a list becomes one SQL condition. No Casbin call and no SQL per row.
use super::effective::{Line, Scope};
use super::permission::{PermSet, Permission};
use entity::{GroupKind, org_unit};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition};

#[derive(Debug, Clone, Default)]
pub struct Grants {
    user_id: Option<i64>,
    self_member_id: Option<i64>,
    /// MEMBERSHIP permissions held at every unit (R4).
    everywhere: PermSet,
    /// SYSTEM permissions (R7).
    system: PermSet,
    /// Held at the unit itself (R2), sorted by unit id.
    at: Vec<(i64, PermSet)>,
    /// Held strictly below the unit (R3), sorted by unit id, with the unit's path.
    below: Vec<(i64, PermSet, String)>,
    /// What R17 allows on the caller's own record (narrowed by API token scopes).
    self_permissions: PermSet,
}

impl Grants {
    /// Nothing at all: anonymous callers.
    pub fn none() -> Self {
        Self::default()
    }

    /// `self_member_id` is the caller's own member (R17), if any.
    pub fn compile(user_id: i64, self_member_id: Option<i64>, lines: &[Line]) -> Self {
        let mut g = Grants {
            user_id: Some(user_id),
            self_member_id,
            self_permissions: PermSet::of(Permission::MemberRead)
                .with(Permission::BankRead)
                .with(Permission::PaymentRead),
            ..Default::default()
        };
        for line in lines {
            match &line.scope {
                Scope::Everywhere => {
                    g.everywhere |= line.permissions.of_kind(GroupKind::Membership);
                    g.system |= line.permissions.of_kind(GroupKind::System);
                }
                Scope::AtUnit { unit_id, .. } => match g.at.iter_mut().find(|(u, _)| u == unit_id) {
                    Some((_, set)) => *set |= line.permissions,
                    None => g.at.push((*unit_id, line.permissions)),
                },
                Scope::BelowUnit { unit_id, path } => match g.below.iter_mut().find(|(u, ..)| u == unit_id) {
                    Some((_, set, _)) => *set |= line.permissions,
                    None => g.below.push((*unit_id, line.permissions, path.clone())),
                },
            }
        }
        g.at.sort_unstable_by_key(|(u, _)| *u);
        g.below.sort_unstable_by_key(|(u, ..)| *u);
        g
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user_id
    }

    pub fn self_member_id(&self) -> Option<i64> {
        self.self_member_id
    }

    /// What R17 allows the caller on their own record.
    pub fn self_permissions(&self) -> PermSet {
        self.self_permissions
    }

    /// The same grants, cut down to `scopes` (API tokens): never more than before.
    pub fn restricted_to(&self, scopes: PermSet) -> Grants {
        let keep = |set: PermSet| set.minus(set.minus(scopes));
        Grants {
            user_id: self.user_id,
            self_member_id: self.self_member_id,
            everywhere: keep(self.everywhere),
            system: keep(self.system),
            at: self.at.iter().map(|(u, s)| (*u, keep(*s))).filter(|(_, s)| !s.is_empty()).collect(),
            below: self
                .below
                .iter()
                .map(|(u, s, p)| (*u, keep(*s), p.clone()))
                .filter(|(_, s, _)| !s.is_empty())
                .collect(),
            self_permissions: keep(self.self_permissions),
        }
    }

    fn at_unit_id(&self, unit: i64) -> PermSet {
        match self.at.binary_search_by_key(&unit, |(u, _)| *u) {
            Ok(i) => self.at[i].1,
            Err(_) => PermSet::EMPTY,
        }
    }

    fn below_unit_id(&self, unit: i64) -> PermSet {
        match self.below.binary_search_by_key(&unit, |(u, ..)| *u) {
            Ok(i) => self.below[i].1,
            Err(_) => PermSet::EMPTY,
        }
    }

    /// Every MEMBERSHIP permission held at the unit with materialized `path`
    /// (R1–R4): global, plus level grants at the unit, plus tree grants of its
    /// strict ancestors.
    pub fn at_unit(&self, path: &str) -> PermSet {
        let mut set = self.everywhere;
        let mut ids = org_unit::path_ids(path).peekable();
        while let Some(id) = ids.next() {
            if ids.peek().is_some() {
                set |= self.below_unit_id(id);
            } else {
                set |= self.at_unit_id(id);
            }
        }
        set
    }

    pub fn holds_at(&self, permission: Permission, path: &str) -> bool {
        match permission.kind() {
            GroupKind::System => self.system.contains(permission),
            GroupKind::Membership => self.at_unit(path).contains(permission),
        }
    }

    /// SYSTEM permissions are unscoped (R7).
    pub fn holds_system(&self, permission: Permission) -> bool {
        self.system.contains(permission)
    }

    /// MEMBERSHIP permissions held at every unit (through a global tree group, R4).
    pub fn everywhere(&self) -> PermSet {
        self.everywhere
    }

    pub fn system_permissions(&self) -> PermSet {
        self.system
    }

    /// Does the caller hold `permission` at some unit (or globally)?
    pub fn holds_anywhere(&self, permission: Permission) -> bool {
        self.everywhere.contains(permission)
            || self.at.iter().any(|(_, s)| s.contains(permission))
            || self.below.iter().any(|(_, s, _)| s.contains(permission))
    }

    /// R10: each of `permissions` is held at every unit strictly below `path`
    /// (through a tree grant at the unit or above, or a global one). The permissions
    /// missing are returned.
    pub fn missing_throughout_below(&self, permissions: PermSet, path: &str) -> PermSet {
        let mut held = self.everywhere;
        for id in org_unit::path_ids(path) {
            held |= self.below_unit_id(id);
        }
        permissions.minus(held)
    }

    /// Held at the root and below it (a federation-wide office): every unit, which
    /// a condition need not spell out as the set of all units.
    fn covers_the_tree(&self, permission: Permission) -> bool {
        self.below.iter().any(|(unit, set, path)| {
            set.contains(permission)
                && org_unit::path_ids(path).count() == 1
                && self.at_unit_id(*unit).contains(permission)
        })
    }

    /// SQL: the unit whose id is in `unit_id` lies where `permission` holds.
    /// One condition, usable in any list, count, filter or export.
    pub fn unit_condition(&self, permission: Permission, unit_id: impl ColumnTrait) -> Condition {
        self.unit_condition_by(permission, unit_id, Below::UnitSet)
    }

    /// `unit_condition`, finding the units below a granted unit as `below` says.
    pub fn unit_condition_by(
        &self,
        permission: Permission,
        unit_id: impl ColumnTrait,
        below: Below,
    ) -> Condition {
        if permission.kind() == GroupKind::System {
            return bool_condition(self.system.contains(permission));
        }
        if self.everywhere.contains(permission) || self.covers_the_tree(permission) {
            return Condition::all();
        }
        let mut cond = Condition::any();
        let at: Vec<i64> = self.at.iter().filter(|(_, s)| s.contains(permission)).map(|(u, _)| *u).collect();
        if !at.is_empty() {
            cond = cond.add(unit_id.is_in(at));
        }
        let mut ranges = Condition::any();
        let mut any_range = false;
        for (_, set, path) in &self.below {
            if set.contains(permission) {
                ranges = ranges.add(org_unit::strictly_below(path));
                any_range = true;
            }
        }
        if any_range {
            cond = match below {
                Below::UnitSet => {
                    let ids = Query::select()
                        .column(org_unit::Column::Id)
                        .from(org_unit::Entity)
                        .cond_where(ranges)
                        .take();
                    cond.add(unit_id.in_subquery(ids))
                }
                // `strictly_below` names `org_unit.path`: here the joined unit's.
                Below::JoinedUnitPath => cond.add(ranges),
            };
        }
        if cond.is_empty() {
            return bool_condition(false);
        }
        cond
    }
}

/// How a condition finds the units strictly below a granted unit (R3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Below {
    /// As the set of their ids, by one index range on the path: what lists need,
    /// built once per statement and probed per row.
    UnitSet,
    /// On the path of the unit the statement joins already as `org_unit` (a
    /// member's home unit): O(depth) per row and nothing to build, for lookups of
    /// a few rows by key.
    JoinedUnitPath,
}

fn bool_condition(value: bool) -> Condition {
    // Spelled out: portable on both backends and obvious in a query log.
    Condition::all().add(Expr::cust(if value { "1 = 1" } else { "1 = 0" }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn line(perms: &[Permission], scope: Scope) -> Line {
        Line {
            group_id: 1,
            permissions: PermSet::from_iter(perms.iter().copied()),
            scope,
            rule: super::super::effective::Rule::R2,
            assignment_id: None,
        }
    }

    fn at(unit_id: i64, path: &str) -> Scope {
        Scope::AtUnit { unit_id, path: path.into() }
    }

    fn below(unit_id: i64, path: &str) -> Scope {
        Scope::BelowUnit { unit_id, path: path.into() }
    }

    #[test]
    fn r2_level_grant_holds_at_the_unit_only() {
        let g = Grants::compile(1, None, &[line(&[MemberRead], at(4, "/1/4/"))]);
        assert!(g.holds_at(MemberRead, "/1/4/"));
        assert!(!g.holds_at(MemberRead, "/1/4/9/"), "not below");
        assert!(!g.holds_at(MemberRead, "/1/"), "not above");
        assert!(!g.holds_at(BankRead, "/1/4/"), "only the group's permissions");
    }

    #[test]
    fn r3_tree_grant_holds_strictly_below_the_unit() {
        let g = Grants::compile(1, None, &[line(&[BankRead], below(4, "/1/4/"))]);
        assert!(!g.holds_at(BankRead, "/1/4/"), "not at the unit itself");
        assert!(g.holds_at(BankRead, "/1/4/9/"));
        assert!(g.holds_at(BankRead, "/1/4/9/77/"));
        assert!(!g.holds_at(BankRead, "/1/40/"), "a sibling with a common prefix is not below");
    }

    #[test]
    fn r4_global_grant_holds_everywhere_including_the_root() {
        let g = Grants::compile(1, None, &[line(&[MemberWrite], Scope::Everywhere)]);
        assert!(g.holds_at(MemberWrite, "/1/"));
        assert!(g.holds_at(MemberWrite, "/1/2/3/4/5/"));
    }

    #[test]
    fn r7_system_permissions_are_unscoped_and_separate_from_membership_ones() {
        let g = Grants::compile(1, None, &[line(&[UserManage], Scope::Everywhere)]);
        assert!(g.holds_system(UserManage));
        assert!(g.holds_at(UserManage, "/1/2/"));
        assert!(!g.holds_at(MemberRead, "/1/"));
        assert!(!Grants::none().holds_system(UserManage));
    }

    #[test]
    fn r10_tree_permissions_must_be_held_throughout_the_subtree() {
        let g = Grants::compile(
            1,
            None,
            &[line(&[MemberRead, BankRead], below(2, "/1/2/")), line(&[MemberWrite], at(2, "/1/2/"))],
        );
        // Below /1/2/7/ everything is below /1/2/: bank.read is held throughout.
        assert_eq!(g.missing_throughout_below(PermSet::of(BankRead), "/1/2/7/"), PermSet::EMPTY);
        // Below /1/2/ itself: the tree grant at /1/2/ covers it.
        assert_eq!(g.missing_throughout_below(PermSet::of(BankRead), "/1/2/"), PermSet::EMPTY);
        // A level grant does not reach below.
        assert_eq!(g.missing_throughout_below(PermSet::of(MemberWrite), "/1/2/"), PermSet::of(MemberWrite));
        // Not below /1/.
        assert_eq!(g.missing_throughout_below(PermSet::of(MemberRead), "/1/"), PermSet::of(MemberRead));
    }

    #[test]
    fn r2_r3_level_and_tree_grants_at_the_root_need_no_unit_set_in_sql() {
        let read = [Permission::MemberRead];
        let whole = Grants::compile(1, None, &[line(&read, at(1, "/1/")), line(&read, below(1, "/1/"))]);
        assert!(whole.covers_the_tree(Permission::MemberRead));
        assert!(!whole.covers_the_tree(Permission::BankRead));
        // Below the root only (not at it), or level and tree at a state: not the whole tree.
        let below_only = Grants::compile(1, None, &[line(&read, below(1, "/1/"))]);
        assert!(!below_only.covers_the_tree(Permission::MemberRead));
        let state = Grants::compile(1, None, &[line(&read, at(2, "/1/2/")), line(&read, below(2, "/1/2/"))]);
        assert!(!state.covers_the_tree(Permission::MemberRead));
    }

    #[test]
    fn restricting_only_ever_removes_permissions() {
        let g = Grants::compile(
            1,
            Some(9),
            &[line(&[MemberRead, BankRead], below(2, "/1/2/")), line(&[UserManage], Scope::Everywhere)],
        );
        let r = g.restricted_to(PermSet::of(MemberRead).with(PaymentRead));
        assert!(r.holds_at(MemberRead, "/1/2/3/"));
        assert!(!r.holds_at(BankRead, "/1/2/3/"));
        assert!(!r.holds_at(PaymentRead, "/1/2/3/"), "a scope adds nothing the owner lacks");
        assert!(!r.holds_system(UserManage));
        assert_eq!(r.self_permissions(), PermSet::of(MemberRead).with(PaymentRead));
        for p in Permission::ALL {
            for path in ["/1/", "/1/2/", "/1/2/3/"] {
                assert!(!r.holds_at(*p, path) || g.holds_at(*p, path), "{p} at {path}");
            }
        }
    }

    #[test]
    fn r1_permission_on_a_member_is_the_permission_at_its_home_unit() {
        // R1 is how callers use the grants: a member's check is `holds_at(home path)`.
        let g = Grants::compile(1, None, &[line(&[MemberRead], below(2, "/1/2/"))]);
        let member_home = "/1/2/8/";
        let other_home = "/1/3/8/";
        assert!(g.holds_at(MemberRead, member_home));
        assert!(!g.holds_at(MemberRead, other_home));
    }
}
