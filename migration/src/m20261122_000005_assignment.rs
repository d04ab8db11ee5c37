//! Assignments: member X holds activity A in unit U, with a level and a tree group.
use crate::{enum_col, fk, index, ts};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("assignment")
                .col(big_pk_auto("id"))
                .col(big_integer("member_id"))
                .col(big_integer("activity_id"))
                .col(big_integer("org_unit_id"))
                .col(big_integer_null("level_group_id"))
                .col(big_integer_null("tree_group_id"))
                .col(date("starts_on"))
                .col(date_null("ends_on"))
                .col(enum_col("status"))
                .col(big_integer_null("created_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("assignment", "member_id", "member", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("assignment", "activity_id", "activity", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk("assignment", "org_unit_id", "org_unit", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk(
                    "assignment",
                    "level_group_id",
                    "permission_group",
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "assignment",
                    "tree_group_id",
                    "permission_group",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_index(index("assignment", "ix_assignment_member", &["member_id"])).await?;
        m.create_index(index("assignment", "ix_assignment_unit", &["org_unit_id"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("assignment").take()).await
    }
}
