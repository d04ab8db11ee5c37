//! `Assignment` (Tätigkeitszuordnung) and its mutations: assignActivity,
//! updateAssignment, endAssignment (R5, R8–R10).
use super::id::{self, Kind};
use async_graphql::{Context, ID, Object};
use entity::assignment;

/// Member X holds activity A in unit U, from/to, with a level and a tree group.
#[derive(Debug, Clone)]
pub struct Assignment(pub assignment::Model);

#[Object]
impl Assignment {
    pub async fn id(&self) -> ID {
        id::encode(Kind::Assignment, self.0.id)
    }
}

/// `node(id)` for assignments; null when missing or not visible.
pub async fn node(_ctx: &Context<'_>, _raw_id: i64) -> async_graphql::Result<Option<Assignment>> {
    Ok(None)
}

#[derive(Default)]
pub struct AssignmentMutation;

#[Object]
impl AssignmentMutation {
    /// Placeholder until the assignment mutations land.
    async fn assignments_pending(&self) -> bool {
        false
    }
}
