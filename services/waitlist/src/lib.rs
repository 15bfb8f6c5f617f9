//! The waitlist service: waitlist entries and offers.

pub mod configuration;
pub mod error;
pub mod routes;
pub mod startup;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "waitlist";
