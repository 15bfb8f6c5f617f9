//! The catalogue through the real gateway (routing, JWT check, problem
//! bodies passed through), as clients reach it on port 8080.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestApp;
use common_types::Role;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

async fn spawn_gateway(app: &TestApp) -> (String, tokio_util::sync::DropGuard) {
    let mut settings: gateway::Settings = serde_json::from_value(json!({
        "http": {"port": 0},
        "upstreams": {
            "auth": "http://127.0.0.1:9",
            "event": app.base,
            "booking": "http://127.0.0.1:9",
            "waitlist": "http://127.0.0.1:9",
            "notification": "http://127.0.0.1:9",
        },
        "upstream_timeout_ms": 5000,
    }))
    .unwrap();
    settings.kafka = app.kafka.clone();
    settings.auth = app.tokens.verify_settings();
    let stop = CancellationToken::new();
    let gateway = gateway::Application::build(settings, stop.clone())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    tokio::spawn(gateway.run_until_stopped());
    (base, stop.drop_guard())
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn venues_and_events_through_the_gateway() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let (gw, _stop) = spawn_gateway(&app).await;
    let client = reqwest::Client::new();
    let organizer = app.caller(Role::Organizer);
    let customer = app.caller(Role::Customer);

    let (status, venue) = call(
        &client,
        Method::POST,
        format!("{gw}/api/v1/venues"),
        Some(&organizer.token),
        Some(json!({"name": "Gate Hall", "city": "Lyon", "sections": [
            {"name": "Balcony", "kind": "reserved", "rows": [{"label": "K", "seats": 12}]},
            {"name": "Pit", "kind": "general", "capacity": 250}
        ]})),
    )
    .await;
    assert_eq!(status, 201, "{venue}");
    assert_eq!(venue["sections"][0]["seats"][11]["id"], "K-12");
    assert_eq!(venue["sections"][1]["capacity"], 250);

    let (status, problem) = call(
        &client,
        Method::POST,
        format!("{gw}/api/v1/venues"),
        Some(&organizer.token),
        Some(json!({"name": "Empty", "city": "Lyon", "sections": []})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "sections");

    let starts = (chrono::Utc::now() + chrono::Duration::days(12)).to_rfc3339();
    let (status, event) = call(
        &client,
        Method::POST,
        format!("{gw}/api/v1/events"),
        Some(&organizer.token),
        Some(
            json!({"title": "Gateway Gala", "category": "music", "venue_id": venue["id"],
                    "starts_at": starts, "currency": "GBP",
                    "prices": [{"section_id": venue["sections"][0]["id"], "price": 5000},
                               {"section_id": venue["sections"][1]["id"], "price": 2000}]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{event}");
    let id = event["id"].as_str().unwrap();

    let (status, _) = call(
        &client,
        Method::POST,
        format!("{gw}/api/v1/events/{id}/publish"),
        Some(&customer.token),
        None,
    )
    .await;
    assert_eq!(status, 403, "customers cannot publish");
    let (status, published) = call(
        &client,
        Method::POST,
        format!("{gw}/api/v1/events/{id}/publish"),
        Some(&organizer.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "published");

    let (status, list) = call(
        &client,
        Method::GET,
        format!("{gw}/api/v1/events?city=lyon&q=gala"),
        Some(&customer.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    let (status, seen) = call(
        &client,
        Method::GET,
        format!("{gw}/api/v1/events/{id}"),
        Some(&customer.token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen["currency"], "GBP");
}
