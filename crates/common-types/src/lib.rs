//! Wire types shared by every Evently service.
//!
//! Everything here crosses a process boundary (HTTP or Kafka), so changing a
//! type is changing a contract: add fields as `Option` or with a serde default,
//! and bump [`envelope::SCHEMA_VERSION`] for anything that is not additive.

pub mod envelope;
pub mod ids;
pub mod messages;
pub mod money;
pub mod page;
pub mod problem;
pub mod role;
pub mod topics;

pub use envelope::{Envelope, MessageType};
pub use ids::*;
pub use money::{Currency, Money};
pub use page::{Page, PageQuery};
pub use problem::{FieldError, ProblemDetails};
pub use role::Role;
