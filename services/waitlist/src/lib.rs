//! The waitlist service: waitlist entries and offers.

pub mod availability;
pub mod configuration;
pub mod consumer;
pub mod domain;
pub mod error;
pub mod relay;
pub mod routes;
pub mod startup;
pub mod store;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "waitlist";
