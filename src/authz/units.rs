//! R14, unit visibility, as an SQL condition for lists and a check for one unit.
//!
//! PUBLIC: anyone; INTERNAL: any signed-in user; RESTRICTED: member.read at the
//! unit; HIDDEN: those who administer it (unit.write, member.write or member.create
//! at the unit). Visibility decides what is shown, never whether a write is allowed
//! (R13 decides that).
use super::grants::Grants;
use super::permission::Permission;
use entity::{Visibility, org_unit};
use sea_orm::{ColumnTrait, Condition};

/// Holding any of these at a HIDDEN unit makes it visible.
pub const ADMINISTER: [Permission; 3] =
    [Permission::UnitWrite, Permission::MemberWrite, Permission::MemberCreate];

pub fn visible_units(grants: &Grants) -> Condition {
    let col = org_unit::Column::Visibility;
    let mut cond = Condition::any().add(col.eq(Visibility::Public));
    if grants.user_id().is_some() {
        let administered = ADMINISTER
            .iter()
            .fold(Condition::any(), |c, p| c.add(grants.unit_condition(*p, org_unit::Column::Id)));
        cond = cond
            .add(col.eq(Visibility::Internal))
            .add(
                Condition::all()
                    .add(col.eq(Visibility::Restricted))
                    .add(grants.unit_condition(Permission::MemberRead, org_unit::Column::Id)),
            )
            .add(Condition::all().add(col.eq(Visibility::Hidden)).add(administered));
    }
    cond
}

pub fn can_see_unit(grants: &Grants, unit: &org_unit::Model) -> bool {
    match unit.visibility {
        Visibility::Public => true,
        Visibility::Internal => grants.user_id().is_some(),
        Visibility::Restricted => grants.holds_at(Permission::MemberRead, &unit.path),
        Visibility::Hidden => ADMINISTER.iter().any(|p| grants.holds_at(*p, &unit.path)),
    }
}

/// What a caller lacks to see `unit` (R14), for `extensions.redacted`; None when
/// they see it.
pub fn needed_to_see(grants: &Grants, unit: &org_unit::Model) -> Option<Permission> {
    if can_see_unit(grants, unit) {
        return None;
    }
    Some(match unit.visibility {
        Visibility::Hidden => Permission::UnitWrite,
        _ => Permission::MemberRead,
    })
}
