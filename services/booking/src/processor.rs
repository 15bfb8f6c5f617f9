//! The booking processor: one consumer group on `booking.create`.
//!
//! Per owned partition it keeps the events' inventory in memory and decides
//! commands strictly in offset order. Each polled batch is written per
//! partition in ONE transaction together with the next offset, fenced by the
//! partition's generation; outcomes are published after the commit (through
//! an outbox row written in the same transaction). On assignment it claims the
//! partition (bumping the generation), reloads the state from PostgreSQL and
//! resumes at the stored offset, skipping whatever Kafka redelivers below it.
//! So each command takes effect exactly once although Kafka delivers at least
//! once, and an instance that lost a partition cannot write for it any more.

use crate::configuration::BookingSettings;
use crate::domain::Inventory;
use crate::replies::Replies;
use crate::store::batch::BatchWrite;
use crate::store::commit::{self, Checkpoint, CommitError};
use crate::store::outbox::{self, OutboxRow};
use crate::store::partition as store;
use chrono::Utc;
use common_types::messages::booking::BookingCommand;
use common_types::{topics, Envelope, EventId, UserId};
use futures::FutureExt;
use kafka_bus::rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer,
};
use kafka_bus::rdkafka::message::{Message, OwnedMessage};
use kafka_bus::rdkafka::types::RDKafkaRespErr;
use kafka_bus::rdkafka::{ClientContext, Offset, TopicPartitionList};
use kafka_bus::Producer;
use settings::KafkaSettings;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const GROUP: &str = "booking-processor";

/// Test hook: when set, the processor decides its next batch and then stops
/// without committing it, as if the process died between the two.
#[derive(Debug, Clone, Default)]
pub struct CrashSwitch(Arc<AtomicBool>);

impl CrashSwitch {
    pub fn arm(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn armed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Counters the tests and `/metrics` read.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    pub commands: AtomicU64,
    pub batches: AtomicU64,
    pub owned_partitions: AtomicU64,
    /// Messages received from the broker (including redeliveries skipped).
    pub received: AtomicU64,
    /// Time spent deciding, committing and enqueueing outcomes (not waiting
    /// for the broker), in microseconds: commands / busy time is the
    /// processor's own capacity.
    pub busy_us: AtomicU64,
    pub crashed: AtomicBool,
}

enum Note {
    Assign(Vec<i32>),
    Revoke(Vec<i32>),
}

/// Rebalance callbacks run inside `recv()`; they only note what happened and
/// the loop acts on it (with async database work) before deciding anything.
struct Ctx {
    topic: String,
    notes: Arc<Mutex<Vec<Note>>>,
    /// A lower bound of each partition's stored offset (offsets only grow).
    offsets: Arc<Mutex<HashMap<i32, i64>>>,
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

struct Part {
    generation: i64,
    next_offset: i64,
    inventory: Inventory,
    /// One seek per (re)load when Kafka starts beyond the stored offset.
    seeked: bool,
    expiry_sent: HashMap<EventId, Instant>,
    recent: RecentCommands,
}

/// How long a decided command's id is remembered. A retried send lands in the
/// log within the producer's `message.timeout.ms` (30 s) of the original.
const DEDUPE_WINDOW: Duration = Duration::from_secs(300);

/// The ids of the commands decided in the last [`DEDUPE_WINDOW`]: defence in
/// depth. The producers are idempotent, which stops a retry within one
/// producer session from storing a command twice, but a gateway or booking
/// instance that resends after its producer was recreated (or a client retry
/// that reaches another instance with the same command id) puts a second copy
/// in the log, not necessarily next to the first; it must change nothing.
#[derive(Default)]
struct RecentCommands {
    order: VecDeque<(Instant, Uuid)>,
    ids: HashSet<Uuid>,
}

impl RecentCommands {
    fn from_ids(ids: Vec<Uuid>) -> Self {
        let now = Instant::now();
        let mut recent = Self::default();
        for id in ids {
            recent.first_time(id, now);
        }
        recent
    }

    /// Records `id`; false when it was already decided within the window.
    fn first_time(&mut self, id: Uuid, now: Instant) -> bool {
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) <= DEDUPE_WINDOW {
                break;
            }
            self.ids.remove(old);
            self.order.pop_front();
        }
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back((now, id));
        true
    }
}

pub struct Processor {
    pool: PgPool,
    producer: Producer,
    kafka: KafkaSettings,
    settings: BookingSettings,
    topic: String,
    owner: String,
    parts: HashMap<i32, Part>,
    notes: Arc<Mutex<Vec<Note>>>,
    offsets: Arc<Mutex<HashMap<i32, i64>>>,
    crash: CrashSwitch,
    stats: Arc<ProcessorStats>,
    replies: Replies,
}

enum Flow {
    Continue,
    Crashed,
}

enum Exit {
    Stopped,
    Crashed,
}

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

impl Processor {
    pub fn new(
        pool: PgPool,
        producer: Producer,
        kafka: KafkaSettings,
        settings: BookingSettings,
        crash: CrashSwitch,
        stats: Arc<ProcessorStats>,
        replies: Replies,
    ) -> Self {
        Self {
            topic: kafka.topic(topics::BOOKING_CREATE),
            owner: format!("booking-{}", uuid::Uuid::new_v4().simple()),
            pool,
            producer,
            kafka,
            settings,
            parts: HashMap::new(),
            notes: Arc::new(Mutex::new(Vec::new())),
            offsets: Arc::new(Mutex::new(HashMap::new())),
            crash,
            stats,
            replies,
        }
    }

    /// Consume until `shutdown`; leaving drops the consumer, which leaves the
    /// group so the partitions move to the other instances at once.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        match self.consume(&shutdown).await? {
            Exit::Stopped => tracing::info!("booking processor stopped"),
            Exit::Crashed => {
                self.stats.crashed.store(true, Ordering::SeqCst);
                tracing::warn!("crash switch: stopped between deciding and committing a batch");
            }
        }
        Ok(())
    }

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
    async fn consume(&mut self, shutdown: &CancellationToken) -> anyhow::Result<Exit> {
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
            if let Flow::Crashed = self.process(&consumer, batch).await? {
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

    /// Claim, load, and finish publishing what a previous owner committed.
    #[tracing::instrument(skip(self, _consumer))]
    async fn take_partition(
        &mut self,
        _consumer: &StreamConsumer<Ctx>,
        partition: i32,
    ) -> anyhow::Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_take(partition).await {
                Ok(part) => {
                    tracing::info!(
                        partition,
                        generation = part.generation,
                        next_offset = part.next_offset,
                        events = part.inventory.events.len(),
                        "partition assigned"
                    );
                    self.parts.insert(partition, part);
                    return Ok(());
                }
                Err(e) if attempt < 10 => {
                    tracing::warn!(partition, error = %e, "claiming partition failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_take(&self, partition: i32) -> anyhow::Result<Part> {
        let claim = store::claim(&self.pool, &self.topic, partition, &self.owner).await?;
        let inventory =
            store::load_partition(&self.pool, partition, self.settings.hold_ttl_secs).await?;
        let recent = store::recent_command_ids(&self.pool, partition, DEDUPE_WINDOW).await?;
        let leftovers = outbox::pending_outbox(&self.pool, partition).await?;
        if !leftovers.is_empty() {
            tracing::info!(
                partition,
                count = leftovers.len(),
                "re-publishing outcomes committed before a crash"
            );
            self.publish(leftovers).await;
        }
        Ok(Part {
            generation: claim.generation,
            next_offset: claim.next_offset,
            inventory,
            seeked: false,
            expiry_sent: HashMap::new(),
            recent: RecentCommands::from_ids(recent),
        })
    }

    async fn process(
        &mut self,
        consumer: &StreamConsumer<Ctx>,
        batch: Vec<OwnedMessage>,
    ) -> anyhow::Result<Flow> {
        let busy = Instant::now();
        self.stats
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        for m in batch {
            by_partition.entry(m.partition()).or_default().push(m);
        }
        let mut jobs = Vec::new();
        for (p, messages) in by_partition {
            let Some(part) = self.parts.get_mut(&p) else {
                // Not ours (revoked meanwhile): the owner will process it.
                continue;
            };
            let start = part.next_offset;
            let mut write = BatchWrite::default();
            for m in messages {
                let offset = m.offset();
                if offset < part.next_offset {
                    continue; // applied before (redelivery)
                }
                if offset > part.next_offset && !part.seeked {
                    part.seeked = true;
                    tracing::warn!(
                        partition = p,
                        offset,
                        expected = part.next_offset,
                        "consumer is ahead of the stored offset; seeking back"
                    );
                    if let Err(e) = consumer.seek(
                        &self.topic,
                        p,
                        Offset::Offset(part.next_offset),
                        Duration::from_secs(5),
                    ) {
                        tracing::error!(partition = p, error = %e, "seek failed");
                    }
                    break;
                }
                part.next_offset = offset + 1;
                let envelope: Envelope<BookingCommand> =
                    match m.payload().map(serde_json::from_slice).transpose() {
                        Ok(Some(e)) => e,
                        Ok(None) | Err(_) => {
                            tracing::error!(
                                partition = p,
                                offset,
                                "undecodable command skipped (poison pill)"
                            );
                            continue;
                        }
                    };
                if !part.recent.first_time(envelope.id, busy) {
                    tracing::info!(
                        partition = p,
                        offset,
                        command_id = %envelope.id,
                        "command already decided (a retried send): skipped"
                    );
                    continue;
                }
                let who = actor(&envelope.payload);
                let decision = part.inventory.apply(envelope.payload, envelope.occurred_at);
                write.record(envelope.id, who, decision)?;
            }
            if part.next_offset != start {
                let answers = write.take_answers();
                jobs.push((p, part.generation, part.next_offset, write, answers));
            }
        }
        if jobs.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.crash.armed() {
            return Ok(Flow::Crashed);
        }
        let started = Instant::now();
        let commands: usize = jobs.iter().map(|j| j.3.commands).sum();
        let results =
            futures::future::join_all(jobs.into_iter().map(|(p, g, next, write, answers)| {
                let pool = self.pool.clone();
                let topic = self.topic.clone();
                let replies = &self.replies;
                async move {
                    let committed = commit::commit(
                        &pool,
                        Checkpoint {
                            topic: &topic,
                            partition: p,
                            generation: g,
                            next_offset: next,
                        },
                        write,
                        replies.instance(),
                    )
                    .await;
                    (p, next, committed.map(|rows| (rows, answers)))
                }
            }))
            .await;
        self.stats
            .commands
            .fetch_add(commands as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let mut to_publish = Vec::new();
        let mut offsets = TopicPartitionList::new();
        for (p, next, result) in results {
            match result {
                Ok((rows, answers)) => {
                    for answer in answers {
                        self.replies.complete(answer);
                    }
                    to_publish.extend(rows);
                    let _ = offsets.add_partition_offset(&self.topic, p, Offset::Offset(next));
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
        // Kafka's committed offset is only a hint (always <= the stored one):
        // it keeps redelivery after a rebalance short.
        if offsets.count() > 0 {
            if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
                tracing::debug!(error = %e, "kafka offset commit failed (hint only)");
            }
        }
        Ok(Flow::Continue)
    }

    /// After a failed commit the in-memory state is ahead of the database:
    /// rebuild it and re-read from the stored offset.
    async fn reload(&mut self, consumer: &StreamConsumer<Ctx>, p: i32) -> anyhow::Result<()> {
        let Some(generation) = self.parts.get(&p).map(|x| x.generation) else {
            return Ok(());
        };
        let next_offset = store::stored_offset(&self.pool, &self.topic, p).await?;
        let inventory = store::load_partition(&self.pool, p, self.settings.hold_ttl_secs).await?;
        let recent = store::recent_command_ids(&self.pool, p, DEDUPE_WINDOW).await?;
        self.parts.insert(
            p,
            Part {
                generation,
                next_offset,
                inventory,
                seeked: false,
                expiry_sent: HashMap::new(),
                recent: RecentCommands::from_ids(recent),
            },
        );
        if let Err(e) = consumer.seek(
            &self.topic,
            p,
            Offset::Offset(next_offset),
            Duration::from_secs(5),
        ) {
            tracing::error!(partition = p, error = %e, "seek after reload failed");
        }
        Ok(())
    }

    /// Publish committed outcomes in order, then drop their outbox rows.
    /// Messages are enqueued here, synchronously and in decision order; the
    /// acknowledgements are awaited in a separate task, so the next batch is
    /// decided while the broker confirms this one.
    async fn publish(&self, rows: Vec<OutboxRow>) {
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
    fn request_expiries(&mut self) {
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
