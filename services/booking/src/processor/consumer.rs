//! The consumer's life: the poll loop, and the rebalance callbacks that
//! start assigned partitions at the offset stored in PostgreSQL.

use super::{Exit, Flow, Processor, GROUP};
use crate::store::partition as store;
use common_types::topics;
use futures::FutureExt;
use kafka_bus::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use kafka_bus::rdkafka::message::{Message, OwnedMessage};
use kafka_bus::rdkafka::types::RDKafkaRespErr;
use kafka_bus::rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub(super) enum Note {
    Assign(Vec<i32>),
    Revoke(Vec<i32>),
}

/// Rebalance callbacks run inside `recv()`; they only note what happened and
/// the loop acts on it (with async database work) before deciding anything.
pub(super) struct Ctx {
    pub(super) topic: String,
    pub(super) notes: Arc<Mutex<Vec<Note>>>,
    /// A lower bound of each partition's stored offset (offsets only grow).
    pub(super) offsets: Arc<Mutex<HashMap<i32, i64>>>,
}

impl Ctx {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect()
    }
    fn push(&self, note: Note) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(note);
        }
    }
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    /// Eager rebalancing, with one change: assigned partitions start at the
    /// offset we stored in PostgreSQL (a lower bound of it, refreshed every
    /// tick), not at Kafka's committed offset. So fetching starts at once
    /// without asking the group coordinator, and never beyond what we applied.
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let known = self.offsets.lock().map(|o| o.clone()).unwrap_or_default();
                let mut start = TopicPartitionList::new();
                for e in tpl.elements() {
                    let offset = if e.topic() == self.topic {
                        known
                            .get(&e.partition())
                            .map_or(Offset::Beginning, |o| Offset::Offset(*o))
                    } else {
                        e.offset()
                    };
                    let _ = start.add_partition_offset(e.topic(), e.partition(), offset);
                }
                if let Err(e) = base_consumer.assign(&start) {
                    tracing::error!(error = %e, "assigning partitions failed");
                }
                self.push(Note::Assign(self.partitions(tpl)));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.push(Note::Revoke(self.partitions(tpl)));
                if let Err(e) = base_consumer.unassign() {
                    tracing::error!(error = %e, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                let _ = base_consumer.unassign();
            }
        }
    }
}

impl Processor {
    fn new_consumer(&self) -> anyhow::Result<StreamConsumer<Ctx>> {
        let ctx = Ctx {
            topic: self.topic.clone(),
            notes: self.notes.clone(),
            offsets: self.offsets.clone(),
        };
        let mut extra = vec![
            // Also the rebalance timeout: how long a rebalance waits for a
            // member that vanished without leaving.
            ("max.poll.interval.ms", "30000"),
            ("max.partition.fetch.bytes", "65536"),
        ];
        if let Some(id) = self.settings.processor_instance_id.as_deref() {
            extra.push(("group.instance.id", id));
            // A static member that restarts within the session takes its
            // partitions back without a rebalance, so the other instances'
            // partitions keep selling while a pod is replaced; the longer
            // session is the window for that restart.
            extra.push(("session.timeout.ms", "30000"));
        }
        let consumer: StreamConsumer<Ctx> = kafka_bus::consumer(&self.kafka, GROUP, ctx, &extra)?;
        kafka_bus::subscribe(&consumer, &self.kafka, &[topics::BOOKING_CREATE])?;
        Ok(consumer)
    }

    /// One consumer's life: until shutdown or a crash (test hook).
    pub(super) async fn consume(&mut self, shutdown: &CancellationToken) -> anyhow::Result<Exit> {
        self.refresh_offsets().await;
        let consumer = self.new_consumer()?;
        let mut tick = tokio::time::interval(Duration::from_millis(self.settings.expiry_tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch: Vec<OwnedMessage> = Vec::new();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.refresh_offsets().await;
                    self.handle_notes(&consumer).await?;
                    self.request_expiries();
                    continue;
                }
                received = consumer.recv() => match received {
                    Ok(m) => batch.push(m.detach()),
                    Err(e) => {
                        tracing::warn!(error = %e, "booking.create consumer error");
                        continue;
                    }
                },
            }
            while batch.len() < self.settings.max_batch {
                match consumer.recv().now_or_never() {
                    Some(Ok(m)) => batch.push(m.detach()),
                    _ => break,
                }
            }
            self.handle_notes(&consumer).await?;
            if let Some(m) = batch.first() {
                if let Some(ts) = m.timestamp().to_millis() {
                    tracing::debug!(
                        lag_ms = chrono::Utc::now().timestamp_millis() - ts,
                        size = batch.len(),
                        "batch received"
                    );
                }
            }
            // The batch's span continues its first command's trace (and links
            // the others'), so a hold's trace reaches through the processor.
            let span = kafka_bus::batch_span(&batch);
            if let Flow::Crashed = self.process(&consumer, batch).instrument(span).await? {
                return Ok(Exit::Crashed);
            }
        }
        // Leave the group now, so the partitions move without waiting for a timeout.
        consumer.unsubscribe();
        Ok(Exit::Stopped)
    }

    /// Refresh the lower bounds the rebalance callback starts partitions at.
    async fn refresh_offsets(&self) {
        match store::stored_offsets(&self.pool, &self.topic).await {
            Ok(all) => {
                if let Ok(mut o) = self.offsets.lock() {
                    *o = all;
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read stored offsets"),
        }
    }

    async fn handle_notes(&mut self, consumer: &StreamConsumer<Ctx>) -> anyhow::Result<()> {
        let notes = match self.notes.lock() {
            Ok(mut notes) => std::mem::take(&mut *notes),
            Err(_) => return Ok(()),
        };
        for note in notes {
            match note {
                Note::Revoke(partitions) => {
                    for p in partitions {
                        self.parts.remove(&p);
                        tracing::info!(partition = p, "partition revoked");
                    }
                }
                Note::Assign(partitions) => {
                    for p in partitions {
                        self.take_partition(consumer, p).await?;
                    }
                }
            }
        }
        self.stats
            .owned_partitions
            .store(self.parts.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}
