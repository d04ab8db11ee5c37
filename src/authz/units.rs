//! R14, unit visibility, as an SQL condition for lists and a check for one unit.
//!
//! PUBLIC: anyone; INTERNAL: any signed-in user; RESTRICTED: member.read at the
//! unit; HIDDEN: unit.write at the unit.
use super::grants::Grants;
use super::permission::Permission;
use entity::{Visibility, org_unit};
use sea_orm::{ColumnTrait, Condition};

pub fn visible_units(grants: &Grants) -> Condition {
    let col = org_unit::Column::Visibility;
    let mut cond = Condition::any().add(col.eq(Visibility::Public));
    if grants.user_id().is_some() {
        cond = cond
            .add(col.eq(Visibility::Internal))
            .add(
                Condition::all()
                    .add(col.eq(Visibility::Restricted))
                    .add(grants.unit_condition(Permission::MemberRead, org_unit::Column::Id)),
            )
            .add(
                Condition::all()
                    .add(col.eq(Visibility::Hidden))
                    .add(grants.unit_condition(Permission::UnitWrite, org_unit::Column::Id)),
            );
    }
    cond
}

pub fn can_see_unit(grants: &Grants, unit: &org_unit::Model) -> bool {
    match unit.visibility {
        Visibility::Public => true,
        Visibility::Internal => grants.user_id().is_some(),
        Visibility::Restricted => grants.holds_at(Permission::MemberRead, &unit.path),
        Visibility::Hidden => grants.holds_at(Permission::UnitWrite, &unit.path),
    }
}
