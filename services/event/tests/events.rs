//! Events through real HTTP: lifecycle, authorization, bad input, search.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{Duration, Utc};
use common::{fields, problem_type, TestApp};
use common_types::Role;
use reqwest::Method;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn lifecycle_draft_publish_update_cancel_with_authorization() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let other = app.caller(Role::Organizer);
    let customer = app.caller(Role::Customer);
    let admin = app.caller(Role::Admin);
    let venue = app.small_venue(&owner, "Oslo").await;

    // Customers cannot create events; nobody builds on someone else's venue.
    let (status, _) = app
        .post("/api/v1/events", &customer, json!({"title": "x", "category": "c", "venue_id": venue["id"], "starts_at": Utc::now() + Duration::days(3), "currency": "EUR"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post("/api/v1/events", &other, json!({"title": "x", "category": "c", "venue_id": venue["id"], "starts_at": Utc::now() + Duration::days(3), "currency": "EUR"}))
        .await;
    assert_eq!(status, 403);

    let event = app
        .draft(&owner, &venue, "Northern Lights", json!({}))
        .await;
    let path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(event["status"], "draft");
    assert_eq!(event["category"], "music");
    assert_eq!(event["city"], "Oslo");

    // A draft is invisible to customers and anonymous callers.
    assert_eq!(app.get(&path, Some(&customer)).await.0, 404);
    assert_eq!(app.get(&path, None).await.0, 404);
    assert_eq!(app.get(&path, Some(&owner)).await.0, 200);

    // Nobody but the owner or an admin changes it.
    for who in [&customer, &other] {
        assert_eq!(
            app.patch(&path, who, json!({"title": "Mine now"})).await.0,
            403
        );
        assert_eq!(
            app.post(&format!("{path}/publish"), who, json!({})).await.0,
            403
        );
        assert_eq!(
            app.post(&format!("{path}/cancel"), who, json!({})).await.0,
            403
        );
    }
    assert_eq!(
        app.get(&path, Some(&owner)).await.1["title"],
        "Northern Lights",
        "nothing changed"
    );

    let (status, published) = app
        .post(&format!("{path}/publish"), &owner, json!({}))
        .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "published");
    assert_eq!(published["sections"][0]["capacity"], 18);
    assert_eq!(published["sections"][1]["price"], 3_500);
    assert!(
        published.get("layout").is_none(),
        "the seat-by-seat layout is not in the event body"
    );

    // Publishing twice is refused.
    let (status, problem) = app
        .post(&format!("{path}/publish"), &owner, json!({}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        problem_type(&problem),
        "https://evently.dev/problems/invalid-transition"
    );

    // Now everyone sees it.
    let (status, seen) = app.get(&path, Some(&customer)).await;
    assert_eq!(status, 200);
    assert_eq!(seen["title"], "Northern Lights");
    assert_eq!(app.get(&path, None).await.0, 200);

    // The owner edits what does not touch seats on sale; prices are frozen.
    let (status, edited) = app
        .patch(
            &path,
            &owner,
            json!({"title": "Northern Lights II", "description": null}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["title"], "Northern Lights II");
    assert!(edited["description"].is_null());
    // The cached copy was dropped by the write.
    assert_eq!(app.get(&path, None).await.1["title"], "Northern Lights II");
    let (status, problem) = app
        .patch(
            &path,
            &owner,
            json!({"prices": [{"section_id": venue["sections"][0]["id"], "price": 1}]}),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("prices"),
        "{problem}"
    );

    // An admin may cancel anyone's event; cancelling twice is refused.
    let (status, cancelled) = app
        .post(
            &format!("{path}/cancel"),
            &admin,
            json!({"reason": "storm"}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "storm");
    assert_eq!(
        app.post(&format!("{path}/cancel"), &owner, json!({}))
            .await
            .0,
        409
    );
    assert_eq!(
        app.patch(&path, &owner, json!({"title": "Back"})).await.0,
        409
    );
    // Cancelled events are no longer shown to customers.
    assert_eq!(app.get(&path, Some(&customer)).await.0, 404);
}

#[tokio::test]
async fn a_published_event_keeps_its_seats_when_the_venue_changes() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let event = app.draft(&owner, &venue, "Fixed", json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(
        app.post(&format!("{path}/publish"), &owner, json!({}))
            .await
            .0,
        200
    );

    let (status, edited) = app
        .send(
            Method::PUT,
            &format!("/api/v1/venues/{}", id(&venue)),
            Some(&owner),
            Some(json!({"name": "Blue Hall", "city": "Oslo", "sections": [
                {"name": "Stalls", "kind": "reserved", "rows": [{"label": "A", "seats": 2}]},
                {"name": "Floor", "kind": "general", "capacity": 100}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["capacity"], 102);
    assert_eq!(
        edited["sections"][0]["id"], venue["sections"][0]["id"],
        "a section keeps its id by name"
    );

    let (_, read) = app.get(&path, None).await;
    assert_eq!(
        read["sections"][0]["capacity"], 18,
        "seats on sale are the ones fixed at publishing"
    );
}

#[tokio::test]
async fn bad_events_are_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let starts = Utc::now() + Duration::days(10);
    let section = venue["sections"][0]["id"].clone();
    let cases = [
        (json!({"ends_at": starts - Duration::hours(1)}), "ends_at"),
        (
            json!({"prices": [{"section_id": section, "price": -1}]}),
            "prices[0].price",
        ),
        (json!({"currency": "XYZ"}), "currency"),
        (
            json!({"starts_at": Utc::now() - Duration::days(1)}),
            "starts_at",
        ),
        (json!({"title": "  "}), "title"),
        (json!({"max_tickets_per_user": 0}), "max_tickets_per_user"),
        (
            json!({"sales_start": starts - Duration::days(1), "sales_end": starts - Duration::days(2)}),
            "sales_end",
        ),
        (
            json!({"prices": [{"section_id": uuid::Uuid::new_v4(), "price": 10}]}),
            "prices[0].section_id",
        ),
        (json!({"venue_id": uuid::Uuid::new_v4()}), "venue_id"),
    ];
    for (overrides, field) in cases {
        let mut body = json!({
            "title": "Good", "category": "music", "venue_id": venue["id"],
            "starts_at": starts, "currency": "EUR",
            "prices": [{"section_id": section, "price": 100}]
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, problem) = app.post("/api/v1/events", &owner, body).await;
        assert_eq!(status, 422, "{field}: {problem}");
        assert!(
            fields(&problem).contains(&field.to_string()),
            "{field} not named in {problem}"
        );
        assert!(problem["detail"].as_str().unwrap().contains(field));
    }
    let (status, mine) = app.get("/api/v1/events?mine=true", Some(&owner)).await;
    assert_eq!(status, 200);
    assert_eq!(mine["total"], 0, "nothing was written");

    // Publishing a draft whose venue has an unpriced section is refused too.
    let event = app
        .draft(
            &owner,
            &venue,
            "Half priced",
            json!({"prices": [{"section_id": section, "price": 100}]}),
        )
        .await;
    let (status, problem) = app
        .post(
            &format!("/api/v1/events/{}/publish", id(&event)),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(fields(&problem), ["prices"]);
    assert_eq!(
        app.get(&format!("/api/v1/events/{}", id(&event)), Some(&owner))
            .await
            .1["status"],
        "draft"
    );
}

#[tokio::test]
async fn search_filters_sorts_and_pages_published_events() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let oslo = app.small_venue(&owner, "Oslo").await;
    let rome = app.small_venue(&owner, "Rome").await;
    let day = |d: i64| (Utc::now() + Duration::days(d)).to_rfc3339();
    let specs = [
        (&oslo, "Jazz Night", "smooth saxophone quartet", "Music", 5),
        (&oslo, "Swan Lake", "classic ballet", "Dance", 10),
        (&rome, "Rock Festival", "guitars and drums", "music", 20),
        (
            &rome,
            "Opera Gala",
            "arias by the orchestra",
            "classical",
            30,
        ),
        (&oslo, "Comedy Hour", "stand-up jokes", "comedy", 40),
    ];
    for (venue, title, description, category, days) in specs {
        let e = app
            .draft(
                &owner,
                venue,
                title,
                json!({"description": description, "category": category, "starts_at": day(days)}),
            )
            .await;
        assert_eq!(
            app.post(
                &format!("/api/v1/events/{}/publish", id(&e)),
                &owner,
                json!({})
            )
            .await
            .0,
            200
        );
    }
    app.draft(&owner, &oslo, "Jazz Draft", json!({})).await;
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    };
    let customer = app.caller(Role::Customer);

    let (status, all) = app.get("/api/v1/events", Some(&customer)).await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 5, "drafts are not listed");
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 20);
    assert_eq!(
        titles(&all),
        [
            "Jazz Night",
            "Swan Lake",
            "Rock Festival",
            "Opera Gala",
            "Comedy Hour"
        ]
    );

    assert_eq!(
        titles(&app.get("/api/v1/events?q=saxophone", None).await.1),
        ["Jazz Night"]
    );
    assert_eq!(
        titles(&app.get("/api/v1/events?q=jazz", None).await.1),
        ["Jazz Night"]
    );
    assert_eq!(
        titles(&app.get("/api/v1/events?category=MUSIC", None).await.1),
        ["Jazz Night", "Rock Festival"]
    );
    assert_eq!(
        titles(
            &app.get("/api/v1/events?category=music&city=rome", None)
                .await
                .1
        ),
        ["Rock Festival"]
    );
    let from = urlencode(&day(8));
    let to = urlencode(&day(25));
    assert_eq!(
        titles(
            &app.get(&format!("/api/v1/events?from={from}&to={to}"), None)
                .await
                .1
        ),
        ["Swan Lake", "Rock Festival"]
    );
    assert_eq!(
        titles(&app.get("/api/v1/events?sort=title", None).await.1),
        [
            "Comedy Hour",
            "Jazz Night",
            "Opera Gala",
            "Rock Festival",
            "Swan Lake"
        ]
    );
    assert_eq!(
        titles(
            &app.get("/api/v1/events?sort=-starts_at&per_page=1", None)
                .await
                .1
        ),
        ["Comedy Hour"]
    );

    let (_, page2) = app.get("/api/v1/events?page=2&per_page=2", None).await;
    assert_eq!(titles(&page2), ["Rock Festival", "Opera Gala"]);
    assert_eq!(page2["total"], 5);
    assert_eq!(page2["page"], 2);
    assert_eq!(page2["per_page"], 2);
    let (_, past_end) = app.get("/api/v1/events?page=9&per_page=2", None).await;
    assert_eq!(titles(&past_end), Vec::<String>::new());

    // The organizer's own view includes drafts.
    let (_, mine) = app
        .get("/api/v1/events?mine=true&status=draft", Some(&owner))
        .await;
    assert_eq!(titles(&mine), ["Jazz Draft"]);
    assert_eq!(app.get("/api/v1/events?mine=true", None).await.0, 401);

    // Bad parameters name themselves.
    for (query, field) in [
        ("per_page=1000", "per_page"),
        ("page=0", "page"),
        ("sort=price", "sort"),
        ("sort=relevance", "sort"),
    ] {
        let (status, problem) = app.get(&format!("/api/v1/events?{query}"), None).await;
        assert_eq!(status, 422, "{query}: {problem}");
        assert_eq!(fields(&problem), [field]);
    }
    assert_eq!(app.get("/api/v1/events?from=yesterday", None).await.0, 400);
}

#[tokio::test]
async fn the_first_page_is_cached_and_dropped_on_our_own_writes() {
    let app = TestApp::spawn_with(|s| s.catalog.cache_ttl_ms = 60_000).await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let first = app.draft(&owner, &venue, "First", json!({})).await;
    app.post(
        &format!("/api/v1/events/{}/publish", id(&first)),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(app.get("/api/v1/events", None).await.1["total"], 1);
    assert_eq!(app.get("/api/v1/events", None).await.1["total"], 1);
    let metrics = test_support::metrics_text(&app.client, &app.url("/metrics")).await;
    let hits = metrics
        .lines()
        .find(|l| {
            l.starts_with("evently_event_cache_lookups_total")
                && l.contains(r#"kind="list""#)
                && l.contains(r#"result="hit""#)
        })
        .unwrap_or_else(|| panic!("no list cache hits in /metrics:\n{metrics}"));
    assert!(hits.ends_with(" 1"), "{hits}");

    let second = app.draft(&owner, &venue, "Second", json!({})).await;
    app.post(
        &format!("/api/v1/events/{}/publish", id(&second)),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/events", None).await.1["total"],
        2,
        "publishing invalidated the cached page"
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn concurrent_edits_are_never_lost() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let event = app.draft(&owner, &venue, "Racy", json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    let edits = (0..8).map(|i| {
        let app = &app;
        let owner = &owner;
        let path = path.clone();
        async move {
            app.patch(&path, owner, json!({"title": format!("Racy {i}")}))
                .await
        }
    });
    let answers = futures::future::join_all(edits).await;
    let mut applied = 0;
    for (status, body) in &answers {
        match status {
            200 => applied += 1,
            409 => assert_eq!(
                problem_type(body),
                "https://evently.dev/problems/concurrent-modification"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(applied >= 1);
    let (_, read) = app.get(&path, Some(&owner)).await;
    assert_eq!(
        read["version"],
        1 + applied,
        "every accepted edit is one version: none lost"
    );
    assert!(answers
        .iter()
        .any(|(s, b)| *s == 200 && b["title"] == read["title"]));
}

#[tokio::test]
async fn a_published_event_completes_and_then_stays_as_it_is() {
    let app = TestApp::spawn().await;
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let event = app.draft(&owner, &venue, "Done", json!({})).await;
    let path = format!("/api/v1/events/{}", id(&event));
    assert_eq!(
        app.post(&format!("{path}/complete"), &owner, json!({}))
            .await
            .0,
        409,
        "a draft never took place"
    );
    assert_eq!(
        app.post(&format!("{path}/publish"), &owner, json!({}))
            .await
            .0,
        200
    );
    let (status, done) = app
        .post(&format!("{path}/complete"), &owner, json!({}))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(
        app.post(&format!("{path}/cancel"), &owner, json!({}))
            .await
            .0,
        409
    );
    assert_eq!(
        app.patch(&path, &owner, json!({"title": "Again"})).await.0,
        409
    );
    assert_eq!(
        app.get(&path, None).await.0,
        404,
        "only published events are public"
    );
    assert_eq!(app.get(&path, Some(&owner)).await.1["status"], "completed");
}

#[tokio::test]
async fn health_reports_the_mongodb_store() {
    let app = TestApp::spawn().await;
    let (status, health) = app.get("/health", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["checks"]["mongodb"], "up", "{health}");
    assert_eq!(health["checks"]["broker"], "up", "{health}");
}

#[tokio::test]
async fn an_unreachable_mongodb_stops_start_up_with_a_clear_message() {
    test_support::init_tracing();
    // Port 9 (discard) has nothing listening here: refused at once, and the
    // driver gives up after its server-selection timeout.
    let settings = event::Settings::for_tests(
        "mongodb://127.0.0.1:9/?connectTimeoutMS=500",
        "t_unreachable",
        settings::KafkaSettings::default(),
        settings::TokenVerifySettings::default(),
    );
    let error = match event::Application::build(settings, Default::default()).await {
        Ok(_) => panic!("started without MongoDB"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("does not answer") && error.contains("make infra"),
        "{error}"
    );
}
