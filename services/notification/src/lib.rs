//! The notification service: notification records, templates, delivery.

pub mod attendees;
pub mod configuration;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod routes;
pub mod startup;
pub mod store;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "notification";
