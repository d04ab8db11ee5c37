use crate::TransferStatus;
use sea_orm::entity::prelude::*;

/// A member's move from one unit to another, requested at the source and accepted at
/// the destination.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfer")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub member_id: i64,
    pub from_unit_id: i64,
    pub to_unit_id: i64,
    pub status: TransferStatus,
    pub reason: Option<String>,
    pub requested_by: Option<i64>,
    pub decided_by: Option<i64>,
    pub requested_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
