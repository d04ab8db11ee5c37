//! Browser sign-ins between `/auth/login` and `/auth/callback`, in the database so
//! that any instance can complete what another started: the state (as its SHA-256,
//! the lookup key), the PKCE verifier, the nonce, the issuer, and an expiry.
use crate::{index, ts};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("pending_sign_in")
                .col(string_len("state_hash", 64).primary_key())
                .col(text("issuer"))
                .col(string_len("verifier", 128))
                .col(string_len("nonce", 128))
                .col(ts("created_at"))
                .col(ts("expires_at"))
                .take(),
        )
        .await?;
        m.create_index(index("pending_sign_in", "ix_pending_sign_in_expires", &["expires_at"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("pending_sign_in").take()).await
    }
}
