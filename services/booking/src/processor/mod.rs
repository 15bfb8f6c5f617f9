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
//!
//! Reading order: [`consumer`] (the poll loop and rebalance callbacks),
//! [`partition`] (claiming and loading an owned partition), [`pipeline`]
//! (one polled batch: decode, dedupe, apply, record, commit, publish) and
//! [`publish`] (outcomes and expiry requests out to Kafka).

mod consumer;
mod partition;
mod pipeline;
mod publish;

use crate::configuration::BookingSettings;
use crate::replies::Replies;
use common_types::topics;
use consumer::Note;
use kafka_bus::Producer;
use partition::Part;
use settings::KafkaSettings;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

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
}
