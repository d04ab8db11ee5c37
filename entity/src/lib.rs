//! SeaORM entities of verband: one module per table. Entities carry no GraphQL or
//! HTTP concerns; those live in the server crate.
pub mod activity;
pub mod activity_allowed_group;
pub mod admission;
pub mod api_token;
pub mod assignment;
pub mod audit_event;
pub mod bank_account;
pub mod counter;
pub mod enums;
pub mod import_key;
pub mod level;
pub mod member;
pub mod org_unit;
pub mod payment;
pub mod pending_sign_in;
pub mod permission_group;
pub mod permission_group_permission;
pub mod sepa_mandate;
pub mod session;
pub mod transfer;
pub mod user;
pub mod user_system_group;

pub use enums::*;
