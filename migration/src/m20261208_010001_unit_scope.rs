//! The units of a subtree as an index-only scan: lists check "the member's home
//! unit lies where the caller holds member.read" against the set of unit ids in a
//! path range, and this index answers that from its pages alone (a few pages for a
//! state's 800 units, instead of one heap page per unit).
use crate::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index("org_unit", "ix_org_unit_path_id", &["path", "id"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_org_unit_path_id").table("org_unit").to_owned()).await
    }
}
