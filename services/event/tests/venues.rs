//! Venues through real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fields, problem_type, TestApp};
use common_types::Role;
use serde_json::json;
use std::collections::HashSet;
use std::time::Instant;

#[tokio::test]
async fn reserved_and_general_sections_are_created_with_ids_for_every_seat() {
    let app = TestApp::spawn().await;
    let organizer = app.caller(Role::Organizer);
    let venue = app.small_venue(&organizer, "Oslo").await;

    assert_eq!(venue["capacity"], 118);
    assert_eq!(venue["organizer_id"], organizer.id.to_string());
    let stalls = &venue["sections"][0];
    assert_eq!(stalls["kind"], "reserved");
    assert!(
        stalls["id"].as_str().unwrap().len() == 36,
        "sections get uuids"
    );
    let seats = stalls["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 18);
    assert_eq!(
        seats[0],
        json!({"id": "A-1", "row": "A", "number": 1, "x": -4.5, "y": 0.0})
    );
    assert_eq!(seats[17]["id"], "B-8");
    let floor = &venue["sections"][1];
    assert_eq!(floor["kind"], "general");
    assert_eq!(floor["capacity"], 100);
    assert!(floor.get("seats").is_none());

    // Read back exactly as created; the list shows it without seats.
    let (status, read) = app
        .get(
            &format!("/api/v1/venues/{}", venue["id"].as_str().unwrap()),
            Some(&organizer),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read, venue);
    let (status, list) = app.get("/api/v1/venues", Some(&organizer)).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], venue["id"]);
    assert!(list["items"][0]["sections"][0].get("seats").is_none());
}

#[tokio::test]
async fn a_20000_seat_venue_is_created_in_one_call_and_read_back_fast() {
    let app = TestApp::spawn().await;
    let organizer = app.caller(Role::Organizer);
    // 40 rows of 500 seats in two sections.
    let rows = |from: usize| {
        (from..from + 20)
            .map(|i| json!({"label": format!("R{i}"), "seats": 500}))
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    let (status, venue) = app
        .post(
            "/api/v1/venues",
            &organizer,
            json!({"name": "Stadium", "city": "Madrid", "sections": [
                {"name": "North", "kind": "reserved", "rows": rows(0)},
                {"name": "South", "kind": "reserved", "rows": rows(20)}
            ]}),
        )
        .await;
    let created_in = started.elapsed();
    assert_eq!(status, 201, "{venue}");
    assert_eq!(venue["capacity"], 20_000);
    let ids: HashSet<&str> = venue["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["seats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|seat| seat["id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(ids.len(), 20_000, "every seat has its own id");

    let started = Instant::now();
    let (status, read) = app
        .get(
            &format!("/api/v1/venues/{}", venue["id"].as_str().unwrap()),
            Some(&organizer),
        )
        .await;
    let read_in = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(read, venue);
    eprintln!("20,000-seat venue: created in {created_in:?}, read back in {read_in:?}");
    assert!(read_in.as_millis() < 2_000, "read back took {read_in:?}");
}

#[tokio::test]
async fn bad_layouts_are_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let organizer = app.caller(Role::Organizer);
    let cases = [
        (json!([]), "sections"),
        (
            json!([{"name": "S", "kind": "reserved", "rows": [{"label": "A", "seats": 0}]}]),
            "sections[0].rows[0].seats",
        ),
        (
            json!([{"name": "S", "kind": "reserved", "rows": [{"label": "A", "seats": 10001}]}]),
            "sections[0].rows[0].seats",
        ),
        (
            json!([{"name": "S", "kind": "reserved", "rows": []}]),
            "sections[0].rows",
        ),
        (
            json!([{"name": "Floor", "kind": "general", "capacity": 10}, {"name": "floor", "kind": "general", "capacity": 5}]),
            "sections[1].name",
        ),
        (
            json!([
                {"name": "Left", "kind": "reserved", "rows": [{"label": "A", "seats": 5}]},
                {"name": "Right", "kind": "reserved", "rows": [{"label": "A", "seats": 5}]}
            ]),
            "sections[1].rows[0].label",
        ),
        (
            json!([{"name": "Floor", "kind": "general", "capacity": -3}]),
            "sections[0].capacity",
        ),
    ];
    for (sections, field) in cases {
        let (status, problem) = app
            .post(
                "/api/v1/venues",
                &organizer,
                json!({"name": "Hall", "city": "Oslo", "sections": sections}),
            )
            .await;
        assert_eq!(status, 422, "{sections}: {problem}");
        assert_eq!(
            problem_type(&problem),
            "https://evently.dev/problems/validation-failed"
        );
        assert!(
            fields(&problem).contains(&field.to_string()),
            "{field} not named in {problem}"
        );
    }
    // An unknown kind is refused by the body parser, also as 422 problem+json.
    let (status, problem) = app
        .post("/api/v1/venues", &organizer, json!({"name": "Hall", "city": "Oslo", "sections": [{"name": "X", "kind": "standing"}]}))
        .await;
    assert_eq!(status, 422, "{problem}");
    let (_, list) = app.get("/api/v1/venues", Some(&organizer)).await;
    assert_eq!(list["total"], 0, "nothing was written");
}

#[tokio::test]
async fn only_organizers_create_venues_and_only_their_owner_reads_them() {
    let app = TestApp::spawn().await;
    let organizer = app.caller(Role::Organizer);
    let venue = app.small_venue(&organizer, "Oslo").await;
    let path = format!("/api/v1/venues/{}", venue["id"].as_str().unwrap());

    let customer = app.caller(Role::Customer);
    let (status, _) = app
        .post("/api/v1/venues", &customer, json!({"name": "Mine", "city": "Oslo", "sections": [{"name": "F", "kind": "general", "capacity": 5}]}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.get(&path, None).await;
    assert_eq!(status, 401);
    let other = app.caller(Role::Organizer);
    assert_eq!(app.get(&path, Some(&other)).await.0, 403);
    assert_eq!(app.get("/api/v1/venues", Some(&other)).await.1["total"], 0);
    let admin = app.caller(Role::Admin);
    assert_eq!(app.get(&path, Some(&admin)).await.0, 200);
    assert_eq!(
        app.get(
            &format!("/api/v1/venues/{}", uuid::Uuid::new_v4()),
            Some(&organizer)
        )
        .await
        .0,
        404
    );
}
