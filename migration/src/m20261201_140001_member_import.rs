//! Member imports: the outcome of an import stored under the caller's
//! `Idempotency-Key` (so a retried upload answers the first one's report instead of
//! importing again), and an index for finding a member by first name, last name and
//! birth date (an import's duplicate check, one lookup per chunk of rows). It starts
//! with the columns of `ix_member_name`, which it replaces: one index less to
//! maintain on every insert.
use crate::{fk, index, ts};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("import_key")
                .col(big_pk_auto("id"))
                .col(big_integer("user_id"))
                // SHA-256 of the key, hex: fixed length whatever the client sends.
                .col(string_len("key_hash", 64))
                // SHA-256 of the rows and options; null while the import runs.
                .col(string_len_null("fingerprint", 64))
                .col(json_null("report"))
                .col(ts("created_at"))
                .col(ts("expires_at"))
                .foreign_key(&mut fk("import_key", "user_id", "app_user", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(
            index("import_key", "ux_import_key_user_key", &["user_id", "key_hash"]).unique().take(),
        )
        .await?;
        m.create_index(index("import_key", "ix_import_key_expires", &["expires_at"])).await?;
        m.create_index(index("member", "ix_member_identity", &["last_name", "first_name", "birth_date"]))
            .await?;
        m.drop_index(Index::drop().name("ix_member_name").table("member").to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("member", "ix_member_name", &["last_name", "first_name"])).await?;
        m.drop_index(Index::drop().name("ix_member_identity").table("member").to_owned()).await?;
        m.drop_table(Table::drop().table("import_key").take()).await
    }
}
