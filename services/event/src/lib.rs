//! The event service: venues, events and their lifecycle, browse and search.

pub mod cache;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod outbox;
pub mod routes;
pub mod startup;
pub mod store;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "event";
