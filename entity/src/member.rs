use crate::MemberStatus;
use sea_orm::entity::prelude::*;

/// A person with a membership in exactly one home unit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "member")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub membership_number: String,
    pub home_unit_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Option<Date>,
    pub gender: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub status: MemberStatus,
    pub joined_on: Option<Date>,
    pub left_on: Option<Date>,
    pub voting_rights: bool,
    /// JSON array of strings.
    pub tags: Json,
    pub retention_until: Option<Date>,
    pub anonymized_at: Option<DateTimeUtc>,
    pub created_by: Option<i64>,
    pub updated_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::org_unit::Entity",
        from = "Column::HomeUnitId",
        to = "super::org_unit::Column::Id"
    )]
    HomeUnit,
}

impl Related<super::org_unit::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HomeUnit.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
