//! The permissions of DESIGN.md section 4.
use entity::GroupKind;
use std::fmt;
use std::str::FromStr;

macro_rules! permissions {
    ($($variant:ident = $text:literal : $kind:ident),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $($variant,)+ }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $text,)+ }
            }

            /// MEMBERSHIP permissions are scoped to units; SYSTEM ones are global (R7).
            pub const fn kind(self) -> GroupKind {
                match self { $(Permission::$variant => GroupKind::$kind,)+ }
            }
        }

        impl FromStr for Permission {
            type Err = UnknownPermission;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Permission::$variant),)+
                    other => Err(UnknownPermission(other.to_owned())),
                }
            }
        }
    };
}

permissions! {
    MemberRead = "member.read": Membership,
    MemberWrite = "member.write": Membership,
    MemberCreate = "member.create": Membership,
    MemberDelete = "member.delete": Membership,
    BankRead = "bank.read": Membership,
    BankWrite = "bank.write": Membership,
    PaymentRead = "payment.read": Membership,
    PaymentWrite = "payment.write": Membership,
    AdmissionApprove = "admission.approve": Membership,
    AdmissionApproveAdult = "admission.approve_adult": Membership,
    UnitReadFinance = "unit.read_finance": Membership,
    UnitWrite = "unit.write": Membership,
    AssignmentWrite = "assignment.write": Membership,
    UserManage = "user.manage": System,
    CatalogueManage = "catalogue.manage": System,
    AuditRead = "audit.read": System,
    InvoiceCreate = "invoice.create": System,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_membership_and_four_system_permissions() {
        let membership = Permission::ALL.iter().filter(|p| p.kind() == GroupKind::Membership).count();
        let system = Permission::ALL.iter().filter(|p| p.kind() == GroupKind::System).count();
        assert_eq!((membership, system), (13, 4));
    }

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
        }
        assert!("member.fly".parse::<Permission>().is_err());
    }
}

/// A set of permissions as a bitmask: checking a field is one AND.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermSet(u32);

impl PermSet {
    pub const EMPTY: PermSet = PermSet(0);

    pub const fn of(p: Permission) -> PermSet {
        PermSet(1 << p as u32)
    }

    pub const fn with(self, p: Permission) -> PermSet {
        PermSet(self.0 | 1 << p as u32)
    }

    pub const fn union(self, other: PermSet) -> PermSet {
        PermSet(self.0 | other.0)
    }

    pub const fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every permission of `self` is in `other`.
    pub const fn is_subset_of(self, other: PermSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn minus(self, other: PermSet) -> PermSet {
        PermSet(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    /// Only the permissions of one kind.
    pub fn of_kind(self, kind: GroupKind) -> PermSet {
        PermSet::from_iter(self.iter().filter(|p| p.kind() == kind))
    }
}

impl FromIterator<Permission> for PermSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(ps: I) -> PermSet {
        ps.into_iter().fold(PermSet::EMPTY, |acc, p| acc.with(p))
    }
}

impl std::ops::BitOrAssign for PermSet {
    fn bitor_assign(&mut self, rhs: PermSet) {
        self.0 |= rhs.0;
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;

    #[test]
    fn sets_hold_exactly_what_was_put_in() {
        let s = PermSet::from_iter([Permission::MemberRead, Permission::BankRead]);
        assert!(s.contains(Permission::MemberRead) && s.contains(Permission::BankRead));
        assert!(!s.contains(Permission::PaymentRead));
        assert_eq!(s.iter().count(), 2);
        assert!(PermSet::of(Permission::BankRead).is_subset_of(s));
        assert!(!s.is_subset_of(PermSet::of(Permission::BankRead)));
        assert_eq!(s.minus(PermSet::of(Permission::BankRead)), PermSet::of(Permission::MemberRead));
        assert_eq!(PermSet::from_iter(Permission::ALL.iter().copied()).iter().count(), Permission::ALL.len());
    }
}
