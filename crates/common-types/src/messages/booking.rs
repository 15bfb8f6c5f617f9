//! The booking core's wire messages.
//!
//! - [`BookingCommand`] on `booking.create`, keyed by event id: everything that
//!   changes an event's seat inventory. One consumer group applies them in
//!   partition order, so commands for one event never race.
//! - [`BookingOutcome`] on `booking.events`, keyed by event id: what each
//!   command did. The booking API waits for these by `request_id`; the
//!   waitlist, notification and live-feed consumers read them too.
//!
//! Seats handed around between booking and waitlist are always one section at
//! a time ([`SeatSelection`]): reserved seats by id, general admission by
//! quantity.

use super::lifecycle::EventSnapshot;
use crate::{
    BookingId, Currency, EventId, HoldId, MessageType, RequestId, Role, SeatId, SectionId, UserId,
    WaitlistEntryId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Some places in one section: for a reserved section `seat_ids` names them
/// (and `quantity` equals their count); for general admission `seat_ids` is
/// empty and `quantity` counts places.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeatSelection {
    pub section_id: SectionId,
    #[serde(default)]
    pub seat_ids: Vec<SeatId>,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum BookingCommand {
    /// Hold reserved seats by id (they may span sections of one event).
    HoldSeats {
        request_id: RequestId,
        event_id: EventId,
        user_id: UserId,
        seat_ids: Vec<SeatId>,
        /// Overrides the default hold lifetime (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold_ttl_secs: Option<u32>,
    },
    /// Hold a number of general-admission places in one section.
    HoldQuantity {
        request_id: RequestId,
        event_id: EventId,
        user_id: UserId,
        section_id: SectionId,
        quantity: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold_ttl_secs: Option<u32>,
    },
    /// The holder gives the seats back before expiry.
    ReleaseHold {
        request_id: RequestId,
        event_id: EventId,
        hold_id: HoldId,
        user_id: UserId,
    },
    /// Turn a live hold into a booking. Payment was authorized before this
    /// command was produced (outside the ordered processor); if the hold is
    /// gone the outcome is `BookingRejected` and the API voids the payment.
    ConfirmHold {
        request_id: RequestId,
        event_id: EventId,
        hold_id: HoldId,
        user_id: UserId,
        payment_id: String,
        /// Authorized amount in minor units; must equal the hold's total.
        amount: i64,
        currency: Currency,
    },
    /// Cancel a confirmed booking and record its refund. Who may do it was
    /// checked by the API; the actor is recorded.
    CancelBooking {
        request_id: RequestId,
        event_id: EventId,
        booking_id: BookingId,
        actor_id: UserId,
        actor_role: Role,
    },
    /// Expire every hold of the event whose expiry is at or before `now`.
    /// Produced by a timer so that expiry is ordered with everything else.
    ExpireHolds {
        event_id: EventId,
        now: DateTime<Utc>,
    },
    /// The event was published: create its inventory (a no-op if it exists).
    /// Forwarded from `event.lifecycle` so it is ordered with the commands.
    CreateInventory { event: EventSnapshot },
    /// The event was cancelled: cancel and refund every booking, drop holds,
    /// stop sales.
    CancelEvent {
        event_id: EventId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The event's start time changed (owners may cancel only before it).
    RescheduleEvent {
        event_id: EventId,
        starts_at: DateTime<Utc>,
    },
    /// The waitlist service: this event now has people waiting. From now on
    /// freed seats are parked for the waitlist instead of going on sale.
    WaitlistActivated { event_id: EventId },
    /// The waitlist service: nobody is waiting any more.
    WaitlistDeactivated { event_id: EventId },
    /// The waitlist service offers parked seats to one entry: they become a
    /// hold of `user_id` lasting `ttl_secs`, confirmed like any hold.
    OfferHold {
        request_id: RequestId,
        event_id: EventId,
        user_id: UserId,
        waitlist_entry_id: WaitlistEntryId,
        #[serde(flatten)]
        seats: SeatSelection,
        ttl_secs: u32,
    },
    /// The waitlist service found no taker: parked seats go back on sale.
    ReturnToSale {
        request_id: RequestId,
        event_id: EventId,
        #[serde(flatten)]
        seats: SeatSelection,
    },
}

impl BookingCommand {
    /// The partition key.
    pub fn event_id(&self) -> EventId {
        match self {
            BookingCommand::HoldSeats { event_id, .. }
            | BookingCommand::HoldQuantity { event_id, .. }
            | BookingCommand::ReleaseHold { event_id, .. }
            | BookingCommand::ConfirmHold { event_id, .. }
            | BookingCommand::CancelBooking { event_id, .. }
            | BookingCommand::ExpireHolds { event_id, .. }
            | BookingCommand::CancelEvent { event_id, .. }
            | BookingCommand::RescheduleEvent { event_id, .. }
            | BookingCommand::WaitlistActivated { event_id }
            | BookingCommand::WaitlistDeactivated { event_id }
            | BookingCommand::OfferHold { event_id, .. }
            | BookingCommand::ReturnToSale { event_id, .. } => *event_id,
            BookingCommand::CreateInventory { event } => event.event_id,
        }
    }

    /// The request a caller waits on, if any.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            BookingCommand::HoldSeats { request_id, .. }
            | BookingCommand::HoldQuantity { request_id, .. }
            | BookingCommand::ReleaseHold { request_id, .. }
            | BookingCommand::ConfirmHold { request_id, .. }
            | BookingCommand::CancelBooking { request_id, .. }
            | BookingCommand::OfferHold { request_id, .. }
            | BookingCommand::ReturnToSale { request_id, .. } => Some(*request_id),
            _ => None,
        }
    }
}

impl MessageType for BookingCommand {
    fn message_type(&self) -> &'static str {
        match self {
            BookingCommand::HoldSeats { .. } => "HoldSeats",
            BookingCommand::HoldQuantity { .. } => "HoldQuantity",
            BookingCommand::ReleaseHold { .. } => "ReleaseHold",
            BookingCommand::ConfirmHold { .. } => "ConfirmHold",
            BookingCommand::CancelBooking { .. } => "CancelBooking",
            BookingCommand::ExpireHolds { .. } => "ExpireHolds",
            BookingCommand::CreateInventory { .. } => "CreateInventory",
            BookingCommand::CancelEvent { .. } => "CancelEvent",
            BookingCommand::RescheduleEvent { .. } => "RescheduleEvent",
            BookingCommand::WaitlistActivated { .. } => "WaitlistActivated",
            BookingCommand::WaitlistDeactivated { .. } => "WaitlistDeactivated",
            BookingCommand::OfferHold { .. } => "OfferHold",
            BookingCommand::ReturnToSale { .. } => "ReturnToSale",
        }
    }
}

/// Why a command had no effect. Serialized as a kebab-case slug that is also
/// the problem `type` the booking API answers with.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    /// Some named seats are held or booked by someone else.
    SeatsUnavailable,
    /// Not enough general-admission places left.
    SoldOut,
    UnknownEvent,
    UnknownSeat,
    UnknownSection,
    /// A quantity of 0, a section of the wrong kind, duplicate seats...
    InvalidSelection,
    /// Sales have not started or have ended.
    NotOnSale,
    EventCancelled,
    /// Holds plus bookings would exceed `max_tickets_per_user`.
    TicketLimit,
    UnknownHold,
    /// The hold belongs to someone else.
    NotHoldOwner,
    /// The hold expired or was released before the command arrived.
    HoldExpired,
    /// The authorized amount is not the hold's total.
    AmountMismatch,
    UnknownBooking,
    AlreadyCancelled,
    /// The event has started; only its organizer or an admin may cancel.
    EventStarted,
    /// `OfferHold`/`ReturnToSale` named seats that are not parked for the waitlist.
    NotParked,
}

impl RejectReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::SeatsUnavailable => "seats-unavailable",
            RejectReason::SoldOut => "sold-out",
            RejectReason::UnknownEvent => "unknown-event",
            RejectReason::UnknownSeat => "unknown-seat",
            RejectReason::UnknownSection => "unknown-section",
            RejectReason::InvalidSelection => "invalid-selection",
            RejectReason::NotOnSale => "not-on-sale",
            RejectReason::EventCancelled => "event-cancelled",
            RejectReason::TicketLimit => "ticket-limit",
            RejectReason::UnknownHold => "unknown-hold",
            RejectReason::NotHoldOwner => "not-hold-owner",
            RejectReason::HoldExpired => "hold-expired",
            RejectReason::AmountMismatch => "amount-mismatch",
            RejectReason::UnknownBooking => "unknown-booking",
            RejectReason::AlreadyCancelled => "already-cancelled",
            RejectReason::EventStarted => "event-started",
            RejectReason::NotParked => "not-parked",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum BookingOutcome {
    HoldPlaced {
        request_id: RequestId,
        hold_id: HoldId,
        event_id: EventId,
        user_id: UserId,
        /// Reserved seats held (empty for general admission).
        seats: Vec<SeatId>,
        /// Set for a general-admission hold.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        section_id: Option<SectionId>,
        quantity: u32,
        total_price: i64,
        currency: Currency,
        expires_at: DateTime<Utc>,
        /// Set when the hold is a waitlist offer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waitlist_entry_id: Option<WaitlistEntryId>,
    },
    HoldRejected {
        request_id: RequestId,
        event_id: EventId,
        reason: RejectReason,
        detail: String,
        /// The named seats someone else has (for `seats-unavailable`).
        #[serde(default)]
        unavailable_seats: Vec<SeatId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waitlist_entry_id: Option<WaitlistEntryId>,
    },
    /// The holder released the hold.
    HoldReleased {
        request_id: RequestId,
        hold_id: HoldId,
        event_id: EventId,
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waitlist_entry_id: Option<WaitlistEntryId>,
    },
    HoldExpired {
        hold_id: HoldId,
        event_id: EventId,
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waitlist_entry_id: Option<WaitlistEntryId>,
    },
    BookingConfirmed {
        request_id: RequestId,
        booking_id: BookingId,
        reference: String,
        hold_id: HoldId,
        event_id: EventId,
        user_id: UserId,
        seats: Vec<SeatId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        section_id: Option<SectionId>,
        quantity: u32,
        total_price: i64,
        currency: Currency,
        payment_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waitlist_entry_id: Option<WaitlistEntryId>,
    },
    /// A `ConfirmHold` that could not be applied; the API voids the payment.
    BookingRejected {
        request_id: RequestId,
        event_id: EventId,
        hold_id: HoldId,
        reason: RejectReason,
        detail: String,
    },
    BookingCancelled {
        /// None when the whole event was cancelled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<RequestId>,
        booking_id: BookingId,
        reference: String,
        event_id: EventId,
        user_id: UserId,
        refund_amount: i64,
        currency: Currency,
    },
    /// Seats are back on public sale.
    SeatsReleased {
        event_id: EventId,
        #[serde(flatten)]
        seats: SeatSelection,
    },
    /// Freed seats parked for the waitlist: not sellable until the waitlist
    /// offers them (`OfferHold`) or gives them back (`ReturnToSale`).
    SeatsReleasedToWaitlist {
        event_id: EventId,
        #[serde(flatten)]
        seats: SeatSelection,
        /// Price per place in minor units.
        price: i64,
        currency: Currency,
    },
    /// Any other command that could not be applied (release, cancel,
    /// return-to-sale...).
    CommandFailed {
        request_id: RequestId,
        event_id: EventId,
        reason: RejectReason,
        detail: String,
    },
    /// The event was cancelled: sales stopped, holds dropped (each booking
    /// gets its own `BookingCancelled`).
    EventSalesClosed { event_id: EventId },
}

impl BookingOutcome {
    pub fn event_id(&self) -> EventId {
        match self {
            BookingOutcome::HoldPlaced { event_id, .. }
            | BookingOutcome::HoldRejected { event_id, .. }
            | BookingOutcome::HoldReleased { event_id, .. }
            | BookingOutcome::HoldExpired { event_id, .. }
            | BookingOutcome::BookingConfirmed { event_id, .. }
            | BookingOutcome::BookingRejected { event_id, .. }
            | BookingOutcome::BookingCancelled { event_id, .. }
            | BookingOutcome::SeatsReleased { event_id, .. }
            | BookingOutcome::SeatsReleasedToWaitlist { event_id, .. }
            | BookingOutcome::CommandFailed { event_id, .. }
            | BookingOutcome::EventSalesClosed { event_id } => *event_id,
        }
    }

    /// The request this outcome answers, if any.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            BookingOutcome::HoldPlaced { request_id, .. }
            | BookingOutcome::HoldRejected { request_id, .. }
            | BookingOutcome::HoldReleased { request_id, .. }
            | BookingOutcome::BookingConfirmed { request_id, .. }
            | BookingOutcome::BookingRejected { request_id, .. }
            | BookingOutcome::CommandFailed { request_id, .. } => Some(*request_id),
            BookingOutcome::BookingCancelled { request_id, .. } => *request_id,
            _ => None,
        }
    }
}

impl MessageType for BookingOutcome {
    fn message_type(&self) -> &'static str {
        match self {
            BookingOutcome::HoldPlaced { .. } => "HoldPlaced",
            BookingOutcome::HoldRejected { .. } => "HoldRejected",
            BookingOutcome::HoldReleased { .. } => "HoldReleased",
            BookingOutcome::HoldExpired { .. } => "HoldExpired",
            BookingOutcome::BookingConfirmed { .. } => "BookingConfirmed",
            BookingOutcome::BookingRejected { .. } => "BookingRejected",
            BookingOutcome::BookingCancelled { .. } => "BookingCancelled",
            BookingOutcome::SeatsReleased { .. } => "SeatsReleased",
            BookingOutcome::SeatsReleasedToWaitlist { .. } => "SeatsReleasedToWaitlist",
            BookingOutcome::CommandFailed { .. } => "CommandFailed",
            BookingOutcome::EventSalesClosed { .. } => "EventSalesClosed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_outcomes_round_trip_with_flattened_selections(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let cmd = BookingCommand::OfferHold {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            user_id: UserId::new(),
            waitlist_entry_id: WaitlistEntryId::new(),
            seats: SeatSelection {
                section_id: SectionId::new(),
                seat_ids: vec![SeatId::parse("A-1")?],
                quantity: 1,
            },
            ttl_secs: 900,
        };
        let json = serde_json::to_value(&cmd)?;
        assert_eq!(json["type"], "OfferHold");
        assert_eq!(json["seat_ids"][0], "A-1");
        assert_eq!(serde_json::from_value::<BookingCommand>(json)?, cmd);

        let out = BookingOutcome::SeatsReleasedToWaitlist {
            event_id: EventId::new(),
            seats: SeatSelection {
                section_id: SectionId::new(),
                seat_ids: vec![],
                quantity: 3,
            },
            price: 2500,
            currency: Currency::parse("USD")?,
        };
        let json = serde_json::to_value(&out)?;
        assert_eq!(json["quantity"], 3);
        assert_eq!(serde_json::from_value::<BookingOutcome>(json)?, out);

        let rej = BookingOutcome::HoldRejected {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            reason: RejectReason::SeatsUnavailable,
            detail: "taken".into(),
            unavailable_seats: vec![SeatId::parse("B-2")?],
            waitlist_entry_id: None,
        };
        let json = serde_json::to_value(&rej)?;
        assert_eq!(json["reason"], RejectReason::SeatsUnavailable.as_str());
        assert_eq!(serde_json::from_value::<BookingOutcome>(json)?, rej);
        Ok(())
    }
}
