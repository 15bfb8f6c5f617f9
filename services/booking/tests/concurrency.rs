//! Hundreds of buyers race through the real API for a few seats and places:
//! exactly the capacity is sold, no seat twice, and the database agrees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use common_types::{Role, UserId};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

const SEATS: u32 = 5;
const PLACES: u32 = 20;
const BUYERS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_buyers_get_exactly_the_capacity_and_no_seat_twice() {
    let world = World::new().await;
    let app = Arc::new(world.spawn().await);
    let event = TestEvent::new(SEATS, PLACES, None);
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let event_id = event.id();
    let general = event.general;

    let mut tasks = Vec::new();
    for i in 0..BUYERS {
        let app = app.clone();
        let token = world.token(UserId::new(), Role::Customer);
        tasks.push(tokio::spawn(async move {
            // Half want a seat (all of them contended), half a floor place.
            let hold = if i % 2 == 0 {
                let seat = format!("A-{}", 1 + (i / 2) % SEATS as usize);
                app.hold_seats(&token, event_id, &[&seat]).await
            } else {
                app.hold_ga(&token, event_id, general, 1).await
            };
            let hold = app.settle(&token, hold).await;
            match hold.status {
                StatusCode::CREATED => {
                    let booking = app.confirm(&token, &hold.body["hold_id"], CARD_OK).await;
                    let booking = app.settle(&token, booking).await;
                    assert_eq!(booking.status, StatusCode::CREATED, "{}", booking.body);
                    Some(booking.body)
                }
                StatusCode::CONFLICT => None,
                other => panic!("unexpected {other}: {}", hold.body),
            }
        }));
    }
    let mut bookings: Vec<Value> = Vec::new();
    for t in tasks {
        if let Some(b) = t.await.unwrap() {
            bookings.push(b);
        }
    }

    let mut seats = HashSet::new();
    let mut places = 0;
    for b in &bookings {
        for s in b["seats"].as_array().unwrap() {
            assert!(
                seats.insert(s.as_str().unwrap().to_string()),
                "seat {s} sold twice"
            );
        }
        if b["seats"].as_array().unwrap().is_empty() {
            places += b["quantity"].as_u64().unwrap();
        }
    }
    assert_eq!(seats.len(), SEATS as usize, "every seat sold once");
    assert_eq!(places, u64::from(PLACES), "every place sold once");

    // The API agrees...
    let organizer = world.token(event.organizer, Role::Organizer);
    let sales = app
        .get(
            &format!("/api/v1/events/{event_id}/sales"),
            Some(&organizer),
        )
        .await;
    assert_eq!(sales.body["sold"], SEATS + PLACES, "{}", sales.body);
    assert_eq!(sales.body["available"], 0);
    assert_eq!(sales.body["held"], 0);

    // ...and so does the database, constraint by constraint.
    let pool = world.pool().await;
    let (live_claims, distinct_seats): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT seat_id) FROM seat_claims WHERE event_id = $1 AND live",
    )
    .bind(event_id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (live_claims, distinct_seats),
        (i64::from(SEATS), i64::from(SEATS))
    );
    let booked: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::int8 FROM bookings WHERE event_id = $1 AND status = 'confirmed'",
    )
    .bind(event_id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(booked, i64::from(SEATS + PLACES));
    assert_eq!(bookings.len() as i64, i64::from(SEATS + PLACES));
    let available: i32 = sqlx::query_scalar(
        "SELECT available FROM sections WHERE event_id = $1 AND section_id = $2",
    )
    .bind(event_id.0)
    .bind(general.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(available, 0);
}
