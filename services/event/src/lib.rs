//! The event service: venues, events and their lifecycle, browse and search.

pub mod configuration;
pub mod error;
pub mod routes;
pub mod startup;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "event";
