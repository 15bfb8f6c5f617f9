//! The booking decisions: plain code, no I/O.
//!
//! [`Inventory`] holds the seat state of the events a processor instance owns.
//! [`Inventory::apply`] decides one command against it, mutates it, and says
//! what changed ([`Change`], persisted by the store in the batch transaction)
//! and what to tell the world ([`BookingOutcome`], published after commit).
//!
//! Everything a decision depends on comes from the command and its envelope
//! time, so replaying the same commands from the same state gives the same
//! result: that is what makes crash recovery and rebalancing exact.
//!
//! [`model`] holds the types; each command is a method on [`EventState`] in
//! the module named for what it does ([`hold`], [`booking`], [`waitlist`],
//! [`lifecycle`]); [`state`] is the bookkeeping they share.

pub mod booking;
pub mod decision;
pub mod hold;
pub mod lifecycle;
pub mod model;
pub mod reference;
pub mod state;
pub mod status;
pub mod waitlist;

pub use booking::CancelRequest;
pub use decision::{Change, ConfirmRequest, Decision, HoldEnd, HoldRequest, Refusal};
pub use model::{
    Booking, EventState, Hold, Inventory, Seat, SeatStatus, Section, SectionKind, MAX_PER_REQUEST,
};
pub use status::{
    BookingStatus, EventStatus, HoldStatus, PaymentStatus, SeatState, SectionType, UnknownStatus,
};

use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingCommand, RejectReason};
use common_types::Money;
use std::collections::HashMap;

impl Inventory {
    pub fn new(default_hold_ttl_secs: u32) -> Self {
        Self {
            events: HashMap::new(),
            default_hold_ttl_secs,
        }
    }

    /// References are unique across every event, but each event only knows
    /// its own: mark `taken` (found in use elsewhere) so no booking here is
    /// given one of them.
    pub fn references_taken_elsewhere(&mut self, taken: &[String]) {
        for event in self.events.values_mut() {
            event.references.extend(taken.iter().cloned());
        }
    }

    /// Decide `command`, sent at `now` (its envelope time).
    pub fn apply(&mut self, command: BookingCommand, now: DateTime<Utc>) -> Decision {
        let mut out = Decision::default();
        if let BookingCommand::CreateInventory { event } = command {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                self.events.entry(event.event_id)
            {
                slot.insert(EventState::from_snapshot(&event));
                out.change(Change::EventCreated(Box::new(event)));
            }
            return out;
        }
        let default_ttl = self.default_hold_ttl_secs;
        let Some(ev) = self.events.get_mut(&command.event_id()) else {
            unknown_event(command, default_ttl, &mut out);
            return out;
        };
        // Holds due by the time of this command are gone before it is decided,
        // so expiry never depends on when the timer happened to fire.
        ev.expire_due(now, &mut out);
        ev.decide(command, default_ttl, now, &mut out);
        out
    }
}

impl EventState {
    fn decide(
        &mut self,
        command: BookingCommand,
        default_ttl: u32,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        match command {
            BookingCommand::CreateInventory { .. } => {}
            BookingCommand::ExpireHolds { now: at, .. } => self.expire_due(at, out),
            BookingCommand::HoldSeats { .. }
            | BookingCommand::HoldQuantity { .. }
            | BookingCommand::OfferHold { .. } => self.decide_hold(command, default_ttl, now, out),
            BookingCommand::ReleaseHold {
                request_id,
                hold_id,
                user_id,
                ..
            } => self.release_hold(request_id, hold_id, user_id, now, out),
            BookingCommand::ConfirmHold { .. } => {
                if let Some(req) = confirm_request(command) {
                    self.confirm(req, now, out);
                }
            }
            BookingCommand::CancelBooking {
                request_id,
                booking_id,
                actor_id,
                actor_role,
                ..
            } => {
                let req = CancelRequest {
                    request_id,
                    booking_id,
                    actor_id,
                    actor_role,
                };
                self.cancel_booking(&req, now, out)
            }
            BookingCommand::CancelEvent { .. } => self.cancel_event(now, out),
            BookingCommand::RescheduleEvent { starts_at, .. } => self.reschedule(starts_at, out),
            BookingCommand::WaitlistActivated { .. } => self.set_waitlist(true, out),
            BookingCommand::WaitlistDeactivated { .. } => self.set_waitlist(false, out),
            BookingCommand::ReturnToSale {
                request_id, seats, ..
            } => self.return_to_sale(request_id, seats, out),
        }
    }
}

impl EventState {
    fn decide_hold(
        &mut self,
        command: BookingCommand,
        default_ttl: u32,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        let Some(req) = hold_request(&command, default_ttl) else {
            return;
        };
        match command {
            BookingCommand::HoldSeats { seat_ids, .. } => self.hold_seats(&req, seat_ids, now, out),
            BookingCommand::HoldQuantity {
                section_id,
                quantity,
                ..
            } => self.hold_quantity(&req, section_id, quantity, now, out),
            BookingCommand::OfferHold { seats, .. } => self.offer_hold(&req, seats, now, out),
            _ => {}
        }
    }
}

/// The hold a hold-making command asks for; `None` for other commands.
fn hold_request(command: &BookingCommand, default_ttl: u32) -> Option<HoldRequest> {
    match *command {
        BookingCommand::HoldSeats {
            request_id,
            user_id,
            hold_ttl_secs,
            ..
        }
        | BookingCommand::HoldQuantity {
            request_id,
            user_id,
            hold_ttl_secs,
            ..
        } => Some(HoldRequest {
            request_id,
            user_id,
            ttl_secs: hold_ttl_secs.unwrap_or(default_ttl),
            waitlist_entry_id: None,
        }),
        BookingCommand::OfferHold {
            request_id,
            user_id,
            waitlist_entry_id,
            ttl_secs,
            ..
        } => Some(HoldRequest {
            request_id,
            user_id,
            ttl_secs,
            waitlist_entry_id: Some(waitlist_entry_id),
        }),
        _ => None,
    }
}

fn confirm_request(command: BookingCommand) -> Option<ConfirmRequest> {
    match command {
        BookingCommand::ConfirmHold {
            request_id,
            hold_id,
            user_id,
            payment_id,
            amount,
            currency,
            ..
        } => Some(ConfirmRequest {
            request_id,
            hold_id,
            user_id,
            payment_id,
            paid: Money { amount, currency },
        }),
        _ => None,
    }
}

fn unknown_event(command: BookingCommand, default_ttl: u32, out: &mut Decision) {
    let event_id = command.event_id();
    let detail = format!("no event {event_id} is on sale here");
    if let Some(req) = hold_request(&command, default_ttl) {
        return out.reject_hold(
            event_id,
            &req,
            Refusal::new(RejectReason::UnknownEvent, detail),
        );
    }
    match command {
        BookingCommand::ConfirmHold { .. } => {
            if let Some(req) = confirm_request(command) {
                out.reject_booking(
                    event_id,
                    &req,
                    Refusal::new(RejectReason::UnknownHold, detail),
                );
            }
        }
        BookingCommand::ReleaseHold { request_id, .. }
        | BookingCommand::CancelBooking { request_id, .. }
        | BookingCommand::ReturnToSale { request_id, .. } => out.fail(
            request_id,
            event_id,
            Refusal::new(RejectReason::UnknownEvent, detail),
        ),
        // Timers and lifecycle messages for events we do not know: nothing to do.
        _ => {}
    }
}

#[cfg(test)]
mod tests;
