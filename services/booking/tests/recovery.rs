//! Exactly once across a crash and a rebalance: commands decided but not
//! committed are decided again by the next owner; nothing is applied twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use booking::processor::CrashSwitch;
use booking::startup::Hooks;
use common::*;
use common_types::{Role, UserId};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;
use test_support::wait_for;

async fn settle(app: &TestApp, token: &str, reply: Reply) -> Reply {
    app.settle(token, reply).await
}

async fn count(world: &World, sql: &str) -> i64 {
    let pool = world.pool().await;
    sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_processor_that_dies_between_deciding_and_committing_loses_nothing_and_doubles_nothing() {
    let world = World::new().await;
    let crash = CrashSwitch::default();
    let mut settings = world.settings();
    settings.booking.reply_timeout_ms = 1500;
    let hooks = Hooks {
        crash: crash.clone(),
        payments: None,
    };
    let app1 = world.spawn_with(settings, hooks).await;
    let event = TestEvent::new(4, 50, None);
    world.publish(&event.snapshot).await;
    app1.wait_for_inventory(event.id()).await;

    // Before the crash: 5 holds, 2 confirmed.
    let mut tokens = Vec::new();
    for i in 0..5 {
        let t = world.token(UserId::new(), Role::Customer);
        let hold = app1.hold_ga(&t, event.id(), event.general, 2).await;
        assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        if i < 2 {
            let b = app1.confirm(&t, &hold.body["hold_id"], CARD_OK).await;
            assert_eq!(b.status, StatusCode::CREATED);
        }
        tokens.push(t);
    }

    // The next batch is decided in memory, then the process "dies".
    crash.arm();
    let mut pending = Vec::new();
    for _ in 0..5 {
        let t = world.token(UserId::new(), Role::Customer);
        let r = app1.hold_ga(&t, event.id(), event.general, 3).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "not decided: {}", r.body);
        pending.push((t, r));
    }
    assert!(app1.stats.crashed.load(Ordering::SeqCst));
    // Nothing of it reached the database.
    assert_eq!(
        count(&world, "SELECT count(*) FROM holds").await,
        5,
        "a crash before commit writes nothing"
    );

    // A new instance takes the partitions over and decides them again.
    let app2 = world.spawn().await;
    let mut placed = 0;
    for (t, r) in pending {
        let answer = settle(&app2, &t, r).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        placed += 1;
    }
    assert_eq!(placed, 5);

    // Same state as without the crash: 10 holds (2 confirmed), 10 + 15 places gone.
    assert_eq!(count(&world, "SELECT count(*) FROM holds").await, 10);
    assert_eq!(count(&world, "SELECT count(*) FROM bookings").await, 2);
    assert_eq!(
        count(&world, "SELECT count(*) FROM command_results").await,
        12,
        "5 + 2 + 5 decided commands, none twice"
    );
    let pool = world.pool().await;
    let available: i32 = sqlx::query_scalar("SELECT available FROM sections WHERE section_id = $1")
        .bind(event.general.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(available, 50 - 10 - 15);
    let layout = app2
        .get(
            &format!("/api/v1/events/{}/seats/available", event.id()),
            None,
        )
        .await;
    assert_eq!(layout.body["available"], 4 + 25);

    // And it keeps going.
    let t = world.token(UserId::new(), Role::Customer);
    assert_eq!(
        app2.hold_ga(&t, event.id(), event.general, 1).await.status,
        StatusCode::CREATED
    );
    drop(tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_split_partitions_and_one_stopping_mid_stream_loses_nothing() {
    let world = World::new().await;
    let mut app1 = world.spawn().await;
    let app2 = world.spawn().await;
    let events: Vec<TestEvent> = (0..6).map(|_| TestEvent::new(2, 100, None)).collect();
    for e in &events {
        world.publish(&e.snapshot).await;
    }
    for e in &events {
        app2.wait_for_inventory(e.id()).await;
    }
    wait_for(
        "both instances to own partitions",
        Duration::from_secs(30),
        || async {
            let (a, b) = (
                app1.stats.owned_partitions.load(Ordering::SeqCst),
                app2.stats.owned_partitions.load(Ordering::SeqCst),
            );
            (a > 0 && b > 0 && a + b == 3).then_some(())
        },
    )
    .await;

    const REQUESTS: usize = 120;
    let mut answers: Vec<(String, Reply)> = Vec::new();
    let mut stopped = false;
    for i in 0..REQUESTS {
        if i == REQUESTS / 2 {
            // Stop one instance mid-stream (its partitions move to the other).
            app1.stop().await;
            stopped = true;
        }
        let e = &events[i % events.len()];
        let t = world.token(UserId::new(), Role::Customer);
        let via = if !stopped && i % 2 == 0 { &app1 } else { &app2 };
        let r = via.hold_ga(&t, e.id(), e.general, 1).await;
        answers.push((t, r));
    }
    let mut created = 0;
    for (t, r) in answers {
        let r = settle(&app2, &t, r).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        created += 1;
    }
    assert_eq!(created, REQUESTS);
    wait_for(
        "the survivor to own every partition",
        Duration::from_secs(30),
        || async { (app2.stats.owned_partitions.load(Ordering::SeqCst) == 3).then_some(()) },
    )
    .await;

    // Each request took effect once.
    assert_eq!(
        count(&world, "SELECT count(*) FROM holds").await,
        REQUESTS as i64
    );
    let sold: i64 = count(
        &world,
        "SELECT (sum(capacity) - sum(available))::int8 FROM sections WHERE kind = 'general'",
    )
    .await;
    assert_eq!(sold, REQUESTS as i64);
    let per_event: Vec<Value> = {
        let mut v = Vec::new();
        for e in &events {
            let a = app2
                .get(&format!("/api/v1/events/{}/seats/available", e.id()), None)
                .await;
            v.push(a.body["available"].clone());
        }
        v
    };
    let total: i64 = per_event.iter().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(total, (events.len() as i64) * 102 - REQUESTS as i64);
    // The stopped instance's generations were superseded.
    let generations: i64 = count(&world, "SELECT min(generation) FROM partition_offsets").await;
    assert!(generations >= 2, "every partition was claimed again");
}

/// Without an idempotent producer a retried send can store a command twice,
/// not necessarily next to each other — even after the hold it placed was
/// released, and after the partition moved to a new instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_the_broker_holds_twice_takes_effect_once() {
    use common_types::messages::booking::BookingCommand;
    use common_types::{topics, Envelope, RequestId};

    let world = World::new().await;
    let mut app1 = world.spawn().await;
    let event = TestEvent::new(2, 10, None);
    world.publish(&event.snapshot).await;
    app1.wait_for_inventory(event.id()).await;

    let buyer = UserId::new();
    let token = world.token(buyer, Role::Customer);
    let request_id = RequestId::new();
    let duplicate = Envelope::with_id(
        request_id.0,
        BookingCommand::HoldQuantity {
            request_id,
            event_id: event.id(),
            user_id: buyer,
            section_id: event.general,
            quantity: 4,
            hold_ttl_secs: None,
        },
    );
    let producer = kafka_bus::Producer::new(&world.kafka).unwrap();
    let key = event.id().to_string();
    let send_copy = || async {
        producer
            .publish(topics::BOOKING_CREATE, &key, &duplicate, None)
            .await
            .unwrap();
    };
    let available_path = format!("/api/v1/events/{}/seats/available", event.id());
    let pool = world.pool().await;
    let held_by_buyer = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM holds WHERE user_id = $1")
            .bind(buyer.0)
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    send_copy().await;
    wait_for(
        "the first copy to be decided",
        Duration::from_secs(30),
        || async { (held_by_buyer().await == 1).then_some(()) },
    )
    .await;
    // The buyer lets the hold go; a late copy must not take the places again.
    let hold_id: uuid::Uuid = sqlx::query_scalar("SELECT hold_id FROM holds WHERE user_id = $1")
        .bind(buyer.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    let released = app1
        .delete(&format!("/api/v1/seats/hold/{hold_id}"), &token)
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    send_copy().await;
    // A later command on the same partition is decided after the copy.
    let other = world.token(UserId::new(), Role::Customer);
    let marker = app1.hold_ga(&other, event.id(), event.general, 1).await;
    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.body);
    assert_eq!(held_by_buyer().await, 1, "the copy placed a second hold");
    assert_eq!(
        app1.get(&available_path, None).await.body["available"],
        11,
        "2 seats + 10 places, 1 held"
    );

    // A new owner remembers what its predecessor decided.
    app1.stop().await;
    let app2 = world.spawn().await;
    send_copy().await;
    let marker = app2.hold_ga(&other, event.id(), event.general, 1).await;
    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.body);
    assert_eq!(
        held_by_buyer().await,
        1,
        "the copy placed a hold after the restart"
    );
    assert_eq!(app2.get(&available_path, None).await.body["available"], 10);
}
