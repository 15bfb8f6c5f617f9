//! End to end through the gateway: the real booking, waitlist and
//! notification services and the real gateway in one process, each service
//! with its own database, all on one broker prefix, mail to the stack's
//! Mailpit (read back through its API, on this test's own mail domain). Users and the event come in as the auth and event services
//! publish them (`UserRegistered`, `EventPublished`), tokens from a test
//! issuer with a real JWKS.
//!
//! An event sells out; B and C join the waitlist for one seat of section A;
//! A cancels one booking; B is offered the seat (status, email, in-app), and
//! C gets nothing while B's offer stands; B confirms; A cancels the other
//! booking; C is offered that seat, lets the offer expire, and the seat goes
//! back on public sale.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use common_types::messages::lifecycle::{
    EventSnapshot, LifecycleEvent, SeatSnapshot, SectionLayout, SectionSnapshot,
};
use common_types::messages::user::UserEvent;
use common_types::{topics, Currency, Envelope, EventId, Role, SeatId, SectionId, UserId};
use kafka_bus::Producer;
use serde_json::{json, Value};
use std::time::Duration;
use test_support::{wait_for, Mailbox, TestTokens};
use tokio_util::sync::CancellationToken;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token),
        )
        .await
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&body),
        )
        .await
    }
    async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(token),
        )
        .await
    }
}

struct User {
    id: UserId,
    email: String,
    token: String,
}

#[tokio::test]
async fn freed_seats_reach_the_waitlist_in_order_and_everyone_hears_about_it() {
    test_support::init_tracing();
    let kafka = test_support::isolated_kafka().await;
    let tokens = TestTokens::start().await;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let mailbox = Mailbox::connect().await;

    // booking
    let mut settings = booking::configuration::Settings::for_tests(
        test_support::fresh_database(booking::SERVICE, &booking::startup::MIGRATOR).await,
        kafka.clone(),
        tokens.verify_settings(),
    );
    settings.booking.expiry_tick_ms = 100;
    settings.booking.reply_timeout_ms = 10_000;
    let app = booking::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let booking_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // waitlist: offers last 3 s so the expiry can be watched
    let mut settings = waitlist::Settings::for_tests(
        test_support::fresh_database(waitlist::SERVICE, &waitlist::startup::MIGRATOR).await,
        kafka.clone(),
        tokens.verify_settings(),
    );
    settings.booking_url = booking_url.clone();
    settings.offer_ttl_secs = 3;
    let app = waitlist::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let waitlist_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // notification
    let notification_db =
        test_support::fresh_database(notification::SERVICE, &notification::startup::MIGRATOR).await;
    let notification_pool = sqlx::PgPool::connect(notification_db.expose_url())
        .await
        .unwrap();
    let mut settings =
        notification::Settings::for_tests(notification_db, kafka.clone(), tokens.verify_settings());
    settings.booking_url = booking_url.clone();
    settings.smtp_url = mailbox.smtp_url();
    let app = notification::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let notification_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // gateway in front of them (auth and event are not needed here)
    let mut settings = gateway::configuration::Settings::for_tests(
        gateway::configuration::Upstreams {
            auth: "http://127.0.0.1:9".into(),
            event: "http://127.0.0.1:9".into(),
            booking: booking_url.clone(),
            waitlist: waitlist_url,
            notification: notification_url,
        },
        tokens.verify_settings(),
    );
    settings.rate_limits.enabled = false;
    let app = gateway::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let api = Client {
        base: format!("http://127.0.0.1:{}", app.port()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(app.run_until_stopped());

    // The auth and event services' messages.
    let producer = Producer::new(&kafka).unwrap();
    let user = |name: &str| {
        let id = UserId::new();
        User {
            id,
            email: mailbox.address(name),
            token: tokens.token(id, Role::Customer),
        }
    };
    let (a, b, c) = (user("a"), user("b"), user("c"));
    for (who, name) in [(&a, "Ann"), (&b, "Bob"), (&c, "Cy")] {
        let envelope = Envelope::new(UserEvent::UserRegistered {
            user_id: who.id,
            email: who.email.clone(),
            name: name.into(),
            role: Role::Customer,
        });
        producer
            .publish(topics::USER_EVENTS, &who.id.to_string(), &envelope, None)
            .await
            .unwrap();
    }
    // The offer mail greets by name: wait until notification has stored all three.
    wait_for(
        "notification to know the users",
        Duration::from_secs(60),
        || async {
            let known: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&notification_pool)
                .await
                .unwrap();
            (known == 3).then_some(())
        },
    )
    .await;
    let event = EventId::new();
    let section = SectionId::new();
    let snapshot = EventSnapshot {
        event_id: event,
        organizer_id: UserId::new(),
        title: "Waitlist Night".into(),
        starts_at: Utc::now() + chrono::Duration::days(20),
        sales_start: None,
        sales_end: None,
        currency: Currency::parse("USD").unwrap(),
        max_tickets_per_user: None,
        sections: vec![SectionSnapshot {
            id: section,
            name: "A".into(),
            price: 5000,
            layout: SectionLayout::Reserved {
                seats: (1..=2)
                    .map(|n| SeatSnapshot {
                        id: SeatId::for_row_seat("A", n).unwrap(),
                        row: "A".into(),
                        number: n,
                        x: n as f32,
                        y: 1.0,
                    })
                    .collect(),
            },
        }],
    };
    producer
        .publish(
            topics::EVENT_LIFECYCLE,
            &event.to_string(),
            &Envelope::new(LifecycleEvent::EventPublished(snapshot)),
            None,
        )
        .await
        .unwrap();
    let available = format!("/api/v1/events/{event}/seats/available");
    wait_for("inventory", Duration::from_secs(60), || async {
        let (status, body) = api.get(&available, &a.token).await;
        (status == 200 && body["available"] == 2).then_some(())
    })
    .await;

    // A buys both seats, one booking each: sold out.
    let mut a_bookings = Vec::new();
    for seat in ["A-1", "A-2"] {
        let (status, hold) = api
            .post(
                "/api/v1/seats/hold",
                &a.token,
                json!({"event_id": event, "seat_ids": [seat]}),
            )
            .await;
        assert_eq!(status, 201, "{hold}");
        let (status, booking) = api
            .post(
                "/api/v1/bookings/confirm",
                &a.token,
                json!({"hold_id": hold["hold_id"], "payment": {"method": "card", "card_number": "4242424242424242"}}),
            )
            .await;
        assert_eq!(status, 201, "{booking}");
        a_bookings.push(booking["id"].as_str().unwrap().to_string());
    }
    let (_, body) = api.get(&available, &a.token).await;
    assert_eq!(body["available"], 0);

    // B, then C, join for one seat of section A.
    for who in [&b, &c] {
        let (status, body) = api
            .post(
                "/api/v1/waitlist/join",
                &who.token,
                json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section, "max_price": 6000}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let status_path = format!("/api/v1/waitlist/status/{event}");
    let (_, body) = api.get(&status_path, &c.token).await;
    assert_eq!(body["position"], 2);

    // Booking parks freed seats only once it heard people are waiting (the
    // waitlist's WaitlistActivated on booking.create); the organizer's sales
    // figures show it.
    let admin = tokens.token(UserId::new(), Role::Admin);
    wait_for(
        "booking to know people wait",
        Duration::from_secs(60),
        || async {
            let (_, body) = api
                .get(&format!("/api/v1/events/{event}/sales"), &admin)
                .await;
            (body["waitlist_active"] == true).then_some(())
        },
    )
    .await;
    let (status, body) = api
        .delete(
            &format!("/api/v1/bookings/{}/cancel", a_bookings[0]),
            &a.token,
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {body}");

    // B is offered the seat: a hold, an email with a link, an in-app notification.
    let offered = wait_for("B offered", Duration::from_secs(60), || async {
        let (_, body) = api.get(&status_path, &b.token).await;
        (body["status"] == "offered").then_some(body)
    })
    .await;
    assert_eq!(offered["offer"]["seats"], json!(["A-1"]));
    let b_hold = offered["offer"]["hold_id"].as_str().unwrap().to_string();
    let (_, body) = api.get(&available, &a.token).await;
    assert_eq!(
        body["available"], 0,
        "the freed seat never went on public sale"
    );
    let mail = wait_for("B's offer email", Duration::from_secs(60), || async {
        mailbox
            .mails_to(&b.email)
            .await
            .into_iter()
            .find(|m| m.subject.starts_with("Seats for Waitlist Night"))
    })
    .await;
    let text = mail.body();
    assert!(text.contains("Hello Bob"), "{text}");
    assert!(text.contains("A-1"), "{text}");
    assert!(
        text.contains(&format!("checkout?hold_id={b_hold}")),
        "{text}"
    );
    let inbox = wait_for("B's in-app offer", Duration::from_secs(30), || async {
        let (_, page) = api.get("/api/v1/notifications/me", &b.token).await;
        page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["kind"] == "waitlist_offer")
                .cloned()
        })
    })
    .await;
    assert_eq!(inbox["read"], false);

    // C waits while B's offer stands.
    let (_, body) = api.get(&status_path, &c.token).await;
    assert_eq!(body["status"], "waiting");
    assert_eq!(body["position"], 1);

    // B confirms the offer like any hold.
    let (status, booking) = api
        .post(
            "/api/v1/bookings/confirm",
            &b.token,
            json!({"hold_id": b_hold, "payment": {"method": "card", "card_number": "4242424242424242"}}),
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    wait_for("B accepted", Duration::from_secs(30), || async {
        let (_, body) = api.get(&status_path, &b.token).await;
        (body["status"] == "accepted").then_some(())
    })
    .await;
    wait_for(
        "B's booking confirmation email",
        Duration::from_secs(60),
        || async {
            mailbox.mails_to(&b.email).await.into_iter().find(|m| {
                m.subject
                    .contains(booking["reference"].as_str().unwrap_or("?"))
            })
        },
    )
    .await;
    let (_, body) = api.get(&status_path, &c.token).await;
    assert_eq!(
        body["status"], "waiting",
        "C gets nothing from B's taken offer"
    );

    // The next freed seat goes to C; C lets the offer lapse.
    let (status, body) = api
        .delete(
            &format!("/api/v1/bookings/{}/cancel", a_bookings[1]),
            &a.token,
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    let offered = wait_for("C offered", Duration::from_secs(60), || async {
        let (_, body) = api.get(&status_path, &c.token).await;
        (body["status"] == "offered").then_some(body)
    })
    .await;
    assert_eq!(offered["offer"]["seats"], json!(["A-2"]));
    wait_for("C's offer to expire", Duration::from_secs(60), || async {
        let (_, body) = api.get(&status_path, &c.token).await;
        (body["status"] == "expired").then_some(())
    })
    .await;
    // Nobody is waiting any more: the seat is back on public sale.
    wait_for("A-2 back on sale", Duration::from_secs(60), || async {
        let (_, body) = api.get(&available, &a.token).await;
        (body["available"] == 1).then_some(())
    })
    .await;
    assert_eq!(
        mailbox
            .mails_to(&c.email)
            .await
            .iter()
            .filter(|m| m.subject.starts_with("Seats for"))
            .count(),
        1
    );
    // A heard about both cancellations with the refund.
    wait_for(
        "A's cancellation emails",
        Duration::from_secs(60),
        || async {
            let n = mailbox
                .mails_to(&a.email)
                .await
                .iter()
                .filter(|m| m.body().contains("Refund: USD 50.00"))
                .count();
            (n == 2).then_some(())
        },
    )
    .await;
}
