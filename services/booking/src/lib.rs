//! The booking service: seat inventory, holds, bookings, payments, sales figures.

pub mod api;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod lifecycle;
pub mod payment;
pub mod processor;
pub mod replies;
pub mod routes;
pub mod startup;
pub mod store;

pub use crate::configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "booking";
