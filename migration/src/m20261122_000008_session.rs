//! Sign-in: sessions (an access token's `jti`; logout revokes it) and lockout after
//! repeated failed logins.
use crate::{fk, index, ts, ts_null};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("session")
                .col(string_len("id", 64).primary_key())
                .col(big_integer("user_id"))
                .col(string_len("method", 16))
                .col(ts("created_at"))
                .col(ts("expires_at"))
                .col(ts_null("revoked_at"))
                .foreign_key(&mut fk("session", "user_id", "app_user", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("session", "ix_session_user", &["user_id"])).await?;
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter().table("app_user").add_column(integer("failed_logins").default(0)).take(),
        )
        .await?;
        m.alter_table(Table::alter().table("app_user").add_column(ts_null("locked_until")).take()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("app_user").drop_column("locked_until").take()).await?;
        m.alter_table(Table::alter().table("app_user").drop_column("failed_logins").take()).await?;
        m.drop_table(Table::drop().table("session").take()).await
    }
}
