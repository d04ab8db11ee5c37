use sea_orm::entity::prelude::*;

/// The outcome of a member import stored under the caller's `Idempotency-Key`, until
/// `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// SHA-256 of the import's rows and options, hex.
    pub fingerprint: Option<String>,
    /// The report the import answered.
    pub report: Option<Json>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
