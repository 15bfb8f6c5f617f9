//! Search with 100,000 events: seeds them in bulk, then times the queries a
//! browsing client makes, through HTTP with the cache off.
//! `cargo test -p event --test scale -- --ignored --nocapture`
//! (`SCALE_EVENTS=20000` for a smaller catalogue).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use common::TestApp;
use common_types::{EventId, Role};
use event::domain::event::{Event, EventStatus};
use event::store::CatalogStore;
use serde_json::json;
use std::time::{Duration, Instant};

const WORDS: [&str; 12] = [
    "Jazz", "Rock", "Opera", "Ballet", "Comedy", "Folk", "Techno", "Blues", "Choir", "Circus",
    "Poetry", "Film",
];
const CATEGORIES: [&str; 12] = [
    "music",
    "music",
    "classical",
    "dance",
    "comedy",
    "music",
    "music",
    "music",
    "classical",
    "family",
    "arts",
    "arts",
];
const CITIES: [&str; 8] = [
    "Oslo", "Rome", "Berlin", "Madrid", "Paris", "Vienna", "Lisbon", "Prague",
];

/// Event `i` of `n`: the template with its own id, title, text, category,
/// city, status and date (spread over a year); one in ten stays a draft.
fn seeded(template: &Event, i: usize, n: usize) -> Event {
    let word = WORDS[i % 12];
    let other = WORDS[(i / 12) % 12].to_lowercase();
    let now = Utc::now();
    Event {
        id: EventId::new(),
        title: format!("{word} Night {i}"),
        description: Some(format!("An evening of {other} and {}", word.to_lowercase())),
        category: CATEGORIES[i % 12].to_string(),
        city: CITIES[i % 8].to_string(),
        status: if i.is_multiple_of(10) {
            EventStatus::Draft
        } else {
            EventStatus::Published
        },
        starts_at: now + chrono::Duration::minutes((i * 525_600 / n.max(1)) as i64),
        created_at: now - chrono::Duration::seconds(i as i64),
        ..template.clone()
    }
}

#[tokio::test]
#[ignore = "benchmark: seeds 100,000 events; run with --ignored --nocapture"]
async fn search_stays_fast_with_100_000_events() {
    let events: usize = std::env::var("SCALE_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let app = TestApp::spawn_with(|s| s.catalog.cache_ttl_ms = 0).await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let template = app.draft(&owner, &venue, "Template", json!({})).await;
    let store = app.database.store().await;
    let template = store
        .event(template["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();

    let seeding = Instant::now();
    let all: Vec<Event> = (1..=events).map(|i| seeded(&template, i, events)).collect();
    store.insert_events(&all).await.unwrap();
    eprintln!("seeded {events} events in {:?}", seeding.elapsed());

    let from = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (chrono::Utc::now() + chrono::Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ");
    let queries = [
        "/api/v1/events".to_string(),
        "/api/v1/events?q=jazz".to_string(),
        "/api/v1/events?q=opera%20ballet".to_string(),
        "/api/v1/events?category=dance".to_string(),
        "/api/v1/events?city=berlin&sort=title".to_string(),
        format!("/api/v1/events?from={from}&to={to}"),
        "/api/v1/events?q=folk&city=rome&category=music&sort=starts_at".to_string(),
        "/api/v1/events?sort=newest&page=200&per_page=50".to_string(),
    ];
    // The bound suits MongoDB; FerretDB (SQL over JSONB) may need a looser
    // one to finish the report: SCALE_P50_MS.
    let bound = Duration::from_millis(
        std::env::var("SCALE_P50_MS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(500),
    );
    let mut slow = Vec::new();
    for query in &queries {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..15 {
            let started = Instant::now();
            let (status, body) = app.get(query, None).await;
            times.push(started.elapsed());
            assert_eq!(status, 200, "{query}: {body}");
            total = body["total"].as_u64().unwrap();
        }
        times.sort();
        let p50 = times[times.len() / 2];
        let max = *times.last().unwrap();
        // Printed as it goes, so a slow run still shows where the time went.
        eprintln!("{query:<75} total {total:>6}  p50 {p50:>10.2?}  max {max:>10.2?}");
        assert!(total > 0, "{query} found nothing");
        if p50 >= bound {
            slow.push(format!("{query}: p50 {p50:?}"));
        }
    }
    assert!(slow.is_empty(), "slower than {bound:?}: {slow:#?}");
}
