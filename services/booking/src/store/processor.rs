//! The processor's side of PostgreSQL: claiming a partition (fencing),
//! loading its state, and writing one batch of decisions with the consumed
//! offset in one transaction.

use crate::domain::{
    Booking, Change, Decision, EventState, Hold, HoldEnd, Inventory, Seat, SeatStatus, Section,
    SectionKind,
};
use chrono::{DateTime, Utc};
use common_types::messages::booking::BookingOutcome;
use common_types::messages::lifecycle::{EventSnapshot, SectionLayout};
use common_types::{
    BookingId, Currency, Envelope, EventId, HoldId, MessageType, Money, RequestId, SeatId,
    SectionId, UserId,
};
use sqlx::{PgPool, Postgres, Row, Transaction};
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

/// Where a partition's processing resumes, and the generation that fences it.
#[derive(Debug, Clone, Copy)]
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
    let row = sqlx::query(
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
    .await?;
    Ok(Claim {
        generation: row.try_get("generation")?,
        next_offset: row.try_get("next_offset")?,
    })
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
    let rows = sqlx::query("SELECT partition, next_offset FROM partition_offsets WHERE topic = $1")
        .bind(topic)
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("partition")?, r.try_get("next_offset")?)))
        .collect()
}

fn seat_ids(raw: Vec<String>) -> Vec<SeatId> {
    raw.into_iter()
        .filter_map(|s| SeatId::parse(s).ok())
        .collect()
}

/// Rebuild the in-memory inventory of every event owned by `partition`.
#[tracing::instrument(skip(pool))]
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

pub async fn load_partition(
    pool: &PgPool,
    partition: i32,
    default_hold_ttl_secs: u32,
) -> anyhow::Result<Inventory> {
    let mut inv = Inventory::new(default_hold_ttl_secs);
    let rows = sqlx::query(
        "SELECT event_id, organizer_id, starts_at, sales_start, sales_end, currency,
                max_tickets_per_user, status, waitlist_active
         FROM events WHERE kafka_partition = $1",
    )
    .bind(partition)
    .fetch_all(pool)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("event_id")?;
        ids.push(id);
        let currency: String = row.try_get("currency")?;
        let max: Option<i32> = row.try_get("max_tickets_per_user")?;
        let status: String = row.try_get("status")?;
        inv.events.insert(
            EventId(id),
            EventState {
                id: EventId(id),
                organizer_id: UserId(row.try_get("organizer_id")?),
                starts_at: row.try_get("starts_at")?,
                sales_start: row.try_get("sales_start")?,
                sales_end: row.try_get("sales_end")?,
                currency: Currency::parse(&currency)?,
                max_per_user: max.and_then(|m| u32::try_from(m).ok()),
                cancelled: status == "cancelled",
                waitlist_active: row.try_get("waitlist_active")?,
                sections: HashMap::new(),
                seats: HashMap::new(),
                holds: HashMap::new(),
                bookings: HashMap::new(),
                per_user: HashMap::new(),
                expiries: Default::default(),
                references: Default::default(),
            },
        );
    }
    if ids.is_empty() {
        return Ok(inv);
    }
    for row in sqlx::query(
        "SELECT event_id, section_id, price, kind, capacity, available, parked
         FROM sections WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    {
        let event_id = EventId(row.try_get("event_id")?);
        let id = SectionId(row.try_get("section_id")?);
        let kind: String = row.try_get("kind")?;
        let n = |c: &str| -> anyhow::Result<u32> { Ok(u32::try_from(row.try_get::<i32, _>(c)?)?) };
        let kind = if kind == "general" {
            SectionKind::General {
                capacity: n("capacity")?,
                available: n("available")?,
                parked: n("parked")?,
            }
        } else {
            SectionKind::Reserved
        };
        if let Some(ev) = inv.events.get_mut(&event_id) {
            ev.sections.insert(
                id,
                Section {
                    id,
                    price: Money {
                        amount: row.try_get("price")?,
                        currency: ev.currency,
                    },
                    kind,
                },
            );
        }
    }
    for row in sqlx::query(
        "SELECT event_id, seat_id, section_id, status FROM seats WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    {
        let event_id = EventId(row.try_get("event_id")?);
        let status: String = row.try_get("status")?;
        let Ok(seat_id) = SeatId::parse(row.try_get::<String, _>("seat_id")?) else {
            continue;
        };
        if let Some(ev) = inv.events.get_mut(&event_id) {
            ev.seats.insert(
                seat_id,
                Seat {
                    section_id: SectionId(row.try_get("section_id")?),
                    // Held and booked are restored from the holds and bookings below.
                    status: if status == "released_to_waitlist" {
                        SeatStatus::Parked
                    } else {
                        SeatStatus::Available
                    },
                },
            );
        }
    }
    for row in sqlx::query(
        "SELECT hold_id, event_id, user_id, section_id, seat_ids, quantity, total_price,
                currency, expires_at, waitlist_entry_id
         FROM holds WHERE event_id = ANY($1) AND status = 'active'",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    {
        let event_id = EventId(row.try_get("event_id")?);
        let hold = Hold {
            id: HoldId(row.try_get("hold_id")?),
            user_id: UserId(row.try_get("user_id")?),
            seats: seat_ids(row.try_get("seat_ids")?),
            section_id: row.try_get::<Option<Uuid>, _>("section_id")?.map(SectionId),
            quantity: u32::try_from(row.try_get::<i32, _>("quantity")?)?,
            total: Money {
                amount: row.try_get("total_price")?,
                currency: Currency::parse(&row.try_get::<String, _>("currency")?)?,
            },
            expires_at: row.try_get("expires_at")?,
            waitlist_entry_id: row
                .try_get::<Option<Uuid>, _>("waitlist_entry_id")?
                .map(Into::into),
        };
        if let Some(ev) = inv.events.get_mut(&event_id) {
            ev.insert_hold(hold);
        }
    }
    for row in sqlx::query(
        "SELECT booking_id, reference, hold_id, event_id, user_id, section_id, seat_ids,
                quantity, total_price, currency, payment_id, status, waitlist_entry_id
         FROM bookings WHERE event_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    {
        let event_id = EventId(row.try_get("event_id")?);
        let status: String = row.try_get("status")?;
        let booking = Booking {
            id: BookingId(row.try_get("booking_id")?),
            reference: row.try_get("reference")?,
            hold_id: HoldId(row.try_get("hold_id")?),
            user_id: UserId(row.try_get("user_id")?),
            seats: seat_ids(row.try_get("seat_ids")?),
            section_id: row.try_get::<Option<Uuid>, _>("section_id")?.map(SectionId),
            quantity: u32::try_from(row.try_get::<i32, _>("quantity")?)?,
            total: Money {
                amount: row.try_get("total_price")?,
                currency: Currency::parse(&row.try_get::<String, _>("currency")?)?,
            },
            payment_id: row.try_get("payment_id")?,
            cancelled: status != "confirmed",
            waitlist_entry_id: row
                .try_get::<Option<Uuid>, _>("waitlist_entry_id")?
                .map(Into::into),
        };
        if let Some(ev) = inv.events.get_mut(&event_id) {
            ev.insert_booking(booking);
        }
    }
    Ok(inv)
}

/// Outbox rows left by a crash between commit and publish.
pub async fn pending_outbox(pool: &PgPool, partition: i32) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, message_key, message_type, payload FROM outbox
         WHERE kafka_partition = $1 ORDER BY seq",
    )
    .bind(partition)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OutboxRow {
                seq: r.try_get("seq")?,
                key: r.try_get("message_key")?,
                message_type: r.try_get("message_type")?,
                payload: serde_json::to_vec(&r.try_get::<serde_json::Value, _>("payload")?)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            })
        })
        .collect()
}

pub async fn delete_outbox(pool: &PgPool, seqs: &[i64]) -> Result<(), sqlx::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
        .bind(seqs)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub key: String,
    pub message_type: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone)]
struct NewHold {
    event_id: EventId,
    hold: Hold,
    currency: Currency,
    at: DateTime<Utc>,
    status: &'static str,
    ended_at: Option<DateTime<Utc>>,
    booking_id: Option<BookingId>,
}

#[derive(Debug, Clone)]
struct NewBooking {
    event_id: EventId,
    booking: Booking,
    currency: Currency,
    at: DateTime<Utc>,
    refund: Option<(i64, Option<UserId>, DateTime<Utc>)>,
}

/// Everything one partition's batch changes, folded so that a row created and
/// changed within the batch is written once in its final state.
#[derive(Debug, Default)]
pub struct BatchWrite {
    events: Vec<EventSnapshot>,
    event_status: HashMap<EventId, &'static str>,
    rescheduled: HashMap<EventId, DateTime<Utc>>,
    waitlist: HashMap<EventId, bool>,
    new_holds: Vec<NewHold>,
    new_hold_ix: HashMap<HoldId, usize>,
    ended_holds: Vec<(HoldId, HoldEnd, DateTime<Utc>)>,
    new_bookings: Vec<NewBooking>,
    new_booking_ix: HashMap<BookingId, usize>,
    cancelled_bookings: Vec<(BookingId, i64, Option<UserId>, DateTime<Utc>)>,
    seat_status: HashMap<(EventId, SeatId), SeatStatus>,
    ga: HashMap<(EventId, SectionId), (i64, i64)>,
    payments: HashMap<String, &'static str>,
    results: Vec<(RequestId, EventId, Option<UserId>, serde_json::Value)>,
    outbox: Vec<(String, &'static str, serde_json::Value)>,
    /// Outcomes a client may be waiting for (those with a request id).
    answers: Vec<BookingOutcome>,
    pub commands: usize,
}

impl BatchWrite {
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// The outcomes waiting clients asked for, to hand over once committed.
    pub fn take_answers(&mut self) -> Vec<BookingOutcome> {
        std::mem::take(&mut self.answers)
    }

    /// Fold one command's decision in. `actor` is who sent the command (for polling).
    pub fn record(
        &mut self,
        command_id: Uuid,
        actor: Option<UserId>,
        decision: Decision,
    ) -> Result<(), serde_json::Error> {
        self.commands += 1;
        for change in decision.changes {
            self.change(change);
        }
        for (i, outcome) in decision.outcomes.into_iter().enumerate() {
            // Outcome ids derive from the command's id, so a re-published
            // outbox row or a replayed command carries the same message id.
            let id = outcome_id(command_id, i);
            let message_type = outcome.message_type();
            let key = outcome.event_id().to_string();
            if let Some(request_id) = outcome.request_id() {
                self.results.push((
                    request_id,
                    outcome.event_id(),
                    actor,
                    serde_json::to_value(&outcome)?,
                ));
                self.answers.push(outcome.clone());
            }
            let envelope = Envelope::with_id(id, outcome);
            self.outbox
                .push((key, message_type, serde_json::to_value(&envelope)?));
        }
        Ok(())
    }

    fn change(&mut self, change: Change) {
        match change {
            Change::EventCreated(snapshot) => self.events.push(*snapshot),
            Change::EventCancelled { event_id } => {
                self.event_status.insert(event_id, "cancelled");
            }
            Change::EventRescheduled {
                event_id,
                starts_at,
            } => {
                self.rescheduled.insert(event_id, starts_at);
            }
            Change::WaitlistFlag { event_id, active } => {
                self.waitlist.insert(event_id, active);
            }
            Change::HoldCreated { event_id, hold, at } => {
                let currency = hold.total.currency;
                self.new_hold_ix.insert(hold.id, self.new_holds.len());
                self.new_holds.push(NewHold {
                    event_id,
                    hold,
                    currency,
                    at,
                    status: "active",
                    ended_at: None,
                    booking_id: None,
                });
            }
            Change::HoldEnded { hold_id, end, at } => {
                if let Some(&ix) = self.new_hold_ix.get(&hold_id) {
                    let h = &mut self.new_holds[ix];
                    h.status = end.status().as_str();
                    h.ended_at = Some(at);
                    if let HoldEnd::Confirmed(b) = end {
                        h.booking_id = Some(b);
                    }
                } else {
                    self.ended_holds.push((hold_id, end, at));
                }
            }
            Change::BookingCreated {
                event_id,
                booking,
                at,
            } => {
                let currency = booking.total.currency;
                self.new_booking_ix
                    .insert(booking.id, self.new_bookings.len());
                self.new_bookings.push(NewBooking {
                    event_id,
                    booking,
                    currency,
                    at,
                    refund: None,
                });
            }
            Change::BookingCancelled {
                booking_id,
                refund,
                by,
                at,
            } => {
                let refund_amount = refund.amount;
                if let Some(&ix) = self.new_booking_ix.get(&booking_id) {
                    self.new_bookings[ix].refund = Some((refund_amount, by, at));
                } else {
                    self.cancelled_bookings
                        .push((booking_id, refund_amount, by, at));
                }
            }
            Change::SeatStatus {
                event_id,
                seat_id,
                status,
            } => {
                self.seat_status.insert((event_id, seat_id), status);
            }
            Change::GaDelta {
                event_id,
                section_id,
                available,
                parked,
            } => {
                let e = self.ga.entry((event_id, section_id)).or_default();
                e.0 += available;
                e.1 += parked;
            }
            Change::PaymentCaptured { payment_id } => {
                self.payments.insert(payment_id, "captured");
            }
            Change::PaymentRefundDue { payment_id } => {
                self.payments.insert(payment_id, "refund_due");
            }
        }
    }

    fn booking_cancelled_in_batch(&self, id: BookingId) -> bool {
        self.new_booking_ix
            .get(&id)
            .is_some_and(|&ix| self.new_bookings[ix].refund.is_some())
    }
}

/// Write a batch and move the partition's offset to `next_offset`, in one
/// transaction, if and only if we still own the partition at `generation`.
/// Returns the outbox rows to publish.
#[tracing::instrument(skip(pool, batch), fields(commands = batch.commands))]
pub async fn commit(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    generation: i64,
    next_offset: i64,
    batch: BatchWrite,
    committed_by: &str,
) -> Result<Vec<OutboxRow>, CommitError> {
    let mut tx = pool.begin().await?;
    // First, so the row lock orders us against a new owner's claim: either
    // we commit before it claims (and it loads our writes) or we see its
    // generation here and write nothing.
    let fenced = sqlx::query(
        "UPDATE partition_offsets SET next_offset = $4, updated_at = now()
         WHERE topic = $1 AND partition = $2 AND generation = $3",
    )
    .bind(topic)
    .bind(partition)
    .bind(generation)
    .bind(next_offset)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 0;
    if fenced {
        tx.rollback().await?;
        return Err(CommitError::Fenced(partition));
    }
    for event in &batch.events {
        insert_event(&mut tx, partition, event).await?;
    }
    for (event_id, status) in &batch.event_status {
        sqlx::query("UPDATE events SET status = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(*status)
            .execute(&mut *tx)
            .await?;
    }
    for (event_id, starts_at) in &batch.rescheduled {
        sqlx::query("UPDATE events SET starts_at = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(starts_at)
            .execute(&mut *tx)
            .await?;
    }
    for (event_id, active) in &batch.waitlist {
        sqlx::query("UPDATE events SET waitlist_active = $2 WHERE event_id = $1")
            .bind(event_id.0)
            .bind(active)
            .execute(&mut *tx)
            .await?;
    }

    // Holds and bookings that existed before this batch: end them first, so
    // their seat claims are dead before new claims on the same seats arrive.
    if !batch.ended_holds.is_empty() {
        let ids: Vec<Uuid> = batch.ended_holds.iter().map(|h| h.0 .0).collect();
        let statuses: Vec<&str> = batch
            .ended_holds
            .iter()
            .map(|h| h.1.status().as_str())
            .collect();
        let ats: Vec<DateTime<Utc>> = batch.ended_holds.iter().map(|h| h.2).collect();
        let bookings: Vec<Option<Uuid>> = batch
            .ended_holds
            .iter()
            .map(|h| match h.1 {
                HoldEnd::Confirmed(b) => Some(b.0),
                _ => None,
            })
            .collect();
        let live: Vec<bool> = batch
            .ended_holds
            .iter()
            .map(|h| match h.1 {
                HoldEnd::Confirmed(b) => !batch.booking_cancelled_in_batch(b),
                _ => false,
            })
            .collect();
        sqlx::query(
            "UPDATE holds h SET status = v.status, ended_at = v.at
             FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(hold_id, status, at)
             WHERE h.hold_id = v.hold_id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE seat_claims c SET live = v.live, booking_id = v.booking_id
             FROM unnest($1::uuid[], $2::bool[], $3::uuid[]) AS v(hold_id, live, booking_id)
             WHERE c.hold_id = v.hold_id",
        )
        .bind(&ids)
        .bind(&live)
        .bind(&bookings)
        .execute(&mut *tx)
        .await?;
    }
    if !batch.cancelled_bookings.is_empty() {
        let ids: Vec<Uuid> = batch.cancelled_bookings.iter().map(|b| b.0 .0).collect();
        let refunds: Vec<i64> = batch.cancelled_bookings.iter().map(|b| b.1).collect();
        let by: Vec<Option<Uuid>> = batch
            .cancelled_bookings
            .iter()
            .map(|b| b.2.map(|u| u.0))
            .collect();
        let ats: Vec<DateTime<Utc>> = batch.cancelled_bookings.iter().map(|b| b.3).collect();
        sqlx::query(
            "UPDATE bookings b SET status = 'cancelled', refund_amount = v.refund,
                    cancelled_by = v.by, cancelled_at = v.at
             FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::timestamptz[])
                  AS v(booking_id, refund, by, at)
             WHERE b.booking_id = v.booking_id",
        )
        .bind(&ids)
        .bind(&refunds)
        .bind(&by)
        .bind(&ats)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE seat_claims SET live = FALSE WHERE booking_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }

    if !batch.new_holds.is_empty() {
        let h = &batch.new_holds;
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
        .bind(h.iter().map(|h| h.hold.id.0).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.event_id.0).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.hold.user_id.0).collect::<Vec<_>>())
        .bind(
            h.iter()
                .map(|h| h.hold.section_id.map(|s| s.0))
                .collect::<Vec<_>>(),
        )
        .bind(h.iter().map(|h| join(&h.hold.seats)).collect::<Vec<_>>())
        .bind(h.iter().map(|h| clamp(h.hold.quantity)).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.hold.total.amount).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.currency.to_string()).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.hold.expires_at).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.status).collect::<Vec<_>>())
        .bind(
            h.iter()
                .map(|h| h.hold.waitlist_entry_id.map(Uuid::from))
                .collect::<Vec<_>>(),
        )
        .bind(h.iter().map(|h| h.at).collect::<Vec<_>>())
        .bind(h.iter().map(|h| h.ended_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !batch.new_bookings.is_empty() {
        let b = &batch.new_bookings;
        let references: Vec<String> = b.iter().map(|b| b.booking.reference.clone()).collect();
        let inserted = sqlx::query(
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
        .bind(b.iter().map(|b| b.booking.id.0).collect::<Vec<_>>())
        .bind(&references)
        .bind(b.iter().map(|b| b.booking.hold_id.0).collect::<Vec<_>>())
        .bind(b.iter().map(|b| b.event_id.0).collect::<Vec<_>>())
        .bind(b.iter().map(|b| b.booking.user_id.0).collect::<Vec<_>>())
        .bind(
            b.iter()
                .map(|b| b.booking.section_id.map(|s| s.0))
                .collect::<Vec<_>>(),
        )
        .bind(b.iter().map(|b| join(&b.booking.seats)).collect::<Vec<_>>())
        .bind(
            b.iter()
                .map(|b| clamp(b.booking.quantity))
                .collect::<Vec<_>>(),
        )
        .bind(b.iter().map(|b| b.booking.total.amount).collect::<Vec<_>>())
        .bind(b.iter().map(|b| b.currency.to_string()).collect::<Vec<_>>())
        .bind(
            b.iter()
                .map(|b| b.booking.payment_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(b.iter().map(|b| b.refund.map(|r| r.0)).collect::<Vec<_>>())
        .bind(
            b.iter()
                .map(|b| b.refund.and_then(|r| r.1).map(|u| u.0))
                .collect::<Vec<_>>(),
        )
        .bind(
            b.iter()
                .map(|b| b.booking.waitlist_entry_id.map(Uuid::from))
                .collect::<Vec<_>>(),
        )
        .bind(b.iter().map(|b| b.at).collect::<Vec<_>>())
        .bind(b.iter().map(|b| b.refund.map(|r| r.2)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("bookings_reference_key") => {
                drop(tx);
                // The processor knows only its own events' references; say
                // which ones another event holds, so they are not chosen again.
                let taken =
                    sqlx::query_scalar("SELECT reference FROM bookings WHERE reference = ANY($1)")
                        .bind(&references)
                        .fetch_all(pool)
                        .await?;
                return Err(CommitError::ReferencesTaken(taken));
            }
            other => other?,
        };
    }
    // Seat claims of holds created in this batch, in their final state.
    let mut claim_event = Vec::new();
    let mut claim_seat = Vec::new();
    let mut claim_hold = Vec::new();
    let mut claim_booking = Vec::new();
    let mut claim_live = Vec::new();
    for h in &batch.new_holds {
        let live = match h.status {
            "active" => true,
            "confirmed" => h
                .booking_id
                .is_some_and(|b| !batch.booking_cancelled_in_batch(b)),
            _ => false,
        };
        for seat in &h.hold.seats {
            claim_event.push(h.event_id.0);
            claim_seat.push(seat.to_string());
            claim_hold.push(h.hold.id.0);
            claim_booking.push(h.booking_id.map(|b| b.0));
            claim_live.push(live);
        }
    }
    if !claim_seat.is_empty() {
        sqlx::query(
            "INSERT INTO seat_claims (event_id, seat_id, hold_id, booking_id, live)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bool[])",
        )
        .bind(&claim_event)
        .bind(&claim_seat)
        .bind(&claim_hold)
        .bind(&claim_booking)
        .bind(&claim_live)
        .execute(&mut *tx)
        .await?;
    }
    if !batch.seat_status.is_empty() {
        let mut events = Vec::with_capacity(batch.seat_status.len());
        let mut seats = Vec::with_capacity(batch.seat_status.len());
        let mut statuses = Vec::with_capacity(batch.seat_status.len());
        for ((event_id, seat_id), status) in &batch.seat_status {
            events.push(event_id.0);
            seats.push(seat_id.to_string());
            statuses.push(status.as_str());
        }
        sqlx::query(
            "UPDATE seats s SET status = v.status
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(event_id, seat_id, status)
             WHERE s.event_id = v.event_id AND s.seat_id = v.seat_id",
        )
        .bind(&events)
        .bind(&seats)
        .bind(&statuses)
        .execute(&mut *tx)
        .await?;
    }
    let ga: Vec<_> = batch
        .ga
        .iter()
        .filter(|(_, (a, p))| *a != 0 || *p != 0)
        .collect();
    if !ga.is_empty() {
        sqlx::query(
            "UPDATE sections s SET available = s.available + v.da, parked = s.parked + v.dp
             FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::int4[])
                  AS v(event_id, section_id, da, dp)
             WHERE s.event_id = v.event_id AND s.section_id = v.section_id",
        )
        .bind(ga.iter().map(|((e, _), _)| e.0).collect::<Vec<_>>())
        .bind(ga.iter().map(|((_, s), _)| s.0).collect::<Vec<_>>())
        .bind(ga.iter().map(|(_, (a, _))| clamp_i(*a)).collect::<Vec<_>>())
        .bind(ga.iter().map(|(_, (_, p))| clamp_i(*p)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !batch.payments.is_empty() {
        let ids: Vec<&str> = batch.payments.keys().map(String::as_str).collect();
        let statuses: Vec<&str> = batch.payments.values().copied().collect();
        sqlx::query(
            "UPDATE payments p SET status = v.status, updated_at = now()
             FROM unnest($1::text[], $2::text[]) AS v(payment_id, status)
             WHERE p.payment_id = v.payment_id AND p.status IN ('authorized', 'captured')",
        )
        .bind(&ids)
        .bind(&statuses)
        .execute(&mut *tx)
        .await?;
    }
    if !batch.results.is_empty() {
        let r = &batch.results;
        sqlx::query(
            "INSERT INTO command_results (request_id, event_id, user_id, outcome)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::jsonb[])
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(r.iter().map(|r| r.0 .0).collect::<Vec<_>>())
        .bind(r.iter().map(|r| r.1 .0).collect::<Vec<_>>())
        .bind(r.iter().map(|r| r.2.map(|u| u.0)).collect::<Vec<_>>())
        .bind(r.iter().map(|r| r.3.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    let mut published = Vec::new();
    if !batch.outbox.is_empty() {
        let o = &batch.outbox;
        let rows = sqlx::query(
            "INSERT INTO outbox (kafka_partition, message_key, message_type, payload)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::jsonb[])
             RETURNING seq",
        )
        .bind(partition)
        .bind(o.iter().map(|o| o.0.clone()).collect::<Vec<_>>())
        .bind(o.iter().map(|o| o.1).collect::<Vec<_>>())
        .bind(o.iter().map(|o| o.2.clone()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let mut seqs: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("seq"))
            .collect::<Result<_, _>>()?;
        // RETURNING gives no order guarantee; sequence values follow the input order.
        seqs.sort_unstable();
        for (seq, (key, message_type, payload)) in seqs.into_iter().zip(batch.outbox) {
            published.push(OutboxRow {
                seq,
                key,
                message_type: message_type.to_string(),
                payload: serde_json::to_vec(&payload)?,
            });
        }
    }
    // Delivered at commit: other instances' waiting requests read their
    // outcomes from command_results (crate::replies).
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::replies::OUTCOMES_CHANNEL)
        .bind(committed_by)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(published)
}

/// A stable id for the `index`-th outcome of a command (a name-based UUID).
fn outcome_id(command_id: Uuid, index: usize) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(command_id.as_bytes());
    hasher.update(index.to_le_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn join(seats: &[SeatId]) -> String {
    seats
        .iter()
        .map(SeatId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn clamp(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn clamp_i(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    partition: i32,
    event: &EventSnapshot,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (event_id, kafka_partition, organizer_id, title, starts_at,
                             sales_start, sales_end, currency, max_tickets_per_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.event_id.0)
    .bind(partition)
    .bind(event.organizer_id.0)
    .bind(&event.title)
    .bind(event.starts_at)
    .bind(event.sales_start)
    .bind(event.sales_end)
    .bind(event.currency.to_string())
    .bind(
        event
            .max_tickets_per_user
            .map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
    )
    .execute(&mut **tx)
    .await?;
    let mut sec_ids = Vec::new();
    let mut positions = Vec::new();
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    let mut prices = Vec::new();
    let mut capacities = Vec::new();
    let mut seat_ids = Vec::new();
    let mut seat_sections = Vec::new();
    let mut rows = Vec::new();
    let mut numbers = Vec::new();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (i, section) in event.sections.iter().enumerate() {
        sec_ids.push(section.id.0);
        positions.push(i32::try_from(i).unwrap_or(i32::MAX));
        names.push(section.name.clone());
        prices.push(section.price);
        match &section.layout {
            SectionLayout::General { capacity } => {
                kinds.push("general");
                capacities.push(clamp(*capacity));
            }
            SectionLayout::Reserved { seats } => {
                kinds.push("reserved");
                capacities.push(i32::try_from(seats.len()).unwrap_or(i32::MAX));
                for seat in seats {
                    seat_ids.push(seat.id.to_string());
                    seat_sections.push(section.id.0);
                    rows.push(seat.row.clone());
                    numbers.push(clamp(seat.number));
                    xs.push(seat.x);
                    ys.push(seat.y);
                }
            }
        }
    }
    sqlx::query(
        "INSERT INTO sections (event_id, section_id, position, name, kind, price, capacity, available)
         SELECT $1, v.id, v.pos, v.name, v.kind, v.price, v.capacity,
                CASE WHEN v.kind = 'general' THEN v.capacity ELSE 0 END
         FROM unnest($2::uuid[], $3::int4[], $4::text[], $5::text[], $6::int8[], $7::int4[])
           AS v(id, pos, name, kind, price, capacity)
         ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id.0)
    .bind(&sec_ids)
    .bind(&positions)
    .bind(&names)
    .bind(&kinds)
    .bind(&prices)
    .bind(&capacities)
    .execute(&mut **tx)
    .await?;
    if !seat_ids.is_empty() {
        sqlx::query(
            "INSERT INTO seats (event_id, seat_id, section_id, row_label, number, x, y)
             SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::text[], $5::int4[],
                                      $6::float4[], $7::float4[])
             ON CONFLICT DO NOTHING",
        )
        .bind(event.event_id.0)
        .bind(&seat_ids)
        .bind(&seat_sections)
        .bind(&rows)
        .bind(&numbers)
        .bind(&xs)
        .bind(&ys)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
