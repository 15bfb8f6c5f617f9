//! Search with 100,000 events: seeds them in bulk, then times the queries a
//! browsing client makes, through HTTP with the cache off.
//! `cargo test -p event --test scale -- --ignored --nocapture`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestApp;
use common_types::Role;
use serde_json::json;
use sqlx::Connection;
use std::time::{Duration, Instant};

const EVENTS: i64 = 100_000;

#[tokio::test]
#[ignore = "benchmark: seeds 100,000 events (about 30 s); run with --ignored --nocapture"]
async fn search_stays_fast_with_100_000_events() {
    let app = TestApp::spawn_with(|s| s.catalog.cache_ttl_ms = 0).await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let template = app.draft(&owner, &venue, "Template", json!({})).await;

    let mut conn = sqlx::PgConnection::connect(app.database.expose_url())
        .await
        .unwrap();
    let seeding = Instant::now();
    // Every event is the template document with its own id, title, text,
    // category, city, status and date; one in ten stays a draft.
    sqlx::query(
        r#"
        WITH words AS (
            SELECT ARRAY['Jazz','Rock','Opera','Ballet','Comedy','Folk','Techno','Blues','Choir','Circus','Poetry','Film'] AS w,
                   ARRAY['music','music','classical','dance','comedy','music','music','music','classical','family','arts','arts'] AS c,
                   ARRAY['Oslo','Rome','Berlin','Madrid','Paris','Vienna','Lisbon','Prague'] AS t
        ), rows AS (
            SELECT i, gen_random_uuid() AS id,
                   w[1 + i % 12] || ' Night ' || i AS title,
                   'An evening of ' || lower(w[1 + (i / 12) % 12]) || ' and ' || lower(w[1 + i % 12]) AS description,
                   c[1 + i % 12] AS category,
                   t[1 + i % 8] AS city,
                   CASE WHEN i % 10 = 0 THEN 'draft' ELSE 'published' END AS status,
                   now() + make_interval(mins => ((i * 7) % 525600)::int) AS starts_at
            FROM generate_series(1, $1::bigint) AS i, words
        )
        INSERT INTO events (id, organizer_id, venue_id, status, title, category, city_key, starts_at, created_at, version, doc)
        SELECT id, organizer_id, venue_id, rows.status, rows.title, rows.category, lower(rows.city), rows.starts_at,
               now() - make_interval(secs => i::double precision), 1,
               e.doc || jsonb_build_object('id', id, 'title', rows.title, 'description', rows.description,
                                           'category', rows.category, 'city', rows.city, 'status', rows.status,
                                           'starts_at', to_char(rows.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        FROM rows, (SELECT organizer_id, venue_id, doc FROM events WHERE id = $2) AS e
        "#,
    )
    .bind(EVENTS)
    .bind(uuid::Uuid::parse_str(template["id"].as_str().unwrap()).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    // What autovacuum does in steady state: statistics and the visibility map
    // (index-only scans for the id and count queries).
    sqlx::query("VACUUM ANALYZE events")
        .execute(&mut conn)
        .await
        .unwrap();
    eprintln!("seeded {EVENTS} events in {:?}", seeding.elapsed());

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
    let mut report = Vec::new();
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
        report.push(format!(
            "{query:<75} total {total:>6}  p50 {p50:>10.2?}  max {max:>10.2?}"
        ));
        assert!(total > 0, "{query} found nothing");
        assert!(p50 < Duration::from_millis(500), "{query}: p50 {p50:?}");
    }
    eprintln!("{}", report.join("\n"));
}
