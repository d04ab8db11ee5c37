//! verband: GraphQL membership administration for hierarchical associations, with
//! authorization that follows the organisation's tree, per row and per field.
pub mod app;
pub mod auth;
pub mod authz;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod http;

pub use app::App;
pub use config::Settings;
