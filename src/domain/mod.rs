//! Rules and workflows, independent of HTTP and GraphQL.
pub mod admissions;
pub mod assignment_rules;
pub mod assignments;
pub mod audit;
pub mod bootstrap;
pub mod catalogue;
pub mod catalogue_admin;
pub mod csv_dialect;
pub mod error;
pub mod imports;
pub mod lifecycle;
pub mod members;
pub mod org_units;
pub mod reporting;
pub mod retention;
pub mod seed;
pub mod self_service;
pub mod transfers;
pub mod users;
pub mod validate;

pub use error::DomainError;

use crate::authz::Grants;
use chrono::{DateTime, NaiveDate, Utc};

/// Who performs a change, with which rights, when: every workflow takes one, checks
/// the rules against `grants`, and writes `user_id` and `request_id` into the audit
/// record of the same transaction.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user_id: Option<i64>,
    pub grants: &'a Grants,
    /// "Today" of the rules (R5 and every date check).
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Actor<'_> {
    /// The signed-in user, or FORBIDDEN for anonymous callers (the GraphQL layer
    /// answers UNAUTHENTICATED before it gets here).
    pub fn signed_in(&self) -> Result<i64, DomainError> {
        self.user_id.ok_or_else(|| DomainError::Forbidden("sign in first".into()))
    }

    /// An audit record of this actor, for `audit::record`.
    pub fn audit<'b>(
        &self,
        action: &'b str,
        entity: &'b str,
        entity_id: impl ToString,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> audit::AuditRecord<'b> {
        audit::AuditRecord {
            actor_user_id: self.user_id,
            action,
            entity,
            entity_id: entity_id.to_string(),
            before,
            after,
            request_id: self.request_id.clone(),
        }
    }
}
