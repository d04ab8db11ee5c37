//! `Member` and its relations under R11, R12, R15, R16, R17; the member queries and
//! mutations.
use super::id::{self, Kind};
use super::loaders::{Loaders, load_error};
use crate::domain::members::MemberRow;
use async_graphql::{Context, ID, Object};

/// A person with a membership (Mitglied), as the caller may see it.
#[derive(Debug, Clone)]
pub struct Member(pub MemberRow);

#[Object]
impl Member {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Member, self.0.member.id)
    }
}

/// One member the caller may see; null for missing and invisible alike (R11).
pub async fn find_visible(ctx: &Context<'_>, raw_id: i64) -> async_graphql::Result<Option<Member>> {
    let loaders = ctx.data::<Loaders>()?;
    Ok(loaders.member.load_one(raw_id).await.map_err(load_error)?.flatten().map(Member))
}

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// Placeholder.
    async fn members_pending(&self) -> bool {
        false
    }
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Placeholder.
    async fn members_pending(&self) -> bool {
        false
    }
}
