//! The one place where errors become GraphQL errors with `extensions.code`.
//! Internal details (SQL, stack) are logged with the request id, never returned.
use crate::auth::signin::AuthError;
use crate::domain::DomainError;
use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {message}")]
    BadUserInput { field: String, message: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// Refused for lack of a permission, at a unit when known (its global id).
    #[error("{message}")]
    Denied { permission: &'static str, unit: Option<async_graphql::ID>, message: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// CONFLICT naming the input field whose value is taken.
    #[error("{message}")]
    Taken { field: String, message: String },
    /// The database is unreachable, restarting or busy: try again shortly.
    #[error("the service is unavailable: try again shortly")]
    Unavailable,
    /// A statement ran over its time limit.
    #[error("the database did not answer in time")]
    Timeout,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput { field: field.into(), message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) | Self::Denied { .. } => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict(_) | Self::Taken { .. } => "CONFLICT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| {
            e.set("code", self.code());
            if let Self::BadUserInput { field, .. } | Self::Taken { field, .. } = self {
                e.set("field", field.as_str());
            }
            if let Self::Denied { permission, unit, .. } = self {
                e.set("permission", *permission);
                if let Some(unit) = unit {
                    e.set("unit", unit.as_str());
                }
            }
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::BadInput { field, message } => Self::bad_input(field, message),
            DomainError::Conflict(m) => Self::Conflict(m),
            DomainError::Taken { field, message } => Self::Taken { field: field.to_owned(), message },
            DomainError::Unavailable => Self::Unavailable,
            DomainError::Timeout => Self::Timeout,
            DomainError::NotFound => Self::NotFound,
            DomainError::Forbidden(m) => Self::Forbidden(m),
            DomainError::Denied { permission, unit_id, message } => Self::Denied {
                permission: permission.as_str(),
                unit: unit_id.map(|u| super::id::encode(super::id::Kind::OrgUnit, u)),
                message,
            },
            DomainError::Db(e) => Self::from(e),
            DomainError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Self::Internal
            }
        }
    }
}

impl ApiError {
    pub fn sign_in_required() -> Self {
        Self::Unauthenticated("authentication required".into())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials | AuthError::InvalidToken => Self::Unauthenticated(e.to_string()),
            // The answer of a wrong password: nothing to learn about the throttle.
            AuthError::Throttled(_) => Self::Unauthenticated(AuthError::InvalidCredentials.to_string()),
            AuthError::Forbidden(m) => Self::Forbidden(m),
            AuthError::BadInput { field, message } => Self::bad_input(field, message),
            AuthError::Conflict(m) => Self::Conflict(m),
            AuthError::Taken(unique) => Self::from(DomainError::taken(unique)),
            AuthError::Db(e) => Self::from(e),
            AuthError::Internal => Self::Internal,
        }
    }
}

/// Database errors mean the same here as in the domain (`db::failure`). A write whose
/// commit was cut off by an outage answers UNAVAILABLE although the commit may have
/// reached the database: clients re-read (by membership number, mandate reference,
/// username) before repeating such a write, and a repeated create answers CONFLICT
/// if the first one was stored.
impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        match DomainError::from(e) {
            DomainError::Db(e) => {
                tracing::error!(error = %e, "database error");
                Self::Internal
            }
            other => Self::from(other),
        }
    }
}

/// `?`-friendly conversion into a GraphQL error with its code.
pub fn gql(e: impl Into<ApiError>) -> async_graphql::Error {
    e.into().extend()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_do_not_leak() {
        let e = gql(DbErr::Custom("SELECT secret FROM app_user".into()));
        assert_eq!(e.message, "internal error");
        let shown = format!("{:?}", e.extensions);
        assert!(shown.contains("INTERNAL") && !shown.contains("secret"));
    }

    #[test]
    fn bad_input_names_the_field() {
        let e = gql(ApiError::bad_input("first", "must be between 0 and 500"));
        let shown = format!("{:?}", e.extensions);
        assert!(shown.contains("BAD_USER_INPUT") && shown.contains("first"));
    }

    #[test]
    fn unreachable_databases_are_unavailable_not_internal() {
        let e = gql(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        let shown = format!("{:?}", e.extensions);
        assert!(shown.contains("UNAVAILABLE"), "{shown}");
    }

    #[test]
    fn a_taken_value_is_a_conflict_naming_the_field() {
        let e = gql(DomainError::taken(&crate::db::failure::MEMBERSHIP_NUMBER));
        let shown = format!("{:?}", e.extensions);
        assert!(shown.contains("CONFLICT") && shown.contains("membershipNumber"), "{shown}");
    }
}
