//! The one JSON envelope every Kafka message travels in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const SCHEMA_VERSION: u16 = 1;

/// `id` is the message's idempotency key: a consumer that sees an id twice
/// applies it once. `type` names the payload (e.g. `HoldPlaced`), so a person
/// tailing a topic can read it and a consumer can skip types it does not know.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<T> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub message_type: String,
    pub schema_version: u16,
    pub occurred_at: DateTime<Utc>,
    pub payload: T,
}

/// A payload that knows its own type name.
pub trait MessageType {
    fn message_type(&self) -> &'static str;
}

impl<T: MessageType> Envelope<T> {
    pub fn new(payload: T) -> Self {
        Self::with_id(Uuid::now_v7(), payload)
    }

    /// Use a caller-chosen id when the message must be the same on a retry
    /// (e.g. derived from a request id), so redelivery stays idempotent.
    pub fn with_id(id: Uuid, payload: T) -> Self {
        Self {
            id,
            message_type: payload.message_type().to_string(),
            schema_version: SCHEMA_VERSION,
            occurred_at: Utc::now(),
            payload,
        }
    }
}
