//! Writing one partition's batch: a single transaction that first checks the
//! partition is still ours (the fence), then writes each table in turn, the
//! outbox and the next offset, so the offset moves if and only if the
//! decisions it covers are stored.

use super::batch::{
    BatchWrite, CancelledBooking, ClaimUpdate, CommandResult, CounterMove, EndedHold, NewBooking,
    NewHold, SeatClaim, SeatKey, SectionKey,
};
use super::new_event::insert_event;
use super::outbox::{insert_outbox, OutboxRow};
use crate::domain::{EventStatus, PaymentStatus, SeatStatus};
use chrono::{DateTime, Utc};
use common_types::{EventId, SeatId};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another instance claimed the partition since we did: we must not write.
    #[error("partition {0} is owned by a newer generation")]
    Fenced(i32),
    /// Booking references are unique across all events, but the decision
    /// only knows its own event's: these were taken elsewhere meanwhile.
    #[error("booking references taken by other events: {0:?}")]
    ReferencesTaken(Vec<String>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The partition a batch belongs to, the generation we claimed it at, and
/// the offset processing resumes at once the batch is stored.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub generation: i64,
    pub next_offset: i64,
}

/// Write a batch and move the partition's offset, in one transaction, if and
/// only if we still own the partition. Returns the outbox rows to publish.
#[tracing::instrument(skip(pool, batch), fields(commands = batch.commands))]
pub async fn commit(
    pool: &PgPool,
    at: Checkpoint<'_>,
    batch: BatchWrite,
    committed_by: &str,
) -> Result<Vec<OutboxRow>, CommitError> {
    let mut tx = pool.begin().await?;
    if let Err(fenced) = fence(&mut tx, at).await {
        tx.rollback().await?;
        return Err(fenced);
    }
    for event in &batch.events {
        insert_event(&mut tx, at.partition, event).await?;
    }
    set_event_status(&mut tx, &batch.event_status).await?;
    set_starts_at(&mut tx, &batch.rescheduled).await?;
    set_waitlist(&mut tx, &batch.waitlist).await?;
    // Holds and bookings that existed before this batch: end them first, so
    // their seat claims are dead before new claims on the same seats arrive.
    end_holds(&mut tx, &batch.ended_holds).await?;
    update_claims(&mut tx, &batch.claim_updates()).await?;
    cancel_bookings(&mut tx, &batch.cancelled_bookings).await?;
    insert_holds(&mut tx, &batch.new_holds).await?;
    match insert_bookings(&mut tx, &batch.new_bookings).await {
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("bookings_reference_key") => {
            drop(tx);
            let taken = taken_references(pool, &batch.new_bookings).await?;
            return Err(CommitError::ReferencesTaken(taken));
        }
        other => other?,
    }
    insert_seat_claims(&mut tx, &batch.seat_claims()).await?;
    set_seat_status(&mut tx, &batch.seat_status).await?;
    move_counters(&mut tx, &batch.counter_moves()).await?;
    set_payment_status(&mut tx, &batch.payments).await?;
    insert_results(&mut tx, &batch.results).await?;
    let published = insert_outbox(&mut tx, at.partition, batch.outbox).await?;
    notify_outcomes(&mut tx, committed_by).await?;
    tx.commit().await?;
    Ok(published)
}

/// First, so the row lock orders us against a new owner's claim: either we
/// commit before it claims (and it loads our writes) or we see its
/// generation here and write nothing.
async fn fence(tx: &mut PgConnection, at: Checkpoint<'_>) -> Result<(), CommitError> {
    let moved = sqlx::query(
        "UPDATE partition_offsets SET next_offset = $4, updated_at = now()
         WHERE topic = $1 AND partition = $2 AND generation = $3",
    )
    .bind(at.topic)
    .bind(at.partition)
    .bind(at.generation)
    .bind(at.next_offset)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(CommitError::Fenced(at.partition));
    }
    Ok(())
}

async fn set_event_status(
    tx: &mut PgConnection,
    statuses: &HashMap<EventId, EventStatus>,
) -> Result<(), sqlx::Error> {
    for (event_id, status) in statuses {
        sqlx::query("UPDATE events SET status = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn set_starts_at(
    tx: &mut PgConnection,
    starts: &HashMap<EventId, DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    for (event_id, starts_at) in starts {
        sqlx::query("UPDATE events SET starts_at = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(starts_at)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn set_waitlist(
    tx: &mut PgConnection,
    flags: &HashMap<EventId, bool>,
) -> Result<(), sqlx::Error> {
    for (event_id, active) in flags {
        sqlx::query("UPDATE events SET waitlist_active = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(active)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn end_holds(tx: &mut PgConnection, holds: &[EndedHold]) -> Result<(), sqlx::Error> {
    if holds.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE holds h SET status = v.status, ended_at = v.at
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(hold_id, status, at)
         WHERE h.hold_id = v.hold_id",
    )
    .bind(column(holds, |h| h.hold_id.0))
    .bind(column(holds, |h| h.end.status().as_str()))
    .bind(column(holds, |h| h.at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn update_claims(tx: &mut PgConnection, updates: &[ClaimUpdate]) -> Result<(), sqlx::Error> {
    if updates.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE seat_claims c SET live = v.live, booking_id = v.booking_id
         FROM unnest($1::uuid[], $2::bool[], $3::uuid[]) AS v(hold_id, live, booking_id)
         WHERE c.hold_id = v.hold_id",
    )
    .bind(column(updates, |u| u.hold_id.0))
    .bind(column(updates, |u| u.live))
    .bind(column(updates, |u| u.booking_id.map(|b| b.0)))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Cancels bookings an earlier batch wrote, and frees their seat claims.
async fn cancel_bookings(
    tx: &mut PgConnection,
    bookings: &[CancelledBooking],
) -> Result<(), sqlx::Error> {
    if bookings.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = bookings.iter().map(|b| b.booking_id.0).collect();
    sqlx::query(
        "UPDATE bookings b SET status = 'cancelled', refund_amount = v.refund,
                cancelled_by = v.by, cancelled_at = v.at
         FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::timestamptz[])
              AS v(booking_id, refund, by, at)
         WHERE b.booking_id = v.booking_id",
    )
    .bind(&ids)
    .bind(column(bookings, |b| b.cancellation.refund.amount))
    .bind(column(bookings, |b| b.cancellation.by.map(|u| u.0)))
    .bind(column(bookings, |b| b.cancellation.at))
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE seat_claims SET live = FALSE WHERE booking_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn insert_holds(tx: &mut PgConnection, holds: &[NewHold]) -> Result<(), sqlx::Error> {
    if holds.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO holds (hold_id, event_id, user_id, section_id, seat_ids, quantity,
                            total_price, currency, expires_at, status, waitlist_entry_id,
                            created_at, ended_at)
         SELECT v.hold_id, v.event_id, v.user_id, v.section_id,
                CASE WHEN v.seats = '' THEN '{}'::text[] ELSE string_to_array(v.seats, ',') END,
                v.quantity, v.total, v.currency, v.expires_at, v.status, v.entry,
                v.created_at, v.ended_at
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int4[],
                     $7::int8[], $8::text[], $9::timestamptz[], $10::text[], $11::uuid[],
                     $12::timestamptz[], $13::timestamptz[])
           AS v(hold_id, event_id, user_id, section_id, seats, quantity, total, currency,
                expires_at, status, entry, created_at, ended_at)",
    )
    .bind(column(holds, |h| h.hold.id.0))
    .bind(column(holds, |h| h.event_id.0))
    .bind(column(holds, |h| h.hold.user_id.0))
    .bind(column(holds, |h| h.hold.section_id.map(|s| s.0)))
    .bind(column(holds, |h| join(&h.hold.seats)))
    .bind(column(holds, |h| clamp(h.hold.quantity)))
    .bind(column(holds, |h| h.hold.total.amount))
    .bind(column(holds, |h| h.hold.total.currency.to_string()))
    .bind(column(holds, |h| h.hold.expires_at))
    .bind(column(holds, |h| h.status.as_str()))
    .bind(column(holds, |h| h.hold.waitlist_entry_id.map(Uuid::from)))
    .bind(column(holds, |h| h.created_at))
    .bind(column(holds, |h| h.ended_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_bookings(
    tx: &mut PgConnection,
    bookings: &[NewBooking],
) -> Result<(), sqlx::Error> {
    if bookings.is_empty() {
        return Ok(());
    }
    let cancelled = |b: &NewBooking| b.cancellation;
    sqlx::query(
        "INSERT INTO bookings (booking_id, reference, hold_id, event_id, user_id, section_id,
                               seat_ids, quantity, total_price, currency, status, payment_id,
                               refund_amount, cancelled_by, waitlist_entry_id, created_at,
                               cancelled_at)
         SELECT v.booking_id, v.reference, v.hold_id, v.event_id, v.user_id, v.section_id,
                CASE WHEN v.seats = '' THEN '{}'::text[] ELSE string_to_array(v.seats, ',') END,
                v.quantity, v.total, v.currency,
                CASE WHEN v.refund IS NULL THEN 'confirmed' ELSE 'cancelled' END,
                v.payment_id, v.refund, v.by, v.entry, v.created_at, v.cancelled_at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[],
                     $7::text[], $8::int4[], $9::int8[], $10::text[], $11::text[],
                     $12::int8[], $13::uuid[], $14::uuid[], $15::timestamptz[],
                     $16::timestamptz[])
           AS v(booking_id, reference, hold_id, event_id, user_id, section_id, seats,
                quantity, total, currency, payment_id, refund, by, entry, created_at,
                cancelled_at)",
    )
    .bind(column(bookings, |b| b.booking.id.0))
    .bind(column(bookings, |b| b.booking.reference.as_str()))
    .bind(column(bookings, |b| b.booking.hold_id.0))
    .bind(column(bookings, |b| b.event_id.0))
    .bind(column(bookings, |b| b.booking.user_id.0))
    .bind(column(bookings, |b| b.booking.section_id.map(|s| s.0)))
    .bind(column(bookings, |b| join(&b.booking.seats)))
    .bind(column(bookings, |b| clamp(b.booking.quantity)))
    .bind(column(bookings, |b| b.booking.total.amount))
    .bind(column(bookings, |b| b.booking.total.currency.to_string()))
    .bind(column(bookings, |b| b.booking.payment_id.as_str()))
    .bind(column(bookings, |b| cancelled(b).map(|c| c.refund.amount)))
    .bind(column(bookings, |b| {
        cancelled(b).and_then(|c| c.by).map(|u| u.0)
    }))
    .bind(column(bookings, |b| {
        b.booking.waitlist_entry_id.map(Uuid::from)
    }))
    .bind(column(bookings, |b| b.created_at))
    .bind(column(bookings, |b| cancelled(b).map(|c| c.at)))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The processor knows only its own events' references; say which ones
/// another event holds, so they are not chosen again.
async fn taken_references(
    pool: &PgPool,
    bookings: &[NewBooking],
) -> Result<Vec<String>, sqlx::Error> {
    let references: Vec<&str> = bookings
        .iter()
        .map(|b| b.booking.reference.as_str())
        .collect();
    sqlx::query_scalar("SELECT reference FROM bookings WHERE reference = ANY($1)")
        .bind(&references)
        .fetch_all(pool)
        .await
}

async fn insert_seat_claims(
    tx: &mut PgConnection,
    claims: &[SeatClaim],
) -> Result<(), sqlx::Error> {
    if claims.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO seat_claims (event_id, seat_id, hold_id, booking_id, live)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bool[])",
    )
    .bind(column(claims, |c| c.event_id.0))
    .bind(column(claims, |c| c.seat_id.as_str()))
    .bind(column(claims, |c| c.hold_id.0))
    .bind(column(claims, |c| c.booking_id.map(|b| b.0)))
    .bind(column(claims, |c| c.live))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn set_seat_status(
    tx: &mut PgConnection,
    seats: &HashMap<SeatKey, SeatStatus>,
) -> Result<(), sqlx::Error> {
    if seats.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE seats s SET status = v.status
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(event_id, seat_id, status)
         WHERE s.event_id = v.event_id AND s.seat_id = v.seat_id",
    )
    .bind(seats.keys().map(|k| k.event_id.0).collect::<Vec<_>>())
    .bind(seats.keys().map(|k| k.seat_id.as_str()).collect::<Vec<_>>())
    .bind(seats.values().map(SeatStatus::as_str).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn move_counters(
    tx: &mut PgConnection,
    moves: &[(SectionKey, CounterMove)],
) -> Result<(), sqlx::Error> {
    if moves.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE sections s SET available = s.available + v.da, parked = s.parked + v.dp
         FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::int4[])
              AS v(event_id, section_id, da, dp)
         WHERE s.event_id = v.event_id AND s.section_id = v.section_id",
    )
    .bind(column(moves, |(k, _)| k.event_id.0))
    .bind(column(moves, |(k, _)| k.section_id.0))
    .bind(column(moves, |(_, m)| clamp_i(m.available)))
    .bind(column(moves, |(_, m)| clamp_i(m.parked)))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Only payments still in the processor's hands move; one the refund worker
/// already settled keeps its status.
async fn set_payment_status(
    tx: &mut PgConnection,
    payments: &HashMap<String, PaymentStatus>,
) -> Result<(), sqlx::Error> {
    if payments.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE payments p SET status = v.status, updated_at = now()
         FROM unnest($1::text[], $2::text[]) AS v(payment_id, status)
         WHERE p.payment_id = v.payment_id AND p.status IN ('authorized', 'captured')",
    )
    .bind(payments.keys().map(String::as_str).collect::<Vec<_>>())
    .bind(payments.values().map(|s| s.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_results(
    tx: &mut PgConnection,
    results: &[CommandResult],
) -> Result<(), sqlx::Error> {
    if results.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO command_results (request_id, event_id, user_id, outcome)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::jsonb[])
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(column(results, |r| r.request_id.0))
    .bind(column(results, |r| r.event_id.0))
    .bind(column(results, |r| r.user_id.map(|u| u.0)))
    .bind(column(results, |r| r.outcome.clone()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Delivered at commit: other instances' waiting requests read their
/// outcomes from command_results (crate::replies).
async fn notify_outcomes(tx: &mut PgConnection, committed_by: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::replies::OUTCOMES_CHANNEL)
        .bind(committed_by)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn join(seats: &[SeatId]) -> String {
    seats
        .iter()
        .map(SeatId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn clamp(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn clamp_i(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

/// One column of `rows`, to bind as a PostgreSQL array for `unnest`.
pub(super) fn column<'a, R, T>(rows: &'a [R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(field).collect()
}
