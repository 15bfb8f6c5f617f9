//! Black-box tests of the notification service: real PostgreSQL, the real
//! broker, a real SMTP server (the stack's Mailpit, read back through its
//! API, each test on its own mail domain) and a stand-in for booking's
//! internal attendee endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use common_types::messages::booking::BookingOutcome;
use common_types::messages::lifecycle::{EventSnapshot, LifecycleEvent};
use common_types::messages::user::UserEvent;
use common_types::{
    topics, BookingId, Currency, Envelope, EventId, HoldId, MessageType, RequestId, Role, SeatId,
    UserId,
};
use kafka_bus::rdkafka::consumer::Consumer;
use kafka_bus::Producer;
use notification::startup::MIGRATOR;
use notification::{Application, Settings};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::{wait_for, Mailbox, TestTokens};
use tokio_util::sync::CancellationToken;

type Attendees = Arc<Mutex<HashMap<EventId, Vec<UserId>>>>;
/// Events whose attendee list booking fails to give (500).
type Broken = Arc<Mutex<Vec<EventId>>>;

struct TestApp {
    base: String,
    http: reqwest::Client,
    tokens: TestTokens,
    producer: Producer,
    mail: Mailbox,
    attendees: Attendees,
    broken: Broken,
    pool: sqlx::PgPool,
    kafka: settings::KafkaSettings,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// booking's `GET /internal/events/{id}/attendees`, paged, wanting the service token.
async fn fake_booking(attendees: Attendees, broken: Broken) -> String {
    #[derive(serde::Deserialize)]
    struct Q {
        page: usize,
        per_page: usize,
    }
    async fn list(
        req: HttpRequest,
        path: web::Path<EventId>,
        q: web::Query<Q>,
        data: web::Data<Attendees>,
        broken: web::Data<Broken>,
    ) -> HttpResponse {
        if req
            .headers()
            .get("X-Service-Token")
            .and_then(|v| v.to_str().ok())
            != Some("dev-internal-token")
        {
            return HttpResponse::Unauthorized().finish();
        }
        let event = path.into_inner();
        if broken.lock().unwrap().contains(&event) {
            return HttpResponse::InternalServerError().finish();
        }
        let all = data
            .lock()
            .unwrap()
            .get(&event)
            .cloned()
            .unwrap_or_default();
        let items: Vec<Value> = all
            .iter()
            .skip((q.page - 1) * q.per_page)
            .take(q.per_page)
            .map(|u| serde_json::json!({"user_id": u, "booking_ids": []}))
            .collect();
        HttpResponse::Ok().json(serde_json::json!({
            "items": items, "page": q.page, "per_page": q.per_page, "total": all.len()
        }))
    }
    let data = web::Data::new(attendees);
    let broken = web::Data::new(broken);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(broken.clone())
            .route("/internal/events/{id}/attendees", web::get().to(list))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

async fn spawn_app(max_attempts: u32) -> TestApp {
    test_support::init_tracing();
    let database = test_support::fresh_database("notification", &MIGRATOR).await;
    let kafka = test_support::isolated_kafka().await;
    let tokens = TestTokens::start().await;
    // Refuses recipients containing "fail" (550), like the stack's.
    let mail = Mailbox::connect().await;
    let attendees: Attendees = Arc::default();
    let broken: Broken = Arc::default();
    let mut settings =
        Settings::for_tests(database.clone(), kafka.clone(), tokens.verify_settings());
    settings.smtp_url = mail.smtp_url();
    settings.booking_url = fake_booking(attendees.clone(), broken.clone()).await;
    settings.delivery.max_attempts = max_attempts;
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let producer = Producer::new(&kafka).unwrap();
    let pool = sqlx::PgPool::connect(database.expose_url()).await.unwrap();
    TestApp {
        base,
        http: reqwest::Client::new(),
        tokens,
        producer,
        mail,
        attendees,
        broken,
        pool,
        kafka,
        shutdown,
    }
}

impl TestApp {
    async fn publish<T: serde::Serialize + MessageType>(
        &self,
        topic: &str,
        key: impl ToString,
        envelope: &Envelope<T>,
    ) {
        self.producer
            .publish(topic, &key.to_string(), envelope, None)
            .await
            .unwrap();
    }

    async fn register(&self, user: UserId, email: &str, name: &str) {
        let envelope = Envelope::new(UserEvent::UserRegistered {
            user_id: user,
            email: email.into(),
            name: name.into(),
            role: Role::Customer,
        });
        self.publish(topics::USER_EVENTS, user, &envelope).await;
    }

    /// Setup sync only: wait until the service has stored `n` contacts.
    async fn wait_for_users(&self, n: i64) {
        wait_for("contacts stored", Duration::from_secs(180), || async {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&self.pool)
                .await
                .unwrap();
            (count >= n).then_some(())
        })
        .await;
    }

    async fn publish_event(&self, event: EventId, title: &str) {
        let envelope = Envelope::new(LifecycleEvent::EventPublished(EventSnapshot {
            event_id: event,
            organizer_id: UserId::new(),
            title: title.into(),
            starts_at: Utc::now() + chrono::Duration::days(30),
            sales_start: None,
            sales_end: None,
            currency: Currency::parse("USD").unwrap(),
            max_tickets_per_user: None,
            sections: vec![],
        }));
        self.publish(topics::EVENT_LIFECYCLE, event, &envelope)
            .await;
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn admin(&self) -> String {
        self.tokens.token(UserId::new(), Role::Admin)
    }
}

fn confirmed(event: EventId, user: UserId, reference: &str) -> BookingOutcome {
    BookingOutcome::BookingConfirmed {
        request_id: RequestId::new(),
        booking_id: BookingId::new(),
        reference: reference.into(),
        hold_id: HoldId::new(),
        event_id: event,
        user_id: user,
        seats: vec![SeatId::parse("A-1").unwrap(), SeatId::parse("A-2").unwrap()],
        section_id: None,
        quantity: 2,
        total_price: 5000,
        currency: Currency::parse("USD").unwrap(),
        payment_id: "pay_1".into(),
        waitlist_entry_id: None,
    }
}

#[tokio::test]
async fn a_booking_confirmation_is_mailed_once_and_shown_in_app() {
    let app = spawn_app(5).await;
    let (user, event) = (UserId::new(), EventId::new());
    let ada = app.mail.address("ada");
    app.register(user, &ada, "Ada").await;
    app.publish_event(event, "Rust Conf").await;
    app.wait_for_users(1).await;

    let confirmation = Envelope::new(confirmed(event, user, "EVT-7K2M9Q"));
    app.publish(topics::BOOKING_EVENTS, event, &confirmation)
        .await;
    let mail = wait_for("the confirmation mail", Duration::from_secs(20), || async {
        app.mail.mails_to(&ada).await.into_iter().next()
    })
    .await;
    let subject = &mail.subject;
    assert!(subject.contains("EVT-7K2M9Q"), "{subject}");
    assert!(subject.contains("Rust Conf"), "{subject}");
    let body = mail.body();
    assert!(body.contains("Hello Ada"), "{body}");
    assert!(body.contains("A-1, A-2"), "{body}");
    assert!(body.contains("Total paid: USD 50.00"), "{body}");
    assert!(
        body.contains("<strong>EVT-7K2M9Q</strong>"),
        "the HTML part: {body}"
    );
    assert!(!mail.html.is_empty(), "an HTML part");

    // The same message again (a redelivery), then a later one on the same
    // partition: once the later one is mailed, the duplicate has been seen.
    app.publish(topics::BOOKING_EVENTS, event, &confirmation)
        .await;
    let cancelled = Envelope::new(BookingOutcome::BookingCancelled {
        request_id: Some(RequestId::new()),
        booking_id: BookingId::new(),
        reference: "EVT-7K2M9Q".into(),
        event_id: event,
        user_id: user,
        refund_amount: 5000,
        currency: Currency::parse("USD").unwrap(),
    });
    app.publish(topics::BOOKING_EVENTS, event, &cancelled).await;
    wait_for("the cancellation mail", Duration::from_secs(20), || async {
        (app.mail.mails_to(&ada).await.len() >= 2).then_some(())
    })
    .await;
    let mails = app.mail.mails_to(&ada).await;
    assert_eq!(mails.len(), 2, "the redelivered confirmation mailed again");
    assert!(mails[1].body().contains("Refund: USD 50.00"));

    // In-app: newest first, unread, then read.
    let token = app.tokens.token(user, Role::Customer);
    let (status, page) = app.get("/api/v1/notifications/me", &token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["kind"], "booking_cancelled");
    assert_eq!(page["items"][1]["kind"], "booking_confirmed");
    assert_eq!(page["items"][1]["read"], false);
    let id = page["items"][1]["id"].as_str().unwrap().to_string();

    let stranger = app.tokens.token(UserId::new(), Role::Customer);
    let (status, _) = app
        .post(&format!("/api/v1/notifications/{id}/read"), &stranger)
        .await;
    assert_eq!(status, 404, "someone else's notification");
    let (status, item) = app
        .post(&format!("/api/v1/notifications/{id}/read"), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(item["read"], true);
    let (_, unread) = app
        .get("/api/v1/notifications/me?unread=true&per_page=1", &token)
        .await;
    assert_eq!(unread["total"], 1);
    assert_eq!(unread["per_page"], 1);

    let (status, problem) = app
        .get("/api/v1/notifications/me?per_page=1000", &token)
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "per_page");
    let (status, _) = app.get("/api/v1/notifications/me", "not-a-token").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_event_update_reaches_1000_attendees_once_each_and_bad_addresses_dead_letter() {
    const ATTENDEES: usize = 1000;
    const FAILING: usize = 25;
    const ATTEMPTS: u32 = 3;
    let app = spawn_app(ATTEMPTS).await;
    let event = EventId::new();
    let users: Vec<(UserId, String)> = (0..ATTENDEES)
        .map(|i| {
            let email = if i % (ATTENDEES / FAILING) == 7 {
                app.mail.address(&format!("will-fail-{i}"))
            } else {
                app.mail.address(&format!("fan-{i}"))
            };
            (UserId::new(), email)
        })
        .collect();
    futures::future::join_all(
        users
            .iter()
            .map(|(user, email)| app.register(*user, email, "Fan")),
    )
    .await;
    app.attendees
        .lock()
        .unwrap()
        .insert(event, users.iter().map(|(u, _)| *u).collect());
    app.wait_for_users(ATTENDEES as i64).await;

    let started = std::time::Instant::now();
    let update = Envelope::new(LifecycleEvent::EventUpdated {
        event_id: event,
        organizer_id: UserId::new(),
        title: "Big Show".into(),
        changed: vec!["starts_at".into()],
        starts_at: Utc::now() + chrono::Duration::days(3),
    });
    app.publish(topics::EVENT_LIFECYCLE, event, &update).await;

    let admin = app.admin();
    wait_for(
        "every good address mailed and every bad one dead",
        // Generous: the machine is shared with other builds and tests.
        Duration::from_secs(240),
        || async {
            let sent = app.mail.summaries().await.len();
            let (_, dead) = app
                .get("/api/v1/admin/notifications/dead?per_page=100", &admin)
                .await;
            let dead = dead["total"].as_u64().unwrap_or(0) as usize;
            (sent >= ATTENDEES - FAILING && dead >= FAILING).then_some(())
        },
    )
    .await;
    let elapsed = started.elapsed();
    eprintln!("fan-out to {ATTENDEES} attendees ({FAILING} failing) settled in {elapsed:?}");

    // A redelivered update creates no second round.
    app.publish(topics::EVENT_LIFECYCLE, event, &update).await;
    // Something later on the same partition proves the duplicate was consumed.
    let marker_user = UserId::new();
    let marker = app.mail.address("marker");
    app.register(marker_user, &marker, "Marker").await;
    app.wait_for_users(ATTENDEES as i64 + 1).await;
    app.publish(
        topics::BOOKING_EVENTS,
        event,
        &Envelope::new(confirmed(event, marker_user, "EVT-MARKER")),
    )
    .await;
    let later = Envelope::new(LifecycleEvent::EventCancelled {
        event_id: EventId::new(),
        organizer_id: UserId::new(),
        title: "Other".into(),
        reason: None,
    });
    // Same key as the update, so it is behind the duplicate in the partition.
    app.publish(topics::EVENT_LIFECYCLE, event, &later).await;
    wait_for(
        "the later lifecycle message",
        Duration::from_secs(30),
        || async {
            let done: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM processed_messages WHERE message_id = $1)",
            )
            .bind(later.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
            done.then_some(())
        },
    )
    .await;
    wait_for("the marker mail", Duration::from_secs(30), || async {
        app.mail.mails_to(&marker).await.into_iter().next()
    })
    .await;

    let mails = app.mail.summaries().await;
    for (_, email) in &users {
        let got = mails.iter().filter(|m| m.is_to(email)).count();
        if email.contains("fail") {
            assert_eq!(got, 0, "{email}");
        } else {
            assert_eq!(got, 1, "{email} got {got} mails");
        }
    }
    assert_eq!(
        mails.len(),
        ATTENDEES - FAILING + 1,
        "exactly one mail per good attendee, plus the marker"
    );
    assert_eq!(mails[0].subject, "Big Show has changed");

    let (status, dead) = app
        .get("/api/v1/admin/notifications/dead?per_page=100", &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(dead["total"], FAILING);
    // Each failing address was tried exactly ATTEMPTS times, each refused.
    for item in dead["items"].as_array().unwrap() {
        assert_eq!(item["attempts"], ATTEMPTS);
        assert_eq!(item["status"], "dead");
        assert!(item["email"].as_str().unwrap().contains("fail"));
        assert!(item["last_error"].as_str().unwrap().contains("550"));
    }
    // Every dead notification is on the dead-letter topic too.
    let consumer = kafka_bus::consumer(
        &app.kafka,
        "dlq-reader",
        kafka_bus::rdkafka::consumer::DefaultConsumerContext,
        &[],
    )
    .unwrap();
    kafka_bus::subscribe(&consumer, &app.kafka, &[topics::NOTIFICATION_DLQ]).unwrap();
    let mut seen = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < FAILING && std::time::Instant::now() < deadline {
        if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        {
            let envelope: Envelope<Value> = kafka_bus::decode(&message).unwrap();
            assert_eq!(envelope.message_type, "NotificationDead");
            seen.insert(
                envelope.payload["notification_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    assert_eq!(seen.len(), FAILING, "dead-letter messages");
    consumer.unsubscribe();

    // Customers may not look at the dead letters.
    let customer = app.tokens.token(UserId::new(), Role::Customer);
    let (status, _) = app.get("/api/v1/admin/notifications/dead", &customer).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_dead_notification_is_replayed_by_an_admin_once_the_address_works() {
    let app = spawn_app(2).await;
    let (user, event) = (UserId::new(), EventId::new());
    app.register(user, &app.mail.address("soon-fail"), "Bo")
        .await;
    app.wait_for_users(1).await;
    app.publish(
        topics::BOOKING_EVENTS,
        event,
        &Envelope::new(confirmed(event, user, "EVT-REPLAY")),
    )
    .await;
    let admin = app.admin();
    let dead = wait_for(
        "the notification to die",
        Duration::from_secs(30),
        || async {
            let (_, page) = app.get("/api/v1/admin/notifications/dead", &admin).await;
            page["items"].as_array().and_then(|i| i.first().cloned())
        },
    )
    .await;
    assert_eq!(dead["attempts"], 2, "two refused attempts");
    assert!(dead["last_error"].as_str().unwrap().contains("550"));
    let id = dead["id"].as_str().unwrap().to_string();

    let customer = app.tokens.token(user, Role::Customer);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/notifications/{id}/replay"),
            &customer,
        )
        .await;
    assert_eq!(status, 403);

    // The user fixes the address; the replay goes through to the new one.
    let fixed = app.mail.address("fixed");
    app.register(user, &fixed, "Bo").await;
    wait_for(
        "the new address stored",
        Duration::from_secs(30),
        || async {
            let email: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .fetch_optional(&app.pool)
                    .await
                    .unwrap();
            (email.as_deref() == Some(fixed.as_str())).then_some(())
        },
    )
    .await;
    let (status, body) = app
        .post(&format!("/api/v1/admin/notifications/{id}/replay"), &admin)
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    wait_for("the replayed mail", Duration::from_secs(20), || async {
        app.mail.mails_to(&fixed).await.into_iter().next()
    })
    .await;
    // The mail is in the catcher before the sender records it as sent.
    wait_for(
        "the replay recorded as sent",
        Duration::from_secs(20),
        || async {
            let (_, page) = app.get("/api/v1/notifications/me", &customer).await;
            (page["items"][0]["email_status"] == "sent").then_some(())
        },
    )
    .await;
    let (_, dead) = app.get("/api/v1/admin/notifications/dead", &admin).await;
    assert_eq!(dead["total"], 0);

    let (status, problem) = app
        .post(&format!("/api/v1/admin/notifications/{id}/replay"), &admin)
        .await;
    assert_eq!(status, 409);
    assert!(problem["type"]
        .as_str()
        .unwrap()
        .ends_with("notification-not-dead"));
    let (status, _) = app
        .post(
            &format!(
                "/api/v1/admin/notifications/{}/replay",
                uuid::Uuid::new_v4()
            ),
            &admin,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.mail.mails_to(&fixed).await.len(), 1);
}

#[tokio::test]
async fn a_fan_out_booking_cannot_serve_yet_is_retried_without_holding_up_other_mail() {
    let app = spawn_app(5).await;
    let (fan, buyer, event) = (UserId::new(), UserId::new(), EventId::new());
    let (fan_email, buyer_email) = (app.mail.address("fan"), app.mail.address("buyer"));
    app.register(fan, &fan_email, "Fan").await;
    app.register(buyer, &buyer_email, "Buyer").await;
    app.wait_for_users(2).await;
    app.attendees.lock().unwrap().insert(event, vec![fan]);
    app.broken.lock().unwrap().push(event);

    let cancelled = Envelope::new(LifecycleEvent::EventCancelled {
        event_id: event,
        organizer_id: UserId::new(),
        title: "Rained Out".into(),
        reason: Some("storm".into()),
    });
    app.publish(topics::EVENT_LIFECYCLE, event, &cancelled)
        .await;
    // Booking's confirmation of another purchase goes out meanwhile.
    let other = EventId::new();
    app.publish(
        topics::BOOKING_EVENTS,
        other,
        &Envelope::new(confirmed(other, buyer, "EVT-WAIT")),
    )
    .await;
    wait_for(
        "the unrelated confirmation",
        Duration::from_secs(30),
        || async { app.mail.mails_to(&buyer_email).await.into_iter().next() },
    )
    .await;
    assert!(app.mail.mails_to(&fan_email).await.is_empty());

    // Booking recovers: the fan-out happens, once.
    app.broken.lock().unwrap().clear();
    let mail = wait_for(
        "the cancellation notice",
        Duration::from_secs(60),
        || async { app.mail.mails_to(&fan_email).await.into_iter().next() },
    )
    .await;
    assert_eq!(mail.subject, "Rained Out is cancelled");
    assert!(mail.body().contains("The organizer said: storm"));
}
