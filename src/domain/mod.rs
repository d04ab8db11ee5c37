//! Rules and workflows, independent of HTTP and GraphQL.
pub mod assignment_rules;
pub mod audit;
pub mod bootstrap;
pub mod catalogue;
pub mod error;
pub mod seed;

pub use error::DomainError;
