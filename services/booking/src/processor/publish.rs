//! Out to Kafka: committed outcomes (from the outbox) and expiry requests.

use super::Processor;
use crate::store::outbox::{self, OutboxRow};
use chrono::Utc;
use common_types::messages::booking::BookingCommand;
use common_types::{topics, Envelope};
use std::time::{Duration, Instant};

impl Processor {
    /// Publish committed outcomes in order, then drop their outbox rows.
    /// Messages are enqueued here, synchronously and in decision order; the
    /// acknowledgements are awaited in a separate task, so the next batch is
    /// decided while the broker confirms this one.
    pub(super) async fn publish(&self, rows: Vec<OutboxRow>) {
        if rows.is_empty() {
            return;
        }
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let enqueued = self.producer.enqueue_raw(
                topics::BOOKING_EVENTS,
                &row.key,
                &row.payload,
                &row.message_type,
                None,
            );
            match enqueued {
                Ok(delivery) => pending.push((row.seq, delivery)),
                Err(_) => {
                    // Local queue full: wait for this one (keeps the order).
                    match self
                        .producer
                        .publish_raw(
                            topics::BOOKING_EVENTS,
                            &row.key,
                            &row.payload,
                            &row.message_type,
                            None,
                        )
                        .await
                    {
                        Ok(_) => {
                            let pool = self.pool.clone();
                            let seq = row.seq;
                            tokio::spawn(async move {
                                let _ = outbox::delete_outbox(&pool, &[seq]).await;
                            });
                        }
                        Err(e) => {
                            tracing::error!(error = %e, seq = row.seq, "publishing an outcome failed; it stays in the outbox")
                        }
                    }
                }
            }
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut done = Vec::with_capacity(pending.len());
            for (seq, delivery) in pending {
                match delivery.await {
                    Ok(Ok(_)) => done.push(seq),
                    Ok(Err((e, _))) => {
                        tracing::error!(error = %e, seq, "publishing an outcome failed; it stays in the outbox")
                    }
                    Err(_) => {
                        tracing::error!(seq, "producer dropped an outcome; it stays in the outbox")
                    }
                }
            }
            if let Err(e) = outbox::delete_outbox(&pool, &done).await {
                tracing::warn!(error = %e, "outbox cleanup failed");
            }
        });
    }

    /// Ask for expiry of due holds through the topic, so it is ordered with
    /// every other command of the event.
    pub(super) fn request_expiries(&mut self) {
        let now = Utc::now();
        let mut due = Vec::new();
        for part in self.parts.values_mut() {
            for (id, ev) in &part.inventory.events {
                if ev.next_expiry().is_some_and(|t| t <= now)
                    && part
                        .expiry_sent
                        .get(id)
                        .is_none_or(|at| at.elapsed() > Duration::from_secs(5))
                {
                    part.expiry_sent.insert(*id, Instant::now());
                    due.push(*id);
                }
            }
        }
        for event_id in due {
            let producer = self.producer.clone();
            tokio::spawn(async move {
                let envelope = Envelope::new(BookingCommand::ExpireHolds { event_id, now });
                if let Err(e) = producer
                    .publish(
                        topics::BOOKING_CREATE,
                        &event_id.to_string(),
                        &envelope,
                        None,
                    )
                    .await
                {
                    tracing::warn!(%event_id, error = %e, "could not request expiry");
                }
            });
        }
    }
}
