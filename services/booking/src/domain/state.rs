//! The bookkeeping every command shares: loading an event, registering and
//! ending holds and bookings, giving seats back, checking sale rules.

use super::decision::{Change, Decision, HoldEnd, Refusal};
use super::model::{
    Booking, EventState, Hold, Seat, SeatStatus, Section, SectionKind, MAX_PER_REQUEST,
};
use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingOutcome, RejectReason, SeatSelection};
use common_types::messages::lifecycle::{EventSnapshot, SectionLayout};
use common_types::{HoldId, Money, RequestId, SeatId, SectionId, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};

impl EventState {
    pub fn from_snapshot(snapshot: &EventSnapshot) -> Self {
        let mut state = Self::new(snapshot);
        for section in &snapshot.sections {
            let kind = match &section.layout {
                SectionLayout::Reserved { seats } => {
                    for seat in seats {
                        state.seats.insert(
                            seat.id.clone(),
                            Seat {
                                section_id: section.id,
                                status: SeatStatus::Available,
                            },
                        );
                    }
                    SectionKind::Reserved
                }
                SectionLayout::General { capacity } => SectionKind::General {
                    capacity: *capacity,
                    available: *capacity,
                    parked: 0,
                },
            };
            state.sections.insert(
                section.id,
                Section {
                    id: section.id,
                    // The event service only publishes validated, non-negative prices.
                    price: Money {
                        amount: section.price,
                        currency: snapshot.currency,
                    },
                    kind,
                },
            );
        }
        state
    }

    /// The event with no sections, seats, holds or bookings yet.
    pub fn new(snapshot: &EventSnapshot) -> Self {
        Self {
            id: snapshot.event_id,
            organizer_id: snapshot.organizer_id,
            starts_at: snapshot.starts_at,
            sales_start: snapshot.sales_start,
            sales_end: snapshot.sales_end,
            currency: snapshot.currency,
            max_per_user: snapshot.max_tickets_per_user,
            cancelled: false,
            waitlist_active: false,
            sections: HashMap::new(),
            seats: HashMap::new(),
            holds: HashMap::new(),
            bookings: HashMap::new(),
            per_user: HashMap::new(),
            expiries: BTreeMap::new(),
            references: HashSet::new(),
        }
    }

    /// Register a live hold (used by decisions and by loading from the store).
    pub fn insert_hold(&mut self, hold: Hold) {
        *self.per_user.entry(hold.user_id).or_default() += hold.quantity;
        self.expiries.insert((hold.expires_at, hold.id), ());
        for seat in &hold.seats {
            if let Some(s) = self.seats.get_mut(seat) {
                s.status = SeatStatus::Held(hold.id);
            }
        }
        self.holds.insert(hold.id, hold);
    }

    /// Register a booking (confirmed or not) loaded from the store.
    pub fn insert_booking(&mut self, booking: Booking) {
        self.references.insert(booking.reference.clone());
        if !booking.cancelled {
            *self.per_user.entry(booking.user_id).or_default() += booking.quantity;
            for seat in &booking.seats {
                if let Some(s) = self.seats.get_mut(seat) {
                    s.status = SeatStatus::Booked(booking.id);
                }
            }
        }
        self.bookings.insert(booking.id, booking);
    }

    pub(super) fn take_hold(&mut self, hold_id: HoldId) -> Option<Hold> {
        let hold = self.holds.remove(&hold_id)?;
        self.expiries.remove(&(hold.expires_at, hold.id));
        if let Some(n) = self.per_user.get_mut(&hold.user_id) {
            *n = n.saturating_sub(hold.quantity);
        }
        Some(hold)
    }

    /// The earliest expiry among live holds.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.expiries.keys().next().map(|(at, _)| *at)
    }

    pub(super) fn on_sale(&self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.cancelled {
            return Err(Refusal::new(
                RejectReason::EventCancelled,
                "the event was cancelled",
            ));
        }
        if self.sales_start.is_some_and(|s| now < s) {
            return Err(Refusal::new(
                RejectReason::NotOnSale,
                "sales have not started yet",
            ));
        }
        if self.sales_end.is_some_and(|e| now >= e) || now >= self.starts_at {
            return Err(Refusal::new(RejectReason::NotOnSale, "sales have ended"));
        }
        Ok(())
    }

    pub(super) fn within_limit(&self, user: UserId, more: u32) -> Result<(), Refusal> {
        let limit = self.max_per_user.unwrap_or(MAX_PER_REQUEST);
        let has = self.per_user.get(&user).copied().unwrap_or(0);
        if has.saturating_add(more) > limit {
            return Err(Refusal::new(
                RejectReason::TicketLimit,
                format!(
                    "at most {limit} tickets per person for this event; you already hold or own {has}"
                ),
            ));
        }
        Ok(())
    }

    /// Record a hold decided by one of the hold commands.
    pub(super) fn place_hold(
        &mut self,
        request_id: RequestId,
        hold: Hold,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        for seat in &hold.seats {
            out.change(Change::SeatStatus {
                event_id: self.id,
                seat_id: seat.clone(),
                status: SeatStatus::Held(hold.id),
            });
        }
        out.tell(BookingOutcome::HoldPlaced {
            request_id,
            hold_id: hold.id,
            event_id: self.id,
            user_id: hold.user_id,
            seats: hold.seats.clone(),
            section_id: hold.section_id,
            quantity: hold.quantity,
            total_price: hold.total.amount,
            currency: hold.total.currency,
            expires_at: hold.expires_at,
            waitlist_entry_id: hold.waitlist_entry_id,
        });
        out.change(Change::HoldCreated {
            event_id: self.id,
            hold: hold.clone(),
            at: now,
        });
        self.insert_hold(hold);
    }

    /// Expire every live hold due at or before `now`.
    pub(super) fn expire_due(&mut self, now: DateTime<Utc>, out: &mut Decision) {
        let due: Vec<HoldId> = self
            .expiries
            .keys()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        for hold_id in due {
            if let Some(hold) = self.take_hold(hold_id) {
                out.change(Change::HoldEnded {
                    hold_id,
                    end: HoldEnd::Expired,
                    at: now,
                });
                out.tell(BookingOutcome::HoldExpired {
                    hold_id,
                    event_id: self.id,
                    user_id: hold.user_id,
                    waitlist_entry_id: hold.waitlist_entry_id,
                });
                self.free(&hold.seats, hold.section_id, hold.quantity, out);
            }
        }
    }

    /// Seats or places a hold or booking gave up: to the waitlist when it is
    /// active (parked), else straight back on sale.
    pub(super) fn free(
        &mut self,
        seats: &[SeatId],
        section_id: Option<SectionId>,
        quantity: u32,
        out: &mut Decision,
    ) {
        let park = self.waitlist_active && !self.cancelled;
        let mut released = self.free_seats(seats, park, out);
        if let Some(section_id) = section_id {
            released.extend(self.free_places(section_id, quantity, park, out));
        }
        if self.cancelled {
            return;
        }
        for seats in released {
            let outcome = if park {
                let price = self
                    .sections
                    .get(&seats.section_id)
                    .map_or(0, |s| s.price.amount);
                BookingOutcome::SeatsReleasedToWaitlist {
                    event_id: self.id,
                    seats,
                    price,
                    currency: self.currency,
                }
            } else {
                BookingOutcome::SeatsReleased {
                    event_id: self.id,
                    seats,
                }
            };
            out.tell(outcome);
        }
    }

    /// Reserved seats, grouped by section (a hold may span sections).
    fn free_seats(
        &mut self,
        seats: &[SeatId],
        park: bool,
        out: &mut Decision,
    ) -> Vec<SeatSelection> {
        let status = if park {
            SeatStatus::Parked
        } else {
            SeatStatus::Available
        };
        let mut by_section: BTreeMap<SectionId, Vec<SeatId>> = BTreeMap::new();
        for seat in seats {
            if let Some(s) = self.seats.get_mut(seat) {
                s.status = status;
                by_section
                    .entry(s.section_id)
                    .or_default()
                    .push(seat.clone());
                out.change(Change::SeatStatus {
                    event_id: self.id,
                    seat_id: seat.clone(),
                    status,
                });
            }
        }
        by_section
            .into_iter()
            .map(|(section_id, seat_ids)| SeatSelection {
                section_id,
                quantity: count(&seat_ids),
                seat_ids,
            })
            .collect()
    }

    /// General-admission places back on the counters.
    fn free_places(
        &mut self,
        section_id: SectionId,
        quantity: u32,
        park: bool,
        out: &mut Decision,
    ) -> Option<SeatSelection> {
        let Some(Section {
            kind: SectionKind::General {
                available, parked, ..
            },
            ..
        }) = self.sections.get_mut(&section_id)
        else {
            return None;
        };
        let moved = i64::from(quantity);
        if park {
            *parked += quantity;
        } else {
            *available += quantity;
        }
        out.change(Change::GaDelta {
            event_id: self.id,
            section_id,
            available: if park { 0 } else { moved },
            parked: if park { moved } else { 0 },
        });
        Some(SeatSelection {
            section_id,
            seat_ids: Vec::new(),
            quantity,
        })
    }
}

/// How many seats a list names; a list is never near `u32::MAX` long.
pub(super) fn count(seats: &[SeatId]) -> u32 {
    u32::try_from(seats.len()).unwrap_or(u32::MAX)
}
