//! The auth service: users, roles, passwords, access and refresh tokens, JWKS.

pub mod configuration;
pub mod domain;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod outbox;
pub mod password;
pub mod routes;
pub mod startup;
pub mod store;
pub mod tokens;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "auth";
