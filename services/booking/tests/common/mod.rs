//! Shared harness for the booking service's black-box tests: the real
//! service on port 0 against a fresh database and an isolated topic prefix,
//! inventory created by producing `EventPublished` to `event.lifecycle`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use booking::configuration::Settings;
use booking::processor::ProcessorStats;
use booking::startup::{Hooks, MIGRATOR};
use booking::Application;
use chrono::{Duration as ChronoDuration, Utc};
use common_types::messages::lifecycle::{
    EventSnapshot, LifecycleEvent, SeatSnapshot, SectionLayout, SectionSnapshot,
};
use common_types::{topics, Currency, Envelope, EventId, Role, SeatId, SectionId, UserId};
use reqwest::StatusCode;
use serde_json::{json, Value};
use settings::{DatabaseSettings, KafkaSettings};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use test_support::{wait_for, TestTokens};
use tokio_util::sync::CancellationToken;

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_TIMEOUT: &str = "4000000000009995";
pub const CARD_SLOW: &str = "4000000000000077";

/// One database, one topic prefix, one token issuer: what several service
/// instances of one test share.
#[derive(Clone)]
pub struct World {
    pub db: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub tokens: Arc<TestTokens>,
}

impl World {
    pub async fn new() -> Self {
        test_support::init_tracing();
        Self {
            db: test_support::fresh_database(booking::SERVICE, &MIGRATOR).await,
            kafka: test_support::isolated_kafka().await,
            tokens: Arc::new(TestTokens::start().await),
        }
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings::for_tests(
            self.db.clone(),
            self.kafka.clone(),
            self.tokens.verify_settings(),
        );
        s.booking.reply_timeout_ms = 10_000;
        s.booking.expiry_tick_ms = 100;
        s.booking.refund_sweep_ms = 200;
        s
    }

    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(self.settings(), Hooks::default()).await
    }

    pub async fn spawn_with(&self, settings: Settings, hooks: Hooks) -> TestApp {
        let shutdown = CancellationToken::new();
        let app = Application::build_with(settings, shutdown.clone(), hooks)
            .await
            .expect("build the booking service");
        let port = app.port();
        let stats = app.stats();
        let handle = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            world: self.clone(),
            shutdown,
            handle: Some(handle),
            stats,
        }
    }

    pub async fn pool(&self) -> PgPool {
        PgPool::connect(self.db.expose_url())
            .await
            .expect("connect")
    }

    pub fn token(&self, user: UserId, role: Role) -> String {
        self.tokens.token(user, role)
    }

    /// Publish an event the way the event service does.
    pub async fn publish(&self, event: &EventSnapshot) {
        let producer = kafka_bus::Producer::new(&self.kafka).expect("producer");
        let envelope = Envelope::new(LifecycleEvent::EventPublished(event.clone()));
        producer
            .publish(
                topics::EVENT_LIFECYCLE,
                &event.event_id.to_string(),
                &envelope,
                None,
            )
            .await
            .expect("publish EventPublished");
    }

    pub async fn cancel_event(&self, event: &EventSnapshot) {
        let producer = kafka_bus::Producer::new(&self.kafka).expect("producer");
        let envelope = Envelope::new(LifecycleEvent::EventCancelled {
            event_id: event.event_id,
            organizer_id: event.organizer_id,
            title: event.title.clone(),
            reason: Some("test".into()),
        });
        producer
            .publish(
                topics::EVENT_LIFECYCLE,
                &event.event_id.to_string(),
                &envelope,
                None,
            )
            .await
            .expect("publish EventCancelled");
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub world: World,
    pub shutdown: CancellationToken,
    pub handle: Option<tokio::task::JoinHandle<()>>,
    pub stats: Arc<ProcessorStats>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl TestApp {
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let response = req.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.http.get(format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value, key: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(
            self.http
                .delete(format!("{}{}", self.base, path))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn hold_seats(&self, token: &str, event: EventId, seats: &[&str]) -> Reply {
        self.post(
            "/api/v1/seats/hold",
            token,
            &json!({"event_id": event, "seat_ids": seats}),
            None,
        )
        .await
    }

    pub async fn hold_ga(&self, token: &str, event: EventId, section: SectionId, n: u32) -> Reply {
        self.post(
            "/api/v1/seats/hold",
            token,
            &json!({"event_id": event, "section_id": section, "quantity": n}),
            None,
        )
        .await
    }

    pub async fn confirm(&self, token: &str, hold_id: &Value, card: &str) -> Reply {
        self.post(
            "/api/v1/bookings/confirm",
            token,
            &json!({"hold_id": hold_id, "payment": {"method": "card", "card_number": card}}),
            None,
        )
        .await
    }

    /// A 202 (not decided within the wait, e.g. a slow broker) is followed by
    /// polling its status URL until it has the final answer.
    pub async fn settle(&self, token: &str, reply: Reply) -> Reply {
        if reply.status != StatusCode::ACCEPTED {
            return reply;
        }
        let url = reply.body["status_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        wait_for(
            "a 202 request to be decided",
            Duration::from_secs(120),
            || {
                let url = url.clone();
                async move {
                    let r = self.get(&url, Some(token)).await;
                    (r.status != StatusCode::ACCEPTED).then_some(r)
                }
            },
        )
        .await
    }

    /// Wait until the inventory of `event` is readable.
    pub async fn wait_for_inventory(&self, event: EventId) {
        let path = format!("/api/v1/events/{event}/venue-layout");
        wait_for(
            "inventory from EventPublished",
            Duration::from_secs(30),
            || {
                let path = path.clone();
                async move { (self.get(&path, None).await.status == StatusCode::OK).then_some(()) }
            },
        )
        .await;
    }
}

/// A test event: one reserved section (row A, `seats` seats, 5000 each) and
/// one general-admission section (`capacity`, 2000 each).
pub struct TestEvent {
    pub snapshot: EventSnapshot,
    pub reserved: SectionId,
    pub general: SectionId,
    pub organizer: UserId,
}

impl TestEvent {
    pub fn new(seats: u32, capacity: u32, max_per_user: Option<u32>) -> Self {
        let organizer = UserId::new();
        let reserved = SectionId::new();
        let general = SectionId::new();
        let snapshot = EventSnapshot {
            event_id: EventId::new(),
            organizer_id: organizer,
            title: "Test night".into(),
            starts_at: Utc::now() + ChronoDuration::days(30),
            sales_start: None,
            sales_end: None,
            currency: Currency::parse("USD").unwrap(),
            max_tickets_per_user: max_per_user,
            sections: vec![
                SectionSnapshot {
                    id: reserved,
                    name: "Stalls".into(),
                    price: 5000,
                    layout: SectionLayout::Reserved {
                        seats: (1..=seats)
                            .map(|n| SeatSnapshot {
                                id: SeatId::for_row_seat("A", n).unwrap(),
                                row: "A".into(),
                                number: n,
                                x: n as f32,
                                y: 1.0,
                            })
                            .collect(),
                    },
                },
                SectionSnapshot {
                    id: general,
                    name: "Floor".into(),
                    price: 2000,
                    layout: SectionLayout::General { capacity },
                },
            ],
        };
        Self {
            snapshot,
            reserved,
            general,
            organizer,
        }
    }

    pub fn id(&self) -> EventId {
        self.snapshot.event_id
    }
}
