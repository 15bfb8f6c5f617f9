//! The gateway's own endpoints, through real HTTP against a real broker: the
//! live feed (`/api/v1/events/{id}/live`), the monitor page and the topic
//! dashboard. Upstream services point nowhere: none of this needs them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use common_types::{topics, EventId, Role, UserId};
use futures::StreamExt;
use gateway::{Application, Settings};
use serde_json::{json, Value};
use settings::KafkaSettings;
use std::time::{Duration, Instant};
use test_support::{isolated_kafka, wait_for, TestTokens};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Gateway {
    base: String,
    kafka: KafkaSettings,
    producer: kafka_bus::Producer,
    tokens: TestTokens,
    client: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn spawn_gateway() -> Gateway {
    spawn_gateway_with(json!({"heartbeat_secs": 1})).await
}

async fn spawn_gateway_with(live: Value) -> Gateway {
    test_support::init_tracing();
    let kafka = isolated_kafka().await;
    let tokens = TestTokens::start().await;
    // Built from the same serde form as the config file, so settings added
    // later with defaults need no change here.
    let mut settings: Settings = serde_json::from_value(json!({
        "http": {"port": 0},
        "upstreams": {
            "auth": "http://127.0.0.1:9",
            "event": "http://127.0.0.1:9",
            "booking": "http://127.0.0.1:9",
            "waitlist": "http://127.0.0.1:9",
            "notification": "http://127.0.0.1:9",
        },
        "upstream_timeout_ms": 2000,
        "live": live,
    }))
    .expect("gateway settings");
    settings.kafka = kafka.clone();
    settings.auth = tokens.verify_settings();
    let stop = CancellationToken::new();
    let app = Application::build(settings, stop.clone())
        .await
        .expect("build gateway");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    kafka_bus::ensure_topics(&kafka, &[topics::BOOKING_EVENTS, topics::WAITLIST_EVENTS])
        .await
        .expect("create topics");
    let producer = kafka_bus::Producer::new(&kafka).expect("producer");
    producer
        .warm_up(&[topics::BOOKING_EVENTS])
        .await
        .expect("warm up");
    Gateway {
        base,
        kafka,
        producer,
        tokens,
        client: reqwest::Client::new(),
        _stop: stop.drop_guard(),
    }
}

impl Gateway {
    /// Produce a `booking.events` envelope as the booking service would.
    async fn outcome(&self, event: EventId, kind: &str, payload: Value) {
        let mut payload = payload;
        payload["type"] = json!(kind);
        payload["event_id"] = json!(event);
        let envelope = json!({
            "id": uuid::Uuid::now_v7(),
            "type": kind,
            "schema_version": 1,
            "occurred_at": "2026-11-22T03:00:00Z",
            "payload": payload,
        });
        self.producer
            .publish_raw(
                topics::BOOKING_EVENTS,
                &event.to_string(),
                envelope.to_string().as_bytes(),
                kind,
                None,
            )
            .await
            .expect("produce");
    }

    /// Open a live stream; each SSE message arrives on the channel as
    /// (event name, data), comments as ("comment", text).
    async fn watch(&self, event: EventId) -> mpsc::UnboundedReceiver<(String, String)> {
        let response = self
            .client
            .get(format!("{}/api/v1/events/{event}/live", self.base))
            .send()
            .await
            .expect("open the live stream");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let mut body = response.bytes_stream();
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let mut name = "message".to_string();
                    let mut data = Vec::new();
                    for line in block.lines() {
                        if let Some(comment) = line.strip_prefix(':') {
                            name = "comment".into();
                            data.push(comment.trim().to_string());
                        } else if let Some(v) = line.strip_prefix("event: ") {
                            name = v.to_string();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data.push(v.to_string());
                        }
                    }
                    if tx.send((name, data.join("\n"))).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}

impl Gateway {
    /// A value from the gateway's `/metrics`.
    async fn metric(&self, name: &str) -> f64 {
        let metrics =
            test_support::metrics_text(&self.client, &format!("{}/metrics", self.base)).await;
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} on /metrics:\n{metrics}"))
    }

    /// Place holds until one reaches `rx` (the feed starts at the end of the
    /// log once its consumer has joined, so earlier ones are not replayed).
    async fn first_hold_seen(
        &self,
        event: EventId,
        rx: &mut mpsc::UnboundedReceiver<(String, String)>,
    ) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            self.outcome(
                event,
                "HoldPlaced",
                json!({"hold_id": "0190a0b0-0000-7000-8000-0000000000b2", "seats": ["B-1"], "quantity": 1}),
            )
            .await;
            let seen = next_update(rx, Duration::from_millis(500), |u| {
                u["type"] == "HoldPlaced"
            })
            .await;
            if seen.is_some() {
                return seen;
            }
        }
        None
    }
}

/// The next data message on `rx` that satisfies `want`, skipping the rest.
async fn next_update(
    rx: &mut mpsc::UnboundedReceiver<(String, String)>,
    within: Duration,
    want: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (name, data) = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if name == "message" {
            let update: Value = serde_json::from_str(&data).expect("updates are JSON");
            if want(&update) {
                return Some(update);
            }
        }
    }
}

#[tokio::test]
async fn watchers_see_seat_changes_of_their_event_within_a_second() {
    let gw = spawn_gateway().await;
    let event = EventId::new();
    let other = EventId::new();
    let mut watchers = Vec::new();
    for _ in 0..3 {
        watchers.push(gw.watch(event).await);
    }
    let mut other_watcher = gw.watch(other).await;
    for rx in &mut watchers {
        let (name, data) = rx.recv().await.expect("hello");
        assert_eq!(name, "hello");
        assert_eq!(
            serde_json::from_str::<Value>(&data).unwrap()["event_id"],
            json!(event)
        );
    }

    // The feed starts at the end of the log once its consumer has joined;
    // until then messages are (correctly) not replayed, so keep placing
    // holds until the first one comes through.
    let hold = "0190a0b0-0000-7000-8000-0000000000a1";
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while first.is_none() && Instant::now() < deadline {
        gw.outcome(
            event,
            "HoldPlaced",
            json!({"hold_id": hold, "seats": ["A-1", "A-2"], "quantity": 2}),
        )
        .await;
        first = next_update(&mut watchers[0], Duration::from_millis(500), |u| {
            u["type"] == "HoldPlaced"
        })
        .await;
    }
    let first = first.expect("a HoldPlaced reached the watcher within 30 s");
    assert_eq!(first["status"], "held");
    assert_eq!(first["seat_ids"], json!(["A-1", "A-2"]));
    assert_eq!(first["hold_id"], hold);
    assert_eq!(first["event_id"], json!(event));

    // Now the consumer is live: a change reaches every watcher within a second.
    gw.outcome(
        other,
        "HoldPlaced",
        json!({"hold_id": "x", "seats": ["Z-9"], "quantity": 1}),
    )
    .await;
    let sent = Instant::now();
    gw.outcome(
        event,
        "BookingConfirmed",
        json!({"hold_id": hold, "booking_id": "b-1", "reference": "EVT-7K2M9Q",
               "seats": ["A-1", "A-2"], "quantity": 2}),
    )
    .await;
    for rx in &mut watchers {
        let booked = next_update(rx, Duration::from_secs(1), |u| {
            u["type"] == "BookingConfirmed"
        })
        .await
        .expect("every watcher sees the booking within a second");
        assert_eq!(booked["status"], "booked");
        assert_eq!(booked["booking_id"], "b-1");
        assert!(
            booked.get("reference").is_none() && booked.get("user_id").is_none(),
            "the public feed names no one: {booked}"
        );
        assert_eq!(booked["seat_ids"], json!(["A-1", "A-2"]));
    }
    println!("booking reached 3 watchers in {:?}", sent.elapsed());

    // The other event's watcher got only its own event's update.
    let mine = next_update(&mut other_watcher, Duration::from_secs(2), |_| true)
        .await
        .expect("the other event's watcher gets its hold");
    assert_eq!(mine["event_id"], json!(other));
    assert_eq!(mine["seat_ids"], json!(["Z-9"]));
    assert!(
        next_update(&mut other_watcher, Duration::from_millis(300), |_| true)
            .await
            .is_none(),
        "updates of one event never reach another event's watchers"
    );

    // A cancellation names no seats; the feed fills them in from the booking.
    gw.outcome(
        event,
        "BookingCancelled",
        json!({"booking_id": "b-1", "reference": "EVT-7K2M9Q"}),
    )
    .await;
    let freed = next_update(&mut watchers[1], Duration::from_secs(2), |u| {
        u["type"] == "BookingCancelled"
    })
    .await
    .expect("the cancellation arrives");
    assert_eq!(freed["status"], "available");
    assert_eq!(freed["seat_ids"], json!(["A-1", "A-2"]));

    assert_eq!(gw.metric("evently_live_watchers").await, 4.0);
    assert_eq!(gw.metric("evently_live_consumer_connected").await, 1.0);
    assert!(gw.metric("evently_live_updates_total").await >= 4.0);
}

#[tokio::test]
async fn idle_streams_get_heartbeats_and_bad_ids_a_problem() {
    let gw = spawn_gateway().await;
    let mut rx = gw.watch(EventId::new()).await;
    let (name, _) = rx.recv().await.expect("hello");
    assert_eq!(name, "hello");
    // The feed's consumer getting its partitions may send a `resync` first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let heartbeat = loop {
        let (name, text) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a heartbeat within 3 s (configured every second)")
            .expect("stream open");
        if name != "resync" {
            break (name, text);
        }
    };
    assert_eq!(
        (heartbeat.0.as_str(), heartbeat.1.as_str()),
        ("comment", "keep-alive")
    );

    let response = gw
        .client
        .get(format!("{}/api/v1/events/not-an-id/live", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not-an-id"));
}

#[tokio::test]
async fn the_monitor_page_is_served() {
    let gw = spawn_gateway().await;
    let response = gw
        .client
        .get(format!("{}/monitor", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(
        page.contains("EventSource"),
        "the page listens to the live feed"
    );
    assert!(page.contains("/venue-layout"));
}

#[tokio::test]
async fn the_topic_dashboard_is_for_admins_and_shows_topics_lag_and_messages() {
    let gw = spawn_gateway().await;
    let event = EventId::new();
    // Two messages with one key share a partition: committing after the
    // first leaves a lag of one there.
    for seat in ["B-1", "B-2"] {
        gw.outcome(
            event,
            "HoldPlaced",
            json!({"hold_id": seat, "seats": [seat], "quantity": 1}),
        )
        .await;
    }
    // A group that has read one message of booking.events: lag shows up.
    let group = format!("{}booking-processor", gw.kafka.group_prefix);
    commit_offset(&gw.kafka, &group, &gw.kafka.topic(topics::BOOKING_EVENTS)).await;

    let url = format!("{}/admin/queues/api/overview", gw.base);
    let anonymous = gw.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let customer = gw
        .client
        .get(&url)
        .bearer_auth(gw.tokens.token(UserId::new(), Role::Customer))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), 403);

    let admin = gw.tokens.token(UserId::new(), Role::Admin);
    let overview: Value = gw
        .client
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let booking_events = overview["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["base"] == topics::BOOKING_EVENTS)
        .expect("booking.events is listed");
    assert_eq!(booking_events["exists"], true);
    assert_eq!(booking_events["partitions"].as_array().unwrap().len(), 3);
    assert!(booking_events["messages"].as_i64().unwrap() >= 2);
    let lag = overview["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group.as_str())
        .expect("the configured group is listed");
    assert_eq!(lag["partitions"].as_array().unwrap().len(), 1, "{lag}");
    assert_eq!(lag["partitions"][0]["committed"], 1);
    assert_eq!(lag["total_lag"], 1, "{lag}");

    let recent: Value = gw
        .client
        .get(format!(
            "{}/admin/queues/api/topics/booking.events/messages?limit=10",
            gw.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = recent["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|m| m["type"] == "HoldPlaced" && m["key"] == json!(event.to_string())),
        "{recent}"
    );
    let unknown = gw
        .client
        .get(format!(
            "{}/admin/queues/api/topics/secrets/messages",
            gw.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let dlq = gw
        .client
        .get(format!("{}/admin/queues/api/dlq", gw.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(dlq.status(), 200);

    let page = gw
        .client
        .get(format!("{}/admin/queues", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

/// Make `group` commit offset 1 on the partition holding `topic`'s first
/// message, as a consumer that read one message would.
async fn commit_offset(kafka: &KafkaSettings, group: &str, topic: &str) {
    use kafka_bus::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use kafka_bus::rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = kafka_bus::client_config(kafka)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let partition = wait_for("the produced message", Duration::from_secs(10), || {
        let found = (0..3).find(|p| {
            consumer
                .fetch_watermarks(topic, *p, Duration::from_secs(5))
                .is_ok_and(|(_, high)| high > 0)
        });
        async move { found }
    })
    .await;
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, partition, Offset::Offset(1))
        .unwrap();
    let commit = tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync));
    commit.await.unwrap().expect("commit an offset");
}

#[tokio::test]
async fn the_feed_reads_the_broker_only_while_someone_watches() {
    let gw = spawn_gateway_with(json!({"heartbeat_secs": 1, "idle_stop_secs": 1})).await;
    let event = EventId::new();
    assert_eq!(gw.metric("evently_live_consumer_connected").await, 0.0);

    let mut watcher = gw.watch(event).await;
    assert!(
        gw.first_hold_seen(event, &mut watcher).await.is_some(),
        "the first watcher starts the feed"
    );
    assert_eq!(gw.metric("evently_live_consumer_connected").await, 1.0);

    drop(watcher);
    wait_for(
        "the idle feed to stop its consumer",
        Duration::from_secs(30),
        || async { (gw.metric("evently_live_consumer_connected").await == 0.0).then_some(()) },
    )
    .await;

    let mut again = gw.watch(event).await;
    assert!(
        gw.first_hold_seen(event, &mut again).await.is_some(),
        "the next watcher starts it again"
    );
}
