//! PostgreSQL access. Every change to an event's waitlist runs in a
//! transaction holding that event's advisory lock, so joins, leaves and
//! offers of one event are applied one at a time (FIFO stays FIFO), and the
//! messages they cause go to the outbox in the same transaction.

use crate::domain::Join;
use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingCommand, SeatSelection};
use common_types::{topics, Envelope, EventId, MessageType, UserId, WaitlistEntryId};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    pub seq: i64,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub quantity: i32,
    pub section_id: Option<Uuid>,
    pub max_price: Option<i64>,
    pub status: String,
    pub pending_request_id: Option<Uuid>,
    pub pending_offer: Option<serde_json::Value>,
    pub hold_id: Option<Uuid>,
    pub offer_seats: Option<serde_json::Value>,
    pub offer_section_id: Option<Uuid>,
    pub offer_quantity: Option<i32>,
    pub offer_total: Option<i64>,
    pub offer_currency: Option<String>,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub booking_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, seq, event_id, user_id, quantity, section_id, max_price, status,
    pending_request_id, pending_offer, hold_id, offer_seats, offer_section_id, offer_quantity, offer_total,
    offer_currency, offer_expires_at, booking_id, created_at";

/// Serialize work on one event's waitlist until the transaction ends.
pub async fn lock_event(conn: &mut PgConnection, event_id: EventId) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(event_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Record a consumed message; `false` when it was already applied.
pub async fn mark_processed(conn: &mut PgConnection, message_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Queue a message for the relay (same transaction as its cause).
pub async fn enqueue<T: Serialize + MessageType>(
    conn: &mut PgConnection,
    topic: &str,
    key: &str,
    payload: T,
) -> sqlx::Result<()> {
    let envelope = Envelope::new(payload);
    let json = serde_json::to_value(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO outbox (topic, message_key, message_type, envelope) VALUES ($1, $2, $3, $4)",
    )
    .bind(topic)
    .bind(key)
    .bind(&envelope.message_type)
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

/// Tell booking when the event's waiting count crosses 0 in either direction.
#[tracing::instrument(skip(conn))]
pub async fn sync_activation(conn: &mut PgConnection, event_id: EventId) -> sqlx::Result<()> {
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entries WHERE event_id = $1 AND status = 'waiting'",
    )
    .bind(event_id.as_uuid())
    .fetch_one(&mut *conn)
    .await?;
    let active = waiting > 0;
    let was: Option<bool> =
        sqlx::query_scalar("SELECT active FROM event_waitlists WHERE event_id = $1")
            .bind(event_id.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    if was.unwrap_or(false) == active {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO event_waitlists (event_id, active) VALUES ($1, $2)
         ON CONFLICT (event_id) DO UPDATE SET active = EXCLUDED.active, updated_at = now()",
    )
    .bind(event_id.as_uuid())
    .bind(active)
    .execute(&mut *conn)
    .await?;
    let command = if active {
        BookingCommand::WaitlistActivated { event_id }
    } else {
        BookingCommand::WaitlistDeactivated { event_id }
    };
    tracing::info!(active, waiting, "waitlist activation changed");
    enqueue(conn, topics::BOOKING_CREATE, &event_id.to_string(), command).await
}

/// Insert a new waiting entry; the partial unique index refuses a second live one.
pub async fn insert_entry(
    conn: &mut PgConnection,
    id: WaitlistEntryId,
    user_id: UserId,
    join: &Join,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO entries (id, event_id, user_id, quantity, section_id, max_price)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_uuid())
    .bind(join.event_id.as_uuid())
    .bind(user_id.as_uuid())
    .bind(i32::try_from(join.quantity).unwrap_or(i32::MAX))
    .bind(join.preferences.section_id.map(|s| s.as_uuid()))
    .bind(join.preferences.max_price)
    .execute(conn)
    .await?;
    Ok(())
}

/// 1-based place among the event's entries still waiting.
pub async fn position(conn: &mut PgConnection, entry: &EntryRow) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM entries WHERE event_id = $1 AND status = 'waiting' AND seq <= $2",
    )
    .bind(entry.event_id)
    .bind(entry.seq)
    .fetch_one(conn)
    .await
}

pub async fn entry(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn entry_by_hold(
    conn: &mut PgConnection,
    hold_id: Uuid,
) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries WHERE hold_id = $1 FOR UPDATE"
    ))
    .bind(hold_id)
    .fetch_optional(conn)
    .await
}

pub async fn entry_by_pending(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries WHERE pending_request_id = $1 FOR UPDATE"
    ))
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// The caller's live entry for an event, if any.
pub async fn live_entry(
    conn: &mut PgConnection,
    event_id: EventId,
    user_id: UserId,
) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries
          WHERE event_id = $1 AND user_id = $2 AND status IN ('waiting', 'offered')
          FOR UPDATE"
    ))
    .bind(event_id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_optional(conn)
    .await
}

/// The caller's live entry, else their latest one (to show how it ended).
pub async fn current_entry(
    pool: &PgPool,
    event_id: EventId,
    user_id: UserId,
) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries WHERE event_id = $1 AND user_id = $2
          ORDER BY (status IN ('waiting', 'offered')) DESC, seq DESC LIMIT 1"
    ))
    .bind(event_id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_optional(pool)
    .await
}

/// The first waiting entry, in join order, that these seats satisfy: its
/// section (or any), its price limit, and no more tickets than are free.
pub async fn first_match(
    conn: &mut PgConnection,
    event_id: EventId,
    section_id: Uuid,
    price: i64,
    free: i32,
) -> sqlx::Result<Option<EntryRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM entries
          WHERE event_id = $1 AND status = 'waiting' AND pending_request_id IS NULL
            AND (section_id IS NULL OR section_id = $2)
            AND (max_price IS NULL OR max_price >= $3)
            AND quantity <= $4
          ORDER BY seq
          LIMIT 1
          FOR UPDATE"
    ))
    .bind(event_id.as_uuid())
    .bind(section_id)
    .bind(price)
    .bind(free)
    .fetch_optional(conn)
    .await
}

/// Seats offered to an entry whose hold is not placed yet.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PendingOffer {
    pub seats: SeatSelection,
    /// Price per ticket, minor units.
    pub price: i64,
}

/// Mark an OfferHold as sent for the entry (its request id and seats), or clear it.
pub async fn set_pending(
    conn: &mut PgConnection,
    entry_id: Uuid,
    pending: Option<(Uuid, &PendingOffer)>,
) -> sqlx::Result<()> {
    let offer = pending
        .map(|(_, offer)| serde_json::to_value(offer))
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "UPDATE entries SET pending_request_id = $2, pending_offer = $3,
                offer_section_id = COALESCE($4, offer_section_id), updated_at = now()
          WHERE id = $1",
    )
    .bind(entry_id)
    .bind(pending.map(|p| p.0))
    .bind(offer)
    .bind(pending.map(|p| p.1.seats.section_id.as_uuid()))
    .execute(conn)
    .await?;
    Ok(())
}

/// End every live entry of an event (it was cancelled); returns how many.
pub async fn end_all(conn: &mut PgConnection, event_id: EventId) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE entries SET status = 'expired', pending_request_id = NULL, pending_offer = NULL,
                updated_at = now()
          WHERE event_id = $1 AND status IN ('waiting', 'offered')",
    )
    .bind(event_id.as_uuid())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The offer hold exists: the entry is `offered`.
pub struct Offer<'a> {
    pub hold_id: Uuid,
    pub seats: &'a [String],
    pub section_id: Option<Uuid>,
    pub quantity: i32,
    pub total: i64,
    pub currency: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn set_offered(
    conn: &mut PgConnection,
    entry_id: Uuid,
    offer: Offer<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entries
            SET status = 'offered', pending_request_id = NULL, pending_offer = NULL, hold_id = $2, offer_seats = $3,
                offer_section_id = $4, offer_quantity = $5, offer_total = $6, offer_currency = $7,
                offer_expires_at = $8, updated_at = now()
          WHERE id = $1",
    )
    .bind(entry_id)
    .bind(offer.hold_id)
    .bind(serde_json::json!(offer.seats))
    .bind(offer.section_id)
    .bind(offer.quantity)
    .bind(offer.total)
    .bind(offer.currency)
    .bind(offer.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut PgConnection,
    entry_id: Uuid,
    status: &str,
    booking_id: Option<Uuid>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE entries SET status = $2, booking_id = COALESCE($3, booking_id),
                pending_request_id = NULL, pending_offer = NULL, updated_at = now()
          WHERE id = $1",
    )
    .bind(entry_id)
    .bind(status)
    .bind(booking_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `limit` queued messages in order, locked so that two relays never
/// publish the same rows (the second waits, which also keeps the order).
pub async fn outbox_batch(
    conn: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String, String, String, serde_json::Value)>> {
    sqlx::query_as(
        "SELECT id, topic, message_key, message_type, envelope FROM outbox
          ORDER BY id LIMIT $1 FOR UPDATE",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Delete exactly the published rows (a row with a smaller id may commit later).
pub async fn outbox_delete(conn: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
