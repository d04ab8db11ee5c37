//! R14, unit visibility, as an SQL condition for lists and a check for one unit.
//!
//! PUBLIC: anyone; INTERNAL: any signed-in user; RESTRICTED: member.read at the unit;
//! HIDDEN: unit.write at the unit. Until the compiled grants exist, no caller holds
//! member.read or unit.write anywhere, so RESTRICTED and HIDDEN units stay invisible
//! (deny by default).
use crate::auth::Caller;
use entity::{Visibility, org_unit};
use sea_orm::{ColumnTrait, Condition};

pub fn visible_units(caller: Caller) -> Condition {
    let col = org_unit::Column::Visibility;
    match caller {
        Caller::Anonymous => Condition::all().add(col.eq(Visibility::Public)),
        Caller::User { .. } => Condition::any()
            .add(col.eq(Visibility::Public))
            .add(col.eq(Visibility::Internal)),
    }
}

pub fn can_see_unit(caller: Caller, unit: &org_unit::Model) -> bool {
    match unit.visibility {
        Visibility::Public => true,
        Visibility::Internal => caller.is_signed_in(),
        Visibility::Restricted | Visibility::Hidden => false,
    }
}
