//! Consumes `booking.events`: freed seats become offers, and the offers'
//! holds move entries through offered → accepted / expired.
//!
//! Each message is applied in one transaction with its id in
//! `processed_messages` and the messages it causes in the outbox, so a
//! redelivered message has one effect and nothing is produced for a change
//! that was not stored.

use crate::store::{self, EntryRow, Offer};
use common_types::messages::booking::{
    BookingCommand, BookingOutcome, RejectReason, SeatSelection,
};
use common_types::messages::waitlist::WaitlistEvent;
use common_types::{
    topics, BookingId, Envelope, EventId, HoldId, RequestId, SeatId, SectionId, UserId,
    WaitlistEntryId,
};
use kafka_bus::rdkafka::consumer::StreamConsumer;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

pub const GROUP: &str = "waitlist";

pub struct Offers {
    pub pool: PgPool,
    pub offer_ttl_secs: u32,
    /// Wakes the outbox relay after a commit that queued messages.
    pub relay: Arc<Notify>,
}

impl Offers {
    pub async fn run(self: Arc<Self>, consumer: StreamConsumer, shutdown: CancellationToken) {
        loop {
            let Some(message) = kafka_bus::next_message(&consumer, &shutdown).await else {
                break;
            };
            let span = kafka_bus::message_span(&message);
            let envelope = match kafka_bus::decode::<BookingOutcome>(&message) {
                Ok(envelope) => Some(envelope),
                Err(error) => {
                    tracing::debug!(parent: &span, %error, "skipping a message this service does not handle");
                    None
                }
            };
            if let Some(envelope) = envelope {
                let mut delay = Duration::from_millis(100);
                loop {
                    match self.apply(&envelope).instrument(span.clone()).await {
                        Ok(()) => break,
                        Err(error) => {
                            tracing::error!(parent: &span, error = format!("{error:#}"), "applying a booking outcome failed; retrying");
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(delay) => {}
                            }
                            delay = (delay * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
            if let Err(error) = kafka_bus::mark_done(&consumer, &message) {
                tracing::warn!(%error, "storing the offset failed; the message may be redelivered (harmless)");
            }
        }
    }

    /// Apply one outcome; public so tests and tools can drive it directly.
    #[tracing::instrument(skip(self, envelope), fields(message_id = %envelope.id, message_type = %envelope.message_type))]
    pub async fn apply(&self, envelope: &Envelope<BookingOutcome>) -> anyhow::Result<()> {
        if !relevant(&envelope.payload) {
            return Ok(());
        }
        let event_id = envelope.payload.event_id();
        let mut tx = self.pool.begin().await?;
        store::lock_event(&mut tx, event_id).await?;
        if !store::mark_processed(&mut tx, envelope.id).await? {
            return Ok(());
        }
        match &envelope.payload {
            BookingOutcome::SeatsReleasedToWaitlist {
                event_id,
                seats,
                price,
                ..
            } => self.offer(&mut tx, *event_id, seats, *price).await?,
            BookingOutcome::HoldPlaced {
                waitlist_entry_id: Some(entry_id),
                hold_id,
                event_id,
                user_id,
                seats,
                section_id,
                quantity,
                total_price,
                currency,
                expires_at,
                ..
            } => {
                let Some(entry) = store::entry(&mut tx, entry_id.as_uuid()).await? else {
                    tracing::warn!(%entry_id, "offer hold for an unknown entry");
                    return Ok(());
                };
                if entry.status != "waiting" {
                    // The user left while the offer was on its way: give the
                    // seats back so the next entry gets them.
                    tracing::info!(%entry_id, status = %entry.status, "offer for an entry no longer waiting; releasing it");
                    store::enqueue(
                        &mut tx,
                        topics::BOOKING_CREATE,
                        &event_id.to_string(),
                        BookingCommand::ReleaseHold {
                            request_id: RequestId::new(),
                            event_id: *event_id,
                            hold_id: *hold_id,
                            user_id: *user_id,
                        },
                    )
                    .await?;
                } else {
                    let seat_names: Vec<String> =
                        seats.iter().map(|s| s.as_str().to_string()).collect();
                    let section = section_id.or_else(|| entry.offer_section_id.map(SectionId));
                    store::set_offered(
                        &mut tx,
                        entry.id,
                        Offer {
                            hold_id: hold_id.as_uuid(),
                            seats: &seat_names,
                            section_id: section.map(|s| s.as_uuid()),
                            quantity: i32::try_from(*quantity).unwrap_or(i32::MAX),
                            total: *total_price,
                            currency: currency.as_str(),
                            expires_at: *expires_at,
                        },
                    )
                    .await?;
                    let selection = SeatSelection {
                        // Reserved holds name seats across sections in general;
                        // an offer is always one section (the parked one).
                        section_id: section.unwrap_or(SectionId(Uuid::nil())),
                        seat_ids: seats.clone(),
                        quantity: *quantity,
                    };
                    store::enqueue(
                        &mut tx,
                        topics::WAITLIST_EVENTS,
                        &event_id.to_string(),
                        WaitlistEvent::OfferMade {
                            entry_id: *entry_id,
                            event_id: *event_id,
                            user_id: *user_id,
                            hold_id: *hold_id,
                            seats: selection,
                            total_price: *total_price,
                            currency: *currency,
                            expires_at: *expires_at,
                        },
                    )
                    .await?;
                    store::sync_activation(&mut tx, *event_id).await?;
                }
            }
            BookingOutcome::HoldRejected {
                request_id, reason, ..
            }
            | BookingOutcome::CommandFailed {
                request_id, reason, ..
            } => {
                if let Some(entry) = store::entry_by_pending(&mut tx, request_id.as_uuid()).await? {
                    let pending: Option<store::PendingOffer> = entry
                        .pending_offer
                        .clone()
                        .and_then(|v| serde_json::from_value(v).ok());
                    match pending {
                        Some(pending) if *reason != RejectReason::NotParked => {
                            // This entry cannot take seats (its ticket limit, a
                            // cancelled event...): its wait ends, and the seats,
                            // still parked, go to the next matching entry.
                            tracing::warn!(entry_id = %entry.id, reason = reason.as_str(), "offer refused for the entry; passing the seats on");
                            store::set_status(&mut tx, entry.id, "expired", None).await?;
                            store::sync_activation(&mut tx, event_id).await?;
                            self.offer(&mut tx, event_id, &pending.seats, pending.price)
                                .await?;
                        }
                        _ => {
                            // The seats were not parked any more: nothing to pass
                            // on, and the entry keeps its place.
                            tracing::warn!(entry_id = %entry.id, reason = reason.as_str(), "offer refused; entry keeps waiting");
                            store::set_pending(&mut tx, entry.id, None).await?;
                        }
                    }
                }
            }
            BookingOutcome::EventSalesClosed { event_id } => {
                let ended = store::end_all(&mut tx, *event_id).await?;
                tracing::info!(ended, "event cancelled; its waitlist is closed");
                store::sync_activation(&mut tx, *event_id).await?;
            }
            BookingOutcome::HoldExpired {
                hold_id, event_id, ..
            } => {
                if let Some(entry) = offered_entry(&mut tx, hold_id).await? {
                    store::set_status(&mut tx, entry.id, "expired", None).await?;
                    enqueue_event(
                        &mut tx,
                        *event_id,
                        WaitlistEvent::OfferExpired {
                            entry_id: WaitlistEntryId(entry.id),
                            event_id: *event_id,
                            user_id: UserId(entry.user_id),
                            hold_id: *hold_id,
                        },
                    )
                    .await?;
                }
            }
            BookingOutcome::HoldReleased {
                hold_id, event_id, ..
            } => {
                // The offered user gave the seats back: they are out of line.
                if let Some(entry) = offered_entry(&mut tx, hold_id).await? {
                    store::set_status(&mut tx, entry.id, "left", None).await?;
                    enqueue_event(
                        &mut tx,
                        *event_id,
                        WaitlistEvent::Left {
                            entry_id: WaitlistEntryId(entry.id),
                            event_id: *event_id,
                            user_id: UserId(entry.user_id),
                        },
                    )
                    .await?;
                }
            }
            BookingOutcome::BookingConfirmed {
                hold_id,
                booking_id,
                event_id,
                ..
            } => {
                if let Some(entry) = offered_entry(&mut tx, hold_id).await? {
                    accept(&mut tx, &entry, *event_id, *hold_id, *booking_id).await?;
                }
            }
            _ => {}
        }
        tx.commit().await?;
        self.relay.notify_one();
        Ok(())
    }

    /// Hand freed seats to the first matching entries in join order; what no
    /// entry takes goes back on sale.
    async fn offer(
        &self,
        tx: &mut PgConnection,
        event_id: EventId,
        seats: &SeatSelection,
        price: i64,
    ) -> anyhow::Result<()> {
        let mut free_ids: Vec<SeatId> = seats.seat_ids.clone();
        let reserved = !free_ids.is_empty();
        // Named seats are what can be handed out, whatever `quantity` says.
        let mut free = if reserved {
            u32::try_from(free_ids.len()).unwrap_or(u32::MAX)
        } else {
            seats.quantity
        };
        while free > 0 {
            let free_i32 = i32::try_from(free).unwrap_or(i32::MAX);
            let Some(entry) =
                store::first_match(tx, event_id, seats.section_id.as_uuid(), price, free_i32)
                    .await?
            else {
                break;
            };
            let wanted = u32::try_from(entry.quantity).unwrap_or(u32::MAX);
            let taken: Vec<SeatId> = if reserved {
                free_ids.drain(..wanted as usize).collect()
            } else {
                Vec::new()
            };
            free -= wanted;
            let request_id = RequestId::new();
            let offered = SeatSelection {
                section_id: seats.section_id,
                seat_ids: taken,
                quantity: wanted,
            };
            let pending = store::PendingOffer {
                seats: offered.clone(),
                price,
            };
            store::set_pending(tx, entry.id, Some((request_id.as_uuid(), &pending))).await?;
            tracing::info!(entry_id = %entry.id, quantity = wanted, "offering freed seats");
            store::enqueue(
                tx,
                topics::BOOKING_CREATE,
                &event_id.to_string(),
                BookingCommand::OfferHold {
                    request_id,
                    event_id,
                    user_id: UserId(entry.user_id),
                    waitlist_entry_id: WaitlistEntryId(entry.id),
                    seats: offered,
                    ttl_secs: self.offer_ttl_secs,
                },
            )
            .await?;
        }
        if free > 0 {
            tracing::info!(free, "no waiting entry matches; back to sale");
            store::enqueue(
                tx,
                topics::BOOKING_CREATE,
                &event_id.to_string(),
                BookingCommand::ReturnToSale {
                    request_id: RequestId::new(),
                    event_id,
                    seats: SeatSelection {
                        section_id: seats.section_id,
                        seat_ids: free_ids,
                        quantity: free,
                    },
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Only outcomes about the waitlist's own offers (booking marks them with
/// the entry id) cost a transaction: during an on-sale rush `booking.events`
/// carries tens of thousands of ordinary holds and rejections.
fn relevant(outcome: &BookingOutcome) -> bool {
    match outcome {
        BookingOutcome::SeatsReleasedToWaitlist { .. }
        | BookingOutcome::EventSalesClosed { .. }
        | BookingOutcome::CommandFailed { .. } => true,
        BookingOutcome::HoldPlaced {
            waitlist_entry_id, ..
        }
        | BookingOutcome::HoldRejected {
            waitlist_entry_id, ..
        }
        | BookingOutcome::HoldExpired {
            waitlist_entry_id, ..
        }
        | BookingOutcome::HoldReleased {
            waitlist_entry_id, ..
        }
        | BookingOutcome::BookingConfirmed {
            waitlist_entry_id, ..
        } => waitlist_entry_id.is_some(),
        _ => false,
    }
}

/// The entry whose live offer is this hold.
async fn offered_entry(tx: &mut PgConnection, hold_id: &HoldId) -> sqlx::Result<Option<EntryRow>> {
    Ok(store::entry_by_hold(tx, hold_id.as_uuid())
        .await?
        .filter(|e| e.status == "offered"))
}

async fn accept(
    tx: &mut PgConnection,
    entry: &EntryRow,
    event_id: EventId,
    hold_id: HoldId,
    booking_id: BookingId,
) -> sqlx::Result<()> {
    store::set_status(tx, entry.id, "accepted", Some(booking_id.as_uuid())).await?;
    enqueue_event(
        tx,
        event_id,
        WaitlistEvent::OfferAccepted {
            entry_id: WaitlistEntryId(entry.id),
            event_id,
            user_id: UserId(entry.user_id),
            hold_id,
            booking_id,
        },
    )
    .await
}

async fn enqueue_event(
    tx: &mut PgConnection,
    event_id: EventId,
    event: WaitlistEvent,
) -> sqlx::Result<()> {
    store::enqueue(tx, topics::WAITLIST_EVENTS, &event_id.to_string(), event).await
}
