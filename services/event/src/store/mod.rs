//! The storage seam: what the routes and the relay need from the catalogue,
//! one trait with one engine, MongoDB (`mongo`): MongoDB 7 in docker-compose
//! and k8s, FerretDB locally and in CI. The contract suite
//! (`tests/contract.rs`) is written against the trait.
//!
//! The promise for lifecycle messages: the write of an event and the messages
//! it causes are stored atomically (one single-document update that also
//! pushes onto the event's embedded `outbox` array), and a relay publishes
//! them afterwards, at least once, with a stable envelope id.

mod guard;
pub mod mongo;

use crate::domain::event::Event;
use crate::domain::search::EventSearch;
use crate::domain::venue::Venue;
use common_types::messages::lifecycle::LifecycleEvent;
use common_types::page::PageRequest;
use common_types::{topics, Envelope, EventId, UserId, VenueId};
use serde::{Deserialize, Serialize};
use std::future::Future;
use uuid::Uuid;

pub use mongo::MongoCatalog;

/// The store a running service uses.
pub type Catalog = MongoCatalog;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored version is not the one the write expected (or the record is
    /// gone): someone else wrote in between.
    #[error("the record was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        StoreError::Backend(e.into())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(e.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A message waiting to be produced. `payload` is the encoded envelope, fixed
/// when the write happened, so every redelivery carries the same envelope id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub topic: String,
    pub key: String,
    pub message_type: String,
    pub payload: String,
    pub request_id: Option<String>,
}

impl OutboxMessage {
    /// A lifecycle message for `event.lifecycle`, keyed by event id.
    pub fn lifecycle(message: LifecycleEvent, request_id: Option<String>) -> StoreResult<Self> {
        let key = message.event_id().to_string();
        let envelope = Envelope::new(message);
        Ok(Self {
            id: envelope.id,
            topic: topics::EVENT_LIFECYCLE.to_string(),
            key,
            message_type: envelope.message_type.clone(),
            payload: serde_json::to_string(&envelope)?,
            request_id,
        })
    }
}

/// What the event service needs from a store. Writes take the new state whose
/// `version` is one more than the stored one; a stale version is `Conflict`.
pub trait CatalogStore: Send + Sync + 'static {
    fn insert_venue(&self, venue: &Venue) -> impl Future<Output = StoreResult<()>> + Send;
    fn update_venue(&self, venue: &Venue) -> impl Future<Output = StoreResult<()>> + Send;
    fn venue(&self, id: VenueId) -> impl Future<Output = StoreResult<Option<Venue>>> + Send;
    /// Venues of one organizer (all of them for `None`), newest first.
    fn venues(
        &self,
        organizer: Option<UserId>,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<(Vec<Venue>, u64)>> + Send;

    fn insert_event(&self, event: &Event) -> impl Future<Output = StoreResult<()>> + Send;
    /// Store the new state and its messages atomically.
    fn update_event(
        &self,
        event: &Event,
        outbox: &[OutboxMessage],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// One event with its fixed layout.
    fn event(&self, id: EventId) -> impl Future<Output = StoreResult<Option<Event>>> + Send;
    /// A page of events (without layouts) and the total that match.
    fn search_events(
        &self,
        search: &EventSearch,
    ) -> impl Future<Output = StoreResult<(Vec<Event>, u64)>> + Send;

    /// Unsent messages, oldest first (per event, in the order written).
    fn pending_outbox(
        &self,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<OutboxMessage>>> + Send;
    fn mark_sent(&self, sent: &[OutboxMessage]) -> impl Future<Output = StoreResult<()>> + Send;

    fn ping(&self) -> impl Future<Output = bool> + Send;
}

/// Event as a JSON document without its layout, and the layout apart: lists
/// never read the (large) layout.
pub(crate) fn split_event(event: &Event) -> StoreResult<(serde_json::Value, serde_json::Value)> {
    let mut doc = serde_json::to_value(event)?;
    let layout = doc
        .as_object_mut()
        .and_then(|m| m.remove("layout"))
        .unwrap_or(serde_json::Value::Null);
    Ok((doc, layout))
}

pub(crate) fn join_event(
    mut doc: serde_json::Value,
    layout: Option<serde_json::Value>,
) -> StoreResult<Event> {
    if let (Some(map), Some(layout)) = (doc.as_object_mut(), layout) {
        if !layout.is_null() {
            map.insert("layout".into(), layout);
        }
    }
    Ok(serde_json::from_value(doc)?)
}
