//! Request/reply over Kafka: every instance reads all of `booking.events`
//! (assigned directly, no group coordination, from the end at start-up) and
//! hands each outcome to the local HTTP request waiting for its request id.
//! Whichever instance's processor decided the command, the waiting instance
//! gets the answer.

use common_types::messages::booking::BookingOutcome;
use common_types::{topics, Envelope, RequestId};
use kafka_bus::rdkafka::consumer::{Consumer, DefaultConsumerContext, StreamConsumer};
use kafka_bus::rdkafka::message::Message;
use kafka_bus::rdkafka::{Offset, TopicPartitionList};
use settings::KafkaSettings;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Each attempt waits up to `BROKER_DEADLINE` per request to the broker.
const START_ATTEMPTS: u32 = 6;
const BROKER_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default, Clone)]
pub struct Replies {
    waiters: Arc<Mutex<HashMap<RequestId, oneshot::Sender<BookingOutcome>>>>,
}

impl Replies {
    /// Register before producing the command, so the answer cannot be missed.
    pub fn register(&self, id: RequestId) -> oneshot::Receiver<BookingOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id, tx);
        }
        rx
    }

    pub fn forget(&self, id: RequestId) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&id);
        }
    }

    /// Hand an outcome to the request waiting for it, if it waits here. The
    /// processor calls this for what it committed itself, so a request that
    /// landed on the instance owning its partition skips the broker hop back;
    /// the copy that arrives through `booking.events` then finds no waiter.
    pub fn complete(&self, outcome: BookingOutcome) {
        let Some(id) = outcome.request_id() else {
            return;
        };
        let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(&id));
        if let Some(tx) = waiter {
            let _ = tx.send(outcome);
        }
    }

    /// Build the consumer positioned at the current end of every partition.
    pub async fn consumer(kafka: &KafkaSettings) -> anyhow::Result<StreamConsumer> {
        let group = format!("booking-replies-{}", uuid::Uuid::new_v4().simple());
        let consumer: StreamConsumer =
            // Background pace: most answers come straight from this
            // instance's processor; only those decided elsewhere come here.
            kafka_bus::consumer(kafka, &group, DefaultConsumerContext, &[kafka_bus::BACKGROUND])?;
        let topic = kafka.topic(topics::BOOKING_EVENTS);
        let consumer = tokio::task::spawn_blocking(move || -> anyhow::Result<StreamConsumer> {
            // A busy broker (a restart during a sale) can miss one deadline;
            // an instance that gave up here would stay down until someone
            // restarted it.
            let mut attempt = 1;
            let tpl = loop {
                match end_of_every_partition(&consumer, &topic) {
                    Ok(tpl) => break tpl,
                    Err(e) if attempt < START_ATTEMPTS => {
                        tracing::warn!(error = %e, attempt, "booking.events positions not read yet; retrying");
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            consumer.assign(&tpl)?;
            Ok(consumer)
        })
        .await??;
        Ok(consumer)
    }

    pub async fn run(self, consumer: StreamConsumer, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = consumer.recv() => match received {
                    Ok(m) => {
                        let decoded = m
                            .payload()
                            .map(serde_json::from_slice::<Envelope<BookingOutcome>>);
                        match decoded {
                            Some(Ok(envelope)) => self.complete(envelope.payload),
                            _ => tracing::debug!(offset = m.offset(), "skipping an outcome this version cannot read"),
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "booking.events reply consumer error"),
                },
            }
        }
    }
}

fn end_of_every_partition(
    consumer: &StreamConsumer,
    topic: &str,
) -> anyhow::Result<TopicPartitionList> {
    let metadata = consumer.fetch_metadata(Some(topic), BROKER_DEADLINE)?;
    let mut tpl = TopicPartitionList::new();
    for partition in metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
    {
        let (_, high) = consumer.fetch_watermarks(topic, partition, BROKER_DEADLINE)?;
        tpl.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    Ok(tpl)
}
