//! The Evently load simulator: flash sales through the gateway, measured,
//! with the invariants read back afterwards (see docs/load-simulator.md).
//!
//! - [`cli`]: the command line;
//! - [`api`]: a typed client of the gateway's API contract;
//! - [`scenario`]: preparation, the timed phase (closed and open loop), the read-back;
//! - [`invariants`]: the pure invariant checker;
//! - [`report`] and [`stats`]: histograms and counters into figures, text and JSON;
//! - [`broker`]: the broker's own produce → consume ceiling.

pub mod api;
pub mod broker;
pub mod cli;
pub mod invariants;
pub mod report;
pub mod scenario;
pub mod stats;
