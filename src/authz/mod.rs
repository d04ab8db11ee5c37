//! What a caller may do: DESIGN.md section 4. Facts about a user become effective
//! lines (R5–R8); lines compile into per-request `Grants` (R1–R4, R7) that serve as
//! SQL conditions for lists and O(depth) checks for rows and fields; the Casbin
//! enforcer over the same lines is the reference they are proven against.
pub mod catalogue;
pub mod echo;
pub mod effective;
pub mod enforcer;
pub mod explain;
pub mod facts;
pub mod grants;
pub mod members;
pub mod notify;
pub mod permission;
#[cfg(test)]
mod property_tests;
pub mod service;
pub mod units;

pub use grants::{Below, Grants};
pub use permission::{PermSet, Permission};
pub use service::{Authz, Invalidate};
