//! Kafka behind a small wrapper.
//!
//! - [`Producer`]: idempotent, `acks=all`, small linger, JSON [`Envelope`]s,
//!   trace context and request id in headers.
//! - [`ensure_topics`]: creates missing topics at start-up (brokers run with
//!   `auto.create.topics.enable=false`, so a mistyped topic fails loudly).
//! - [`consumer`], [`decode`], [`message_span`]: the consuming side.

use common_types::{Envelope, MessageType};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use settings::KafkaSettings;
use std::time::Duration;

pub use rdkafka;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const MESSAGE_TYPE_HEADER: &str = "message-type";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
    #[error("broker at {0} did not answer within {1:?}")]
    Unreachable(String, Duration),
}

/// Common client settings; `extra` adds or overrides per client.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // IPv4 only: the local broker does not listen on ::1.
        .set("broker.address.family", "v4")
        .set("socket.keepalive.enable", "true");
    if let Some(contexts) = &settings.debug {
        config.set("debug", contexts);
    }
    config
}

/// Create each topic (prefixed) that does not exist yet.
pub async fn ensure_topics(settings: &KafkaSettings, bases: &[&str]) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let names: Vec<String> = bases.iter().map(|b| settings.topic(b)).collect();
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(new_topics.iter(), &options).await? {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions = settings.partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(BusError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Ask the broker for metadata with a deadline: `/health` and start-up checks.
pub async fn ping(settings: &KafkaSettings, timeout: Duration) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = client_config(settings).create()?;
    let brokers = settings.brokers.clone();
    tokio::task::spawn_blocking(move || {
        metadata_ping(admin.inner(), timeout).map_err(|_| BusError::Unreachable(brokers, timeout))
    })
    .await
    .unwrap_or_else(|_| Err(BusError::Unreachable(settings.brokers.clone(), timeout)))
}

/// Metadata for one (usually absent) topic rather than all of them: the
/// answer proves the broker and its storage respond, and stays small however
/// many topics the broker holds.
fn metadata_ping<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    timeout: Duration,
) -> Result<(), rdkafka::error::KafkaError> {
    client.fetch_metadata(Some(PING_TOPIC), timeout).map(|_| ())
}

const PING_TOPIC: &str = "__evently_ping";

/// A producer of JSON envelopes: idempotent, `acks=all`.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    settings: KafkaSettings,
}

/// Where a produced message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

impl Producer {
    pub fn new(settings: &KafkaSettings) -> Result<Self, BusError> {
        let inner: FutureProducer = client_config(settings)
            // Idempotent: a send retried after a lost acknowledgement is
            // stored once and in order. It covers one producer session only;
            // a process that dies and resends (an outbox relay) can still
            // store a message twice, which consumers dedupe by envelope id.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", settings.linger_ms.to_string())
            .set("compression.type", "none")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self {
            inner,
            settings: settings.clone(),
        })
    }

    /// The first send of a new producer pays for metadata and a producer id;
    /// do it at start-up, not on a customer's request.
    pub async fn warm_up(&self, bases: &[&str]) -> Result<(), BusError> {
        let inner = self.inner.clone();
        let topics: Vec<String> = bases.iter().map(|b| self.settings.topic(b)).collect();
        tokio::task::spawn_blocking(move || {
            for topic in topics {
                inner
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))?;
            }
            Ok::<_, rdkafka::error::KafkaError>(())
        })
        .await
        .map_err(|_| {
            BusError::Unreachable(self.settings.brokers.clone(), Duration::from_secs(10))
        })??;
        Ok(())
    }

    /// Whether the broker answers a metadata request in time (`/health`).
    pub async fn ping(&self, timeout: Duration) -> bool {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || metadata_ping(inner.client(), timeout).is_ok())
            .await
            .unwrap_or(false)
    }

    /// A `/health` check: `Health::new(..).check("broker", producer.health_check())`.
    pub fn health_check(
        &self,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
           + Send
           + Sync
           + 'static {
        let producer = self.clone();
        move || {
            let producer = producer.clone();
            Box::pin(async move { producer.ping(Duration::from_secs(2)).await })
        }
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// Send one envelope to `base` topic (prefix applied), keyed by `key`.
    #[tracing::instrument(name = "kafka.produce", skip(self, envelope), fields(topic = %base, key = %key, message_type = %envelope.message_type))]
    pub async fn publish<T: Serialize + MessageType>(
        &self,
        base: &str,
        key: &str,
        envelope: &Envelope<T>,
        request_id: Option<&str>,
    ) -> Result<Delivered, BusError> {
        let payload = serde_json::to_vec(envelope)?;
        self.publish_raw(base, key, &payload, &envelope.message_type, request_id)
            .await
    }

    /// Send already-encoded JSON (e.g. from an outbox row).
    pub async fn publish_raw(
        &self,
        base: &str,
        key: &str,
        payload: &[u8],
        message_type: &str,
        request_id: Option<&str>,
    ) -> Result<Delivered, BusError> {
        let topic = self.settings.topic(base);
        let headers = outgoing_headers(message_type, request_id);
        let record = FutureRecord::to(&topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        match self.inner.send(record, Duration::from_secs(30)).await {
            Ok(delivery) => Ok(Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((error, _)) => Err(BusError::Kafka(error)),
        }
    }

    /// Enqueue already-encoded JSON without waiting for the acknowledgement:
    /// messages enqueued one after another keep that order per partition, and
    /// the caller awaits the returned futures whenever it likes (e.g. in
    /// another task, so a hot loop is not blocked by broker round trips).
    /// Fails at once when the local queue is full.
    pub fn enqueue_raw(
        &self,
        base: &str,
        key: &str,
        payload: &[u8],
        message_type: &str,
        request_id: Option<&str>,
    ) -> Result<rdkafka::producer::DeliveryFuture, BusError> {
        let topic = self.settings.topic(base);
        let headers = outgoing_headers(message_type, request_id);
        let record = FutureRecord::to(&topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.inner
            .send_result(record)
            .map_err(|(error, _)| BusError::Kafka(error))
    }

    /// Wait for everything queued to be acknowledged (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.inner.flush(timeout) {
            tracing::warn!(error = %e, "producer flush did not complete");
        }
    }
}

/// Headers for an outgoing message: type, request id and the current trace context.
pub fn outgoing_headers(message_type: &str, request_id: Option<&str>) -> OwnedHeaders {
    let mut carrier = HeaderCarrier(OwnedHeaders::new_with_capacity(4));
    telemetry::inject_current(&mut carrier);
    let mut headers = carrier.0.insert(Header {
        key: MESSAGE_TYPE_HEADER,
        value: Some(message_type),
    });
    if let Some(id) = request_id {
        headers = headers.insert(Header {
            key: REQUEST_ID_HEADER,
            value: Some(id),
        });
    }
    headers
}

struct HeaderCarrier(OwnedHeaders);

impl telemetry::HeaderInjector for HeaderCarrier {
    fn set(&mut self, key: &str, value: String) {
        let headers = std::mem::replace(&mut self.0, OwnedHeaders::new());
        self.0 = headers.insert(Header {
            key,
            value: Some(&value),
        });
    }
}

/// Read-only view of a consumed message's headers for trace extraction
/// (borrowed from the consumer, or owned after `detach()`).
pub struct ConsumedHeaders<'a, H: Headers = rdkafka::message::BorrowedHeaders>(pub Option<&'a H>);

impl<H: Headers> telemetry::HeaderExtractor for ConsumedHeaders<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        let headers = self.0?;
        headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .map(|h| h.iter().map(|h| h.key).collect())
            .unwrap_or_default()
    }
}

/// A header's value as text.
pub fn header<'a, M: Message>(message: &'a M, key: &str) -> Option<&'a str> {
    message
        .headers()?
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(key))
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// One span per consumed message, a child of the producer's trace.
pub fn message_span<M: Message>(message: &M) -> tracing::Span {
    let span = tracing::info_span!(
        "kafka.consume",
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        key = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or(""),
        request_id = header(message, REQUEST_ID_HEADER).unwrap_or(""),
    );
    telemetry::set_parent_from(&span, &ConsumedHeaders(message.headers()));
    span
}

/// One span for a batch of consumed messages (a consumer that decides many
/// commands at once): a child of the first message's trace, linked to every
/// other message's, so a producer's trace leads to the batch that served it.
/// Whatever the batch publishes inside this span carries its `traceparent`.
pub fn batch_span<M: Message>(messages: &[M]) -> tracing::Span {
    let span = tracing::info_span!(
        "kafka.consume_batch",
        topic = messages.first().map(|m| m.topic()).unwrap_or(""),
        size = messages.len(),
    );
    let mut messages = messages.iter();
    if let Some(first) = messages.next() {
        telemetry::set_parent_from(&span, &ConsumedHeaders(first.headers()));
    }
    for message in messages {
        telemetry::add_link_from(&span, &ConsumedHeaders(message.headers()));
    }
    span
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message has no payload")]
    Empty,
    #[error("message is not a valid envelope: {0}")]
    Json(#[from] serde_json::Error),
}

/// Decode a message into an envelope of `T`. A message that does not decode is
/// a poison pill: the caller logs and skips it rather than stalling a partition.
pub fn decode<T: DeserializeOwned>(
    message: &BorrowedMessage<'_>,
) -> Result<Envelope<T>, DecodeError> {
    let payload = message.payload().ok_or(DecodeError::Empty)?;
    Ok(serde_json::from_slice(payload)?)
}

/// `extra` for consumers nobody waits on interactively (mail, waitlist,
/// live feed, lifecycle): a longer fetch wait. Kafka answers a waiting fetch
/// as soon as data arrives, so this costs no latency and saves idle round
/// trips of every such consumer.
pub const BACKGROUND: (&str, &str) = ("fetch.wait.max.ms", "500");

/// `extra` for the background workers that finish messages one at a time
/// with [`mark_done`] (waitlist, notification): the [`BACKGROUND`] fetch wait,
/// and offsets stored after each message and committed once a second rather
/// than one OffsetCommit request per message: a consumer catching up after a
/// 10,000-user sale would otherwise wait a broker round trip per message. A
/// crash redelivers at most about a second of messages, which consumers dedupe
/// by envelope id.
pub const BACKGROUND_WORKER: &[(&str, &str)] = &[
    BACKGROUND,
    ("enable.auto.commit", "true"),
    ("enable.auto.offset.store", "false"),
    ("auto.commit.interval.ms", "1000"),
];

/// Mark `message` processed (consumers built with [`BACKGROUND_WORKER`]): its
/// offset goes out with the next periodic commit, and on close.
pub fn mark_done<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    message: &BorrowedMessage<'_>,
) -> Result<(), rdkafka::error::KafkaError> {
    consumer.store_offset_from_message(message)
}

/// A consumer in group `group` (prefixed). Offsets are committed by the caller
/// (`enable.auto.commit=false`) unless `extra` says otherwise, so a message is
/// only marked done after its effect is stored.
pub fn consumer<C: ConsumerContext + 'static>(
    settings: &KafkaSettings,
    group: &str,
    context: C,
    extra: &[(&str, &str)],
) -> Result<StreamConsumer<C>, BusError> {
    let mut config = client_config(settings);
    config
        .set("group.id", settings.group(group))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        .set("enable.partition.eof", "false");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    Ok(config.create_with_context(context)?)
}

/// Subscribe to prefixed topics.
pub fn subscribe<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    settings: &KafkaSettings,
    bases: &[&str],
) -> Result<(), BusError> {
    let names: Vec<String> = bases.iter().map(|b| settings.topic(b)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    Ok(())
}

/// The next message, or `None` once `shutdown` is cancelled. A consumer error
/// (broker away, a rebalance hiccup) is logged and retried after a pause, so
/// every consuming loop treats them the same way.
pub async fn next_message<'a, C: ConsumerContext + 'static>(
    consumer: &'a StreamConsumer<C>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<BorrowedMessage<'a>> {
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return None,
            received = consumer.recv() => received,
        };
        match received {
            Ok(message) => return Some(message),
            Err(error) => {
                tracing::warn!(%error, "consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
