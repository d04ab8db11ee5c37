//! Statistics for dashboards: member counts per period over a subtree.
use async_graphql::Object;

#[derive(Default)]
pub struct ReportingQuery;

#[Object]
impl ReportingQuery {
    /// Placeholder until the reporting queries land.
    async fn reporting_pending(&self) -> bool {
        false
    }
}
