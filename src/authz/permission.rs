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
        let membership = Permission::ALL
            .iter()
            .filter(|p| p.kind() == GroupKind::Membership)
            .count();
        let system = Permission::ALL
            .iter()
            .filter(|p| p.kind() == GroupKind::System)
            .count();
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
