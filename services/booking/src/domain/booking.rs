//! Turning a paid hold into a booking, and cancelling bookings.

use super::decision::{Change, ConfirmRequest, Decision, HoldEnd, Refusal};
use super::model::{Booking, EventState, Hold, SeatStatus};
use super::reference;
use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingOutcome, RejectReason};
use common_types::{BookingId, RequestId, Role, UserId};

/// Who asks to cancel a booking.
#[derive(Debug, Clone, Copy)]
pub struct CancelRequest {
    pub request_id: RequestId,
    pub booking_id: BookingId,
    pub actor_id: UserId,
    pub actor_role: Role,
}

impl EventState {
    pub(super) fn confirm(&mut self, req: ConfirmRequest, now: DateTime<Utc>, out: &mut Decision) {
        if let Err(refusal) = self.confirmable(&req) {
            return out.reject_booking(self.id, &req, refusal);
        }
        let Some(hold) = self.take_hold(req.hold_id) else {
            return;
        };
        let booking = self.book(&req, &hold);
        out.change(Change::HoldEnded {
            hold_id: hold.id,
            end: HoldEnd::Confirmed(booking.id),
            at: now,
        });
        out.change(Change::BookingCreated {
            event_id: self.id,
            booking: booking.clone(),
            at: now,
        });
        for seat in &hold.seats {
            out.change(Change::SeatStatus {
                event_id: self.id,
                seat_id: seat.clone(),
                status: SeatStatus::Booked(booking.id),
            });
        }
        out.change(Change::PaymentCaptured {
            payment_id: req.payment_id.clone(),
        });
        out.tell(BookingOutcome::BookingConfirmed {
            request_id: req.request_id,
            booking_id: booking.id,
            reference: booking.reference.clone(),
            hold_id: hold.id,
            event_id: self.id,
            user_id: req.user_id,
            seats: hold.seats,
            section_id: hold.section_id,
            quantity: hold.quantity,
            total_price: hold.total.amount,
            currency: self.currency,
            payment_id: req.payment_id,
            waitlist_entry_id: hold.waitlist_entry_id,
        });
        self.insert_booking(booking);
    }

    fn confirmable(&self, req: &ConfirmRequest) -> Result<(), Refusal> {
        let Some(hold) = self.holds.get(&req.hold_id) else {
            let detail = if self.cancelled {
                "the event was cancelled"
            } else {
                "the hold has expired or was released or already confirmed"
            };
            return Err(Refusal::new(RejectReason::HoldExpired, detail));
        };
        if hold.user_id != req.user_id {
            return Err(Refusal::new(
                RejectReason::NotHoldOwner,
                "the hold belongs to someone else",
            ));
        }
        if hold.total != req.paid {
            return Err(Refusal::new(
                RejectReason::AmountMismatch,
                "the payment does not match the hold's total",
            ));
        }
        Ok(())
    }

    /// The booking a confirmed hold becomes. The request id is unique per
    /// command, so it doubles as the booking id.
    fn book(&self, req: &ConfirmRequest, hold: &Hold) -> Booking {
        let id = BookingId(req.request_id.0);
        Booking {
            id,
            reference: reference::unique(id, |r| self.references.contains(r)),
            hold_id: hold.id,
            user_id: req.user_id,
            seats: hold.seats.clone(),
            section_id: hold.section_id,
            quantity: hold.quantity,
            total: hold.total,
            payment_id: req.payment_id.clone(),
            cancelled: false,
            waitlist_entry_id: hold.waitlist_entry_id,
        }
    }

    pub(super) fn cancel_booking(
        &mut self,
        req: &CancelRequest,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        match self.cancellable(req, now) {
            Ok(()) => self.cancel_one(
                req.booking_id,
                Some(req.request_id),
                Some(req.actor_id),
                now,
                out,
            ),
            Err(refusal) => out.fail(req.request_id, self.id, refusal),
        }
    }

    fn cancellable(&self, req: &CancelRequest, now: DateTime<Utc>) -> Result<(), Refusal> {
        let Some(booking) = self.bookings.get(&req.booking_id) else {
            return Err(Refusal::new(
                RejectReason::UnknownBooking,
                "no such booking for this event",
            ));
        };
        if booking.cancelled {
            return Err(Refusal::new(
                RejectReason::AlreadyCancelled,
                "the booking is already cancelled",
            ));
        }
        let privileged = req.actor_role == Role::Admin || req.actor_id == self.organizer_id;
        if privileged {
            return Ok(());
        }
        if booking.user_id != req.actor_id {
            return Err(Refusal::new(
                RejectReason::NotHoldOwner,
                "only the booking's owner, the organizer or an admin may cancel it",
            ));
        }
        if now >= self.starts_at {
            return Err(Refusal::new(
                RejectReason::EventStarted,
                "the event has started; ask the organizer",
            ));
        }
        Ok(())
    }

    /// Cancel and refund one booking; `request_id` and `by` are `None` when
    /// the whole event is cancelled.
    pub(super) fn cancel_one(
        &mut self,
        booking_id: BookingId,
        request_id: Option<RequestId>,
        by: Option<UserId>,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        let Some(booking) = self.bookings.get_mut(&booking_id) else {
            return;
        };
        if booking.cancelled {
            return;
        }
        booking.cancelled = true;
        let booking = booking.clone();
        if let Some(n) = self.per_user.get_mut(&booking.user_id) {
            *n = n.saturating_sub(booking.quantity);
        }
        out.change(Change::BookingCancelled {
            booking_id,
            refund: booking.total,
            by,
            at: now,
        });
        out.change(Change::PaymentRefundDue {
            payment_id: booking.payment_id.clone(),
        });
        out.tell(BookingOutcome::BookingCancelled {
            request_id,
            booking_id,
            reference: booking.reference.clone(),
            event_id: self.id,
            user_id: booking.user_id,
            refund_amount: booking.total.amount,
            currency: self.currency,
        });
        self.free(&booking.seats, booking.section_id, booking.quantity, out);
    }
}
