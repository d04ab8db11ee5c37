use sea_orm::entity::prelude::*;

/// One permission of a group (a Casbin `p` line: group, permission).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permission_group_permission")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission_group_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
