//! What the HTTP side reads and writes. It never changes inventory, holds or
//! bookings (only the processor does); it records payments, idempotency keys
//! and reads everything else.

use crate::domain::{
    BookingStatus, EventStatus, HoldStatus, PaymentStatus, SeatState, SectionType,
};
use chrono::{DateTime, Utc};
use common_types::page::PageRequest;
use common_types::{
    BookingId, Currency, EventId, HoldId, RequestId, SeatId, SectionId, UserId, WaitlistEntryId,
};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Row};
use uuid::Uuid;

/// A hold as the API shows it, after placing it and when reading it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldView {
    pub hold_id: HoldId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub seats: Vec<SeatId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_id: Option<SectionId>,
    pub quantity: u32,
    pub total_price: i64,
    pub currency: Currency,
    pub expires_at: DateTime<Utc>,
    pub status: HoldStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitlist_entry_id: Option<WaitlistEntryId>,
}

#[derive(FromRow)]
struct HoldRow {
    hold_id: Uuid,
    event_id: Uuid,
    user_id: Uuid,
    seat_ids: Vec<String>,
    section_id: Option<Uuid>,
    quantity: i32,
    total_price: i64,
    #[sqlx(try_from = "String")]
    currency: Currency,
    expires_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    status: HoldStatus,
    waitlist_entry_id: Option<Uuid>,
}

impl From<HoldRow> for HoldView {
    fn from(r: HoldRow) -> Self {
        Self {
            hold_id: HoldId(r.hold_id),
            event_id: EventId(r.event_id),
            user_id: UserId(r.user_id),
            seats: seat_ids(r.seat_ids),
            section_id: r.section_id.map(SectionId),
            quantity: u32::try_from(r.quantity).unwrap_or(0),
            total_price: r.total_price,
            currency: r.currency,
            expires_at: r.expires_at,
            status: r.status,
            waitlist_entry_id: r.waitlist_entry_id.map(WaitlistEntryId),
        }
    }
}

/// Stored seat ids were valid when written; one that no longer parses is dropped.
fn seat_ids(raw: Vec<String>) -> Vec<SeatId> {
    raw.into_iter()
        .filter_map(|s| SeatId::parse(s).ok())
        .collect()
}

#[tracing::instrument(skip(pool))]
pub async fn hold(pool: &PgPool, id: HoldId) -> Result<Option<HoldView>, sqlx::Error> {
    let row: Option<HoldRow> = sqlx::query_as(
        "SELECT hold_id, event_id, user_id, seat_ids, section_id, quantity, total_price,
                currency, expires_at, status, waitlist_entry_id
         FROM holds WHERE hold_id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(HoldView::from))
}

#[derive(Debug, Clone, Serialize)]
pub struct Refund {
    pub amount: i64,
    pub currency: Currency,
    /// `pending` until the provider confirmed it, then `refunded`.
    pub status: RefundState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Pending,
    Refunded,
}

impl RefundState {
    fn of(payment: Option<PaymentStatus>) -> Self {
        match payment {
            Some(PaymentStatus::Refunded | PaymentStatus::Voided) => RefundState::Refunded,
            _ => RefundState::Pending,
        }
    }
}

/// What every answer about a booking carries: the confirmation's body, and
/// the start of `GET /bookings/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingSummary {
    pub id: BookingId,
    pub reference: String,
    pub hold_id: HoldId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub seats: Vec<SeatId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_id: Option<SectionId>,
    pub quantity: u32,
    pub total_price: i64,
    pub currency: Currency,
    pub status: BookingStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct BookingView {
    #[serde(flatten)]
    pub summary: BookingSummary,
    pub event_title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<Refund>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub organizer_id: UserId,
}

const BOOKING_SELECT: &str = "
    SELECT b.booking_id, b.reference, b.event_id, e.title, e.organizer_id, b.user_id, b.hold_id,
           b.seat_ids, b.section_id, b.quantity, b.total_price, b.currency, b.status,
           b.refund_amount, b.created_at, b.cancelled_at, p.status AS payment_status
    FROM bookings b
    JOIN events e ON e.event_id = b.event_id
    LEFT JOIN payments p ON p.payment_id = b.payment_id";

#[derive(FromRow)]
struct BookingRow {
    booking_id: Uuid,
    reference: String,
    event_id: Uuid,
    title: String,
    organizer_id: Uuid,
    user_id: Uuid,
    hold_id: Uuid,
    seat_ids: Vec<String>,
    section_id: Option<Uuid>,
    quantity: i32,
    total_price: i64,
    #[sqlx(try_from = "String")]
    currency: Currency,
    #[sqlx(try_from = "String")]
    status: BookingStatus,
    refund_amount: Option<i64>,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    payment_status: Option<String>,
}

impl TryFrom<BookingRow> for BookingView {
    type Error = sqlx::Error;
    fn try_from(r: BookingRow) -> Result<Self, Self::Error> {
        let payment = r
            .payment_status
            .map(|s| s.parse::<PaymentStatus>())
            .transpose()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Self {
            summary: BookingSummary {
                id: BookingId(r.booking_id),
                reference: r.reference,
                hold_id: HoldId(r.hold_id),
                event_id: EventId(r.event_id),
                user_id: UserId(r.user_id),
                seats: seat_ids(r.seat_ids),
                section_id: r.section_id.map(SectionId),
                quantity: u32::try_from(r.quantity).unwrap_or(0),
                total_price: r.total_price,
                currency: r.currency,
                status: r.status,
            },
            event_title: r.title,
            refund: r.refund_amount.map(|amount| Refund {
                amount,
                currency: r.currency,
                status: RefundState::of(payment),
            }),
            created_at: r.created_at,
            cancelled_at: r.cancelled_at,
            organizer_id: UserId(r.organizer_id),
        })
    }
}

#[tracing::instrument(skip(pool))]
pub async fn booking(pool: &PgPool, id: BookingId) -> Result<Option<BookingView>, sqlx::Error> {
    let row: Option<BookingRow> =
        sqlx::query_as(&format!("{BOOKING_SELECT} WHERE b.booking_id = $1"))
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
    row.map(BookingView::try_from).transpose()
}

#[tracing::instrument(skip(pool))]
pub async fn bookings_of(
    pool: &PgPool,
    user: UserId,
    page: PageRequest,
) -> Result<(Vec<BookingView>, u64), sqlx::Error> {
    let rows: Vec<BookingRow> = sqlx::query_as(&format!(
        "{BOOKING_SELECT} WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.booking_id
         LIMIT $2 OFFSET $3"
    ))
    .bind(user.0)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE user_id = $1")
        .bind(user.0)
        .fetch_one(pool)
        .await?;
    let items = rows
        .into_iter()
        .map(BookingView::try_from)
        .collect::<Result<_, _>>()?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

#[derive(Debug, Clone, FromRow)]
pub struct EventInfo {
    #[sqlx(try_from = "Uuid")]
    pub organizer_id: UserId,
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub waitlist_active: bool,
}

pub async fn event(pool: &PgPool, id: EventId) -> Result<Option<EventInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT organizer_id, currency, status, waitlist_active FROM events WHERE event_id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatView {
    pub id: String,
    pub row: String,
    pub number: i32,
    pub x: f32,
    pub y: f32,
    pub status: PublicSeat,
}

/// Seats as the public sees them: parked seats are not for sale, so "held".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicSeat {
    Available,
    Booked,
    Held,
}

impl From<SeatState> for PublicSeat {
    fn from(state: SeatState) -> Self {
        match state {
            SeatState::Available => PublicSeat::Available,
            SeatState::Booked => PublicSeat::Booked,
            SeatState::Held | SeatState::ReleasedToWaitlist => PublicSeat::Held,
        }
    }
}

fn section_type(stored: String) -> Result<SectionType, sqlx::Error> {
    stored.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub id: Uuid,
    pub name: String,
    pub kind: SectionType,
    pub price: i64,
    pub capacity: i32,
    pub available: i64,
    pub seats: Vec<SeatView>,
}

#[tracing::instrument(skip(pool))]
pub async fn layout(pool: &PgPool, id: EventId) -> Result<Vec<SectionView>, sqlx::Error> {
    let sections = sqlx::query(
        "SELECT section_id, name, kind, price, capacity, available
         FROM sections WHERE event_id = $1 ORDER BY position",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    let seats = sqlx::query(
        "SELECT seat_id, section_id, row_label, number, x, y, status
         FROM seats WHERE event_id = $1 ORDER BY row_label, number",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(sections.len());
    for s in &sections {
        let section_id: Uuid = s.try_get("section_id")?;
        let kind = section_type(s.try_get("kind")?)?;
        let mut list = Vec::new();
        for seat in seats.iter() {
            if seat.try_get::<Uuid, _>("section_id")? != section_id {
                continue;
            }
            let status: String = seat.try_get("status")?;
            let status: SeatState = status
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            list.push(SeatView {
                id: seat.try_get("seat_id")?,
                row: seat.try_get("row_label")?,
                number: seat.try_get("number")?,
                x: seat.try_get("x")?,
                y: seat.try_get("y")?,
                status: status.into(),
            });
        }
        let available = if kind == SectionType::General {
            i64::from(s.try_get::<i32, _>("available")?)
        } else {
            list.iter()
                .filter(|x| x.status == PublicSeat::Available)
                .count() as i64
        };
        out.push(SectionView {
            id: section_id,
            name: s.try_get("name")?,
            kind,
            price: s.try_get("price")?,
            capacity: s.try_get("capacity")?,
            available,
            seats: list,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SectionSales {
    pub id: Uuid,
    pub name: String,
    pub capacity: i64,
    pub sold: i64,
    pub held: i64,
    pub available: i64,
    pub released_to_waitlist: i64,
    pub revenue: i64,
}

#[tracing::instrument(skip(pool))]
pub async fn sales(pool: &PgPool, id: EventId) -> Result<Vec<SectionSales>, sqlx::Error> {
    // Per section: GA figures from the counters and bookings/holds by
    // section_id; reserved ones from the seats' statuses.
    let rows = sqlx::query(
        "SELECT s.section_id, s.name, s.kind, s.capacity, s.available, s.parked,
           COALESCE((SELECT count(*) FILTER (WHERE st.status = 'booked') FROM seats st
                     WHERE st.event_id = s.event_id AND st.section_id = s.section_id), 0) AS r_booked,
           COALESCE((SELECT count(*) FILTER (WHERE st.status = 'held') FROM seats st
                     WHERE st.event_id = s.event_id AND st.section_id = s.section_id), 0) AS r_held,
           COALESCE((SELECT count(*) FILTER (WHERE st.status = 'available') FROM seats st
                     WHERE st.event_id = s.event_id AND st.section_id = s.section_id), 0) AS r_avail,
           COALESCE((SELECT count(*) FILTER (WHERE st.status = 'released_to_waitlist') FROM seats st
                     WHERE st.event_id = s.event_id AND st.section_id = s.section_id), 0) AS r_parked,
           COALESCE((SELECT sum(b.quantity) FROM bookings b WHERE b.event_id = s.event_id
                     AND b.section_id = s.section_id AND b.status = 'confirmed'), 0)::int8 AS g_sold,
           COALESCE((SELECT sum(h.quantity) FROM holds h WHERE h.event_id = s.event_id
                     AND h.section_id = s.section_id AND h.status = 'active'), 0)::int8 AS g_held
         FROM sections s WHERE s.event_id = $1 ORDER BY s.position",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let kind = section_type(r.try_get("kind")?)?;
        let price: i64 = sqlx::query_scalar(
            "SELECT price FROM sections WHERE event_id = $1 AND section_id = $2",
        )
        .bind(id.0)
        .bind(r.try_get::<Uuid, _>("section_id")?)
        .fetch_one(pool)
        .await?;
        let (sold, held, available, parked) = if kind == SectionType::General {
            (
                r.try_get::<i64, _>("g_sold")?,
                r.try_get::<i64, _>("g_held")?,
                i64::from(r.try_get::<i32, _>("available")?),
                i64::from(r.try_get::<i32, _>("parked")?),
            )
        } else {
            (
                r.try_get::<i64, _>("r_booked")?,
                r.try_get::<i64, _>("r_held")?,
                r.try_get::<i64, _>("r_avail")?,
                r.try_get::<i64, _>("r_parked")?,
            )
        };
        out.push(SectionSales {
            id: r.try_get("section_id")?,
            name: r.try_get("name")?,
            capacity: i64::from(r.try_get::<i32, _>("capacity")?),
            sold,
            held,
            available,
            released_to_waitlist: parked,
            revenue: sold
                .checked_mul(price)
                .ok_or_else(|| sqlx::Error::Decode("a section's revenue overflows".into()))?,
        });
    }
    Ok(out)
}

/// Revenue and counts straight from the bookings (the truth for money).
#[derive(Debug, Clone, Copy, FromRow)]
pub struct BookingTotals {
    pub confirmed: i64,
    pub revenue: i64,
    pub refunded: i64,
}

pub async fn booking_totals(pool: &PgPool, id: EventId) -> Result<BookingTotals, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
                COALESCE(sum(total_price) FILTER (WHERE status = 'confirmed'), 0)::int8 AS revenue,
                COALESCE(sum(refund_amount), 0)::int8 AS refunded
         FROM bookings WHERE event_id = $1",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await
}

/// Someone attending an event, with their bookings for it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Attendee {
    #[sqlx(try_from = "Uuid")]
    pub user_id: UserId,
    pub booking_ids: Vec<Uuid>,
}

pub async fn attendees(
    pool: &PgPool,
    id: EventId,
    page: PageRequest,
) -> Result<(Vec<Attendee>, u64), sqlx::Error> {
    // Confirmed bookings; for a cancelled event also those the cancellation
    // itself cancelled (no actor), so the fan-out after it still reaches them.
    const ATTENDING: &str = "b.event_id = $1 AND (b.status = 'confirmed'
        OR (e.status = 'cancelled' AND b.cancelled_by IS NULL AND b.cancelled_at IS NOT NULL))";
    let users: Vec<Attendee> = sqlx::query_as(&format!(
        "SELECT b.user_id, array_agg(b.booking_id ORDER BY b.booking_id) AS booking_ids
         FROM bookings b JOIN events e ON e.event_id = b.event_id
         WHERE {ATTENDING}
         GROUP BY b.user_id ORDER BY b.user_id LIMIT $2 OFFSET $3"
    ))
    .bind(id.0)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(DISTINCT b.user_id) FROM bookings b JOIN events e ON e.event_id = b.event_id
         WHERE {ATTENDING}"
    ))
    .bind(id.0)
    .fetch_one(pool)
    .await?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// The stored outcome of a command and who sent it.
#[derive(Debug, Clone, FromRow)]
pub struct StoredOutcome {
    pub user_id: Option<Uuid>,
    pub outcome: Value,
}

impl StoredOutcome {
    /// Only the sender (or an admin) may read a request's outcome.
    pub fn sent_by(&self, user: UserId) -> bool {
        self.user_id == Some(user.0)
    }
}

pub async fn command_result(
    pool: &PgPool,
    id: RequestId,
) -> Result<Option<StoredOutcome>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, outcome FROM command_results WHERE request_id = $1")
        .bind(id.0)
        .fetch_optional(pool)
        .await
}

/// The stored outcomes of those of `ids` that are decided.
pub async fn command_outcomes(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT outcome FROM command_results WHERE request_id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// A card payment authorized for a hold, before the processor decides on it.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub payment_id: String,
    pub request_id: RequestId,
    pub hold_id: HoldId,
    pub user_id: UserId,
    pub amount: i64,
    pub currency: Currency,
}

pub async fn record_authorization(pool: &PgPool, payment: &NewPayment) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (payment_id, request_id, hold_id, user_id, amount, currency, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(&payment.payment_id)
    .bind(payment.request_id.0)
    .bind(payment.hold_id.0)
    .bind(payment.user_id.0)
    .bind(payment.amount)
    .bind(payment.currency.to_string())
    .bind(PaymentStatus::Authorized.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// Mark a payment whose refund or void the provider confirmed.
pub async fn settle_refund(pool: &PgPool, payment_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = CASE
             WHEN EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = payments.payment_id)
             THEN 'refunded' ELSE 'voided' END,
           updated_at = now()
         WHERE payment_id = $1 AND status IN ('refund_due', 'authorized')",
    )
    .bind(payment_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Payments waiting for a refund or void, oldest first.
pub async fn refunds_due(pool: &PgPool, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT payment_id, amount FROM payments WHERE status = 'refund_due'
         ORDER BY updated_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("payment_id")?, r.try_get("amount")?)))
        .collect()
}

pub async fn payment_status(
    pool: &PgPool,
    payment_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM payments WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_optional(pool)
        .await
}
