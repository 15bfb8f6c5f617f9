//! The auth service: users, roles, passwords, access and refresh tokens, JWKS.

pub mod configuration;
pub mod error;
pub mod routes;
pub mod startup;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "auth";
