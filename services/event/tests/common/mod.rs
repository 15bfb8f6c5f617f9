//! Starts the real event service in-process on port 0, with its own MongoDB
//! database, topic prefix and a token issuer, and talks to it over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod mongo;

pub use mongo::TestDatabase;

use common_types::{Role, UserId};
use serde_json::{json, Value};
use settings::KafkaSettings;
use test_support::TestTokens;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub tokens: TestTokens,
    pub kafka: KafkaSettings,
    pub stop: CancellationToken,
    /// Dropped after the service is told to stop (fields drop after `Drop::drop`).
    pub database: TestDatabase,
}

pub struct Caller {
    pub id: UserId,
    pub token: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut event::Settings)) -> Self {
        test_support::init_tracing();
        let database = TestDatabase::fresh().await;
        let kafka = test_support::isolated_kafka().await;
        let tokens = TestTokens::start().await;
        let mut settings = event::Settings::for_tests(
            &database.uri,
            &database.name,
            kafka.clone(),
            tokens.verify_settings(),
        );
        settings.catalog.outbox_poll_ms = 100;
        tweak(&mut settings);
        let stop = CancellationToken::new();
        let app = event::Application::build(settings, stop.clone())
            .await
            .expect("build the event service");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            tokens,
            kafka,
            stop,
            database,
        }
    }

    pub fn caller(&self, role: Role) -> Caller {
        let id = UserId::new();
        Caller {
            id,
            token: self.tokens.token(id, role),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        who: Option<&Caller>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(who) = who {
            request = request.bearer_auth(&who.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, who: Option<&Caller>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, who, None).await
    }

    pub async fn post(&self, path: &str, who: &Caller, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(who), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, who: &Caller, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(who), Some(body))
            .await
    }

    /// A small venue: reserved rows A (10 seats) and B (8), and a floor of 100.
    pub async fn small_venue(&self, owner: &Caller, city: &str) -> Value {
        let (status, venue) = self
            .post(
                "/api/v1/venues",
                owner,
                json!({
                    "name": "Blue Hall", "city": city, "address": "1 Quay",
                    "sections": [
                        {"name": "Stalls", "kind": "reserved", "rows": [{"label": "A", "seats": 10}, {"label": "B", "seats": 8}]},
                        {"name": "Floor", "kind": "general", "capacity": 100}
                    ]
                }),
            )
            .await;
        assert_eq!(status, 201, "{venue}");
        venue
    }

    /// A draft event at `venue`, every section priced, starting in `days`.
    pub async fn draft(&self, owner: &Caller, venue: &Value, title: &str, extra: Value) -> Value {
        let mut body = json!({
            "title": title,
            "description": "An evening to remember",
            "category": "Music",
            "venue_id": venue["id"],
            "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "currency": "EUR",
            "prices": venue["sections"].as_array().unwrap().iter().enumerate()
                .map(|(i, s)| json!({"section_id": s["id"], "price": 2_500 + 1_000 * i as i64}))
                .collect::<Vec<_>>(),
            "max_tickets_per_user": 4
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, event) = self.post("/api/v1/events", owner, body).await;
        assert_eq!(status, 201, "{event}");
        event
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The `errors[].field` names of a problem body.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn problem_type(problem: &Value) -> &str {
    problem["type"].as_str().unwrap_or("")
}
