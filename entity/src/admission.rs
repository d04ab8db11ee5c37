use crate::AdmissionStatus;
use sea_orm::entity::prelude::*;

/// An application to join a unit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admission")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_unit_id: i64,
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
    pub status: AdmissionStatus,
    pub reason: Option<String>,
    pub member_id: Option<i64>,
    pub created_by: Option<i64>,
    pub decided_by: Option<i64>,
    pub applied_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
