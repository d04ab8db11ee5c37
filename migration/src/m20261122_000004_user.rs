//! Logins: users (member users and system users), their system groups, API tokens.
use crate::{fk, index, ts, ts_null};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // `user` is reserved in PostgreSQL; the table is `app_user`.
        m.create_table(
            Table::create()
                .table("app_user")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("username", 128))
                .col(string_null("email"))
                .col(string_null("password_hash"))
                .col(big_integer_null("member_id").unique_key())
                .col(integer("level").default(2))
                .col(big_integer_null("global_tree_group_id"))
                .col(date_null("privacy_pledge_signed_on"))
                .col(boolean("disabled").default(false))
                .col(string_len_null("external_subject", 512).unique_key())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("app_user", "member_id", "member", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk(
                    "app_user",
                    "global_tree_group_id",
                    "permission_group",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_system_group")
                .col(big_integer("user_id"))
                .col(big_integer("permission_group_id"))
                .primary_key(Index::create().col("user_id").col("permission_group_id"))
                .foreign_key(&mut fk("user_system_group", "user_id", "app_user", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk(
                    "user_system_group",
                    "permission_group_id",
                    "permission_group",
                    ForeignKeyAction::Restrict,
                ))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_token")
                .col(big_pk_auto("id"))
                .col(big_integer("user_id"))
                .col(string("name"))
                // Only a hash of the secret is stored.
                .col(string_len_uniq("token_hash", 128))
                .col(json("scopes"))
                .col(ts_null("expires_at"))
                .col(ts_null("last_used_at"))
                .col(ts_null("revoked_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("api_token", "user_id", "app_user", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("api_token", "ix_api_token_user", &["user_id"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["api_token", "user_system_group", "app_user"] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
