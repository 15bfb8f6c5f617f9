//! `event.lifecycle`, keyed by event id. `EventPublished` carries the whole
//! seat map and prices so the booking service builds inventory without
//! calling the event service back.

use crate::{Currency, EventId, MessageType, SeatId, SectionId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum LifecycleEvent {
    EventPublished(EventSnapshot),
    EventUpdated {
        event_id: EventId,
        organizer_id: UserId,
        title: String,
        /// Human-readable list of what changed, e.g. `["starts_at", "title"]`.
        changed: Vec<String>,
        starts_at: DateTime<Utc>,
    },
    EventCancelled {
        event_id: EventId,
        organizer_id: UserId,
        title: String,
        reason: Option<String>,
    },
}

impl LifecycleEvent {
    pub fn event_id(&self) -> EventId {
        match self {
            LifecycleEvent::EventPublished(s) => s.event_id,
            LifecycleEvent::EventUpdated { event_id, .. }
            | LifecycleEvent::EventCancelled { event_id, .. } => *event_id,
        }
    }
}

impl MessageType for LifecycleEvent {
    fn message_type(&self) -> &'static str {
        match self {
            LifecycleEvent::EventPublished(_) => "EventPublished",
            LifecycleEvent::EventUpdated { .. } => "EventUpdated",
            LifecycleEvent::EventCancelled { .. } => "EventCancelled",
        }
    }
}

/// An event as published: its fixed copy of the venue layout and its prices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventSnapshot {
    pub event_id: EventId,
    pub organizer_id: UserId,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub currency: Currency,
    pub max_tickets_per_user: Option<u32>,
    pub sections: Vec<SectionSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SectionSnapshot {
    pub id: SectionId,
    pub name: String,
    /// Price per ticket in minor units of the event's currency.
    pub price: i64,
    #[serde(flatten)]
    pub layout: SectionLayout,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SectionLayout {
    Reserved { seats: Vec<SeatSnapshot> },
    General { capacity: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeatSnapshot {
    pub id: SeatId,
    pub row: String,
    pub number: u32,
    pub x: f32,
    pub y: f32,
}
