//! One polled batch, as a pipeline: per partition, decode → dedupe → apply →
//! record into a [`BatchWrite`]; then commit every partition's write (each in
//! its own transaction, concurrently) and publish what committed.

use super::consumer::Ctx;
use super::partition::Part;
use super::{Flow, Processor};
use crate::store::batch::BatchWrite;
use crate::store::commit::{self, Checkpoint, CommitError};
use crate::store::outbox::OutboxRow;
use common_types::messages::booking::{BookingCommand, BookingOutcome};
use common_types::{Envelope, UserId};
use kafka_bus::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use kafka_bus::rdkafka::message::{Message, OwnedMessage};
use kafka_bus::rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One partition's share of a batch, decided and ready to commit.
struct PartitionJob {
    partition: i32,
    generation: i64,
    next_offset: i64,
    write: BatchWrite,
    /// Handed to waiting clients once the write is committed.
    answers: Vec<BookingOutcome>,
}

/// How one partition's commit went.
struct CommitResult {
    job_partition: i32,
    next_offset: i64,
    answers: Vec<BookingOutcome>,
    result: Result<Vec<OutboxRow>, CommitError>,
}

/// Where a message stands against the partition's stored offset.
enum Position {
    /// Below the stored offset: applied before, redelivered.
    Applied,
    /// The next one to decide.
    Next,
    /// Beyond the stored offset the first time: the consumer must go back.
    Ahead,
}

impl Processor {
    pub(super) async fn process(
        &mut self,
        consumer: &StreamConsumer<Ctx>,
        batch: Vec<OwnedMessage>,
    ) -> anyhow::Result<Flow> {
        let busy = Instant::now();
        self.stats
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let jobs = self.decide(consumer, batch, busy)?;
        if jobs.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.crash.armed() {
            return Ok(Flow::Crashed);
        }
        let started = Instant::now();
        let commands: usize = jobs.iter().map(|j| j.write.commands).sum();
        let results = self.commit_all(jobs).await;
        self.stats
            .commands
            .fetch_add(commands as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let (to_publish, offsets) = self.settle(consumer, results).await?;
        let committed = started.elapsed();
        let outcomes = to_publish.len();
        self.publish(to_publish).await;
        tracing::debug!(
            commands,
            outcomes,
            commit_ms = committed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "batch done"
        );
        self.stats
            .busy_us
            .fetch_add(busy.elapsed().as_micros() as u64, Ordering::Relaxed);
        hint_committed(consumer, &offsets);
        Ok(Flow::Continue)
    }

    /// Decode, dedupe, apply and record each owned partition's messages.
    fn decide(
        &mut self,
        consumer: &StreamConsumer<Ctx>,
        batch: Vec<OwnedMessage>,
        now: Instant,
    ) -> Result<Vec<PartitionJob>, serde_json::Error> {
        let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        for m in batch {
            by_partition.entry(m.partition()).or_default().push(m);
        }
        let mut jobs = Vec::new();
        for (partition, messages) in by_partition {
            // Not ours (revoked meanwhile): the owner will process it.
            let Some(part) = self.parts.get_mut(&partition) else {
                continue;
            };
            let seek_back = |offset| seek(consumer, &self.topic, partition, offset, "seek failed");
            if let Some(job) = part.decide(partition, messages, seek_back, now)? {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn commit_all(&self, jobs: Vec<PartitionJob>) -> Vec<CommitResult> {
        futures::future::join_all(jobs.into_iter().map(|job| async move {
            let at = Checkpoint {
                topic: &self.topic,
                partition: job.partition,
                generation: job.generation,
                next_offset: job.next_offset,
            };
            let result = commit::commit(&self.pool, at, job.write, self.replies.instance()).await;
            CommitResult {
                job_partition: job.partition,
                next_offset: job.next_offset,
                answers: job.answers,
                result,
            }
        }))
        .await
    }

    /// Answer waiting clients of what committed, give up fenced partitions,
    /// and reload those whose commit failed. Returns what to publish and the
    /// offsets to hint to Kafka.
    async fn settle(
        &mut self,
        consumer: &StreamConsumer<Ctx>,
        results: Vec<CommitResult>,
    ) -> anyhow::Result<(Vec<OutboxRow>, TopicPartitionList)> {
        let mut to_publish = Vec::new();
        let mut offsets = TopicPartitionList::new();
        for done in results {
            let p = done.job_partition;
            match done.result {
                Ok(rows) => {
                    for answer in done.answers {
                        self.replies.complete(answer);
                    }
                    to_publish.extend(rows);
                    let _ = offsets.add_partition_offset(
                        &self.topic,
                        p,
                        Offset::Offset(done.next_offset),
                    );
                }
                Err(CommitError::Fenced(_)) => {
                    tracing::warn!(
                        partition = p,
                        "fenced: another instance owns this partition now"
                    );
                    self.parts.remove(&p);
                }
                Err(CommitError::ReferencesTaken(taken)) => {
                    // Decided again from the stored offset, the same bookings
                    // then get their next candidate references.
                    tracing::warn!(
                        partition = p,
                        ?taken,
                        "booking references collided with other events'; deciding the batch again"
                    );
                    self.reload(consumer, p).await?;
                    if let Some(part) = self.parts.get_mut(&p) {
                        part.inventory.references_taken_elsewhere(&taken);
                    }
                }
                Err(e) => {
                    tracing::error!(partition = p, error = %e, "commit failed; reloading partition");
                    self.reload(consumer, p).await?;
                }
            }
        }
        Ok((to_publish, offsets))
    }
}

impl Part {
    /// Decide one partition's messages, in offset order, into a job; `None`
    /// when none of them moved the offset.
    fn decide(
        &mut self,
        partition: i32,
        messages: Vec<OwnedMessage>,
        seek_back: impl FnOnce(i64),
        now: Instant,
    ) -> Result<Option<PartitionJob>, serde_json::Error> {
        let start = self.next_offset;
        let mut write = BatchWrite::default();
        let mut seek_back = Some(seek_back);
        for m in messages {
            let offset = m.offset();
            match self.position(offset) {
                Position::Applied => continue,
                Position::Ahead => {
                    tracing::warn!(
                        partition,
                        offset,
                        expected = self.next_offset,
                        "consumer is ahead of the stored offset; seeking back"
                    );
                    if let Some(seek) = seek_back.take() {
                        seek(self.next_offset);
                    }
                    break;
                }
                Position::Next => {}
            }
            self.next_offset = offset + 1;
            let Some(envelope) = decode(&m) else {
                tracing::error!(
                    partition,
                    offset,
                    "undecodable command skipped (poison pill)"
                );
                continue;
            };
            if !self.recent.first_time(envelope.id, now) {
                tracing::info!(
                    partition,
                    offset,
                    command_id = %envelope.id,
                    "command already decided (a retried send): skipped"
                );
                continue;
            }
            let actor = actor(&envelope.payload);
            let decision = self.inventory.apply(envelope.payload, envelope.occurred_at);
            write.record(envelope.id, actor, decision)?;
        }
        if self.next_offset == start {
            return Ok(None);
        }
        let answers = write.take_answers();
        Ok(Some(PartitionJob {
            partition,
            generation: self.generation,
            next_offset: self.next_offset,
            write,
            answers,
        }))
    }

    /// A gap is sought back over once per (re)load; after that the consumer
    /// is taken at its word (a gap left by compaction or transaction markers).
    fn position(&mut self, offset: i64) -> Position {
        if offset < self.next_offset {
            Position::Applied
        } else if offset > self.next_offset && !self.seeked {
            self.seeked = true;
            Position::Ahead
        } else {
            Position::Next
        }
    }
}

fn decode(m: &OwnedMessage) -> Option<Envelope<BookingCommand>> {
    serde_json::from_slice(m.payload()?).ok()
}

/// Who sent a command, so a polling client sees only its own results.
fn actor(command: &BookingCommand) -> Option<UserId> {
    match command {
        BookingCommand::HoldSeats { user_id, .. }
        | BookingCommand::HoldQuantity { user_id, .. }
        | BookingCommand::ReleaseHold { user_id, .. }
        | BookingCommand::ConfirmHold { user_id, .. }
        | BookingCommand::OfferHold { user_id, .. } => Some(*user_id),
        BookingCommand::CancelBooking { actor_id, .. } => Some(*actor_id),
        _ => None,
    }
}

pub(super) fn seek(
    consumer: &StreamConsumer<Ctx>,
    topic: &str,
    partition: i32,
    offset: i64,
    failure: &str,
) {
    if let Err(e) = consumer.seek(
        topic,
        partition,
        Offset::Offset(offset),
        Duration::from_secs(5),
    ) {
        tracing::error!(partition, error = %e, "{failure}");
    }
}

/// Kafka's committed offset is only a hint (always <= the stored one): it
/// keeps redelivery after a rebalance short.
fn hint_committed(consumer: &StreamConsumer<Ctx>, offsets: &TopicPartitionList) {
    if offsets.count() > 0 {
        if let Err(e) = consumer.commit(offsets, CommitMode::Async) {
            tracing::debug!(error = %e, "kafka offset commit failed (hint only)");
        }
    }
}
