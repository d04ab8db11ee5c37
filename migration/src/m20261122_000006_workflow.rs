//! Workflows: admissions (applications to join) and transfers between units.
use crate::{enum_col, fk, index, ts, ts_null};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("admission")
                .col(big_pk_auto("id"))
                .col(big_integer("org_unit_id"))
                .col(string("first_name"))
                .col(string("last_name"))
                .col(date_null("birth_date"))
                .col(string_len_null("gender", 16))
                .col(string_null("email"))
                .col(string_len_null("phone", 64))
                .col(string_null("street"))
                .col(string_len_null("postal_code", 16))
                .col(string_null("city"))
                .col(string_len_null("country", 2))
                .col(enum_col("status"))
                .col(text_null("reason"))
                .col(big_integer_null("member_id"))
                .col(big_integer_null("created_by"))
                .col(big_integer_null("decided_by"))
                .col(ts("applied_at"))
                .col(ts_null("decided_at"))
                .foreign_key(&mut fk("admission", "org_unit_id", "org_unit", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk("admission", "member_id", "member", ForeignKeyAction::SetNull))
                .take(),
        )
        .await?;
        m.create_index(index("admission", "ix_admission_unit_status", &["org_unit_id", "status"])).await?;
        m.create_table(
            Table::create()
                .table("transfer")
                .col(big_pk_auto("id"))
                .col(big_integer("member_id"))
                .col(big_integer("from_unit_id"))
                .col(big_integer("to_unit_id"))
                .col(enum_col("status"))
                .col(text_null("reason"))
                .col(big_integer_null("requested_by"))
                .col(big_integer_null("decided_by"))
                .col(ts("requested_at"))
                .col(ts_null("decided_at"))
                .foreign_key(&mut fk("transfer", "member_id", "member", ForeignKeyAction::Cascade))
                .foreign_key(&mut fk("transfer", "from_unit_id", "org_unit", ForeignKeyAction::Restrict))
                .foreign_key(&mut fk("transfer", "to_unit_id", "org_unit", ForeignKeyAction::Restrict))
                .take(),
        )
        .await?;
        m.create_index(index("transfer", "ix_transfer_member", &["member_id", "status"])).await?;
        m.create_index(index("transfer", "ix_transfer_to_unit", &["to_unit_id", "status"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["transfer", "admission"] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
