//! The audit trail as a query.
use async_graphql::Object;

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Placeholder until the audit log query lands.
    async fn audit_pending(&self) -> bool {
        false
    }
}
