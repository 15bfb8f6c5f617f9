//! The notification service: notification records, templates, delivery.

pub mod configuration;
pub mod error;
pub mod routes;
pub mod startup;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "notification";
