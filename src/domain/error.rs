use sea_orm::DbErr;

/// Errors of the domain layer; the GraphQL layer maps them to error codes in one
/// place (`graphql::error`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    BadInput { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Refused for lack of one permission (named in the error for clients and in the
    /// denial metrics), where known at one unit (R10 names it).
    #[error("forbidden: {message}")]
    Denied { permission: crate::authz::Permission, unit_id: Option<i64>, message: String },
    #[error("database error")]
    Db(#[from] DbErr),
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
}
