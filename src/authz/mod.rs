//! What a caller may do. This module grows the compiled grants of DESIGN.md
//! section 4; for now it holds the permission vocabulary and unit visibility (R14)
//! for callers without grants, deny by default.
pub mod permission;
pub mod units;

pub use permission::Permission;
