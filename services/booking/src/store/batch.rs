//! One partition's batch of decisions, folded into the rows a commit writes.
//! Pure: no I/O, so the folding rules are unit-tested on their own.
//!
//! A row created and changed within the batch is written once, in its final
//! state: a hold placed and confirmed in one batch is inserted as confirmed.

use crate::domain::{
    Booking, Change, Decision, EventStatus, Hold, HoldEnd, HoldStatus, PaymentStatus, SeatStatus,
};
use chrono::{DateTime, Utc};
use common_types::messages::booking::BookingOutcome;
use common_types::messages::lifecycle::EventSnapshot;
use common_types::{
    BookingId, Envelope, EventId, HoldId, MessageType, Money, RequestId, SeatId, SectionId, UserId,
};
use std::collections::HashMap;
use uuid::Uuid;

/// A hold first written by this batch.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHold {
    pub event_id: EventId,
    pub hold: Hold,
    pub status: HoldStatus,
    pub created_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub booking_id: Option<BookingId>,
}

/// A hold written by an earlier batch that this one ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndedHold {
    pub hold_id: HoldId,
    pub end: HoldEnd,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cancellation {
    pub refund: Money,
    pub by: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A booking first written by this batch (perhaps already cancelled).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBooking {
    pub event_id: EventId,
    pub booking: Booking,
    pub created_at: DateTime<Utc>,
    pub cancellation: Option<Cancellation>,
}

/// A booking written by an earlier batch that this one cancels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CancelledBooking {
    pub booking_id: BookingId,
    pub cancellation: Cancellation,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeatKey {
    pub event_id: EventId,
    pub seat_id: SeatId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionKey {
    pub event_id: EventId,
    pub section_id: SectionId,
}

/// How far a general-admission section's counters move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterMove {
    pub available: i64,
    pub parked: i64,
}

/// Which hold (and booking) a seat is claimed by; the database's unique
/// index on live claims is the last guard against selling a seat twice.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatClaim {
    pub event_id: EventId,
    pub seat_id: SeatId,
    pub hold_id: HoldId,
    pub booking_id: Option<BookingId>,
    pub live: bool,
}

/// What becomes of the seat claims of a hold an earlier batch wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClaimUpdate {
    pub hold_id: HoldId,
    pub booking_id: Option<BookingId>,
    pub live: bool,
}

/// The answer a polling client reads back for its request.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResult {
    pub request_id: RequestId,
    pub event_id: EventId,
    pub user_id: Option<UserId>,
    pub outcome: serde_json::Value,
}

/// An outcome to publish once committed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub key: String,
    pub message_type: &'static str,
    pub payload: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct BatchWrite {
    pub events: Vec<EventSnapshot>,
    pub event_status: HashMap<EventId, EventStatus>,
    pub rescheduled: HashMap<EventId, DateTime<Utc>>,
    pub waitlist: HashMap<EventId, bool>,
    pub new_holds: Vec<NewHold>,
    new_hold_ix: HashMap<HoldId, usize>,
    pub ended_holds: Vec<EndedHold>,
    pub new_bookings: Vec<NewBooking>,
    new_booking_ix: HashMap<BookingId, usize>,
    pub cancelled_bookings: Vec<CancelledBooking>,
    pub seat_status: HashMap<SeatKey, SeatStatus>,
    pub counters: HashMap<SectionKey, CounterMove>,
    pub payments: HashMap<String, PaymentStatus>,
    pub results: Vec<CommandResult>,
    pub outbox: Vec<OutboxMessage>,
    /// Outcomes a client may be waiting for (those with a request id).
    answers: Vec<BookingOutcome>,
    pub commands: usize,
}

impl BatchWrite {
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// The outcomes waiting clients asked for, to hand over once committed.
    pub fn take_answers(&mut self) -> Vec<BookingOutcome> {
        std::mem::take(&mut self.answers)
    }

    /// Fold one command's decision in. `actor` is who sent the command (for polling).
    pub fn record(
        &mut self,
        command_id: Uuid,
        actor: Option<UserId>,
        decision: Decision,
    ) -> Result<(), serde_json::Error> {
        self.commands += 1;
        for change in decision.changes {
            self.change(change);
        }
        for (i, outcome) in decision.outcomes.into_iter().enumerate() {
            self.outcome(outcome_id(command_id, i), actor, outcome)?;
        }
        Ok(())
    }

    fn outcome(
        &mut self,
        id: Uuid,
        actor: Option<UserId>,
        outcome: BookingOutcome,
    ) -> Result<(), serde_json::Error> {
        let message_type = outcome.message_type();
        let key = outcome.event_id().to_string();
        if let Some(request_id) = outcome.request_id() {
            self.results.push(CommandResult {
                request_id,
                event_id: outcome.event_id(),
                user_id: actor,
                outcome: serde_json::to_value(&outcome)?,
            });
            self.answers.push(outcome.clone());
        }
        self.outbox.push(OutboxMessage {
            key,
            message_type,
            payload: serde_json::to_value(Envelope::with_id(id, outcome))?,
        });
        Ok(())
    }

    fn change(&mut self, change: Change) {
        match change {
            Change::EventCreated(snapshot) => self.events.push(*snapshot),
            Change::EventCancelled { event_id } => {
                self.event_status.insert(event_id, EventStatus::Cancelled);
            }
            Change::EventRescheduled {
                event_id,
                starts_at,
            } => {
                self.rescheduled.insert(event_id, starts_at);
            }
            Change::WaitlistFlag { event_id, active } => {
                self.waitlist.insert(event_id, active);
            }
            Change::HoldCreated { event_id, hold, at } => self.hold_created(event_id, hold, at),
            Change::HoldEnded { hold_id, end, at } => {
                self.hold_ended(EndedHold { hold_id, end, at })
            }
            Change::BookingCreated {
                event_id,
                booking,
                at,
            } => self.booking_created(event_id, booking, at),
            Change::BookingCancelled {
                booking_id,
                refund,
                by,
                at,
            } => self.booking_cancelled(booking_id, Cancellation { refund, by, at }),
            Change::SeatStatus {
                event_id,
                seat_id,
                status,
            } => {
                self.seat_status
                    .insert(SeatKey { event_id, seat_id }, status);
            }
            Change::GaDelta {
                event_id,
                section_id,
                available,
                parked,
            } => {
                let moved = self
                    .counters
                    .entry(SectionKey {
                        event_id,
                        section_id,
                    })
                    .or_default();
                moved.available += available;
                moved.parked += parked;
            }
            Change::PaymentCaptured { payment_id } => {
                self.payments.insert(payment_id, PaymentStatus::Captured);
            }
            Change::PaymentRefundDue { payment_id } => {
                self.payments.insert(payment_id, PaymentStatus::RefundDue);
            }
        }
    }

    fn hold_created(&mut self, event_id: EventId, hold: Hold, at: DateTime<Utc>) {
        self.new_hold_ix.insert(hold.id, self.new_holds.len());
        self.new_holds.push(NewHold {
            event_id,
            hold,
            status: HoldStatus::Active,
            created_at: at,
            ended_at: None,
            booking_id: None,
        });
    }

    fn hold_ended(&mut self, ended: EndedHold) {
        let Some(&ix) = self.new_hold_ix.get(&ended.hold_id) else {
            return self.ended_holds.push(ended);
        };
        let hold = &mut self.new_holds[ix];
        hold.status = ended.end.status();
        hold.ended_at = Some(ended.at);
        hold.booking_id = ended.end.booking_id();
    }

    fn booking_created(&mut self, event_id: EventId, booking: Booking, at: DateTime<Utc>) {
        self.new_booking_ix
            .insert(booking.id, self.new_bookings.len());
        self.new_bookings.push(NewBooking {
            event_id,
            booking,
            created_at: at,
            cancellation: None,
        });
    }

    fn booking_cancelled(&mut self, booking_id: BookingId, cancellation: Cancellation) {
        match self.new_booking_ix.get(&booking_id) {
            Some(&ix) => self.new_bookings[ix].cancellation = Some(cancellation),
            None => self.cancelled_bookings.push(CancelledBooking {
                booking_id,
                cancellation,
            }),
        }
    }

    fn booking_cancelled_in_batch(&self, id: BookingId) -> bool {
        self.new_booking_ix
            .get(&id)
            .is_some_and(|&ix| self.new_bookings[ix].cancellation.is_some())
    }

    /// A claim stays live while its hold is active or its booking stands.
    fn claim_live(&self, status: HoldStatus, booking_id: Option<BookingId>) -> bool {
        match status {
            HoldStatus::Active => true,
            HoldStatus::Confirmed => {
                booking_id.is_some_and(|b| !self.booking_cancelled_in_batch(b))
            }
            _ => false,
        }
    }

    /// Seat claims of the holds this batch creates, in their final state.
    pub fn seat_claims(&self) -> Vec<SeatClaim> {
        self.new_holds
            .iter()
            .flat_map(|h| {
                let live = self.claim_live(h.status, h.booking_id);
                h.hold.seats.iter().map(move |seat| SeatClaim {
                    event_id: h.event_id,
                    seat_id: seat.clone(),
                    hold_id: h.hold.id,
                    booking_id: h.booking_id,
                    live,
                })
            })
            .collect()
    }

    /// What the claims of the holds ended here become.
    pub fn claim_updates(&self) -> Vec<ClaimUpdate> {
        self.ended_holds
            .iter()
            .map(|h| ClaimUpdate {
                hold_id: h.hold_id,
                booking_id: h.end.booking_id(),
                live: self.claim_live(h.end.status(), h.end.booking_id()),
            })
            .collect()
    }

    /// Counter moves that change something.
    pub fn counter_moves(&self) -> Vec<(SectionKey, CounterMove)> {
        self.counters
            .iter()
            .filter(|(_, m)| **m != CounterMove::default())
            .map(|(k, m)| (*k, *m))
            .collect()
    }
}

/// A stable id for the `index`-th outcome of a command (a name-based UUID),
/// so a re-published outbox row or a replayed command carries the same
/// message id.
fn outcome_id(command_id: Uuid, index: usize) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(command_id.as_bytes());
    hasher.update(index.to_le_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests;
