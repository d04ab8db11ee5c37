//! The audit trail, written in the same transaction as the change it records.
use crate::{index, ts};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // No foreign keys: the trail outlives the rows it talks about.
        m.create_table(
            Table::create()
                .table("audit_event")
                .col(big_pk_auto("id"))
                .col(ts("at"))
                .col(big_integer_null("actor_user_id"))
                .col(string_len("action", 64))
                .col(string_len("entity", 64))
                .col(string_len("entity_id", 64))
                .col(json_null("before"))
                .col(json_null("after"))
                .col(string_len_null("request_id", 64))
                .take(),
        )
        .await?;
        m.create_index(index("audit_event", "ix_audit_entity", &["entity", "entity_id", "at"])).await?;
        m.create_index(index("audit_event", "ix_audit_at", &["at"])).await?;
        m.create_index(index("audit_event", "ix_audit_actor", &["actor_user_id", "at"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("audit_event").take()).await
    }
}
