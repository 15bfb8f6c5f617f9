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

pub mod reference;

use chrono::{DateTime, Duration, Utc};
use common_types::messages::booking::{
    BookingCommand, BookingOutcome, RejectReason, SeatSelection,
};
use common_types::messages::lifecycle::{EventSnapshot, SectionLayout};
use common_types::{
    BookingId, Currency, EventId, HoldId, RequestId, Role, SeatId, SectionId, UserId,
    WaitlistEntryId,
};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held(HoldId),
    Booked(BookingId),
    /// Freed while the waitlist was active: only the waitlist may hand it out.
    Parked,
}

impl SeatStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SeatStatus::Available => "available",
            SeatStatus::Held(_) => "held",
            SeatStatus::Booked(_) => "booked",
            SeatStatus::Parked => "released_to_waitlist",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    Reserved,
    General {
        capacity: u32,
        available: u32,
        parked: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Section {
    pub id: SectionId,
    pub price: i64,
    pub kind: SectionKind,
}

#[derive(Debug, Clone)]
pub struct Seat {
    pub section_id: SectionId,
    pub status: SeatStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub id: HoldId,
    pub user_id: UserId,
    /// Reserved seats (empty for general admission).
    pub seats: Vec<SeatId>,
    /// Set for general admission.
    pub section_id: Option<SectionId>,
    pub quantity: u32,
    pub total: i64,
    pub expires_at: DateTime<Utc>,
    pub waitlist_entry_id: Option<WaitlistEntryId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    pub id: BookingId,
    pub reference: String,
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub seats: Vec<SeatId>,
    pub section_id: Option<SectionId>,
    pub quantity: u32,
    pub total: i64,
    pub payment_id: String,
    pub cancelled: bool,
    pub waitlist_entry_id: Option<WaitlistEntryId>,
}

/// One event's inventory as the processor sees it.
#[derive(Debug, Clone)]
pub struct EventState {
    pub id: EventId,
    pub organizer_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub currency: Currency,
    pub max_per_user: Option<u32>,
    pub cancelled: bool,
    pub waitlist_active: bool,
    pub sections: HashMap<SectionId, Section>,
    pub seats: HashMap<SeatId, Seat>,
    pub holds: HashMap<HoldId, Hold>,
    pub bookings: HashMap<BookingId, Booking>,
    /// Tickets in live holds plus confirmed bookings, per user.
    pub per_user: HashMap<UserId, u32>,
    /// Live holds by expiry, so expiring is cheap.
    pub expiries: BTreeMap<(DateTime<Utc>, HoldId), ()>,
    pub references: HashSet<String>,
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
        currency: Currency,
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
        currency: Currency,
        at: DateTime<Utc>,
    },
    BookingCancelled {
        booking_id: BookingId,
        refund_amount: i64,
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
    pub fn as_str(&self) -> &'static str {
        match self {
            HoldEnd::Released => "released",
            HoldEnd::Expired => "expired",
            HoldEnd::Confirmed(_) => "confirmed",
            HoldEnd::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decision {
    pub changes: Vec<Change>,
    pub outcomes: Vec<BookingOutcome>,
}

/// The inventories of the events one processor owns (per partition).
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub events: HashMap<EventId, EventState>,
    /// Used when a hold command names no lifetime.
    pub default_hold_ttl_secs: u32,
}

/// Most places one request may hold, whatever the event allows.
pub const MAX_PER_REQUEST: u32 = 50;

fn reject_hold(
    out: &mut Decision,
    request_id: RequestId,
    event_id: EventId,
    reason: RejectReason,
    detail: impl Into<String>,
    unavailable: Vec<SeatId>,
    waitlist_entry_id: Option<WaitlistEntryId>,
) {
    out.outcomes.push(BookingOutcome::HoldRejected {
        request_id,
        event_id,
        reason,
        detail: detail.into(),
        unavailable_seats: unavailable,
        waitlist_entry_id,
    });
}

fn fail(
    out: &mut Decision,
    request_id: RequestId,
    event_id: EventId,
    reason: RejectReason,
    detail: impl Into<String>,
) {
    out.outcomes.push(BookingOutcome::CommandFailed {
        request_id,
        event_id,
        reason,
        detail: detail.into(),
    });
}

impl EventState {
    pub fn from_snapshot(snapshot: &EventSnapshot) -> Self {
        let mut sections = HashMap::new();
        let mut seats = HashMap::new();
        for section in &snapshot.sections {
            let kind = match &section.layout {
                SectionLayout::Reserved { seats: list } => {
                    for seat in list {
                        seats.insert(
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
            sections.insert(
                section.id,
                Section {
                    id: section.id,
                    price: section.price,
                    kind,
                },
            );
        }
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
            sections,
            seats,
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

    fn take_hold(&mut self, hold_id: HoldId) -> Option<Hold> {
        let hold = self.holds.remove(&hold_id)?;
        self.expiries.remove(&(hold.expires_at, hold.id));
        if let Some(n) = self.per_user.get_mut(&hold.user_id) {
            *n = n.saturating_sub(hold.quantity);
        }
        Some(hold)
    }

    fn on_sale(&self, now: DateTime<Utc>) -> Result<(), (RejectReason, String)> {
        if self.cancelled {
            return Err((
                RejectReason::EventCancelled,
                "the event was cancelled".into(),
            ));
        }
        if self.sales_start.is_some_and(|s| now < s) {
            return Err((RejectReason::NotOnSale, "sales have not started yet".into()));
        }
        if self.sales_end.is_some_and(|e| now >= e) || now >= self.starts_at {
            return Err((RejectReason::NotOnSale, "sales have ended".into()));
        }
        Ok(())
    }

    fn within_limit(&self, user: UserId, more: u32) -> Result<(), (RejectReason, String)> {
        let limit = self.max_per_user.unwrap_or(MAX_PER_REQUEST);
        let has = self.per_user.get(&user).copied().unwrap_or(0);
        if has.saturating_add(more) > limit {
            return Err((
                RejectReason::TicketLimit,
                format!(
                    "at most {limit} tickets per person for this event; you already hold or own {has}"
                ),
            ));
        }
        Ok(())
    }

    /// Seats or places a hold or booking gave up: to the waitlist when it is
    /// active (parked), else straight back on sale.
    fn free(
        &mut self,
        seats: &[SeatId],
        section_id: Option<SectionId>,
        quantity: u32,
        out: &mut Decision,
    ) {
        let park = self.waitlist_active && !self.cancelled;
        let status = if park {
            SeatStatus::Parked
        } else {
            SeatStatus::Available
        };
        // Reserved seats, grouped by section (a hold may span sections).
        let mut by_section: BTreeMap<SectionId, Vec<SeatId>> = BTreeMap::new();
        for seat in seats {
            if let Some(s) = self.seats.get_mut(seat) {
                s.status = status;
                by_section
                    .entry(s.section_id)
                    .or_default()
                    .push(seat.clone());
                out.changes.push(Change::SeatStatus {
                    event_id: self.id,
                    seat_id: seat.clone(),
                    status,
                });
            }
        }
        let mut released: Vec<SeatSelection> = by_section
            .into_iter()
            .map(|(section_id, seat_ids)| SeatSelection {
                section_id,
                quantity: u32::try_from(seat_ids.len()).unwrap_or(u32::MAX),
                seat_ids,
            })
            .collect();
        if let Some(section_id) = section_id {
            if let Some(Section {
                kind:
                    SectionKind::General {
                        available, parked, ..
                    },
                ..
            }) = self.sections.get_mut(&section_id)
            {
                if park {
                    *parked += quantity;
                } else {
                    *available += quantity;
                }
                out.changes.push(Change::GaDelta {
                    event_id: self.id,
                    section_id,
                    available: if park { 0 } else { i64::from(quantity) },
                    parked: if park { i64::from(quantity) } else { 0 },
                });
                released.push(SeatSelection {
                    section_id,
                    seat_ids: Vec::new(),
                    quantity,
                });
            }
        }
        if self.cancelled {
            return;
        }
        for seats in released {
            if park {
                let price = self.sections.get(&seats.section_id).map_or(0, |s| s.price);
                out.outcomes.push(BookingOutcome::SeatsReleasedToWaitlist {
                    event_id: self.id,
                    seats,
                    price,
                    currency: self.currency,
                });
            } else {
                out.outcomes.push(BookingOutcome::SeatsReleased {
                    event_id: self.id,
                    seats,
                });
            }
        }
    }

    /// Expire every live hold due at or before `now`.
    fn expire_due(&mut self, now: DateTime<Utc>, out: &mut Decision) {
        let due: Vec<HoldId> = self
            .expiries
            .keys()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        for hold_id in due {
            if let Some(hold) = self.take_hold(hold_id) {
                out.changes.push(Change::HoldEnded {
                    hold_id,
                    end: HoldEnd::Expired,
                    at: now,
                });
                out.outcomes.push(BookingOutcome::HoldExpired {
                    hold_id,
                    event_id: self.id,
                    user_id: hold.user_id,
                    waitlist_entry_id: hold.waitlist_entry_id,
                });
                self.free(&hold.seats, hold.section_id, hold.quantity, out);
            }
        }
    }

    /// The earliest expiry among live holds.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.expiries.keys().next().map(|(at, _)| *at)
    }

    #[allow(clippy::too_many_arguments)]
    fn place_hold(
        &mut self,
        out: &mut Decision,
        request_id: RequestId,
        user_id: UserId,
        seats: Vec<SeatId>,
        section_id: Option<SectionId>,
        quantity: u32,
        total: i64,
        expires_at: DateTime<Utc>,
        waitlist_entry_id: Option<WaitlistEntryId>,
        now: DateTime<Utc>,
    ) {
        // The request id is unique per command, so it doubles as the hold id
        // and a replayed command yields the same hold.
        let hold = Hold {
            id: HoldId(request_id.0),
            user_id,
            seats,
            section_id,
            quantity,
            total,
            expires_at,
            waitlist_entry_id,
        };
        for seat in &hold.seats {
            out.changes.push(Change::SeatStatus {
                event_id: self.id,
                seat_id: seat.clone(),
                status: SeatStatus::Held(hold.id),
            });
        }
        out.outcomes.push(BookingOutcome::HoldPlaced {
            request_id,
            hold_id: hold.id,
            event_id: self.id,
            user_id,
            seats: hold.seats.clone(),
            section_id,
            quantity,
            total_price: total,
            currency: self.currency,
            expires_at,
            waitlist_entry_id,
        });
        out.changes.push(Change::HoldCreated {
            event_id: self.id,
            hold: hold.clone(),
            currency: self.currency,
            at: now,
        });
        self.insert_hold(hold);
    }
}

fn ttl(secs: u32) -> Duration {
    Duration::seconds(i64::from(secs))
}

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
        let event_id = command.event_id();
        if let BookingCommand::CreateInventory { event } = command {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                self.events.entry(event.event_id)
            {
                slot.insert(EventState::from_snapshot(&event));
                out.changes.push(Change::EventCreated(Box::new(event)));
            }
            return out;
        }
        let default_ttl = self.default_hold_ttl_secs;
        let Some(ev) = self.events.get_mut(&event_id) else {
            unknown_event(command, &mut out);
            return out;
        };
        // Holds due by the time of this command are gone before it is decided,
        // so expiry never depends on when the timer happened to fire.
        ev.expire_due(now, &mut out);
        match command {
            BookingCommand::CreateInventory { .. } => {}
            BookingCommand::ExpireHolds { now: at, .. } => ev.expire_due(at, &mut out),
            BookingCommand::HoldSeats {
                request_id,
                user_id,
                seat_ids,
                hold_ttl_secs,
                ..
            } => hold_seats(
                ev,
                &mut out,
                request_id,
                user_id,
                seat_ids,
                hold_ttl_secs.unwrap_or(default_ttl),
                now,
            ),
            BookingCommand::HoldQuantity {
                request_id,
                user_id,
                section_id,
                quantity,
                hold_ttl_secs,
                ..
            } => hold_quantity(
                ev,
                &mut out,
                request_id,
                user_id,
                section_id,
                quantity,
                hold_ttl_secs.unwrap_or(default_ttl),
                now,
            ),
            BookingCommand::ReleaseHold {
                request_id,
                hold_id,
                user_id,
                ..
            } => match ev.holds.get(&hold_id) {
                None => fail(
                    &mut out,
                    request_id,
                    event_id,
                    RejectReason::HoldExpired,
                    "the hold has expired or was already released or confirmed",
                ),
                Some(h) if h.user_id != user_id => fail(
                    &mut out,
                    request_id,
                    event_id,
                    RejectReason::NotHoldOwner,
                    "the hold belongs to someone else",
                ),
                Some(_) => {
                    if let Some(hold) = ev.take_hold(hold_id) {
                        out.changes.push(Change::HoldEnded {
                            hold_id,
                            end: HoldEnd::Released,
                            at: now,
                        });
                        out.outcomes.push(BookingOutcome::HoldReleased {
                            request_id,
                            hold_id,
                            event_id,
                            user_id,
                            waitlist_entry_id: hold.waitlist_entry_id,
                        });
                        ev.free(&hold.seats, hold.section_id, hold.quantity, &mut out);
                    }
                }
            },
            BookingCommand::ConfirmHold {
                request_id,
                hold_id,
                user_id,
                payment_id,
                amount,
                currency,
                ..
            } => confirm(
                ev, &mut out, request_id, hold_id, user_id, payment_id, amount, currency, now,
            ),
            BookingCommand::CancelBooking {
                request_id,
                booking_id,
                actor_id,
                actor_role,
                ..
            } => cancel_booking(
                ev, &mut out, request_id, booking_id, actor_id, actor_role, now,
            ),
            BookingCommand::CancelEvent { .. } => cancel_event(ev, &mut out, now),
            BookingCommand::RescheduleEvent { starts_at, .. } => {
                ev.starts_at = starts_at;
                out.changes.push(Change::EventRescheduled {
                    event_id,
                    starts_at,
                });
            }
            BookingCommand::WaitlistActivated { .. } => {
                if !ev.waitlist_active {
                    ev.waitlist_active = true;
                    out.changes.push(Change::WaitlistFlag {
                        event_id,
                        active: true,
                    });
                }
            }
            BookingCommand::WaitlistDeactivated { .. } => {
                if ev.waitlist_active {
                    ev.waitlist_active = false;
                    out.changes.push(Change::WaitlistFlag {
                        event_id,
                        active: false,
                    });
                }
                // Nobody is waiting: whatever is still parked goes back on sale.
                return_all_parked(ev, &mut out);
            }
            BookingCommand::OfferHold {
                request_id,
                user_id,
                waitlist_entry_id,
                seats,
                ttl_secs,
                ..
            } => offer_hold(
                ev,
                &mut out,
                request_id,
                user_id,
                waitlist_entry_id,
                seats,
                ttl_secs,
                now,
            ),
            BookingCommand::ReturnToSale {
                request_id, seats, ..
            } => return_to_sale(ev, &mut out, request_id, seats),
        }
        out
    }
}

fn unknown_event(command: BookingCommand, out: &mut Decision) {
    let event_id = command.event_id();
    let detail = format!("no event {event_id} is on sale here");
    match command {
        BookingCommand::HoldSeats { request_id, .. }
        | BookingCommand::HoldQuantity { request_id, .. } => reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::UnknownEvent,
            detail,
            Vec::new(),
            None,
        ),
        BookingCommand::OfferHold {
            request_id,
            waitlist_entry_id,
            ..
        } => reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::UnknownEvent,
            detail,
            Vec::new(),
            Some(waitlist_entry_id),
        ),
        BookingCommand::ConfirmHold {
            request_id,
            hold_id,
            payment_id,
            ..
        } => {
            out.changes.push(Change::PaymentRefundDue { payment_id });
            out.outcomes.push(BookingOutcome::BookingRejected {
                request_id,
                event_id,
                hold_id,
                reason: RejectReason::UnknownHold,
                detail,
            });
        }
        BookingCommand::ReleaseHold { request_id, .. }
        | BookingCommand::CancelBooking { request_id, .. }
        | BookingCommand::ReturnToSale { request_id, .. } => fail(
            out,
            request_id,
            event_id,
            RejectReason::UnknownEvent,
            detail,
        ),
        // Timers and lifecycle messages for events we do not know: nothing to do.
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn hold_seats(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    user_id: UserId,
    seat_ids: Vec<SeatId>,
    ttl_secs: u32,
    now: DateTime<Utc>,
) {
    let event_id = ev.id;
    if let Err((reason, detail)) = ev.on_sale(now) {
        return reject_hold(out, request_id, event_id, reason, detail, Vec::new(), None);
    }
    let mut seen = HashSet::new();
    if seat_ids.is_empty() || !seat_ids.iter().all(|s| seen.insert(s.clone())) {
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::InvalidSelection,
            "name at least one seat, each once",
            Vec::new(),
            None,
        );
    }
    let unknown: Vec<SeatId> = seat_ids
        .iter()
        .filter(|s| !ev.seats.contains_key(*s))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(SeatId::as_str).collect();
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::UnknownSeat,
            format!("this event has no seat {}", names.join(", ")),
            unknown,
            None,
        );
    }
    let quantity = u32::try_from(seat_ids.len()).unwrap_or(u32::MAX);
    if let Err((reason, detail)) = ev.within_limit(user_id, quantity) {
        return reject_hold(out, request_id, event_id, reason, detail, Vec::new(), None);
    }
    let taken: Vec<SeatId> = seat_ids
        .iter()
        .filter(|s| {
            ev.seats
                .get(*s)
                .is_some_and(|seat| seat.status != SeatStatus::Available)
        })
        .cloned()
        .collect();
    if !taken.is_empty() {
        let names: Vec<&str> = taken.iter().map(SeatId::as_str).collect();
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::SeatsUnavailable,
            format!("already taken: {}", names.join(", ")),
            taken,
            None,
        );
    }
    let total = seat_ids
        .iter()
        .filter_map(|s| ev.seats.get(s))
        .filter_map(|seat| ev.sections.get(&seat.section_id))
        .map(|section| section.price)
        .sum();
    ev.place_hold(
        out,
        request_id,
        user_id,
        seat_ids,
        None,
        quantity,
        total,
        now + ttl(ttl_secs),
        None,
        now,
    );
}

#[allow(clippy::too_many_arguments)]
fn hold_quantity(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    user_id: UserId,
    section_id: SectionId,
    quantity: u32,
    ttl_secs: u32,
    now: DateTime<Utc>,
) {
    let event_id = ev.id;
    if let Err((reason, detail)) = ev.on_sale(now) {
        return reject_hold(out, request_id, event_id, reason, detail, Vec::new(), None);
    }
    if quantity == 0 || quantity > MAX_PER_REQUEST {
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::InvalidSelection,
            format!("quantity must be between 1 and {MAX_PER_REQUEST}"),
            Vec::new(),
            None,
        );
    }
    let (price, left) = match ev.sections.get(&section_id) {
        None => {
            return reject_hold(
                out,
                request_id,
                event_id,
                RejectReason::UnknownSection,
                format!("this event has no section {section_id}"),
                Vec::new(),
                None,
            )
        }
        Some(Section {
            kind: SectionKind::Reserved,
            ..
        }) => {
            return reject_hold(
                out,
                request_id,
                event_id,
                RejectReason::InvalidSelection,
                "this section has reserved seating: hold seats by id",
                Vec::new(),
                None,
            )
        }
        Some(Section {
            price,
            kind: SectionKind::General { available, .. },
            ..
        }) => (*price, *available),
    };
    if let Err((reason, detail)) = ev.within_limit(user_id, quantity) {
        return reject_hold(out, request_id, event_id, reason, detail, Vec::new(), None);
    }
    if left < quantity {
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::SoldOut,
            format!("only {left} places left in this section"),
            Vec::new(),
            None,
        );
    }
    if let Some(Section {
        kind: SectionKind::General { available, .. },
        ..
    }) = ev.sections.get_mut(&section_id)
    {
        *available -= quantity;
    }
    out.changes.push(Change::GaDelta {
        event_id,
        section_id,
        available: -i64::from(quantity),
        parked: 0,
    });
    ev.place_hold(
        out,
        request_id,
        user_id,
        Vec::new(),
        Some(section_id),
        quantity,
        price * i64::from(quantity),
        now + ttl(ttl_secs),
        None,
        now,
    );
}

#[allow(clippy::too_many_arguments)]
fn confirm(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    hold_id: HoldId,
    user_id: UserId,
    payment_id: String,
    amount: i64,
    currency: Currency,
    now: DateTime<Utc>,
) {
    let event_id = ev.id;
    let reject = |out: &mut Decision, reason: RejectReason, detail: &str| {
        out.changes.push(Change::PaymentRefundDue {
            payment_id: payment_id.clone(),
        });
        out.outcomes.push(BookingOutcome::BookingRejected {
            request_id,
            event_id,
            hold_id,
            reason,
            detail: detail.to_string(),
        });
    };
    let Some(hold) = ev.holds.get(&hold_id) else {
        let detail = if ev.cancelled {
            "the event was cancelled"
        } else {
            "the hold has expired or was released or already confirmed"
        };
        return reject(out, RejectReason::HoldExpired, detail);
    };
    if hold.user_id != user_id {
        return reject(
            out,
            RejectReason::NotHoldOwner,
            "the hold belongs to someone else",
        );
    }
    if hold.total != amount || currency != ev.currency {
        return reject(
            out,
            RejectReason::AmountMismatch,
            "the payment does not match the hold's total",
        );
    }
    let Some(hold) = ev.take_hold(hold_id) else {
        return;
    };
    let booking_id = BookingId(request_id.0);
    let reference = reference::unique(booking_id, |r| ev.references.contains(r));
    let booking = Booking {
        id: booking_id,
        reference: reference.clone(),
        hold_id,
        user_id,
        seats: hold.seats.clone(),
        section_id: hold.section_id,
        quantity: hold.quantity,
        total: hold.total,
        payment_id: payment_id.clone(),
        cancelled: false,
        waitlist_entry_id: hold.waitlist_entry_id,
    };
    out.changes.push(Change::HoldEnded {
        hold_id,
        end: HoldEnd::Confirmed(booking_id),
        at: now,
    });
    out.changes.push(Change::BookingCreated {
        event_id,
        booking: booking.clone(),
        currency: ev.currency,
        at: now,
    });
    for seat in &hold.seats {
        out.changes.push(Change::SeatStatus {
            event_id,
            seat_id: seat.clone(),
            status: SeatStatus::Booked(booking_id),
        });
    }
    out.changes.push(Change::PaymentCaptured {
        payment_id: payment_id.clone(),
    });
    out.outcomes.push(BookingOutcome::BookingConfirmed {
        request_id,
        booking_id,
        reference,
        hold_id,
        event_id,
        user_id,
        seats: hold.seats.clone(),
        section_id: hold.section_id,
        quantity: hold.quantity,
        total_price: hold.total,
        currency: ev.currency,
        payment_id,
        waitlist_entry_id: hold.waitlist_entry_id,
    });
    ev.insert_booking(booking);
}

fn cancel_booking(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    booking_id: BookingId,
    actor_id: UserId,
    actor_role: Role,
    now: DateTime<Utc>,
) {
    let event_id = ev.id;
    let Some(booking) = ev.bookings.get(&booking_id) else {
        return fail(
            out,
            request_id,
            event_id,
            RejectReason::UnknownBooking,
            "no such booking for this event",
        );
    };
    if booking.cancelled {
        return fail(
            out,
            request_id,
            event_id,
            RejectReason::AlreadyCancelled,
            "the booking is already cancelled",
        );
    }
    let privileged = actor_role == Role::Admin || actor_id == ev.organizer_id;
    if !privileged {
        if booking.user_id != actor_id {
            return fail(
                out,
                request_id,
                event_id,
                RejectReason::NotHoldOwner,
                "only the booking's owner, the organizer or an admin may cancel it",
            );
        }
        if now >= ev.starts_at {
            return fail(
                out,
                request_id,
                event_id,
                RejectReason::EventStarted,
                "the event has started; ask the organizer",
            );
        }
    }
    cancel_one(ev, out, booking_id, Some(request_id), Some(actor_id), now);
}

fn cancel_one(
    ev: &mut EventState,
    out: &mut Decision,
    booking_id: BookingId,
    request_id: Option<RequestId>,
    by: Option<UserId>,
    now: DateTime<Utc>,
) {
    let Some(booking) = ev.bookings.get_mut(&booking_id) else {
        return;
    };
    if booking.cancelled {
        return;
    }
    booking.cancelled = true;
    let booking = booking.clone();
    if let Some(n) = ev.per_user.get_mut(&booking.user_id) {
        *n = n.saturating_sub(booking.quantity);
    }
    out.changes.push(Change::BookingCancelled {
        booking_id,
        refund_amount: booking.total,
        by,
        at: now,
    });
    out.changes.push(Change::PaymentRefundDue {
        payment_id: booking.payment_id.clone(),
    });
    out.outcomes.push(BookingOutcome::BookingCancelled {
        request_id,
        booking_id,
        reference: booking.reference.clone(),
        event_id: ev.id,
        user_id: booking.user_id,
        refund_amount: booking.total,
        currency: ev.currency,
    });
    ev.free(&booking.seats, booking.section_id, booking.quantity, out);
}

fn cancel_event(ev: &mut EventState, out: &mut Decision, now: DateTime<Utc>) {
    if ev.cancelled {
        return;
    }
    ev.cancelled = true;
    out.changes.push(Change::EventCancelled { event_id: ev.id });
    let mut holds: Vec<HoldId> = ev.holds.keys().copied().collect();
    holds.sort();
    for hold_id in holds {
        if let Some(hold) = ev.take_hold(hold_id) {
            out.changes.push(Change::HoldEnded {
                hold_id,
                end: HoldEnd::Cancelled,
                at: now,
            });
            ev.free(&hold.seats, hold.section_id, hold.quantity, out);
        }
    }
    let mut bookings: Vec<BookingId> = ev
        .bookings
        .values()
        .filter(|b| !b.cancelled)
        .map(|b| b.id)
        .collect();
    bookings.sort();
    for booking_id in bookings {
        cancel_one(ev, out, booking_id, None, None, now);
    }
    out.outcomes
        .push(BookingOutcome::EventSalesClosed { event_id: ev.id });
}

/// Check that `seats` are parked in their section; the error names why not.
fn check_parked(ev: &EventState, seats: &SeatSelection) -> Result<(), String> {
    match ev.sections.get(&seats.section_id) {
        None => Err(format!("this event has no section {}", seats.section_id)),
        Some(Section {
            kind: SectionKind::General { parked, .. },
            ..
        }) => {
            if seats.quantity == 0 || !seats.seat_ids.is_empty() {
                Err("general admission: give a quantity and no seat ids".into())
            } else if *parked < seats.quantity {
                Err(format!(
                    "only {parked} places of this section are parked for the waitlist"
                ))
            } else {
                Ok(())
            }
        }
        Some(Section {
            kind: SectionKind::Reserved,
            ..
        }) => {
            let mut seen = HashSet::new();
            let ok = !seats.seat_ids.is_empty()
                && seats.seat_ids.iter().all(|s| {
                    seen.insert(s.clone())
                        && ev.seats.get(s).is_some_and(|seat| {
                            seat.section_id == seats.section_id && seat.status == SeatStatus::Parked
                        })
                });
            if ok {
                Ok(())
            } else {
                Err("some of these seats are not parked for the waitlist".into())
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn offer_hold(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    user_id: UserId,
    waitlist_entry_id: WaitlistEntryId,
    seats: SeatSelection,
    ttl_secs: u32,
    now: DateTime<Utc>,
) {
    let event_id = ev.id;
    if ev.cancelled {
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::EventCancelled,
            "the event was cancelled",
            Vec::new(),
            Some(waitlist_entry_id),
        );
    }
    if let Err(detail) = check_parked(ev, &seats) {
        return reject_hold(
            out,
            request_id,
            event_id,
            RejectReason::NotParked,
            detail,
            Vec::new(),
            Some(waitlist_entry_id),
        );
    }
    let price = ev.sections.get(&seats.section_id).map_or(0, |s| s.price);
    let (quantity, section_id) = if seats.seat_ids.is_empty() {
        if let Some(Section {
            kind: SectionKind::General { parked, .. },
            ..
        }) = ev.sections.get_mut(&seats.section_id)
        {
            *parked -= seats.quantity;
        }
        out.changes.push(Change::GaDelta {
            event_id,
            section_id: seats.section_id,
            available: 0,
            parked: -i64::from(seats.quantity),
        });
        (seats.quantity, Some(seats.section_id))
    } else {
        (
            u32::try_from(seats.seat_ids.len()).unwrap_or(u32::MAX),
            None,
        )
    };
    ev.place_hold(
        out,
        request_id,
        user_id,
        seats.seat_ids,
        section_id,
        quantity,
        price * i64::from(quantity),
        now + ttl(ttl_secs),
        Some(waitlist_entry_id),
        now,
    );
}

fn return_to_sale(
    ev: &mut EventState,
    out: &mut Decision,
    request_id: RequestId,
    seats: SeatSelection,
) {
    if let Err(detail) = check_parked(ev, &seats) {
        return fail(out, request_id, ev.id, RejectReason::NotParked, detail);
    }
    unpark(ev, out, seats);
}

fn unpark(ev: &mut EventState, out: &mut Decision, seats: SeatSelection) {
    let event_id = ev.id;
    if seats.seat_ids.is_empty() {
        if let Some(Section {
            kind: SectionKind::General {
                available, parked, ..
            },
            ..
        }) = ev.sections.get_mut(&seats.section_id)
        {
            *parked -= seats.quantity;
            *available += seats.quantity;
        }
        out.changes.push(Change::GaDelta {
            event_id,
            section_id: seats.section_id,
            available: i64::from(seats.quantity),
            parked: -i64::from(seats.quantity),
        });
    } else {
        for seat in &seats.seat_ids {
            if let Some(s) = ev.seats.get_mut(seat) {
                s.status = SeatStatus::Available;
            }
            out.changes.push(Change::SeatStatus {
                event_id,
                seat_id: seat.clone(),
                status: SeatStatus::Available,
            });
        }
    }
    if !ev.cancelled {
        out.outcomes
            .push(BookingOutcome::SeatsReleased { event_id, seats });
    }
}

fn return_all_parked(ev: &mut EventState, out: &mut Decision) {
    let mut selections = Vec::new();
    let mut by_section: BTreeMap<SectionId, Vec<SeatId>> = BTreeMap::new();
    for (id, seat) in &ev.seats {
        if seat.status == SeatStatus::Parked {
            by_section
                .entry(seat.section_id)
                .or_default()
                .push(id.clone());
        }
    }
    for (section_id, mut seat_ids) in by_section {
        seat_ids.sort();
        selections.push(SeatSelection {
            section_id,
            quantity: u32::try_from(seat_ids.len()).unwrap_or(u32::MAX),
            seat_ids,
        });
    }
    let mut general: Vec<(SectionId, u32)> = ev
        .sections
        .values()
        .filter_map(|s| match s.kind {
            SectionKind::General { parked, .. } if parked > 0 => Some((s.id, parked)),
            _ => None,
        })
        .collect();
    general.sort();
    for (section_id, quantity) in general {
        selections.push(SeatSelection {
            section_id,
            seat_ids: Vec::new(),
            quantity,
        });
    }
    for seats in selections {
        unpark(ev, out, seats);
    }
}

#[cfg(test)]
mod tests;
