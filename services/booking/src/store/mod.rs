//! PostgreSQL access: the processor's batch writes and the API's reads.

pub mod idempotency;
pub mod processor;
pub mod queries;
