use crate::db::failure::{self, Failure, Unique};
use sea_orm::DbErr;

/// Errors of the domain layer; the GraphQL layer maps them to error codes in one
/// place (`graphql::error`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    BadInput { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    /// A unique value (membership number, mandate reference, username) is taken:
    /// CONFLICT naming the input field, the same whether found by a check or by the
    /// database's constraint in a race.
    #[error("{field}: {message}")]
    Taken { field: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Refused for lack of one permission (named in the error for clients and in the
    /// denial metrics), where known at one unit (R10 names it).
    #[error("forbidden: {message}")]
    Denied { permission: crate::authz::Permission, unit_id: Option<i64>, message: String },
    /// The database cannot be reached or is busy; nothing was changed unless the
    /// commit itself was cut off (see `graphql::error`).
    #[error("the database is unavailable")]
    Unavailable,
    /// A statement ran over its time limit.
    #[error("the database did not answer in time")]
    Timeout,
    #[error("database error")]
    Db(DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput { field, message: message.into() }
    }

    pub fn denied(permission: crate::authz::Permission, message: impl Into<String>) -> Self {
        Self::Denied { permission, unit_id: None, message: message.into() }
    }

    /// Refused for lack of `permission` at the unit `unit_id`.
    pub fn denied_at(permission: crate::authz::Permission, unit_id: i64, message: impl Into<String>) -> Self {
        Self::Denied { permission, unit_id: Some(unit_id), message: message.into() }
    }

    /// A taken unique value, answered exactly as when the constraint catches it.
    pub fn taken(unique: &Unique) -> Self {
        match unique.field {
            Some(field) => Self::Taken { field, message: unique.message.to_owned() },
            None => Self::Conflict(unique.message.to_owned()),
        }
    }
}

/// Every database error passes here (`?`): constraint violations, lost lock races,
/// outages and time limits become what they mean for the caller
/// (`db::failure::classify`); only the rest is a database error (INTERNAL).
impl From<DbErr> for DomainError {
    fn from(e: DbErr) -> Self {
        match failure::classify(&e) {
            Failure::Taken(unique) => Self::taken(unique),
            Failure::Reference => Self::Conflict(
                "something this change refers to was changed or removed meanwhile: reload and try again"
                    .into(),
            ),
            Failure::Contention => Self::Conflict("a concurrent change got in the way: try again".into()),
            Failure::Gone => Self::NotFound,
            Failure::Unavailable => {
                tracing::warn!(error = %e, "database unavailable");
                Self::Unavailable
            }
            Failure::Timeout => {
                tracing::warn!(error = %e, "statement over its time limit");
                Self::Timeout
            }
            Failure::Other => Self::Db(e),
        }
    }
}
