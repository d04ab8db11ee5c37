//! The organisation tree. `path` is the materialized path of ids, `/1/4/12/`, always
//! with a trailing slash, so "all units in the subtree of X" is the index range
//! `path >= X.path AND path < X.path‖'\x7f'`-style predicate (see `entity::org_unit`),
//! and `/1/4/` never matches `/1/40/`.
use crate::{enum_col, fk, index, ts};
use sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut path = string_len("path", 512);
        if m.get_database_backend() == DatabaseBackend::Postgres {
            // Byte order, so that range predicates on the path follow the tree and
            // ignore the database locale.
            path.extra("COLLATE \"C\"");
        }
        m.create_table(
            Table::create()
                .table("org_unit")
                .col(big_pk_auto("id"))
                .col(big_integer_null("parent_id"))
                .col(big_integer("level_id"))
                .col(string("name"))
                .col(string_null("short_name"))
                .col(enum_col("status"))
                .col(enum_col("visibility"))
                .col(date_null("ends_on"))
                .col(path)
                .col(integer("depth"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("org_unit", "parent_id", "org_unit", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk("org_unit", "level_id", "level", ForeignKeyAction::Restrict))
                .take(),
        )
        .await?;
        m.create_index(index("org_unit", "ux_org_unit_path", &["path"]).unique().take()).await?;
        m.create_index(index("org_unit", "ix_org_unit_parent", &["parent_id"])).await?;
        m.create_index(index("org_unit", "ix_org_unit_visibility", &["visibility"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("org_unit").take()).await
    }
}
