//! Holding seats or general-admission places, and letting a hold go.

use super::decision::{Change, Decision, HoldEnd, HoldRequest, Refusal};
use super::model::{EventState, Hold, SeatStatus, Section, SectionKind, MAX_PER_REQUEST};
use super::state::count;
use chrono::{DateTime, Duration, Utc};
use common_types::messages::booking::{BookingOutcome, RejectReason};
use common_types::{HoldId, Money, RequestId, SeatId, SectionId, UserId};
use std::collections::HashSet;

impl HoldRequest {
    /// The hold this request makes. The request id is unique per command, so
    /// it doubles as the hold id and a replayed command yields the same hold.
    pub(super) fn hold(
        &self,
        seats: Vec<SeatId>,
        section_id: Option<SectionId>,
        quantity: u32,
        total: Money,
        now: DateTime<Utc>,
    ) -> Hold {
        Hold {
            id: HoldId(self.request_id.0),
            user_id: self.user_id,
            seats,
            section_id,
            quantity,
            total,
            expires_at: now + Duration::seconds(i64::from(self.ttl_secs)),
            waitlist_entry_id: self.waitlist_entry_id,
        }
    }
}

impl EventState {
    pub(super) fn hold_seats(
        &mut self,
        req: &HoldRequest,
        seat_ids: Vec<SeatId>,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        match self.seats_to_hold(req, seat_ids, now) {
            Ok(hold) => self.place_hold(req.request_id, hold, now, out),
            Err(refusal) => out.reject_hold(self.id, req, refusal),
        }
    }

    fn seats_to_hold(
        &self,
        req: &HoldRequest,
        seat_ids: Vec<SeatId>,
        now: DateTime<Utc>,
    ) -> Result<Hold, Refusal> {
        self.on_sale(now)?;
        let mut seen = HashSet::new();
        if seat_ids.is_empty() || !seat_ids.iter().all(|s| seen.insert(s.clone())) {
            return Err(Refusal::new(
                RejectReason::InvalidSelection,
                "name at least one seat, each once",
            ));
        }
        let unknown = pick(&seat_ids, |s| !self.seats.contains_key(s));
        if !unknown.is_empty() {
            let detail = format!("this event has no seat {}", names(&unknown));
            return Err(Refusal::new(RejectReason::UnknownSeat, detail).naming(unknown));
        }
        let quantity = count(&seat_ids);
        self.within_limit(req.user_id, quantity)?;
        let taken = pick(&seat_ids, |s| {
            self.seats
                .get(s)
                .is_some_and(|seat| seat.status != SeatStatus::Available)
        });
        if !taken.is_empty() {
            let detail = format!("already taken: {}", names(&taken));
            return Err(Refusal::new(RejectReason::SeatsUnavailable, detail).naming(taken));
        }
        let total = self
            .price_of(&seat_ids)
            .ok_or_else(Refusal::too_expensive)?;
        Ok(req.hold(seat_ids, None, quantity, total, now))
    }

    /// The sum of the seats' prices; `None` when it overflows.
    fn price_of(&self, seat_ids: &[SeatId]) -> Option<Money> {
        seat_ids
            .iter()
            .filter_map(|s| self.seats.get(s))
            .filter_map(|seat| self.sections.get(&seat.section_id))
            .try_fold(Money::zero(self.currency), |sum, section| {
                sum.checked_add(section.price).ok()
            })
    }

    pub(super) fn hold_quantity(
        &mut self,
        req: &HoldRequest,
        section_id: SectionId,
        quantity: u32,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        let hold = match self.places_to_hold(req, section_id, quantity, now) {
            Ok(hold) => hold,
            Err(refusal) => return out.reject_hold(self.id, req, refusal),
        };
        if let Some(Section {
            kind: SectionKind::General { available, .. },
            ..
        }) = self.sections.get_mut(&section_id)
        {
            *available -= quantity;
        }
        out.change(Change::GaDelta {
            event_id: self.id,
            section_id,
            available: -i64::from(quantity),
            parked: 0,
        });
        self.place_hold(req.request_id, hold, now, out);
    }

    fn places_to_hold(
        &self,
        req: &HoldRequest,
        section_id: SectionId,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> Result<Hold, Refusal> {
        self.on_sale(now)?;
        if quantity == 0 || quantity > MAX_PER_REQUEST {
            return Err(Refusal::new(
                RejectReason::InvalidSelection,
                format!("quantity must be between 1 and {MAX_PER_REQUEST}"),
            ));
        }
        let (price, left) = match self.sections.get(&section_id) {
            None => {
                return Err(Refusal::new(
                    RejectReason::UnknownSection,
                    format!("this event has no section {section_id}"),
                ))
            }
            Some(Section {
                kind: SectionKind::Reserved,
                ..
            }) => {
                return Err(Refusal::new(
                    RejectReason::InvalidSelection,
                    "this section has reserved seating: hold seats by id",
                ))
            }
            Some(Section {
                price,
                kind: SectionKind::General { available, .. },
                ..
            }) => (*price, *available),
        };
        self.within_limit(req.user_id, quantity)?;
        if left < quantity {
            return Err(Refusal::new(
                RejectReason::SoldOut,
                format!("only {left} places left in this section"),
            ));
        }
        let total = price
            .times(quantity)
            .map_err(|_| Refusal::too_expensive())?;
        Ok(req.hold(Vec::new(), Some(section_id), quantity, total, now))
    }

    pub(super) fn release_hold(
        &mut self,
        request_id: RequestId,
        hold_id: HoldId,
        user_id: UserId,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        match self.holds.get(&hold_id) {
            None => {
                return out.fail(
                    request_id,
                    self.id,
                    Refusal::new(
                        RejectReason::HoldExpired,
                        "the hold has expired or was already released or confirmed",
                    ),
                )
            }
            Some(h) if h.user_id != user_id => {
                return out.fail(
                    request_id,
                    self.id,
                    Refusal::new(
                        RejectReason::NotHoldOwner,
                        "the hold belongs to someone else",
                    ),
                )
            }
            Some(_) => {}
        }
        let Some(hold) = self.take_hold(hold_id) else {
            return;
        };
        out.change(Change::HoldEnded {
            hold_id,
            end: HoldEnd::Released,
            at: now,
        });
        out.tell(BookingOutcome::HoldReleased {
            request_id,
            hold_id,
            event_id: self.id,
            user_id,
            waitlist_entry_id: hold.waitlist_entry_id,
        });
        self.free(&hold.seats, hold.section_id, hold.quantity, out);
    }
}

fn pick(seat_ids: &[SeatId], keep: impl Fn(&SeatId) -> bool) -> Vec<SeatId> {
    seat_ids.iter().filter(|s| keep(s)).cloned().collect()
}

fn names(seats: &[SeatId]) -> String {
    seats
        .iter()
        .map(SeatId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
