//! `User` (Benutzer), the `users` query and user administration mutations.
use super::id::{self, Kind};
use async_graphql::{Context, ID, Object};
use entity::user;

/// A login: a member user (with a member) or a system user (without).
#[derive(Debug, Clone)]
pub struct User(pub user::Model);

#[Object]
impl User {
    pub async fn id(&self) -> ID {
        id::encode(Kind::User, self.0.id)
    }
}

/// `node(id)` for users; null when missing or not visible.
pub async fn node(_ctx: &Context<'_>, _raw_id: i64) -> async_graphql::Result<Option<User>> {
    Ok(None)
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// Placeholder until the user queries land.
    async fn users_pending(&self) -> bool {
        false
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Placeholder until the user mutations land.
    async fn users_pending(&self) -> bool {
        false
    }
}
