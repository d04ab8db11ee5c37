//! Leaving and retention: ending a membership, anonymizing after retention.
use async_graphql::Object;

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Placeholder until the retention mutations land.
    async fn retention_pending(&self) -> bool {
        false
    }
}
