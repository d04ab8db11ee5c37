use sea_orm::entity::prelude::*;

/// A login: a member user (with `member_id`) or a system user (without).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    pub email: Option<String>,
    /// argon2id PHC string; none for users who only sign in through an IdP.
    pub password_hash: Option<String>,
    #[sea_orm(unique)]
    pub member_id: Option<i64>,
    /// 2 for member users; SYSTEM groups act only above 2 (R7).
    pub level: i32,
    pub global_tree_group_id: Option<i64>,
    pub privacy_pledge_signed_on: Option<Date>,
    pub disabled: bool,
    /// OIDC issuer and subject, `iss|sub`.
    #[sea_orm(unique)]
    pub external_subject: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Failed logins since the last success or lockout.
    pub failed_logins: i32,
    /// No login before this instant.
    pub locked_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The default level of a member user.
pub const MEMBER_USER_LEVEL: i32 = 2;
