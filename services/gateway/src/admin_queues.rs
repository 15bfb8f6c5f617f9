//! The topic dashboard at `/admin/queues` (admins only): topics and their
//! partitions, consumer-group lag per partition, the last messages of a topic,
//! and the notification dead letters with a replay button.
//!
//! The HTML page is a shell with no data in it; everything it shows comes
//! from `/admin/queues/api/...`, which checks the caller's bearer token and
//! role on every request. Replaying a dead letter is the notification
//! service's own admin call (`POST /api/v1/admin/notifications/{id}/replay`),
//! which the page sends through the gateway's ordinary proxy path.

use crate::live::{FeedStatus, LiveFeed};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use common_types::topics;
use kafka_bus::rdkafka::consumer::{BaseConsumer, Consumer};
use kafka_bus::rdkafka::message::Headers;
use kafka_bus::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use kafka_bus::rdkafka::Message;
use serde::{Deserialize, Serialize};
use service_http::auth::AuthError;
use service_http::problem::{problem, problem_response};
use service_http::AuthUser;
use settings::KafkaSettings;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("admin_queues.html");

/// `[admin_queues]` in the gateway's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueDashboardSettings {
    /// Consumer groups (before the group prefix) whose lag is shown.
    #[serde(default = "default_groups")]
    pub groups: Vec<String>,
    /// Messages shown per partition when none is asked for.
    #[serde(default = "default_recent")]
    pub recent_per_partition: u32,
    /// Longest wait for the broker on one dashboard request.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for QueueDashboardSettings {
    fn default() -> Self {
        Self {
            groups: default_groups(),
            recent_per_partition: default_recent(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

fn default_groups() -> Vec<String> {
    [
        "booking-processor",
        "booking-lifecycle",
        "waitlist",
        "notification",
        "notification-fanout",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}
fn default_recent() -> u32 {
    5
}
fn default_timeout_ms() -> u64 {
    5_000
}

/// Most messages per partition one request may ask for.
const MAX_RECENT: u32 = 100;
/// Largest message body returned as is; longer ones are cut.
const MAX_BODY: usize = 16 * 1024;

/// A topic of the contract (DESIGN.md), named by its base name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTopic(&'static str);

impl TryFrom<&str> for KnownTopic {
    type Error = DashboardError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        topics::ALL
            .iter()
            .find(|t| **t == value)
            .map(|t| KnownTopic(t))
            .ok_or_else(|| DashboardError::UnknownTopic(value.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("`{0}` is not one of the platform's topics")]
    UnknownTopic(String),
    #[error("limit must be between 1 and {MAX_RECENT}")]
    BadLimit,
    #[error("the broker did not answer: {0}")]
    Broker(String),
}

impl From<kafka_bus::rdkafka::error::KafkaError> for DashboardError {
    fn from(error: kafka_bus::rdkafka::error::KafkaError) -> Self {
        DashboardError::Broker(error.to_string())
    }
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::Auth(e) => e.status_code(),
            DashboardError::UnknownTopic(_) => StatusCode::NOT_FOUND,
            DashboardError::BadLimit => StatusCode::UNPROCESSABLE_ENTITY,
            DashboardError::Broker(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (slug, title) = match self {
            DashboardError::Auth(e) => return e.error_response(),
            DashboardError::UnknownTopic(_) => ("unknown-topic", "No such topic"),
            DashboardError::BadLimit => ("invalid-query", "Invalid limit"),
            DashboardError::Broker(_) => ("broker-unavailable", "Broker unavailable"),
        };
        problem_response(problem(self.status_code(), slug, title, self.to_string()))
    }
}

/// The dashboard's shared state.
#[derive(Clone)]
pub struct QueueDashboard {
    kafka: KafkaSettings,
    settings: QueueDashboardSettings,
    live: LiveFeed,
}

impl QueueDashboard {
    pub fn new(kafka: &KafkaSettings, settings: &QueueDashboardSettings, live: LiveFeed) -> Self {
        Self {
            kafka: kafka.clone(),
            settings: settings.clone(),
            live,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.settings.timeout_ms.max(100))
    }

    /// A consumer that never joins a group: it only reads metadata,
    /// watermarks and offsets, or is assigned partitions by hand.
    fn reader(&self, group: &str) -> Result<BaseConsumer, DashboardError> {
        Ok(kafka_bus::client_config(&self.kafka)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create()?)
    }
}

#[derive(Debug, Serialize)]
pub struct Overview {
    pub topics: Vec<TopicInfo>,
    pub groups: Vec<GroupLag>,
    /// Groups the broker knows that are not in the configured list (names only).
    pub other_groups: Vec<String>,
    pub live: FeedStatus,
}

#[derive(Debug, Serialize)]
pub struct TopicInfo {
    /// The contract's name, e.g. `booking.events`.
    pub base: String,
    /// The name on the broker (with this deployment's prefix).
    pub name: String,
    pub exists: bool,
    pub messages: i64,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Serialize)]
pub struct PartitionInfo {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

#[derive(Debug, Serialize)]
pub struct GroupLag {
    pub group: String,
    pub total_lag: i64,
    /// Partitions the group has committed offsets for.
    pub partitions: Vec<PartitionLag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub high: i64,
    pub lag: i64,
}

#[derive(Debug, Serialize)]
pub struct RecentMessages {
    pub topic: String,
    pub items: Vec<Peeked>,
}

#[derive(Debug, Serialize)]
pub struct Peeked {
    pub partition: i32,
    pub offset: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    pub headers: BTreeMap<String, String>,
    /// The envelope's `type`, when the body is one.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// The body: JSON when it parses, else text (cut at 16 KiB).
    pub value: serde_json::Value,
}

fn overview_blocking(dashboard: &QueueDashboard) -> Result<Overview, DashboardError> {
    let timeout = dashboard.timeout();
    let reader = dashboard.reader(&dashboard.kafka.group("gateway-admin"))?;
    let metadata = reader.fetch_metadata(None, timeout)?;
    let mut topics_out = Vec::new();
    // (topic, partition) -> high watermark, for the lag below.
    let mut highs: HashMap<(String, i32), i64> = HashMap::new();
    for base in topics::ALL {
        let name = dashboard.kafka.topic(base);
        let found = metadata.topics().iter().find(|t| t.name() == name);
        let mut partitions = Vec::new();
        if let Some(topic) = found {
            let mut ids: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            for id in ids {
                let (low, high) = reader.fetch_watermarks(&name, id, timeout)?;
                highs.insert((name.clone(), id), high);
                partitions.push(PartitionInfo {
                    partition: id,
                    low,
                    high,
                });
            }
        }
        topics_out.push(TopicInfo {
            base: base.to_string(),
            messages: partitions.iter().map(|p| p.high - p.low).sum(),
            exists: found.is_some(),
            name,
            partitions,
        });
    }

    let configured: Vec<String> = dashboard
        .settings
        .groups
        .iter()
        .map(|g| dashboard.kafka.group(g))
        .collect();
    let mut groups = Vec::new();
    for group in &configured {
        groups.push(group_lag(dashboard, group, &highs, timeout));
    }
    // Listing groups is optional for a broker; a failure only hides the list.
    let other_groups = reader
        .fetch_group_list(None, timeout)
        .map(|list| {
            let mut names: Vec<String> = list
                .groups()
                .iter()
                .map(|g| g.name().to_string())
                .filter(|name| {
                    name.starts_with(&dashboard.kafka.group_prefix)
                        && !configured.contains(name)
                        && !is_per_instance(&dashboard.kafka, name)
                })
                .collect();
            names.sort();
            names.truncate(200);
            names
        })
        .unwrap_or_default();
    Ok(Overview {
        topics: topics_out,
        groups,
        other_groups,
        live: dashboard.live.status(),
    })
}

/// Groups each instance makes for itself (broadcast readers that start at
/// the end and never commit): their lag means nothing. `booking-replies-`
/// groups came from booking versions before replies went through PostgreSQL;
/// a broker that served them still lists them.
fn is_per_instance(kafka: &KafkaSettings, group: &str) -> bool {
    let base = group.strip_prefix(&kafka.group_prefix).unwrap_or(group);
    ["gateway-live-", "booking-replies-"]
        .iter()
        .any(|p| base.starts_with(p))
}

/// Committed offsets of `group` on every known partition (an offset fetch
/// does not join the group, so this never disturbs its members).
fn group_lag(
    dashboard: &QueueDashboard,
    group: &str,
    highs: &HashMap<(String, i32), i64>,
    timeout: Duration,
) -> GroupLag {
    let result = (|| -> Result<Vec<PartitionLag>, DashboardError> {
        let reader = dashboard.reader(group)?;
        let mut wanted = TopicPartitionList::new();
        for (topic, partition) in highs.keys() {
            wanted.add_partition(topic, *partition);
        }
        let committed = reader.committed_offsets(wanted, timeout)?;
        let mut lags: Vec<PartitionLag> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(at) => {
                    let high = highs.get(&(e.topic().to_string(), e.partition()))?;
                    Some(PartitionLag {
                        topic: e.topic().to_string(),
                        partition: e.partition(),
                        committed: at,
                        high: *high,
                        lag: (*high - at).max(0),
                    })
                }
                _ => None,
            })
            .collect();
        lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(lags)
    })();
    match result {
        Ok(partitions) => GroupLag {
            group: group.to_string(),
            total_lag: partitions.iter().map(|p| p.lag).sum(),
            partitions,
            error: None,
        },
        Err(error) => GroupLag {
            group: group.to_string(),
            total_lag: 0,
            partitions: Vec::new(),
            error: Some(error.to_string()),
        },
    }
}

fn recent_blocking(
    dashboard: &QueueDashboard,
    topic: KnownTopic,
    per_partition: u32,
) -> Result<RecentMessages, DashboardError> {
    let timeout = dashboard.timeout();
    let name = dashboard.kafka.topic(topic.0);
    let reader = dashboard.reader(&dashboard.kafka.group("gateway-admin"))?;
    let metadata = reader.fetch_metadata(Some(&name), timeout)?;
    let Some(found) = metadata
        .topics()
        .iter()
        .find(|t| t.name() == name && t.error().is_none())
    else {
        return Ok(RecentMessages {
            topic: name,
            items: Vec::new(),
        });
    };
    let mut assignment = TopicPartitionList::new();
    // partition -> the offset after the last message we want.
    let mut pending: HashMap<i32, i64> = HashMap::new();
    for partition in found.partitions() {
        let (low, high) = reader.fetch_watermarks(&name, partition.id(), timeout)?;
        if high > low {
            let start = (high - i64::from(per_partition)).max(low);
            assignment.add_partition_offset(&name, partition.id(), Offset::Offset(start))?;
            pending.insert(partition.id(), high);
        }
    }
    let mut items = Vec::new();
    if !pending.is_empty() {
        reader.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        while !pending.is_empty() && Instant::now() < deadline {
            match reader.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let offset = message.offset();
                    if let Some(end) = pending.get(&partition).copied() {
                        if offset < end {
                            items.push(peek(&message));
                        }
                        if offset + 1 >= end {
                            pending.remove(&partition);
                        }
                    }
                }
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
    }
    items.sort_by(|a, b| {
        (b.timestamp_ms, b.offset, b.partition).cmp(&(a.timestamp_ms, a.offset, a.partition))
    });
    Ok(RecentMessages { topic: name, items })
}

fn peek(message: &kafka_bus::rdkafka::message::BorrowedMessage<'_>) -> Peeked {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        h.value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let body = message.payload().unwrap_or_default();
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) if body.len() <= MAX_BODY => json,
        _ => {
            let cut = &body[..body.len().min(MAX_BODY)];
            serde_json::Value::String(String::from_utf8_lossy(cut).into_owned())
        }
    };
    Peeked {
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        timestamp_ms: message.timestamp().to_millis(),
        message_type: value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string),
        headers,
        value,
    }
}

async fn run_blocking<T, F>(work: F) -> Result<T, DashboardError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DashboardError> + Send + 'static,
{
    // rdkafka's metadata, watermark and offset calls block their thread.
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DashboardError::Broker(format!("dashboard task failed: {e}")))?
}

/// The routes under `/admin/queues`, with the token verifier they check
/// callers against.
pub fn scope(
    dashboard: web::Data<QueueDashboard>,
    verifier: web::Data<service_http::JwtVerifier>,
) -> actix_web::Scope {
    web::scope("/admin/queues")
        .app_data(dashboard)
        .app_data(verifier)
        .route("", web::get().to(page))
        .route("/", web::get().to(page))
        .route("/api/overview", web::get().to(overview))
        .route("/api/topics/{topic}/messages", web::get().to(recent))
        .route("/api/dlq", web::get().to(dead_letters))
}

/// The page itself holds no data: it asks for a token and then calls the API.
async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(PAGE)
}

#[tracing::instrument(name = "admin_queues.overview", skip_all, fields(user = %user.id))]
async fn overview(
    user: AuthUser,
    dashboard: web::Data<QueueDashboard>,
) -> Result<HttpResponse, DashboardError> {
    user.require_admin()?;
    let dashboard = dashboard.get_ref().clone();
    let overview = run_blocking(move || overview_blocking(&dashboard)).await?;
    Ok(HttpResponse::Ok().json(overview))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentQuery {
    /// Messages per partition.
    limit: Option<u32>,
}

fn limit(query: &RecentQuery, settings: &QueueDashboardSettings) -> Result<u32, DashboardError> {
    match query.limit {
        None => Ok(settings.recent_per_partition.clamp(1, MAX_RECENT)),
        Some(n) if (1..=MAX_RECENT).contains(&n) => Ok(n),
        Some(_) => Err(DashboardError::BadLimit),
    }
}

#[tracing::instrument(name = "admin_queues.recent", skip_all, fields(user = %user.id, topic = %path.as_str()))]
async fn recent(
    user: AuthUser,
    path: web::Path<String>,
    query: web::Query<RecentQuery>,
    dashboard: web::Data<QueueDashboard>,
) -> Result<HttpResponse, DashboardError> {
    user.require_admin()?;
    let topic = KnownTopic::try_from(path.as_str())?;
    let per_partition = limit(&query, &dashboard.settings)?;
    let dashboard = dashboard.get_ref().clone();
    let recent = run_blocking(move || recent_blocking(&dashboard, topic, per_partition)).await?;
    Ok(HttpResponse::Ok().json(recent))
}

/// The notification dead letters (newest first), each with the id the
/// replay call takes.
#[tracing::instrument(name = "admin_queues.dlq", skip_all, fields(user = %user.id))]
async fn dead_letters(
    user: AuthUser,
    query: web::Query<RecentQuery>,
    dashboard: web::Data<QueueDashboard>,
) -> Result<HttpResponse, DashboardError> {
    user.require_admin()?;
    let per_partition = limit(&query, &dashboard.settings)?;
    let dashboard = dashboard.get_ref().clone();
    let recent = run_blocking(move || {
        recent_blocking(
            &dashboard,
            KnownTopic(topics::NOTIFICATION_DLQ),
            per_partition,
        )
    })
    .await?;
    let items: Vec<serde_json::Value> = recent
        .items
        .into_iter()
        .map(|message| {
            let notification_id = notification_id(&message.value);
            serde_json::json!({ "notification_id": notification_id, "message": message })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "topic": recent.topic, "items": items })))
}

/// The notification a dead letter is about: `payload.notification_id`, else
/// `payload.id`, else a top-level `notification_id`.
fn notification_id(value: &serde_json::Value) -> Option<String> {
    let payload = value.get("payload");
    payload
        .and_then(|p| p.get("notification_id"))
        .or_else(|| payload.and_then(|p| p.get("id")))
        .or_else(|| value.get("notification_id"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contract_topics_are_served() {
        assert!(KnownTopic::try_from("booking.events").is_ok());
        assert!(matches!(
            KnownTopic::try_from("__consumer_offsets"),
            Err(DashboardError::UnknownTopic(_))
        ));
    }

    #[test]
    fn limits_are_bounded() {
        let settings = QueueDashboardSettings::default();
        assert!(matches!(
            limit(&RecentQuery { limit: None }, &settings),
            Ok(5)
        ));
        assert!(matches!(
            limit(&RecentQuery { limit: Some(0) }, &settings),
            Err(DashboardError::BadLimit)
        ));
        assert!(matches!(
            limit(&RecentQuery { limit: Some(101) }, &settings),
            Err(DashboardError::BadLimit)
        ));
    }

    #[test]
    fn dead_letters_name_their_notification() {
        let v =
            serde_json::json!({"type": "NotificationFailed", "payload": {"notification_id": "n1"}});
        assert_eq!(notification_id(&v).as_deref(), Some("n1"));
        let v = serde_json::json!({"payload": {"id": "n2"}});
        assert_eq!(notification_id(&v).as_deref(), Some("n2"));
        assert_eq!(notification_id(&serde_json::json!("text")), None);
    }
}
