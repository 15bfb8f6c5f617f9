//! `waitlist.events`, keyed by event id: what happened to waitlist entries.
//! The notification service mails offers from `OfferMade`; the gateway's live
//! feed forwards them to the waiting user.

use super::booking::SeatSelection;
use crate::{
    BookingId, Currency, EventId, HoldId, MessageType, SectionId, UserId, WaitlistEntryId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum WaitlistEvent {
    Joined {
        entry_id: WaitlistEntryId,
        event_id: EventId,
        user_id: UserId,
        quantity: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        section_id: Option<SectionId>,
        /// Highest acceptable price per ticket, minor units.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_price: Option<i64>,
        /// 1-based place among entries still waiting, at join time.
        position: u32,
    },
    Left {
        entry_id: WaitlistEntryId,
        event_id: EventId,
        user_id: UserId,
    },
    /// Freed seats are held for this entry until `expires_at`; the user
    /// confirms `hold_id` like any hold.
    OfferMade {
        entry_id: WaitlistEntryId,
        event_id: EventId,
        user_id: UserId,
        hold_id: HoldId,
        #[serde(flatten)]
        seats: SeatSelection,
        total_price: i64,
        currency: Currency,
        expires_at: DateTime<Utc>,
    },
    /// The offer was not confirmed in time (or was released); the seats move
    /// on to the next matching entry.
    OfferExpired {
        entry_id: WaitlistEntryId,
        event_id: EventId,
        user_id: UserId,
        hold_id: HoldId,
    },
    OfferAccepted {
        entry_id: WaitlistEntryId,
        event_id: EventId,
        user_id: UserId,
        hold_id: HoldId,
        booking_id: BookingId,
    },
}

impl WaitlistEvent {
    pub fn event_id(&self) -> EventId {
        match self {
            WaitlistEvent::Joined { event_id, .. }
            | WaitlistEvent::Left { event_id, .. }
            | WaitlistEvent::OfferMade { event_id, .. }
            | WaitlistEvent::OfferExpired { event_id, .. }
            | WaitlistEvent::OfferAccepted { event_id, .. } => *event_id,
        }
    }
}

impl MessageType for WaitlistEvent {
    fn message_type(&self) -> &'static str {
        match self {
            WaitlistEvent::Joined { .. } => "Joined",
            WaitlistEvent::Left { .. } => "Left",
            WaitlistEvent::OfferMade { .. } => "OfferMade",
            WaitlistEvent::OfferExpired { .. } => "OfferExpired",
            WaitlistEvent::OfferAccepted { .. } => "OfferAccepted",
        }
    }
}
