//! Members and their bank data, SEPA mandates and payments.
use crate::{enum_col, fk, index, ts, ts_null};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("member")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("membership_number", 32))
                .col(big_integer("home_unit_id"))
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
                .col(date_null("joined_on"))
                .col(date_null("left_on"))
                .col(boolean("voting_rights").default(false))
                .col(json("tags"))
                .col(date_null("retention_until"))
                .col(ts_null("anonymized_at"))
                .col(big_integer_null("created_by"))
                .col(big_integer_null("updated_by"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("member", "home_unit_id", "org_unit", ForeignKeyAction::Restrict))
                .take(),
        )
        .await?;
        // Lists are "members of these units, ordered by name": home unit first.
        m.create_index(index(
            "member",
            "ix_member_home_unit_name",
            &["home_unit_id", "last_name", "first_name", "id"],
        ))
        .await?;
        m.create_index(index("member", "ix_member_name", &["last_name", "first_name"])).await?;
        m.create_index(index("member", "ix_member_status", &["status"])).await?;

        m.create_table(
            Table::create()
                .table("bank_account")
                .col(big_integer("member_id").primary_key())
                .col(string_len("iban", 34))
                .col(string_len_null("bic", 11))
                .col(string("account_holder"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("bank_account", "member_id", "member", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sepa_mandate")
                .col(big_pk_auto("id"))
                .col(big_integer("member_id"))
                .col(string_len_uniq("reference", 35))
                .col(date("signed_on"))
                .col(string_len("iban", 34))
                .col(enum_col("status"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("sepa_mandate", "member_id", "member", ForeignKeyAction::Cascade))
                .take(),
        )
        .await?;
        m.create_index(index("sepa_mandate", "ix_sepa_mandate_member", &["member_id"])).await?;
        m.create_table(
            Table::create()
                .table("payment")
                .col(big_pk_auto("id"))
                .col(big_integer("member_id"))
                .col(big_integer("amount_cents"))
                .col(string_len("currency", 3))
                .col(date("paid_on"))
                .col(date_null("period_from"))
                .col(date_null("period_to"))
                .col(string_null("note"))
                .col(big_integer_null("created_by"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("payment", "member_id", "member", ForeignKeyAction::Restrict))
                .take(),
        )
        .await?;
        m.create_index(index("payment", "ix_payment_member", &["member_id", "paid_on"])).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["payment", "sepa_mandate", "bank_account", "member"] {
            m.drop_table(Table::drop().table(t).take()).await?;
        }
        Ok(())
    }
}
