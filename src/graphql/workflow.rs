//! Workflows (DESIGN.md section 6): admissions (Aufnahmeanträge) and transfers
//! between units.
use async_graphql::Object;

#[derive(Default)]
pub struct WorkflowQuery;

#[Object]
impl WorkflowQuery {
    /// Placeholder until the workflow queries land.
    async fn workflow_pending(&self) -> bool {
        false
    }
}

#[derive(Default)]
pub struct WorkflowMutation;

#[Object]
impl WorkflowMutation {
    /// Placeholder until the workflow mutations land.
    async fn workflow_pending(&self) -> bool {
        false
    }
}
