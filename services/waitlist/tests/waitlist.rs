//! Black-box tests of the waitlist service against real PostgreSQL and the
//! real broker. Booking is played by the test in booking's wire format: a
//! stand-in for its availability endpoint, and a small processor that reads
//! `booking.create` and answers `OfferHold` with `HoldPlaced` on
//! `booking.events`, as the booking service does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;
use common_types::messages::booking::{
    BookingCommand, BookingOutcome, RejectReason, SeatSelection,
};
use common_types::messages::waitlist::WaitlistEvent;
use common_types::{
    topics, BookingId, Currency, Envelope, EventId, HoldId, RequestId, Role, SeatId, SectionId,
    UserId, WaitlistEntryId,
};
use kafka_bus::rdkafka::consumer::StreamConsumer;
use kafka_bus::Producer;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::{wait_for, TestTokens};
use tokio_util::sync::CancellationToken;
use waitlist::startup::MIGRATOR;
use waitlist::{Application, Settings};

/// event → (available in total, [(section, available)])
type Stock = Arc<Mutex<HashMap<EventId, (u64, Vec<(SectionId, u64)>)>>>;

struct TestApp {
    base: String,
    http: reqwest::Client,
    tokens: TestTokens,
    producer: Producer,
    stock: Stock,
    commands: Arc<Mutex<Vec<BookingCommand>>>,
    /// Users whose offers booking refuses (as for a ticket limit).
    refused: Arc<Mutex<Vec<UserId>>>,
    waitlist_events: Arc<Mutex<Vec<WaitlistEvent>>>,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn fake_availability(stock: Stock) -> String {
    async fn available(path: web::Path<EventId>, stock: web::Data<Stock>) -> HttpResponse {
        let event = path.into_inner();
        match stock.lock().unwrap().get(&event) {
            None => HttpResponse::NotFound().finish(),
            Some((total, sections)) => HttpResponse::Ok().json(json!({
                "event_id": event,
                "available": total,
                "sections": sections.iter().map(|(id, n)| json!({"id": id, "available": n, "seat_ids": []})).collect::<Vec<_>>(),
            })),
        }
    }
    let data = web::Data::new(stock);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/api/v1/events/{id}/seats/available",
            web::get().to(available),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

fn reader(kafka: &settings::KafkaSettings, group: &str, topic: &str) -> StreamConsumer {
    let consumer = kafka_bus::consumer(
        kafka,
        group,
        kafka_bus::rdkafka::consumer::DefaultConsumerContext,
        &[],
    )
    .unwrap();
    kafka_bus::subscribe(&consumer, kafka, &[topic]).unwrap();
    consumer
}

/// Plays the booking processor: records every command and answers each
/// `OfferHold` with the `HoldPlaced` booking would produce.
async fn fake_booking_processor(
    consumer: StreamConsumer,
    producer: Producer,
    commands: Arc<Mutex<Vec<BookingCommand>>>,
    refused: Arc<Mutex<Vec<UserId>>>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = consumer.recv() => m,
        };
        let Ok(message) = message else { continue };
        let Ok(envelope) = kafka_bus::decode::<BookingCommand>(&message) else {
            continue;
        };
        if let BookingCommand::OfferHold {
            request_id,
            event_id,
            user_id,
            waitlist_entry_id,
            seats,
            ttl_secs,
        } = &envelope.payload
        {
            if refused.lock().unwrap().contains(user_id) {
                let rejected = Envelope::new(BookingOutcome::HoldRejected {
                    request_id: *request_id,
                    event_id: *event_id,
                    reason: RejectReason::TicketLimit,
                    detail: "over the ticket limit".into(),
                    unavailable_seats: vec![],
                    waitlist_entry_id: Some(*waitlist_entry_id),
                });
                producer
                    .publish(
                        topics::BOOKING_EVENTS,
                        &event_id.to_string(),
                        &rejected,
                        None,
                    )
                    .await
                    .unwrap();
                commands.lock().unwrap().push(envelope.payload);
                continue;
            }
            let placed = Envelope::new(BookingOutcome::HoldPlaced {
                request_id: *request_id,
                hold_id: HoldId::new(),
                event_id: *event_id,
                user_id: *user_id,
                seats: seats.seat_ids.clone(),
                section_id: seats.seat_ids.is_empty().then_some(seats.section_id),
                quantity: seats.quantity,
                total_price: 5000 * i64::from(seats.quantity),
                currency: Currency::parse("USD").unwrap(),
                expires_at: Utc::now() + chrono::Duration::seconds(i64::from(*ttl_secs)),
                waitlist_entry_id: Some(*waitlist_entry_id),
            });
            producer
                .publish(topics::BOOKING_EVENTS, &event_id.to_string(), &placed, None)
                .await
                .unwrap();
        }
        commands.lock().unwrap().push(envelope.payload);
    }
}

async fn collect_waitlist_events(
    consumer: StreamConsumer,
    events: Arc<Mutex<Vec<WaitlistEvent>>>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = consumer.recv() => m,
        };
        if let Ok(message) = message {
            if let Ok(envelope) = kafka_bus::decode::<WaitlistEvent>(&message) {
                events.lock().unwrap().push(envelope.payload);
            }
        }
    }
}

async fn spawn_app() -> TestApp {
    test_support::init_tracing();
    let database = test_support::fresh_database("waitlist", &MIGRATOR).await;
    let kafka = test_support::isolated_kafka().await;
    let tokens = TestTokens::start().await;
    let stock: Stock = Arc::default();
    let mut settings = Settings::for_tests(database, kafka.clone(), tokens.verify_settings());
    settings.booking_url = fake_availability(stock.clone()).await;
    let shutdown = CancellationToken::new();
    let app = Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let producer = Producer::new(&kafka).unwrap();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(fake_booking_processor(
        reader(&kafka, "fake-booking", topics::BOOKING_CREATE),
        producer.clone(),
        commands.clone(),
        refused.clone(),
        shutdown.clone(),
    ));
    let waitlist_events = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(collect_waitlist_events(
        reader(&kafka, "fake-feed", topics::WAITLIST_EVENTS),
        waitlist_events.clone(),
        shutdown.clone(),
    ));
    TestApp {
        base,
        http: reqwest::Client::new(),
        tokens,
        producer,
        stock,
        commands,
        refused,
        waitlist_events,
        shutdown,
    }
}

struct Customer {
    id: UserId,
    token: String,
}

impl TestApp {
    fn customer(&self) -> Customer {
        let id = UserId::new();
        Customer {
            id,
            token: self.tokens.token(id, Role::Customer),
        }
    }

    /// A sold-out event with the given sections.
    fn sold_out(&self, sections: &[SectionId]) -> EventId {
        let event = EventId::new();
        self.stock
            .lock()
            .unwrap()
            .insert(event, (0, sections.iter().map(|s| (*s, 0)).collect()));
        event
    }

    async fn join(&self, who: &Customer, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/waitlist/join", self.base))
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn status(&self, who: &Customer, event: EventId) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/api/v1/waitlist/status/{event}", self.base))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn leave(&self, who: &Customer, event: EventId) -> (u16, Value) {
        let response = self
            .http
            .delete(format!("{}/api/v1/waitlist/{event}", self.base))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn booking_says(
        &self,
        event: EventId,
        outcome: BookingOutcome,
    ) -> Envelope<BookingOutcome> {
        let envelope = Envelope::new(outcome);
        self.resend(event, &envelope).await;
        envelope
    }

    async fn resend(&self, event: EventId, envelope: &Envelope<BookingOutcome>) {
        self.producer
            .publish(topics::BOOKING_EVENTS, &event.to_string(), envelope, None)
            .await
            .unwrap();
    }

    async fn wait_status(&self, who: &Customer, event: EventId, status: &str) -> Value {
        wait_for(
            &format!("status {status}"),
            Duration::from_secs(30),
            || async {
                let (_, body) = self.status(who, event).await;
                (body["status"] == status).then_some(body)
            },
        )
        .await
    }

    fn offers(&self) -> Vec<(UserId, SeatSelection)> {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                BookingCommand::OfferHold { user_id, seats, .. } => Some((*user_id, seats.clone())),
                _ => None,
            })
            .collect()
    }

    fn count_commands(&self, pred: impl Fn(&BookingCommand) -> bool) -> usize {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .filter(|c| pred(c))
            .count()
    }

    async fn wait_commands(&self, what: &str, n: usize, pred: impl Fn(&BookingCommand) -> bool) {
        wait_for(what, Duration::from_secs(30), || async {
            (self.count_commands(&pred) >= n).then_some(())
        })
        .await;
    }
}

fn released(event: EventId, section: SectionId, seats: &[&str], price: i64) -> BookingOutcome {
    BookingOutcome::SeatsReleasedToWaitlist {
        event_id: event,
        seats: SeatSelection {
            section_id: section,
            seat_ids: seats.iter().map(|s| SeatId::parse(*s).unwrap()).collect(),
            quantity: seats.len() as u32,
        },
        price,
        currency: Currency::parse("USD").unwrap(),
    }
}

#[tokio::test]
async fn join_status_and_leave_follow_the_contract() {
    let app = spawn_app().await;
    let section = SectionId::new();
    let event = app.sold_out(&[section]);
    let (a, b) = (app.customer(), app.customer());

    let (status, body) = app
        .join(&a, json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section, "max_price": 9000}}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "waiting");
    assert_eq!(body["position"], 1);
    let (status, body) = app
        .join(&b, json!({"event_id": event, "quantity": 2}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["position"], 2);

    // One live entry per user and event.
    let (status, body) = app
        .join(&a, json!({"event_id": event, "quantity": 1}))
        .await;
    assert_eq!(status, 409);
    assert!(body["type"].as_str().unwrap().ends_with("already-waiting"));

    // Booking heard that people are waiting, once.
    app.wait_commands(
        "WaitlistActivated",
        1,
        |c| matches!(c, BookingCommand::WaitlistActivated { event_id } if *event_id == event),
    )
    .await;

    // Bad input names its field; nobody waits for what is on sale.
    let c = app.customer();
    let (status, body) = app
        .join(
            &c,
            json!({"event_id": event, "quantity": 0, "preferences": {"max_price": -5}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["quantity", "preferences.max_price"]);
    let (status, body) = app
        .join(&c, json!({"event_id": event, "quantity": 1, "preferences": {"section_id": SectionId::new()}}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "preferences.section_id");
    let (status, body) = app
        .join(&c, json!({"event_id": "nope", "quantity": 1}))
        .await;
    assert_eq!(status, 422, "{body}");
    let on_sale = EventId::new();
    app.stock
        .lock()
        .unwrap()
        .insert(on_sale, (3, vec![(section, 3)]));
    let (status, body) = app
        .join(&c, json!({"event_id": on_sale, "quantity": 1}))
        .await;
    assert_eq!(status, 409);
    assert!(body["type"].as_str().unwrap().ends_with("seats-available"));
    let (status, _) = app
        .join(&c, json!({"event_id": EventId::new(), "quantity": 1}))
        .await;
    assert_eq!(status, 404);
    let anonymous = Customer {
        id: UserId::new(),
        token: "x".into(),
    };
    let (status, _) = app
        .join(&anonymous, json!({"event_id": event, "quantity": 1}))
        .await;
    assert_eq!(status, 401);

    // Status: positions among those still waiting.
    let (_, body) = app.status(&b, event).await;
    assert_eq!(body["position"], 2);
    assert_eq!(body["quantity"], 2);
    let (status, _) = app.status(&c, event).await;
    assert_eq!(status, 404);

    // Leave: A is out, B moves up.
    let (status, body) = app.leave(&a, event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "left");
    let (_, body) = app.status(&b, event).await;
    assert_eq!(body["position"], 1);
    let (_, body) = app.status(&a, event).await;
    assert_eq!(body["status"], "left");
    assert!(body["position"].is_null());
    let (status, _) = app.leave(&a, event).await;
    assert_eq!(status, 404);
    // Leaving is not forever: A may join again, at the end of the line.
    let (status, body) = app
        .join(&a, json!({"event_id": event, "quantity": 1}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["position"], 2);

    // When the last one leaves, booking hears nobody waits any more.
    app.leave(&a, event).await;
    app.leave(&b, event).await;
    app.wait_commands(
        "WaitlistDeactivated",
        1,
        |c| matches!(c, BookingCommand::WaitlistDeactivated { event_id } if *event_id == event),
    )
    .await;
    assert_eq!(
        app.count_commands(|c| matches!(c, BookingCommand::WaitlistActivated { .. })),
        1
    );
    wait_for(
        "Joined and Left on waitlist.events",
        Duration::from_secs(30),
        || async {
            let events = app.waitlist_events.lock().unwrap();
            let joined = events
                .iter()
                .filter(|e| matches!(e, WaitlistEvent::Joined { .. }))
                .count();
            let left = events
                .iter()
                .filter(|e| matches!(e, WaitlistEvent::Left { .. }))
                .count();
            (joined == 3 && left == 3).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn freed_seats_go_to_the_first_entry_whose_preferences_they_match() {
    let app = spawn_app().await;
    let (section_a, section_b) = (SectionId::new(), SectionId::new());
    let event = app.sold_out(&[section_a, section_b]);
    let wants_two = app.customer();
    let wants_b = app.customer();
    let too_cheap = app.customer();
    let fits = app.customer();
    let anything = app.customer();
    for (who, body) in [
        (
            &wants_two,
            json!({"event_id": event, "quantity": 2, "preferences": {"section_id": section_a}}),
        ),
        (
            &wants_b,
            json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section_b}}),
        ),
        (
            &too_cheap,
            json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section_a, "max_price": 3000}}),
        ),
        (
            &fits,
            json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section_a, "max_price": 6000}}),
        ),
        (&anything, json!({"event_id": event, "quantity": 1})),
    ] {
        let (status, body) = app.join(who, body).await;
        assert_eq!(status, 201, "{body}");
    }

    // One seat in A at 50.00: too few for the first entry, wrong section for
    // the second, too dear for the third: the fourth gets it.
    let one = app
        .booking_says(event, released(event, section_a, &["A-1"], 5000))
        .await;
    let offer = app.wait_status(&fits, event, "offered").await;
    assert_eq!(offer["offer"]["seats"], json!(["A-1"]));
    assert!(offer["offer"]["hold_id"].is_string());
    assert!(offer["offer"]["expires_at"].is_string());
    assert!(offer["position"].is_null());
    let (_, first) = app.status(&wants_two, event).await;
    assert_eq!(first["status"], "waiting");
    assert_eq!(
        first["position"], 1,
        "an entry wanting 2 keeps its place while 1 is free"
    );

    // A redelivered release has no second effect.
    app.resend(event, &one).await;
    // Two seats in A: now the first entry gets both.
    app.booking_says(event, released(event, section_a, &["A-2", "A-3"], 5000))
        .await;
    let offer = app.wait_status(&wants_two, event, "offered").await;
    assert_eq!(offer["offer"]["seats"], json!(["A-2", "A-3"]));
    assert_eq!(offer["offer"]["quantity"], 2);

    // A general-admission place in B goes to the B entry.
    let ga = BookingOutcome::SeatsReleasedToWaitlist {
        event_id: event,
        seats: SeatSelection {
            section_id: section_b,
            seat_ids: vec![],
            quantity: 1,
        },
        price: 2000,
        currency: Currency::parse("USD").unwrap(),
    };
    app.booking_says(event, ga).await;
    let offer = app.wait_status(&wants_b, event, "offered").await;
    assert_eq!(offer["offer"]["section_id"], json!(section_b));
    assert_eq!(offer["offer"]["quantity"], 1);

    // Two seats in A at 20.00: the no-preference entry takes one; the cheap
    // one (max 30.00) the other; nothing is left for sale.
    app.booking_says(event, released(event, section_a, &["A-4", "A-5"], 2000))
        .await;
    app.wait_status(&anything, event, "offered").await;
    app.wait_status(&too_cheap, event, "offered").await;

    // Nobody is left waiting: the next seat goes back on sale.
    app.booking_says(event, released(event, section_a, &["A-6"], 2000))
        .await;
    app.wait_commands("ReturnToSale", 1, |c| {
        matches!(c, BookingCommand::ReturnToSale { .. })
    })
    .await;
    let offers = app.offers();
    assert_eq!(
        offers.len(),
        5,
        "one offer per entry, none twice: {offers:?}"
    );
    assert_eq!(offers[0].0, fits.id);
    assert_eq!(offers[1].0, wants_two.id);
    assert_eq!(offers[2].0, wants_b.id);
    let returned: Vec<_> = app
        .commands
        .lock()
        .unwrap()
        .iter()
        .filter_map(|c| match c {
            BookingCommand::ReturnToSale { seats, .. } => Some(seats.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(returned.len(), 1);
    assert_eq!(returned[0].seat_ids, vec![SeatId::parse("A-6").unwrap()]);

    // waitlist.events told everyone about their offer.
    wait_for("five OfferMade", Duration::from_secs(30), || async {
        let n = app
            .waitlist_events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, WaitlistEvent::OfferMade { .. }))
            .count();
        (n == 5).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_expired_offer_moves_on_to_the_next_entry_and_a_confirmed_one_is_accepted() {
    let app = spawn_app().await;
    let section = SectionId::new();
    let event = app.sold_out(&[section]);
    let (b, c) = (app.customer(), app.customer());
    app.join(
        &b,
        json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section}}),
    )
    .await;
    app.join(
        &c,
        json!({"event_id": event, "quantity": 1, "preferences": {"section_id": section}}),
    )
    .await;

    app.booking_says(event, released(event, section, &["A-1"], 5000))
        .await;
    let offer = app.wait_status(&b, event, "offered").await;
    let b_hold: HoldId = offer["offer"]["hold_id"].as_str().unwrap().parse().unwrap();
    let (_, waiting) = app.status(&c, event).await;
    assert_eq!(waiting["status"], "waiting");
    assert_eq!(waiting["position"], 1);
    assert_eq!(
        app.offers().len(),
        1,
        "C gets nothing while B's offer stands"
    );

    // B lets the offer lapse: booking expires the hold and parks the seat again.
    app.booking_says(
        event,
        BookingOutcome::HoldExpired {
            hold_id: b_hold,
            event_id: event,
            user_id: b.id,
            waitlist_entry_id: Some(
                offer["id"]
                    .as_str()
                    .unwrap()
                    .parse::<WaitlistEntryId>()
                    .unwrap(),
            ),
        },
    )
    .await;
    app.booking_says(event, released(event, section, &["A-1"], 5000))
        .await;
    let offer_c = app.wait_status(&c, event, "offered").await;
    assert_eq!(offer_c["offer"]["seats"], json!(["A-1"]));
    let (_, expired) = app.status(&b, event).await;
    assert_eq!(expired["status"], "expired");
    assert!(expired.get("offer").is_none());

    // C confirms like any hold.
    let c_hold: HoldId = offer_c["offer"]["hold_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.booking_says(
        event,
        BookingOutcome::BookingConfirmed {
            request_id: RequestId::new(),
            booking_id: BookingId::new(),
            reference: "EVT-C".into(),
            hold_id: c_hold,
            event_id: event,
            user_id: c.id,
            seats: vec![SeatId::parse("A-1").unwrap()],
            section_id: None,
            quantity: 1,
            total_price: 5000,
            currency: Currency::parse("USD").unwrap(),
            payment_id: "pay".into(),
            waitlist_entry_id: Some(offer_c["id"].as_str().unwrap().parse().unwrap()),
        },
    )
    .await;
    app.wait_status(&c, event, "accepted").await;
    // Nobody waits any more: booking was told.
    app.wait_commands("WaitlistDeactivated", 1, |c| {
        matches!(c, BookingCommand::WaitlistDeactivated { .. })
    })
    .await;
    wait_for(
        "OfferExpired and OfferAccepted",
        Duration::from_secs(30),
        || async {
            let events = app.waitlist_events.lock().unwrap();
            let expired = events.iter().any(
                |e| matches!(e, WaitlistEvent::OfferExpired { user_id, .. } if *user_id == b.id),
            );
            let accepted = events.iter().any(
                |e| matches!(e, WaitlistEvent::OfferAccepted { user_id, .. } if *user_id == c.id),
            );
            (expired && accepted).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn leaving_with_an_offer_releases_its_hold() {
    let app = spawn_app().await;
    let section = SectionId::new();
    let event = app.sold_out(&[section]);
    let b = app.customer();
    app.join(&b, json!({"event_id": event, "quantity": 1}))
        .await;
    app.booking_says(event, released(event, section, &["A-9"], 5000))
        .await;
    let offer = app.wait_status(&b, event, "offered").await;
    let hold: HoldId = offer["offer"]["hold_id"].as_str().unwrap().parse().unwrap();
    let (status, body) = app.leave(&b, event).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "left");
    app.wait_commands("ReleaseHold", 1, |c| {
        matches!(c, BookingCommand::ReleaseHold { hold_id, user_id, .. } if *hold_id == hold && *user_id == b.id)
    })
    .await;
}

#[tokio::test]
async fn an_offer_booking_refuses_passes_the_seats_to_the_next_entry() {
    let app = spawn_app().await;
    let section = SectionId::new();
    let event = app.sold_out(&[section]);
    let (b, c) = (app.customer(), app.customer());
    app.refused.lock().unwrap().push(b.id);
    app.join(&b, json!({"event_id": event, "quantity": 1}))
        .await;
    app.join(&c, json!({"event_id": event, "quantity": 1}))
        .await;
    app.booking_says(event, released(event, section, &["A-1"], 5000))
        .await;
    let offer = app.wait_status(&c, event, "offered").await;
    assert_eq!(offer["offer"]["seats"], json!(["A-1"]));
    let (_, refused) = app.status(&b, event).await;
    assert_eq!(refused["status"], "expired");
    let offers: Vec<UserId> = app.offers().into_iter().map(|(u, _)| u).collect();
    assert_eq!(offers, vec![b.id, c.id]);
    assert_eq!(
        app.count_commands(|c| matches!(c, BookingCommand::ReturnToSale { .. })),
        0
    );
}

#[tokio::test]
async fn a_cancelled_event_closes_its_waitlist() {
    let app = spawn_app().await;
    let section = SectionId::new();
    let event = app.sold_out(&[section]);
    let b = app.customer();
    app.join(&b, json!({"event_id": event, "quantity": 1}))
        .await;
    app.booking_says(event, BookingOutcome::EventSalesClosed { event_id: event })
        .await;
    app.wait_status(&b, event, "expired").await;
    app.wait_commands(
        "WaitlistDeactivated",
        1,
        |c| matches!(c, BookingCommand::WaitlistDeactivated { event_id } if *event_id == event),
    )
    .await;
}
