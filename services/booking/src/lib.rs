//! The booking service: seat inventory, holds, bookings, payments, sales figures.

pub mod configuration;
pub mod domain;
pub mod error;
pub mod routes;
pub mod startup;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "booking";
