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
    #[error("database error")]
    Db(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput { field, message: message.into() }
    }
}
