//! What a decision produces: the changes to persist and the outcomes to
//! publish, and the ways a command is turned down.

use super::model::{Booking, Hold, SeatStatus};
use super::status::HoldStatus;
use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingOutcome, RejectReason};
use common_types::messages::lifecycle::EventSnapshot;
use common_types::{
    BookingId, EventId, HoldId, Money, RequestId, SeatId, SectionId, UserId, WaitlistEntryId,
};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    pub changes: Vec<Change>,
    pub outcomes: Vec<BookingOutcome>,
}

/// A change to persist, in the order decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    EventCreated(Box<EventSnapshot>),
    EventCancelled {
        event_id: EventId,
    },
    EventRescheduled {
        event_id: EventId,
        starts_at: DateTime<Utc>,
    },
    WaitlistFlag {
        event_id: EventId,
        active: bool,
    },
    HoldCreated {
        event_id: EventId,
        hold: Hold,
        at: DateTime<Utc>,
    },
    HoldEnded {
        hold_id: HoldId,
        end: HoldEnd,
        at: DateTime<Utc>,
    },
    BookingCreated {
        event_id: EventId,
        booking: Booking,
        at: DateTime<Utc>,
    },
    BookingCancelled {
        booking_id: BookingId,
        refund: Money,
        by: Option<UserId>,
        at: DateTime<Utc>,
    },
    SeatStatus {
        event_id: EventId,
        seat_id: SeatId,
        status: SeatStatus,
    },
    /// General admission counters move by these amounts.
    GaDelta {
        event_id: EventId,
        section_id: SectionId,
        available: i64,
        parked: i64,
    },
    PaymentCaptured {
        payment_id: String,
    },
    PaymentRefundDue {
        payment_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEnd {
    Released,
    Expired,
    Confirmed(BookingId),
    /// The event was cancelled.
    Cancelled,
}

impl HoldEnd {
    pub fn status(&self) -> HoldStatus {
        match self {
            HoldEnd::Released => HoldStatus::Released,
            HoldEnd::Expired => HoldStatus::Expired,
            HoldEnd::Confirmed(_) => HoldStatus::Confirmed,
            HoldEnd::Cancelled => HoldStatus::Cancelled,
        }
    }

    pub fn booking_id(&self) -> Option<BookingId> {
        match self {
            HoldEnd::Confirmed(b) => Some(*b),
            _ => None,
        }
    }
}

/// Why a command is turned down, as the client will read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: RejectReason,
    pub detail: String,
    /// For a hold: the named seats that are the problem.
    pub seats: Vec<SeatId>,
}

impl Refusal {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            seats: Vec::new(),
        }
    }

    pub fn naming(mut self, seats: Vec<SeatId>) -> Self {
        self.seats = seats;
        self
    }

    /// A total that does not fit the money type is a selection nobody can pay.
    pub fn too_expensive() -> Self {
        Self::new(
            RejectReason::InvalidSelection,
            "the total price is too large",
        )
    }
}

/// The command a hold (or its refusal) answers.
#[derive(Debug, Clone, Copy)]
pub struct HoldRequest {
    pub request_id: RequestId,
    pub user_id: UserId,
    pub ttl_secs: u32,
    /// Set when the waitlist offers the hold, so it learns how the offer went.
    pub waitlist_entry_id: Option<WaitlistEntryId>,
}

impl Decision {
    pub(super) fn change(&mut self, change: Change) {
        self.changes.push(change);
    }

    pub(super) fn tell(&mut self, outcome: BookingOutcome) {
        self.outcomes.push(outcome);
    }

    pub(super) fn reject_hold(&mut self, event_id: EventId, req: &HoldRequest, refusal: Refusal) {
        self.tell(BookingOutcome::HoldRejected {
            request_id: req.request_id,
            event_id,
            reason: refusal.reason,
            detail: refusal.detail,
            unavailable_seats: refusal.seats,
            waitlist_entry_id: req.waitlist_entry_id,
        });
    }

    /// A confirmation turned down: the payment authorized for it is given back.
    pub(super) fn reject_booking(
        &mut self,
        event_id: EventId,
        req: &ConfirmRequest,
        refusal: Refusal,
    ) {
        self.change(Change::PaymentRefundDue {
            payment_id: req.payment_id.clone(),
        });
        self.tell(BookingOutcome::BookingRejected {
            request_id: req.request_id,
            event_id,
            hold_id: req.hold_id,
            reason: refusal.reason,
            detail: refusal.detail,
        });
    }

    pub(super) fn fail(&mut self, request_id: RequestId, event_id: EventId, refusal: Refusal) {
        self.tell(BookingOutcome::CommandFailed {
            request_id,
            event_id,
            reason: refusal.reason,
            detail: refusal.detail,
        });
    }
}

/// A paid hold to turn into a booking.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub request_id: RequestId,
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub payment_id: String,
    pub paid: Money,
}
