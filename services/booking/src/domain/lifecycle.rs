//! What the event's organizer does to the whole event: cancel it, move it,
//! open or close its waitlist.

use super::decision::{Change, Decision, HoldEnd};
use super::model::EventState;
use chrono::{DateTime, Utc};
use common_types::messages::booking::BookingOutcome;
use common_types::{BookingId, HoldId};

impl EventState {
    /// Ends every hold and refunds every booking, in id order so a replay
    /// decides the same.
    pub(super) fn cancel_event(&mut self, now: DateTime<Utc>, out: &mut Decision) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        out.change(Change::EventCancelled { event_id: self.id });
        let mut holds: Vec<HoldId> = self.holds.keys().copied().collect();
        holds.sort();
        for hold_id in holds {
            if let Some(hold) = self.take_hold(hold_id) {
                out.change(Change::HoldEnded {
                    hold_id,
                    end: HoldEnd::Cancelled,
                    at: now,
                });
                self.free(&hold.seats, hold.section_id, hold.quantity, out);
            }
        }
        let mut bookings: Vec<BookingId> = self
            .bookings
            .values()
            .filter(|b| !b.cancelled)
            .map(|b| b.id)
            .collect();
        bookings.sort();
        for booking_id in bookings {
            self.cancel_one(booking_id, None, None, now, out);
        }
        out.tell(BookingOutcome::EventSalesClosed { event_id: self.id });
    }

    pub(super) fn reschedule(&mut self, starts_at: DateTime<Utc>, out: &mut Decision) {
        self.starts_at = starts_at;
        out.change(Change::EventRescheduled {
            event_id: self.id,
            starts_at,
        });
    }

    pub(super) fn set_waitlist(&mut self, active: bool, out: &mut Decision) {
        if self.waitlist_active != active {
            self.waitlist_active = active;
            out.change(Change::WaitlistFlag {
                event_id: self.id,
                active,
            });
        }
        if !active {
            self.return_all_parked(out);
        }
    }
}
