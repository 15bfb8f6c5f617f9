//! The state the decisions work on: seats, sections, holds and bookings of
//! one event, and the statuses they pass through.

use chrono::{DateTime, Utc};
use common_types::{
    BookingId, Currency, EventId, HoldId, Money, SeatId, SectionId, UserId, WaitlistEntryId,
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
    /// Per seat or per general-admission place.
    pub price: Money,
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
    pub total: Money,
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
    pub total: Money,
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

/// The inventories of the events one processor owns (per partition).
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub events: HashMap<EventId, EventState>,
    /// Used when a hold command names no lifetime.
    pub default_hold_ttl_secs: u32,
}

/// Most places one request may hold, whatever the event allows.
pub const MAX_PER_REQUEST: u32 = 50;
