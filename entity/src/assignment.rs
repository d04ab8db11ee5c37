use crate::AssignmentStatus;
use sea_orm::entity::prelude::*;

/// Member X holds activity A in unit U from `starts_on` to `ends_on` (inclusive);
/// `level_group_id` applies at U, `tree_group_id` strictly below U.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assignment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub member_id: i64,
    pub activity_id: i64,
    pub org_unit_id: i64,
    pub level_group_id: Option<i64>,
    pub tree_group_id: Option<i64>,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub status: AssignmentStatus,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// R5: ACTIVE and `starts_on <= today <= ends_on` (open end allowed).
    pub fn is_effective_on(&self, today: Date) -> bool {
        self.status == AssignmentStatus::Active
            && self.starts_on <= today
            && self.ends_on.is_none_or(|end| today <= end)
    }
}
