//! The live feed: `GET /api/v1/events/{id}/live` as server-sent events.
//!
//! While someone watches, a gateway instance runs one Kafka consumer of
//! `booking.events` and `waitlist.events` in a consumer group of its own (a
//! broadcast: every instance sees every message), starting at the end of the
//! log because a watcher wants what happens from now on, not history. With
//! nobody watching for `live.idle_stop_secs` the consumer stops: on the local broker
//! every reader of every outcome costs the sale throughput, and a feed nobody
//! reads should not. The next watcher starts it again (its streams get a
//! `resync` once it has its partitions). Each message becomes
//! one small [`LiveUpdate`], serialized once into an SSE frame and fanned out
//! through a `tokio::sync::broadcast` channel per event id to every watcher of
//! that event on this instance.
//!
//! Envelopes are decoded generically (`type` + `payload` as JSON values), so
//! the gateway keeps working when booking or waitlist add fields or types.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, ResponseError};
use common_types::{topics, EventId};
use kafka_bus::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use kafka_bus::rdkafka::types::RDKafkaRespErr;
use kafka_bus::rdkafka::{ClientContext, Message};
use kafka_bus::rdkafka::{Offset, TopicPartitionList};
use prometheus::{IntCounter, IntGauge, Registry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service_http::problem::{problem, problem_response};
use settings::KafkaSettings;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// `[live]` in the gateway's settings (`GATEWAY__LIVE__...`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    /// Run the feed at all (a gateway without a broker can turn it off).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// A comment line this often keeps proxies and browsers from closing an
    /// idle stream.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_secs: u64,
    /// Updates buffered per event before a slow watcher is told to resync.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
    /// Open streams this instance accepts; beyond it, 503 (scale out).
    #[serde(default = "default_max_watchers")]
    pub max_watchers: usize,
    /// Holds and bookings remembered so that a release, expiry or
    /// cancellation (whose messages name no seats) can say which seats came
    /// back.
    #[serde(default = "default_remembered")]
    pub remembered: usize,
    /// Stop the feed's consumer once nobody has watched for this long (a
    /// reconnecting page should not restart it); the next watcher starts it.
    #[serde(default = "default_idle_stop_secs")]
    pub idle_stop_secs: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            heartbeat_secs: default_heartbeat_secs(),
            buffer: default_buffer(),
            max_watchers: default_max_watchers(),
            remembered: default_remembered(),
            idle_stop_secs: default_idle_stop_secs(),
        }
    }
}

fn default_enabled() -> bool {
    true
}
fn default_heartbeat_secs() -> u64 {
    15
}
fn default_buffer() -> usize {
    1024
}
fn default_max_watchers() -> usize {
    10_000
}
fn default_remembered() -> usize {
    200_000
}
fn default_idle_stop_secs() -> u64 {
    30
}

/// What a watched seat is now.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SeatStatus {
    Available,
    Held,
    Booked,
}

/// One update on the live feed (the `data:` of an SSE message). The feed is
/// public, so it carries no user ids and no booking references.
///
/// `status` is set when seats changed state: `seat_ids` names reserved seats,
/// `section_id` + `quantity` general-admission places. Without a status the
/// update is activity only (a rejection, a waitlist join...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveUpdate {
    /// The message type, e.g. `HoldPlaced`, `BookingConfirmed`, `Joined`.
    #[serde(rename = "type")]
    pub kind: String,
    pub event_id: EventId,
    /// `booking` or `waitlist`: which topic it came from.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SeatStatus>,
    #[serde(default)]
    pub seat_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_id: Option<String>,
    #[serde(default)]
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_entry_id: Option<String>,
    /// Why a request was turned down (`seats-unavailable`, `sold-out`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A waitlist position, when the message carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// When it happened (the envelope's `occurred_at`).
    pub at: String,
}

/// The seats a hold or booking covers, kept until it ends.
#[derive(Debug, Clone)]
struct Covered {
    seat_ids: Vec<String>,
    section_id: Option<String>,
    quantity: u32,
}

/// Bounded memory of live holds and bookings: oldest forgotten first.
struct Memory {
    capacity: usize,
    entries: HashMap<String, Covered>,
    order: VecDeque<String>,
}

impl Memory {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn remember(&mut self, key: String, covered: Covered) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        if self.entries.insert(key.clone(), covered).is_none() {
            self.order.push_back(key);
        }
        // Keys forgotten through `take` stay in `order` until they reach the
        // front; compact when that garbage dominates.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }

    fn take(&mut self, key: &str) -> Option<Covered> {
        self.entries.remove(key)
    }
}

/// Turns envelopes into [`LiveUpdate`]s. Holds: `HoldPlaced` → held,
/// `BookingConfirmed` → booked, `HoldReleased`/`HoldExpired`/`BookingCancelled`
/// → available (seats from memory), `SeatsReleased` → available,
/// `SeatsReleasedToWaitlist` → held (parked for the waitlist, not on sale).
pub struct Translator {
    memory: Memory,
}

impl Translator {
    pub fn new(remembered: usize) -> Self {
        Self {
            memory: Memory::new(remembered),
        }
    }

    /// The update a message carries, or `None` for one that is not an
    /// envelope or names no event.
    pub fn translate(
        &mut self,
        source: &str,
        key: Option<&str>,
        envelope: &Value,
    ) -> Option<LiveUpdate> {
        let payload = envelope.get("payload")?;
        let kind = text(envelope, "type")
            .or_else(|| text(payload, "type"))?
            .to_string();
        let event_id = text(payload, "event_id")
            .or(key)
            .and_then(|id| id.parse::<EventId>().ok())?;
        let mut update = LiveUpdate {
            kind,
            event_id,
            source: source.to_string(),
            status: None,
            seat_ids: seat_ids(payload),
            section_id: text(payload, "section_id").map(str::to_string),
            quantity: payload
                .get("quantity")
                .and_then(Value::as_u64)
                .and_then(|q| u32::try_from(q).ok())
                .unwrap_or(0),
            hold_id: text(payload, "hold_id").map(str::to_string),
            booking_id: text(payload, "booking_id").map(str::to_string),
            waitlist_entry_id: text(payload, "waitlist_entry_id")
                .or_else(|| text(payload, "entry_id"))
                .map(str::to_string),
            reason: text(payload, "reason").map(str::to_string),
            position: payload.get("position").and_then(Value::as_u64),
            at: text(envelope, "occurred_at")
                .unwrap_or_default()
                .to_string(),
        };
        if update.quantity == 0 && !update.seat_ids.is_empty() {
            update.quantity = u32::try_from(update.seat_ids.len()).unwrap_or(u32::MAX);
        }
        if source == "booking" {
            self.apply_booking(&mut update);
        }
        Some(update)
    }

    fn apply_booking(&mut self, update: &mut LiveUpdate) {
        let covered = |u: &LiveUpdate| Covered {
            seat_ids: u.seat_ids.clone(),
            section_id: u.section_id.clone(),
            quantity: u.quantity,
        };
        match update.kind.as_str() {
            "HoldPlaced" => {
                update.status = Some(SeatStatus::Held);
                if let Some(hold) = &update.hold_id {
                    self.memory.remember(hold_key(hold), covered(update));
                }
            }
            "BookingConfirmed" => {
                update.status = Some(SeatStatus::Booked);
                if let Some(hold) = &update.hold_id {
                    self.memory.take(&hold_key(hold));
                }
                if let Some(booking) = &update.booking_id {
                    self.memory.remember(booking_key(booking), covered(update));
                }
            }
            "HoldReleased" | "HoldExpired" => {
                update.status = Some(SeatStatus::Available);
                let known = update
                    .hold_id
                    .as_deref()
                    .and_then(|h| self.memory.take(&hold_key(h)));
                fill(update, known);
            }
            "BookingCancelled" => {
                update.status = Some(SeatStatus::Available);
                let known = update
                    .booking_id
                    .as_deref()
                    .and_then(|b| self.memory.take(&booking_key(b)));
                fill(update, known);
            }
            "SeatsReleased" => update.status = Some(SeatStatus::Available),
            "SeatsReleasedToWaitlist" => update.status = Some(SeatStatus::Held),
            _ => {}
        }
    }
}

fn hold_key(id: &str) -> String {
    format!("h:{id}")
}
fn booking_key(id: &str) -> String {
    format!("b:{id}")
}

fn fill(update: &mut LiveUpdate, known: Option<Covered>) {
    if let Some(known) = known {
        if update.seat_ids.is_empty() {
            update.seat_ids = known.seat_ids;
        }
        if update.section_id.is_none() {
            update.section_id = known.section_id;
        }
        if update.quantity == 0 {
            update.quantity = known.quantity;
        }
    }
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// Seat ids under `seat_ids` or `seats`, as strings or `{id}` objects.
fn seat_ids(payload: &Value) -> Vec<String> {
    let list = payload
        .get("seat_ids")
        .or_else(|| payload.get("seats"))
        .and_then(Value::as_array);
    list.map(|items| {
        items
            .iter()
            .filter_map(|item| match item {
                Value::String(id) => Some(id.clone()),
                other => text(other, "id").map(str::to_string),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// One SSE message.
fn frame(event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    // `data` is one-line JSON; a newline would need one `data:` line each.
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// The feed's numbers on the gateway's `/metrics`.
#[derive(Clone)]
pub struct LiveMetrics {
    watchers: IntGauge,
    connected: IntGauge,
    consumed: IntCounter,
    updates: IntCounter,
    resyncs: IntCounter,
}

impl LiveMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.watchers.clone()))?;
        registry.register(Box::new(metrics.connected.clone()))?;
        registry.register(Box::new(metrics.consumed.clone()))?;
        registry.register(Box::new(metrics.updates.clone()))?;
        registry.register(Box::new(metrics.resyncs.clone()))?;
        Ok(metrics)
    }

    /// Metrics kept but shown nowhere (tests, tools).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            watchers: IntGauge::new("live_watchers", "Open live-feed streams")?,
            connected: IntGauge::new(
                "live_consumer_connected",
                "1 when the live feed's consumer has its partitions",
            )?,
            consumed: IntCounter::new(
                "live_messages_consumed_total",
                "Messages the live feed read from booking.events and waitlist.events",
            )?,
            updates: IntCounter::new(
                "live_updates_total",
                "Updates handed to the watchers of an event",
            )?,
            resyncs: IntCounter::new(
                "live_resyncs_total",
                "Times a slow watcher fell behind and was told to reload",
            )?,
        })
    }
}

struct Hub {
    channels: Mutex<HashMap<EventId, broadcast::Sender<Bytes>>>,
    watchers: AtomicUsize,
    /// Signalled when a watcher arrives, to start a stopped consumer.
    watcher_arrived: Notify,
    metrics: LiveMetrics,
}

impl Hub {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, broadcast::Sender<Bytes>>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tell every watcher to reload the seat map: the consumer was
    /// (re)assigned its partitions, and from `latest` it may have skipped
    /// what happened while it was away (a broker restart, a rebalance).
    fn resync_all(&self, reason: &str) {
        let frame = frame(
            Some("resync"),
            &serde_json::json!({ "reason": reason }).to_string(),
        );
        for sender in self.channels().values() {
            // No receiver left: the last watcher's drop removes the channel.
            let _ = sender.send(frame.clone());
        }
    }
}

/// The feed's shared state: one per gateway instance.
#[derive(Clone)]
pub struct LiveFeed {
    hub: Arc<Hub>,
    settings: LiveSettings,
    connected: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

/// The feed's state, as the topic dashboard's overview shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FeedStatus {
    pub enabled: bool,
    /// The consumer has partitions assigned.
    pub connected: bool,
    pub watchers: usize,
    pub events_watched: usize,
    /// Updates handed to channels since start.
    pub updates: u64,
}

impl LiveFeed {
    /// The feed with its consumer running in the background until `shutdown`.
    /// A broker that is down only delays the feed: the consumer retries.
    pub fn start(
        kafka: &KafkaSettings,
        settings: &LiveSettings,
        metrics: LiveMetrics,
        shutdown: CancellationToken,
    ) -> Self {
        let feed = Self::idle(settings, metrics, shutdown);
        if settings.enabled {
            let task = feed.clone();
            let kafka = kafka.clone();
            tokio::spawn(async move { task.consume_forever(kafka).await });
        }
        feed
    }

    /// The feed without a consumer (nothing is published unless
    /// [`LiveFeed::publish`] is called).
    pub fn idle(
        settings: &LiveSettings,
        metrics: LiveMetrics,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            hub: Arc::new(Hub {
                channels: Mutex::new(HashMap::new()),
                watchers: AtomicUsize::new(0),
                watcher_arrived: Notify::new(),
                metrics,
            }),
            settings: settings.clone(),
            connected: Arc::new(AtomicBool::new(false)),
            delivered: Arc::new(AtomicU64::new(0)),
            shutdown,
        }
    }

    pub fn status(&self) -> FeedStatus {
        FeedStatus {
            enabled: self.settings.enabled,
            connected: self.connected.load(Ordering::Relaxed),
            watchers: self.hub.watchers.load(Ordering::Relaxed),
            events_watched: self.hub.channels().len(),
            updates: self.delivered.load(Ordering::Relaxed),
        }
    }

    /// Hand `update` to the watchers of its event, if any.
    pub fn publish(&self, update: &LiveUpdate) {
        let mut channels = self.hub.channels();
        let Some(sender) = channels.get(&update.event_id) else {
            return;
        };
        let data = match serde_json::to_string(update) {
            Ok(data) => data,
            Err(error) => {
                tracing::warn!(%error, "cannot encode a live update");
                return;
            }
        };
        if sender.send(frame(None, &data)).is_err() {
            // Every watcher has gone.
            channels.remove(&update.event_id);
        } else {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            self.hub.metrics.updates.inc();
        }
    }

    fn watch(&self, event_id: EventId) -> Result<Watch, LiveError> {
        let current = self.hub.watchers.fetch_add(1, Ordering::Relaxed);
        if current >= self.settings.max_watchers {
            self.hub.watchers.fetch_sub(1, Ordering::Relaxed);
            return Err(LiveError::TooManyWatchers);
        }
        self.hub.metrics.watchers.inc();
        self.hub.watcher_arrived.notify_one();
        let receiver = self
            .hub
            .channels()
            .entry(event_id)
            .or_insert_with(|| broadcast::channel(self.settings.buffer.max(16)).0)
            .subscribe();
        Ok(Watch {
            hub: self.hub.clone(),
            event_id,
            receiver: Some(receiver),
        })
    }

    async fn consume_forever(self, kafka: KafkaSettings) {
        // Unique per instance and never committed: a broadcast, not a queue.
        let group = format!("gateway-live-{}", uuid::Uuid::new_v4().simple());
        let mut translator = Translator::new(self.settings.remembered);
        let mut backoff = Duration::from_millis(500);
        loop {
            while self.hub.watchers.load(Ordering::Relaxed) == 0 {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = self.hub.watcher_arrived.notified() => {}
                }
            }
            match self.consume(&kafka, &group, &mut translator).await {
                Ok(Stopped::Shutdown) => return,
                Ok(Stopped::Unwatched) => {
                    self.connected.store(false, Ordering::Relaxed);
                    self.hub.metrics.connected.set(0);
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Err(error) => {
                    self.connected.store(false, Ordering::Relaxed);
                    self.hub.metrics.connected.set(0);
                    tracing::warn!(%error, retry_in = ?backoff, "live feed consumer failed");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn consume(
        &self,
        kafka: &KafkaSettings,
        group: &str,
        translator: &mut Translator,
    ) -> Result<Stopped, kafka_bus::BusError> {
        let bases = [topics::BOOKING_EVENTS, topics::WAITLIST_EVENTS];
        // The gateway may start before booking and waitlist have created
        // their topics; subscribing to a missing topic would wait for the next
        // metadata refresh.
        kafka_bus::ensure_topics(kafka, &bases).await?;
        let context = FeedContext {
            connected: self.connected.clone(),
            hub: self.hub.clone(),
        };
        let consumer: StreamConsumer<FeedContext> = kafka_bus::consumer(
            kafka,
            group,
            context,
            &[
                ("auto.offset.reset", "latest"),
                ("topic.metadata.refresh.interval.ms", "10000"),
                kafka_bus::BACKGROUND,
            ],
        )?;
        kafka_bus::subscribe(&consumer, kafka, &bases)?;
        let booking_topic = kafka.topic(topics::BOOKING_EVENTS);
        tracing::info!(%group, "live feed consumer started");
        let mut unwatched_since: Option<Instant> = None;
        loop {
            let next = tokio::time::timeout(
                Duration::from_secs(1),
                kafka_bus::next_message(&consumer, &self.shutdown),
            )
            .await;
            if self.hub.watchers.load(Ordering::Relaxed) > 0 {
                unwatched_since = None;
            } else if unwatched_since.get_or_insert_with(Instant::now).elapsed()
                >= Duration::from_secs(self.settings.idle_stop_secs)
            {
                tracing::info!(%group, "live feed consumer stopped: nobody watches");
                drop(next);
                // Leaving the group can block for a broker round trip.
                let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
                return Ok(Stopped::Unwatched);
            }
            let message = match next {
                Err(_quiet_second) => continue,
                Ok(None) => return Ok(Stopped::Shutdown),
                Ok(Some(message)) => message,
            };
            self.hub.metrics.consumed.inc();
            let span = kafka_bus::message_span(&message);
            let _entered = span.enter();
            let source = if message.topic() == booking_topic {
                "booking"
            } else {
                "waitlist"
            };
            let Some(payload) = message.payload() else {
                continue;
            };
            let envelope: Value = match serde_json::from_slice(payload) {
                Ok(value) => value,
                Err(error) => {
                    tracing::warn!(%error, "skipping a message that is not JSON");
                    continue;
                }
            };
            let key = message.key().and_then(|k| std::str::from_utf8(k).ok());
            if let Some(update) = translator.translate(source, key, &envelope) {
                self.publish(&update);
            }
        }
    }
}

enum Stopped {
    Shutdown,
    Unwatched,
}

struct FeedContext {
    connected: Arc<AtomicBool>,
    hub: Arc<Hub>,
}

impl ClientContext for FeedContext {}

impl ConsumerContext for FeedContext {
    /// Each assigned partition starts at its end as read *now*, before the
    /// feed says it is live. With `auto.offset.reset=latest` alone librdkafka
    /// looks the end up after the assignment, so an outcome produced in
    /// between (a fresh group has no committed offsets) was skipped, and a
    /// watcher that saw "live" missed it.
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut start = TopicPartitionList::new();
                for e in tpl.elements() {
                    let offset = base_consumer
                        .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(5))
                        .map_or(Offset::End, |(_low, high)| Offset::Offset(high));
                    let _ = start.add_partition_offset(e.topic(), e.partition(), offset);
                }
                if let Err(error) = base_consumer.assign(&start) {
                    tracing::error!(%error, "assigning the live feed's partitions failed");
                    return;
                }
                let assigned = start.count() > 0;
                self.connected.store(assigned, Ordering::Relaxed);
                self.hub.metrics.connected.set(i64::from(assigned));
                if assigned {
                    self.hub.resync_all("feed-reassigned");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.connected.store(false, Ordering::Relaxed);
                self.hub.metrics.connected.set(0);
                if let Err(error) = base_consumer.unassign() {
                    tracing::error!(%error, "unassigning the live feed's partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "live feed rebalance error");
                let _ = base_consumer.unassign();
            }
        }
    }
}

/// One open stream; leaving tidies the event's channel when it was the last.
struct Watch {
    hub: Arc<Hub>,
    event_id: EventId,
    receiver: Option<broadcast::Receiver<Bytes>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.receiver.take());
        self.hub.watchers.fetch_sub(1, Ordering::Relaxed);
        self.hub.metrics.watchers.dec();
        let mut channels = self.hub.channels();
        if channels
            .get(&self.event_id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.event_id);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("`{0}` is not an event id (a UUID)")]
    BadEventId(String),
    #[error("this gateway has as many live watchers as it takes; try again shortly")]
    TooManyWatchers,
    #[error("the live feed is turned off on this gateway")]
    Disabled,
}

impl ResponseError for LiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            LiveError::BadEventId(_) => StatusCode::BAD_REQUEST,
            LiveError::TooManyWatchers | LiveError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (slug, title) = match self {
            LiveError::BadEventId(_) => ("invalid-path", "Invalid event id"),
            LiveError::TooManyWatchers => ("live-feed-full", "Too many live watchers"),
            LiveError::Disabled => ("live-feed-disabled", "Live feed disabled"),
        };
        problem_response(problem(self.status_code(), slug, title, self.to_string()))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/events/{id}/live", web::get().to(stream));
}

/// `GET /api/v1/events/{id}/live`: seat changes and activity of one event as
/// server-sent events. Public, like the seat map it updates.
#[tracing::instrument(name = "live.stream", skip(feed, path), fields(event_id = %path.as_str()))]
pub async fn stream(
    path: web::Path<String>,
    feed: web::Data<LiveFeed>,
) -> Result<HttpResponse, LiveError> {
    let raw = path.into_inner();
    let event_id: EventId = raw
        .parse()
        .map_err(|_| LiveError::BadEventId(raw.clone()))?;
    if !feed.settings.enabled {
        return Err(LiveError::Disabled);
    }
    let watch = feed.watch(event_id)?;
    let hello = serde_json::json!({
        "event_id": event_id,
        "connected": feed.connected.load(Ordering::Relaxed),
        "heartbeat_secs": feed.settings.heartbeat_secs,
    });
    let mut heartbeat =
        tokio::time::interval(Duration::from_secs(feed.settings.heartbeat_secs.max(1)));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: it is spent on the hello below.
    let state = StreamState {
        watch,
        heartbeat,
        shutdown: feed.shutdown.clone(),
        first: Some(Bytes::from(format!(
            "retry: 2000\n{}",
            String::from_utf8_lossy(&frame(Some("hello"), &hello.to_string()))
        ))),
    };
    let body = futures::stream::unfold(state, next_frame);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression middleware would buffer the stream; nginx-style proxies too.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

struct StreamState {
    watch: Watch,
    heartbeat: tokio::time::Interval,
    shutdown: CancellationToken,
    first: Option<Bytes>,
}

async fn next_frame(mut state: StreamState) -> Option<(Result<Bytes, Infallible>, StreamState)> {
    if let Some(first) = state.first.take() {
        state.heartbeat.tick().await;
        return Some((Ok(first), state));
    }
    let receiver = state.watch.receiver.as_mut()?;
    let chunk = tokio::select! {
        _ = state.shutdown.cancelled() => return None,
        _ = state.heartbeat.tick() => Bytes::from_static(b": keep-alive\n\n"),
        received = receiver.recv() => match received {
            Ok(frame) => frame,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                state.watch.hub.metrics.resyncs.inc();
                // The watcher fell behind: its picture is stale, so tell it to
                // reload the seat map rather than pretend nothing was lost.
                frame(Some("resync"), &serde_json::json!({ "missed": missed }).to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        },
    };
    Some((Ok(chunk), state))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(kind: &str, payload: Value) -> Value {
        json!({
            "id": "0190a0b0-0000-7000-8000-000000000000",
            "type": kind,
            "schema_version": 1,
            "occurred_at": "2026-11-22T03:00:00Z",
            "payload": payload,
        })
    }

    const EVENT: &str = "0190a0b0-0000-7000-8000-0000000000e1";

    #[test]
    fn holds_confirmations_and_expiry_become_seat_changes() {
        let mut t = Translator::new(10);
        let held = t
            .translate(
                "booking",
                None,
                &envelope(
                    "HoldPlaced",
                    json!({"type": "HoldPlaced", "event_id": EVENT, "hold_id": "h1",
                           "seats": ["A-1", "A-2"], "quantity": 2}),
                ),
            )
            .unwrap();
        assert_eq!(held.status, Some(SeatStatus::Held));
        assert_eq!(held.seat_ids, vec!["A-1", "A-2"]);
        assert_eq!(held.at, "2026-11-22T03:00:00Z");

        let expired = t
            .translate(
                "booking",
                Some(EVENT),
                &envelope("HoldExpired", json!({"hold_id": "h1", "event_id": EVENT})),
            )
            .unwrap();
        assert_eq!(expired.status, Some(SeatStatus::Available));
        assert_eq!(
            expired.seat_ids,
            vec!["A-1", "A-2"],
            "seats come from memory"
        );
        assert_eq!(expired.quantity, 2);
    }

    #[test]
    fn a_confirmed_booking_is_remembered_until_cancelled() {
        let mut t = Translator::new(10);
        let booked = t
            .translate(
                "booking",
                None,
                &envelope(
                    "BookingConfirmed",
                    json!({"event_id": EVENT, "hold_id": "h1", "booking_id": "b1",
                           "reference": "EVT-1", "seats": [], "section_id": "s1", "quantity": 3}),
                ),
            )
            .unwrap();
        assert_eq!(booked.status, Some(SeatStatus::Booked));
        let cancelled = t
            .translate(
                "booking",
                None,
                &envelope(
                    "BookingCancelled",
                    json!({"event_id": EVENT, "booking_id": "b1"}),
                ),
            )
            .unwrap();
        assert_eq!(cancelled.status, Some(SeatStatus::Available));
        assert_eq!(cancelled.section_id.as_deref(), Some("s1"));
        assert_eq!(cancelled.quantity, 3);
    }

    #[test]
    fn activity_without_seats_and_unknown_types_pass_through() {
        let mut t = Translator::new(10);
        let rejected = t
            .translate(
                "booking",
                None,
                &envelope(
                    "HoldRejected",
                    json!({"event_id": EVENT, "reason": "seats-unavailable"}),
                ),
            )
            .unwrap();
        assert_eq!(rejected.status, None);
        assert_eq!(rejected.reason.as_deref(), Some("seats-unavailable"));

        let joined = t
            .translate(
                "waitlist",
                Some(EVENT),
                &envelope("Joined", json!({"entry_id": "w1", "position": 4})),
            )
            .unwrap();
        assert_eq!(joined.source, "waitlist");
        assert_eq!(joined.position, Some(4));
        assert_eq!(joined.waitlist_entry_id.as_deref(), Some("w1"));
    }

    #[test]
    fn messages_without_an_event_are_dropped() {
        let mut t = Translator::new(10);
        assert!(t
            .translate("booking", None, &envelope("HoldPlaced", json!({})))
            .is_none());
        assert!(t
            .translate("booking", Some("not-a-uuid"), &json!({"type": "X"}))
            .is_none());
    }

    #[test]
    fn memory_forgets_the_oldest_first() {
        let mut m = Memory::new(2);
        let c = || Covered {
            seat_ids: vec![],
            section_id: None,
            quantity: 1,
        };
        m.remember("a".into(), c());
        m.remember("b".into(), c());
        m.remember("c".into(), c());
        assert!(m.take("a").is_none());
        assert!(m.take("b").is_some());
        assert!(m.take("c").is_some());
    }

    #[tokio::test]
    async fn watchers_are_counted_capped_and_tidied_up() {
        let settings = LiveSettings {
            max_watchers: 2,
            ..LiveSettings::default()
        };
        let feed = LiveFeed::idle(
            &settings,
            LiveMetrics::unregistered().unwrap(),
            CancellationToken::new(),
        );
        let event: EventId = EVENT.parse().unwrap();
        let first = feed.watch(event).unwrap();
        let mut second = feed.watch(event).unwrap();
        assert!(matches!(
            feed.watch(EventId::new()),
            Err(LiveError::TooManyWatchers)
        ));
        assert_eq!(feed.status().watchers, 2);
        assert_eq!(feed.status().events_watched, 1);

        let mut t = Translator::new(10);
        let update = t
            .translate(
                "booking",
                Some(EVENT),
                &envelope("SeatsReleased", json!({"seat_ids": ["C-3"], "quantity": 1})),
            )
            .unwrap();
        feed.publish(&update);
        drop(first);
        feed.publish(&update);
        let receiver = second.receiver.as_mut().unwrap();
        receiver.recv().await.unwrap();
        let frame = receiver.recv().await.unwrap();
        assert!(String::from_utf8_lossy(&frame).contains("\"status\":\"available\""));

        feed.hub.resync_all("test");
        let frame = receiver.recv().await.unwrap();
        assert_eq!(
            frame,
            Bytes::from_static(b"event: resync\ndata: {\"reason\":\"test\"}\n\n")
        );

        drop(second);
        assert_eq!(feed.status().watchers, 0);
        assert_eq!(
            feed.status().events_watched,
            0,
            "the last watcher removes the channel"
        );
        assert_eq!(feed.status().updates, 2);
    }

    #[test]
    fn frames_follow_the_sse_format() {
        assert_eq!(
            frame(Some("hello"), "{}"),
            Bytes::from_static(b"event: hello\ndata: {}\n\n")
        );
        assert_eq!(frame(None, "x"), Bytes::from_static(b"data: x\n\n"));
    }
}
