//! PostgreSQL access: the processor's partition state and batch writes, and
//! the API's reads.

pub mod batch;
pub mod commit;
pub mod idempotency;
mod new_event;
pub mod outbox;
pub mod partition;
pub mod queries;
