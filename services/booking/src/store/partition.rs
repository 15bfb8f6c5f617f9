//! A partition's ownership and state: claiming it (fencing), where its
//! processing resumes, and the inventory of the events it owns.

use crate::domain::{
    Booking, BookingStatus, EventState, EventStatus, Hold, Inventory, Seat, SeatState, SeatStatus,
    Section, SectionKind, SectionType,
};
use chrono::{DateTime, Utc};
use common_types::{BookingId, Currency, EventId, HoldId, Money, SeatId, SectionId, UserId};
use sqlx::{FromRow, PgPool};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// Where a partition's processing resumes, and the generation that fences it.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Claim {
    pub generation: i64,
    pub next_offset: i64,
}

/// Take ownership of a partition: bump its generation, so any earlier owner's
/// next commit fails. Waits for an in-flight commit of the old owner (row
/// lock), so the state loaded afterwards includes it.
#[tracing::instrument(skip(pool))]
pub async fn claim(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    owner: &str,
) -> Result<Claim, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO partition_offsets (topic, partition, next_offset, generation, owner)
         VALUES ($1, $2, 0, 1, $3)
         ON CONFLICT (topic, partition) DO UPDATE
           SET generation = partition_offsets.generation + 1, owner = $3, updated_at = now()
         RETURNING generation, next_offset",
    )
    .bind(topic)
    .bind(partition)
    .bind(owner)
    .fetch_one(pool)
    .await
}

/// The stored offset, without claiming (after a failed commit we still own).
pub async fn stored_offset(pool: &PgPool, topic: &str, partition: i32) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT next_offset FROM partition_offsets WHERE topic = $1 AND partition = $2",
    )
    .bind(topic)
    .bind(partition)
    .fetch_optional(pool)
    .await
    .map(|o| o.unwrap_or(0))
}

/// Every partition's stored offset for `topic`.
pub async fn stored_offsets(pool: &PgPool, topic: &str) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT partition, next_offset FROM partition_offsets WHERE topic = $1")
            .bind(topic)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Ids of the commands with a client waiting (those with a request id) that
/// were decided for `partition` in the last `window`.
pub async fn recent_command_ids(
    pool: &PgPool,
    partition: i32,
    window: std::time::Duration,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.request_id FROM command_results c
         JOIN events e ON e.event_id = c.event_id
         WHERE e.kafka_partition = $1 AND c.created_at > now() - make_interval(secs => $2)",
    )
    .bind(partition)
    .bind(window.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Rebuild the in-memory inventory of every event owned by `partition`.
#[tracing::instrument(skip(pool))]
pub async fn load_partition(
    pool: &PgPool,
    partition: i32,
    default_hold_ttl_secs: u32,
) -> anyhow::Result<Inventory> {
    let mut inv = Inventory::new(default_hold_ttl_secs);
    for event in load_events(pool, partition).await? {
        inv.events.insert(event.id, event);
    }
    if inv.events.is_empty() {
        return Ok(inv);
    }
    let ids: Vec<Uuid> = inv.events.keys().map(|id| id.0).collect();
    for row in load_rows::<SectionRow>(pool, SECTIONS, &ids).await? {
        if let Some(ev) = inv.events.get_mut(&EventId(row.event_id)) {
            let section = row.into_section(ev.currency)?;
            ev.sections.insert(section.id, section);
        }
    }
    for row in load_rows::<SeatRow>(pool, SEATS, &ids).await? {
        if let Some(ev) = inv.events.get_mut(&EventId(row.event_id)) {
            if let Some((id, seat)) = row.into_seat()? {
                ev.seats.insert(id, seat);
            }
        }
    }
    for row in load_rows::<HoldRow>(pool, ACTIVE_HOLDS, &ids).await? {
        if let Some(ev) = inv.events.get_mut(&EventId(row.event_id)) {
            ev.insert_hold(row.into_hold()?);
        }
    }
    for row in load_rows::<BookingRow>(pool, BOOKINGS, &ids).await? {
        if let Some(ev) = inv.events.get_mut(&EventId(row.event_id)) {
            ev.insert_booking(row.into_booking()?);
        }
    }
    Ok(inv)
}

async fn load_events(pool: &PgPool, partition: i32) -> anyhow::Result<Vec<EventState>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT event_id, organizer_id, starts_at, sales_start, sales_end, currency,
                max_tickets_per_user, status, waitlist_active
         FROM events WHERE kafka_partition = $1",
    )
    .bind(partition)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(EventRow::into_event).collect()
}

async fn load_rows<R>(pool: &PgPool, sql: &str, events: &[Uuid]) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql).bind(events).fetch_all(pool).await
}

const SECTIONS: &str = "SELECT event_id, section_id, price, kind, capacity, available, parked
     FROM sections WHERE event_id = ANY($1)";
const SEATS: &str =
    "SELECT event_id, seat_id, section_id, status FROM seats WHERE event_id = ANY($1)";
const ACTIVE_HOLDS: &str =
    "SELECT hold_id, event_id, user_id, section_id, seat_ids, quantity, total_price, currency,
            expires_at, waitlist_entry_id
     FROM holds WHERE event_id = ANY($1) AND status = 'active'";
const BOOKINGS: &str =
    "SELECT booking_id, reference, hold_id, event_id, user_id, section_id, seat_ids,
            quantity, total_price, currency, payment_id, status, waitlist_entry_id
     FROM bookings WHERE event_id = ANY($1)";

#[derive(FromRow)]
struct EventRow {
    event_id: Uuid,
    organizer_id: Uuid,
    starts_at: DateTime<Utc>,
    sales_start: Option<DateTime<Utc>>,
    sales_end: Option<DateTime<Utc>>,
    currency: String,
    max_tickets_per_user: Option<i32>,
    #[sqlx(try_from = "String")]
    status: EventStatus,
    waitlist_active: bool,
}

impl EventRow {
    fn into_event(self) -> anyhow::Result<EventState> {
        Ok(EventState {
            id: EventId(self.event_id),
            organizer_id: UserId(self.organizer_id),
            starts_at: self.starts_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
            currency: Currency::parse(&self.currency)?,
            max_per_user: self
                .max_tickets_per_user
                .and_then(|m| u32::try_from(m).ok()),
            cancelled: self.status == EventStatus::Cancelled,
            waitlist_active: self.waitlist_active,
            sections: HashMap::new(),
            seats: HashMap::new(),
            holds: HashMap::new(),
            bookings: HashMap::new(),
            per_user: HashMap::new(),
            expiries: BTreeMap::new(),
            references: HashSet::new(),
        })
    }
}

#[derive(FromRow)]
struct SectionRow {
    event_id: Uuid,
    section_id: Uuid,
    price: i64,
    #[sqlx(try_from = "String")]
    kind: SectionType,
    capacity: i32,
    available: i32,
    parked: i32,
}

impl SectionRow {
    fn into_section(self, currency: Currency) -> anyhow::Result<Section> {
        let kind = if self.kind == SectionType::General {
            SectionKind::General {
                capacity: u32::try_from(self.capacity)?,
                available: u32::try_from(self.available)?,
                parked: u32::try_from(self.parked)?,
            }
        } else {
            SectionKind::Reserved
        };
        Ok(Section {
            id: SectionId(self.section_id),
            price: Money::new(self.price, currency)?,
            kind,
        })
    }
}

#[derive(FromRow)]
struct SeatRow {
    event_id: Uuid,
    seat_id: String,
    section_id: Uuid,
    #[sqlx(try_from = "String")]
    status: SeatState,
}

impl SeatRow {
    /// `None` for a stored seat id that does not parse: that seat is left out.
    fn into_seat(self) -> anyhow::Result<Option<(SeatId, Seat)>> {
        let Ok(id) = SeatId::parse(self.seat_id) else {
            return Ok(None);
        };
        // Held and booked are restored from the holds and bookings.
        let status = match self.status {
            SeatState::ReleasedToWaitlist => SeatStatus::Parked,
            SeatState::Available | SeatState::Held | SeatState::Booked => SeatStatus::Available,
        };
        Ok(Some((
            id,
            Seat {
                section_id: SectionId(self.section_id),
                status,
            },
        )))
    }
}

#[derive(FromRow)]
struct HoldRow {
    hold_id: Uuid,
    event_id: Uuid,
    user_id: Uuid,
    section_id: Option<Uuid>,
    seat_ids: Vec<String>,
    quantity: i32,
    total_price: i64,
    currency: String,
    expires_at: DateTime<Utc>,
    waitlist_entry_id: Option<Uuid>,
}

impl HoldRow {
    fn into_hold(self) -> anyhow::Result<Hold> {
        Ok(Hold {
            id: HoldId(self.hold_id),
            user_id: UserId(self.user_id),
            seats: seat_ids(self.seat_ids),
            section_id: self.section_id.map(SectionId),
            quantity: u32::try_from(self.quantity)?,
            total: Money::new(self.total_price, Currency::parse(&self.currency)?)?,
            expires_at: self.expires_at,
            waitlist_entry_id: self.waitlist_entry_id.map(Into::into),
        })
    }
}

#[derive(FromRow)]
struct BookingRow {
    booking_id: Uuid,
    reference: String,
    hold_id: Uuid,
    event_id: Uuid,
    user_id: Uuid,
    section_id: Option<Uuid>,
    seat_ids: Vec<String>,
    quantity: i32,
    total_price: i64,
    currency: String,
    payment_id: String,
    #[sqlx(try_from = "String")]
    status: BookingStatus,
    waitlist_entry_id: Option<Uuid>,
}

impl BookingRow {
    fn into_booking(self) -> anyhow::Result<Booking> {
        Ok(Booking {
            id: BookingId(self.booking_id),
            reference: self.reference,
            hold_id: HoldId(self.hold_id),
            user_id: UserId(self.user_id),
            seats: seat_ids(self.seat_ids),
            section_id: self.section_id.map(SectionId),
            quantity: u32::try_from(self.quantity)?,
            total: Money::new(self.total_price, Currency::parse(&self.currency)?)?,
            payment_id: self.payment_id,
            cancelled: self.status != BookingStatus::Confirmed,
            waitlist_entry_id: self.waitlist_entry_id.map(Into::into),
        })
    }
}

fn seat_ids(raw: Vec<String>) -> Vec<SeatId> {
    raw.into_iter()
        .filter_map(|s| SeatId::parse(s).ok())
        .collect()
}
