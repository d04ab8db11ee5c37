//! The catalogue: levels, permission groups with their permissions, activities.
use crate::{enum_col, fk, index, ts};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("level")
                .col(big_pk_auto("id"))
                .col(string_uniq("name"))
                .col(integer_uniq("rank"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("permission_group")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("key", 64))
                .col(string("name"))
                .col(enum_col("kind"))
                .col(text("description").default(""))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        // The stored form of the Casbin `p` lines: group -> permission.
        m.create_table(
            Table::create()
                .table("permission_group_permission")
                .col(big_integer("permission_group_id"))
                .col(string_len("permission", 64))
                .primary_key(Index::create().col("permission_group_id").col("permission"))
                .foreign_key(&mut fk(
                    "permission_group_permission",
                    "permission_group_id",
                    "permission_group",
                    ForeignKeyAction::Cascade,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("activity")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(big_integer("level_id"))
                .foreign_key(&mut fk("activity", "level_id", "level", ForeignKeyAction::Restrict))
                .take(),
        )
        .await?;
        m.create_index(index("activity", "ux_activity_level_name", &["level_id", "name"]).unique().take())
            .await?;
        m.create_table(
            Table::create()
                .table("activity_allowed_group")
                .col(big_integer("activity_id"))
                .col(big_integer("permission_group_id"))
                .primary_key(Index::create().col("activity_id").col("permission_group_id"))
                .foreign_key(&mut fk(
                    "activity_allowed_group",
                    "activity_id",
                    "activity",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "activity_allowed_group",
                    "permission_group_id",
                    "permission_group",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        // Named counters handed out atomically (`UPDATE … RETURNING`), e.g. the next
        // membership number.
        m.create_table(
            Table::create()
                .table("counter")
                .col(string_len("name", 64).primary_key())
                .col(big_integer("value"))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "counter",
            "activity_allowed_group",
            "activity",
            "permission_group_permission",
            "permission_group",
            "level",
        ] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
