//! The gateway: the only public entry. It routes `/api/v1/...` by path prefix
//! to the owning service and answers `GET /health` for the whole platform.

pub mod admin_queues;
pub mod balancer;
pub mod configuration;
pub mod cors;
pub mod live;
pub mod monitor;
pub mod proxy;
pub mod ratelimit;
pub mod routing;
pub mod startup;

pub use configuration::Settings;
pub use startup::Application;

pub const SERVICE: &str = "gateway";
