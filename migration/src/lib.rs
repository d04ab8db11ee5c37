//! Schema of verband, as append-only migrations. Never edit a migration that has
//! landed; add a new one.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_catalogue;
mod m20261122_000002_org_unit;
mod m20261122_000003_member;
mod m20261122_000004_user;
mod m20261122_000005_assignment;
mod m20261122_000006_workflow;
mod m20261122_000007_audit;
mod m20261122_000008_session;
mod m20261201_120001_pending_sign_in;
mod m20261201_140001_member_import;
mod m20261208_010001_unit_scope;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_catalogue::Migration),
            Box::new(m20261122_000002_org_unit::Migration),
            Box::new(m20261122_000003_member::Migration),
            Box::new(m20261122_000004_user::Migration),
            Box::new(m20261122_000005_assignment::Migration),
            Box::new(m20261122_000006_workflow::Migration),
            Box::new(m20261122_000007_audit::Migration),
            Box::new(m20261122_000008_session::Migration),
            Box::new(m20261201_120001_pending_sign_in::Migration),
            Box::new(m20261201_140001_member_import::Migration),
            Box::new(m20261208_010001_unit_scope::Migration),
        ]
    }
}

/// Timestamps are stored with time zone on PostgreSQL and as ISO text on SQLite.
pub(crate) fn ts<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().take()
}

pub(crate) fn ts_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().null().take()
}

/// Short enumerated status values stored as text (portable across both backends).
pub(crate) fn enum_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).string_len(16).not_null().take()
}

pub(crate) fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    let from_table = from_table.into_iden();
    let from_col = from_col.into_iden();
    let to_table = to_table.into_iden();
    ForeignKey::create()
        .name(format!("fk_{}_{}", from_table, from_col))
        .from(from_table, from_col)
        .to(to_table, "id")
        .on_delete(on_delete)
        .take()
}

pub(crate) fn index(table: impl IntoIden, name: &str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table.into_iden());
    for c in cols {
        idx.col(*c);
    }
    idx.take()
}
