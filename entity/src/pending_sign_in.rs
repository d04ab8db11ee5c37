use sea_orm::entity::prelude::*;

/// A browser sign-in between the redirect to the identity provider and its
/// callback: single use, until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_sign_in")]
pub struct Model {
    /// SHA-256 (hex) of the `state` parameter: the state itself is not stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    pub issuer: String,
    /// The PKCE code verifier.
    pub verifier: String,
    pub nonce: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
