//! An owned partition: its generation, where it resumes, its events'
//! inventory, and the ids of the commands it decided recently.

use super::consumer::Ctx;
use super::pipeline::seek;
use super::Processor;
use crate::domain::Inventory;
use crate::store::outbox;
use crate::store::partition as store;
use common_types::EventId;
use kafka_bus::rdkafka::consumer::StreamConsumer;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(super) struct Part {
    pub(super) generation: i64,
    pub(super) next_offset: i64,
    pub(super) inventory: Inventory,
    /// One seek per (re)load when Kafka starts beyond the stored offset.
    pub(super) seeked: bool,
    pub(super) expiry_sent: HashMap<EventId, Instant>,
    pub(super) recent: RecentCommands,
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
pub(super) struct RecentCommands {
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
    pub(super) fn first_time(&mut self, id: Uuid, now: Instant) -> bool {
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

impl Processor {
    /// Claim, load, and finish publishing what a previous owner committed.
    #[tracing::instrument(skip(self, _consumer))]
    pub(super) async fn take_partition(
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

    /// After a failed commit the in-memory state is ahead of the database:
    /// rebuild it and re-read from the stored offset.
    pub(super) async fn reload(
        &mut self,
        consumer: &StreamConsumer<Ctx>,
        p: i32,
    ) -> anyhow::Result<()> {
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
        seek(
            consumer,
            &self.topic,
            p,
            next_offset,
            "seek after reload failed",
        );
        Ok(())
    }
}
