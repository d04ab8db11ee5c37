//! Rows and fields of members: R11 (row visibility), R12 (field visibility), R15
//! (pending transfers), R17 (own record), as a per-row check and as one SQL
//! condition that agree (R16).
use super::grants::{Below, Grants};
use super::permission::{PermSet, Permission};
use entity::{TransferStatus, member, transfer};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition};

/// What the caller may do with one member row: the permissions they hold on it.
/// The fields a response returns and its `viewerPermissions` both come from this
/// one set, so they cannot disagree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberAccess {
    /// Held at the member's home unit (R1–R4), plus what R17 allows on the own
    /// record, plus member.read through a pending transfer (R15).
    pub permissions: PermSet,
    /// The row is the caller's own member (R17).
    pub is_self: bool,
}

impl MemberAccess {
    /// R11: the row exists for the caller at all (member.read on it).
    pub fn visible(&self) -> bool {
        self.permissions.contains(Permission::MemberRead)
    }

    /// The member.read fields (name, address, …): exactly the visible rows.
    pub fn read(&self) -> bool {
        self.visible()
    }

    /// R12: bankAccount and sepaMandates.
    pub fn bank(&self) -> bool {
        self.visible() && self.permissions.contains(Permission::BankRead)
    }

    /// R12: payments.
    pub fn payments(&self) -> bool {
        self.visible() && self.permissions.contains(Permission::PaymentRead)
    }

    /// May the caller read a field that needs `needs` on this member?
    pub fn may_read(&self, needs: Permission) -> bool {
        self.visible() && self.permissions.contains(needs)
    }
}

/// O(depth): from the member's home unit path and the destination paths of its
/// pending transfers (usually none).
pub fn member_access(
    grants: &Grants,
    member_id: i64,
    home_path: &str,
    pending_transfer_to: &[&str],
) -> MemberAccess {
    let mut permissions = grants.at_unit(home_path);
    let own = grants.self_permissions();
    let is_self = grants.self_member_id() == Some(member_id) && own.contains(Permission::MemberRead);
    if is_self {
        permissions |= own;
    }
    // R15: member.write at the destination of a pending transfer reads the
    // member.read fields. It adds nothing else: bank data and payments still follow
    // what the caller holds at the home unit (R12).
    if !permissions.contains(Permission::MemberRead)
        && pending_transfer_to.iter().any(|to| grants.holds_at(Permission::MemberWrite, to))
    {
        permissions |= PermSet::of(Permission::MemberRead);
    }
    MemberAccess { permissions, is_self }
}

/// R11 + R15 + R17 as one SQL condition on `member`: for every list, count, search
/// and export.
pub fn visible_members(grants: &Grants) -> Condition {
    visible_members_by(grants, Below::UnitSet)
}

/// `visible_members`, finding the units below a granted unit as `below` says
/// (`Below::JoinedUnitPath` needs the member's home unit joined as `org_unit`).
pub fn visible_members_by(grants: &Grants, below: Below) -> Condition {
    let mut cond = Condition::any().add(grants.unit_condition_by(
        Permission::MemberRead,
        member::Column::HomeUnitId,
        below,
    ));
    if let Some(own) = grants.self_member_id()
        && grants.self_permissions().contains(Permission::MemberRead)
    {
        cond = cond.add(member::Column::Id.eq(own));
    }
    if grants.holds_anywhere(Permission::MemberWrite) {
        let incoming = Query::select()
            .column(transfer::Column::MemberId)
            .from(transfer::Entity)
            .and_where(transfer::Column::Status.eq(TransferStatus::Pending))
            .cond_where(grants.unit_condition(Permission::MemberWrite, transfer::Column::ToUnitId))
            .take();
        cond = cond.add(member::Column::Id.in_subquery(incoming));
    }
    cond
}

/// R13 writes, checked before anything is written.
pub mod writes {
    use super::*;

    /// updateMember: member.write on the member; moving it needs member.write at
    /// the destination too.
    pub fn may_update_member(grants: &Grants, home_path: &str, new_home_path: Option<&str>) -> bool {
        grants.holds_at(Permission::MemberWrite, home_path)
            && new_home_path.is_none_or(|to| grants.holds_at(Permission::MemberWrite, to))
    }

    /// R17: a member user changes their own email, phone and address.
    pub fn may_update_own_contact(grants: &Grants, member_id: i64) -> bool {
        grants.self_member_id() == Some(member_id)
    }

    /// createMember: member.create at the home unit.
    pub fn may_create_member(grants: &Grants, home_path: &str) -> bool {
        grants.holds_at(Permission::MemberCreate, home_path)
    }

    /// setBankAccount / addSepaMandate: bank.write on the member.
    pub fn may_write_bank(grants: &Grants, home_path: &str) -> bool {
        grants.holds_at(Permission::BankWrite, home_path)
    }

    /// recordPayment: payment.write on the member.
    pub fn may_record_payment(grants: &Grants, home_path: &str) -> bool {
        grants.holds_at(Permission::PaymentWrite, home_path)
    }

    /// createOrgUnit below `parent_path`: unit.write at the parent.
    pub fn may_create_unit_below(grants: &Grants, parent_path: &str) -> bool {
        grants.holds_at(Permission::UnitWrite, parent_path)
    }
}
