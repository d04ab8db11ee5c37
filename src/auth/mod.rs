//! Who is calling: the caller of a request, and password hashing.
pub mod api_tokens;
pub mod browser;
pub mod oidc;
pub mod password;
pub mod sessions;
pub mod signin;
pub mod throttle;
pub mod tokens;

/// The authenticated identity behind a request. Authorization (what the caller may
/// do) lives in `crate::authz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User { user_id: i64 },
}

impl Caller {
    pub fn is_signed_in(self) -> bool {
        matches!(self, Caller::User { .. })
    }
}
