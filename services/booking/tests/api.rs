//! The booking API as a customer, an organizer and an admin use it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use common_types::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::wait_for;

fn slug(body: &Value) -> String {
    body["type"]
        .as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold_confirm_list_show_and_cancel_a_booking() {
    let world = World::new().await;
    let app = world.spawn().await;
    let event = TestEvent::new(4, 10, Some(6));
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;

    let alice = UserId::new();
    let alice_t = world.token(alice, Role::Customer);
    let bob_t = world.token(UserId::new(), Role::Customer);

    // Hold two reserved seats.
    let hold = app.hold_seats(&alice_t, event.id(), &["A-1", "A-2"]).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    assert_eq!(hold.body["total_price"], 10000);
    assert_eq!(hold.body["currency"], "USD");
    assert!(hold.body["expires_at"].is_string());

    // Someone else wants one of them: 409 naming the seat.
    let taken = app.hold_seats(&bob_t, event.id(), &["A-2", "A-3"]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(slug(&taken.body), "seats-unavailable");
    assert_eq!(taken.body["unavailable_seats"], json!(["A-2"]));

    // The layout shows them held; availability excludes them.
    let layout = app
        .get(&format!("/api/v1/events/{}/venue-layout", event.id()), None)
        .await;
    let seats = &layout.body["sections"][0]["seats"];
    assert_eq!(seats[0]["status"], "held");
    assert_eq!(seats[2]["status"], "available");
    let available = app
        .get(
            &format!("/api/v1/events/{}/seats/available", event.id()),
            None,
        )
        .await;
    assert_eq!(available.body["available"], 2 + 10);

    // Bob cannot confirm Alice's hold; a declined card is 402 and keeps the hold.
    let hold_id = hold.body["hold_id"].clone();
    let stolen = app.confirm(&bob_t, &hold_id, CARD_OK).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN, "{}", stolen.body);
    let declined = app.confirm(&alice_t, &hold_id, CARD_DECLINED).await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(slug(&declined.body), "payment-declined");

    let booking = app.confirm(&alice_t, &hold_id, CARD_OK).await;
    assert_eq!(booking.status, StatusCode::CREATED, "{}", booking.body);
    assert_eq!(booking.body["status"], "confirmed");
    let reference = booking.body["reference"].as_str().unwrap().to_string();
    assert!(
        reference.starts_with("EVT-") && reference.len() == 10,
        "{reference}"
    );
    assert!(!reference[4..].contains(['0', 'O', '1', 'I']));
    let booking_id = booking.body["id"].as_str().unwrap().to_string();

    // Confirming the same hold again: it is no longer live.
    let again = app.confirm(&alice_t, &hold_id, CARD_OK).await;
    assert_eq!(again.status, StatusCode::GONE);

    let mine = app.get("/api/v1/bookings/me", Some(&alice_t)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["total"], 1);
    assert_eq!(mine.body["items"][0]["reference"], reference.as_str());
    assert_eq!(mine.body["page"], 1);

    // Who may see it: owner, organizer, admin; not Bob.
    let path = format!("/api/v1/bookings/{booking_id}");
    assert_eq!(app.get(&path, Some(&alice_t)).await.status, StatusCode::OK);
    let organizer_t = world.token(event.organizer, Role::Organizer);
    assert_eq!(
        app.get(&path, Some(&organizer_t)).await.status,
        StatusCode::OK
    );
    let admin_t = world.token(UserId::new(), Role::Admin);
    assert_eq!(app.get(&path, Some(&admin_t)).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&path, Some(&bob_t)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    // By reference too.
    assert_eq!(
        app.get(&format!("/api/v1/bookings/{reference}"), Some(&alice_t))
            .await
            .status,
        StatusCode::OK
    );

    // Sales: organizer and admin only.
    let sales_path = format!("/api/v1/events/{}/sales", event.id());
    let sales = app.get(&sales_path, Some(&organizer_t)).await;
    assert_eq!(sales.status, StatusCode::OK, "{}", sales.body);
    assert_eq!(sales.body["sold"], 2);
    assert_eq!(sales.body["revenue"], 10000);
    assert_eq!(
        app.get(&sales_path, Some(&alice_t)).await.status,
        StatusCode::FORBIDDEN
    );

    // Bob cannot cancel it; Alice can (before the event); twice is 409.
    assert_eq!(
        app.delete(&format!("{path}/cancel"), &bob_t).await.status,
        StatusCode::FORBIDDEN
    );
    let cancelled = app.delete(&format!("{path}/cancel"), &alice_t).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["refund"]["amount"], 10000);
    let twice = app.delete(&path, &alice_t).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(slug(&twice.body), "already-cancelled");

    // The refund reaches the provider; the seats are for sale again.
    wait_for("refund settled", Duration::from_secs(10), || async {
        let b = app.get(&path, Some(&alice_t)).await;
        (b.body["refund"]["status"] == "refunded").then_some(())
    })
    .await;
    let again = app.hold_seats(&bob_t, event.id(), &["A-1", "A-2"]).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);

    // Attendee list for notifications: guarded by the service token.
    let attendees = format!("/internal/events/{}/attendees", event.id());
    assert_eq!(
        app.get(&attendees, None).await.status,
        StatusCode::FORBIDDEN
    );
    let list = app
        .http
        .get(format!("{}{}", app.base, attendees))
        .header("X-Service-Token", "dev-internal-token")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["total"], 0, "Alice cancelled: {list}");

    // The processor's work is visible to operators.
    wait_for("processor metrics", Duration::from_secs(10), || async {
        let m = app.get("/metrics", None).await;
        let text = m.body.as_str().unwrap_or("").to_string();
        text.lines()
            .find(|l| l.starts_with("evently_booking_processor_commands_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .filter(|n| *n > 0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let world = World::new().await;
    let app = world.spawn().await;
    let event = TestEvent::new(2, 3, Some(2));
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let t = world.token(UserId::new(), Role::Customer);

    let unknown_event = app
        .hold_seats(&t, common_types::EventId::new(), &["A-1"])
        .await;
    assert_eq!(unknown_event.status, StatusCode::NOT_FOUND);
    assert_eq!(slug(&unknown_event.body), "unknown-event");

    let unknown_seat = app.hold_seats(&t, event.id(), &["Z-9"]).await;
    assert_eq!(unknown_seat.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(slug(&unknown_seat.body), "unknown-seat");

    let zero = app.hold_ga(&t, event.id(), event.general, 0).await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(zero.body["errors"][0]["field"], "quantity");

    let over_limit = app.hold_ga(&t, event.id(), event.general, 3).await;
    assert_eq!(over_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(slug(&over_limit.body), "ticket-limit");

    let wrong_kind = app.hold_ga(&t, event.id(), event.reserved, 1).await;
    assert_eq!(wrong_kind.status, StatusCode::UNPROCESSABLE_ENTITY);

    let both = app
        .post(
            "/api/v1/seats/hold",
            &t,
            &json!({"event_id": event.id()}),
            None,
        )
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);

    let no_token = app
        .http
        .post(format!("{}/api/v1/seats/hold", app.base))
        .json(&json!({"event_id": event.id(), "seat_ids": ["A-1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);

    let bad_card = app
        .confirm(&t, &json!(common_types::HoldId::new()), "1234")
        .await;
    assert_eq!(bad_card.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_hold = app
        .confirm(&t, &json!(common_types::HoldId::new()), CARD_OK)
        .await;
    assert_eq!(no_hold.status, StatusCode::NOT_FOUND);

    // Nothing was held by any of that.
    let available = app
        .get(
            &format!("/api/v1/events/{}/seats/available", event.id()),
            None,
        )
        .await;
    assert_eq!(available.body["available"], 2 + 3);

    // GA sells out at capacity.
    let u1 = world.token(UserId::new(), Role::Customer);
    let u2 = world.token(UserId::new(), Role::Customer);
    assert_eq!(
        app.hold_ga(&u1, event.id(), event.general, 2).await.status,
        StatusCode::CREATED
    );
    let sold_out = app.hold_ga(&u2, event.id(), event.general, 2).await;
    assert_eq!(sold_out.status, StatusCode::CONFLICT);
    assert_eq!(slug(&sold_out.body), "sold-out");

    // Releasing a hold gives it back; a stranger cannot release it.
    let h = app.hold_ga(&u2, event.id(), event.general, 1).await;
    assert_eq!(h.status, StatusCode::CREATED);
    let hold_path = format!("/api/v1/seats/hold/{}", h.body["hold_id"].as_str().unwrap());
    assert_eq!(
        app.delete(&hold_path, &u1).await.status,
        StatusCode::FORBIDDEN
    );
    let released = app.delete(&hold_path, &u2).await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    assert_eq!(app.delete(&hold_path, &u2).await.status, StatusCode::GONE);
    assert_eq!(
        app.hold_ga(&u2, event.id(), event.general, 1).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_has_one_effect_and_one_answer() {
    let world = World::new().await;
    let app = world.spawn().await;
    let event = TestEvent::new(3, 5, None);
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let user = UserId::new();
    let t = world.token(user, Role::Customer);
    let body = json!({"event_id": event.id(), "section_id": event.general, "quantity": 2});

    let first = app
        .post("/api/v1/seats/hold", &t, &body, Some("key-1"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = app
        .post("/api/v1/seats/hold", &t, &body, Some("key-1"))
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(first.body, second.body, "same answer");
    // One effect: 5 - 2 places left.
    let available = app
        .get(
            &format!("/api/v1/events/{}/seats/available", event.id()),
            None,
        )
        .await;
    assert_eq!(available.body["available"], 3 + 3);

    // Same key, different body: 422.
    let other = json!({"event_id": event.id(), "section_id": event.general, "quantity": 1});
    let mismatch = app
        .post("/api/v1/seats/hold", &t, &other, Some("key-1"))
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(slug(&mismatch.body), "idempotency-key-reused");

    // Keys are per caller: another user's same key is a new request.
    let t2 = world.token(UserId::new(), Role::Customer);
    let theirs = app
        .post("/api/v1/seats/hold", &t2, &body, Some("key-1"))
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["hold_id"], first.body["hold_id"]);

    // Confirmation with a key: one booking, one charge.
    let confirm = json!({"hold_id": first.body["hold_id"], "payment": {"method": "card", "card_number": CARD_OK}});
    let a = app
        .post("/api/v1/bookings/confirm", &t, &confirm, Some("pay-1"))
        .await;
    let b = app
        .post("/api/v1/bookings/confirm", &t, &confirm, Some("pay-1"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body, b.body);
    let mine = app.get("/api/v1/bookings/me", Some(&t)).await;
    assert_eq!(mine.body["total"], 1);
    let pool = world.pool().await;
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE user_id = $1")
        .bind(user.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payments, 1);
    // The card number is never stored.
    let stored: String =
        sqlx::query_scalar("SELECT request::text FROM idempotency_keys WHERE key = 'pay-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!stored.contains(CARD_OK), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_expire_and_a_late_payment_is_refunded_with_410() {
    let world = World::new().await;
    let mut settings = world.settings();
    settings.booking.hold_ttl_secs = 1;
    settings.booking.slow_card_delay_ms = 2500;
    let app = world.spawn_with(settings, Default::default()).await;
    let event = TestEvent::new(2, 2, None);
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let alice = world.token(UserId::new(), Role::Customer);
    let bob = world.token(UserId::new(), Role::Customer);

    // Expiry: the timer expires the hold and the seat comes back.
    let hold = app.hold_seats(&alice, event.id(), &["A-1"]).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    let hold_path = format!(
        "/api/v1/seats/hold/{}",
        hold.body["hold_id"].as_str().unwrap()
    );
    wait_for("the hold to expire", Duration::from_secs(10), || async {
        let h = app.get(&hold_path, Some(&alice)).await;
        (h.body["status"] == "expired").then_some(())
    })
    .await;
    let layout = app
        .get(&format!("/api/v1/events/{}/venue-layout", event.id()), None)
        .await;
    assert_eq!(
        layout.body["sections"][0]["seats"][0]["status"],
        "available"
    );
    // Confirming it now: 410 and nothing charged.
    let late = app.confirm(&alice, &hold.body["hold_id"], CARD_OK).await;
    assert_eq!(late.status, StatusCode::GONE);
    assert!(late.body["detail"]
        .as_str()
        .unwrap()
        .contains("nothing was charged"));

    // A payment that completes after the hold expired: voided, 410.
    let hold = app.hold_ga(&bob, event.id(), event.general, 1).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    let late = app.confirm(&bob, &hold.body["hold_id"], CARD_SLOW).await;
    assert_eq!(late.status, StatusCode::GONE, "{}", late.body);
    assert_eq!(slug(&late.body), "hold-expired");
    assert!(late.body["detail"].as_str().unwrap().contains("voided"));
    let pool = world.pool().await;
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE hold_id = $1")
        .bind(uuid::Uuid::parse_str(hold.body["hold_id"].as_str().unwrap()).unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "voided");
    assert_eq!(
        app.get("/api/v1/bookings/me", Some(&bob)).await.body["total"],
        0
    );
    let available = app
        .get(
            &format!("/api/v1/events/{}/seats/available", event.id()),
            None,
        )
        .await;
    assert_eq!(available.body["available"], 2 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_event_refunds_everyone_and_stops_sales() {
    let world = World::new().await;
    let app = world.spawn().await;
    let event = TestEvent::new(2, 5, None);
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let alice = world.token(UserId::new(), Role::Customer);
    let hold = app.hold_seats(&alice, event.id(), &["A-1"]).await;
    let booking = app.confirm(&alice, &hold.body["hold_id"], CARD_OK).await;
    assert_eq!(booking.status, StatusCode::CREATED);
    let pending = app.hold_ga(&alice, event.id(), event.general, 2).await;
    assert_eq!(pending.status, StatusCode::CREATED);

    world.cancel_event(&event.snapshot).await;
    let path = format!("/api/v1/bookings/{}", booking.body["id"].as_str().unwrap());
    wait_for(
        "the booking to be cancelled",
        Duration::from_secs(20),
        || async {
            let b = app.get(&path, Some(&alice)).await;
            (b.body["status"] == "cancelled" && b.body["refund"]["status"] == "refunded")
                .then_some(())
        },
    )
    .await;
    let hold_path = format!(
        "/api/v1/seats/hold/{}",
        pending.body["hold_id"].as_str().unwrap()
    );
    assert_eq!(
        app.get(&hold_path, Some(&alice)).await.body["status"],
        "cancelled"
    );
    let refused = app.hold_ga(&alice, event.id(), event.general, 1).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(slug(&refused.body), "event-cancelled");
}

/// Behind the gateway a request can land on an instance that does not own the
/// event's partition; it must still get its answer as soon as it is decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_without_the_partition_answers_with_the_outcome_decided_elsewhere() {
    let world = World::new().await;
    let owner = world.spawn().await;
    let mut api_only = world.settings();
    api_only.booking.processor = false;
    // Longer than the test waits: an answer that only came from the fallback
    // read at the end of the wait would fail the deadline below.
    api_only.booking.reply_timeout_ms = 120_000;
    let front = world
        .spawn_with(api_only, booking::startup::Hooks::default())
        .await;
    let event = TestEvent::new(4, 0, None);
    world.publish(&event.snapshot).await;
    owner.wait_for_inventory(event.id()).await;

    let alice_t = world.token(UserId::new(), Role::Customer);
    let bob_t = world.token(UserId::new(), Role::Customer);
    let hold = within("hold", front.hold_seats(&alice_t, event.id(), &["A-1"])).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let taken = within(
        "conflict",
        front.hold_seats(&bob_t, event.id(), &["A-1", "A-2"]),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.body["unavailable_seats"], json!(["A-1"]));
    let booking = within(
        "confirm",
        front.confirm(&alice_t, &hold.body["hold_id"], CARD_OK),
    )
    .await;
    assert_eq!(booking.status, StatusCode::CREATED, "{}", booking.body);
}

async fn within<T>(what: &str, answer: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 30 s"))
}
