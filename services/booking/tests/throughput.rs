//! Throughput of the booking core on this machine. Ignored by default (it is
//! a measurement, not a check); run with
//! `cargo test -p booking --test throughput -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use common_types::messages::booking::BookingCommand;
use common_types::{topics, Envelope, RequestId, Role, UserId};
use reqwest::StatusCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::wait_for;

const EVENTS: usize = 12;
const CAPACITY: u32 = 20_000;

async fn setup() -> (World, TestApp, Vec<TestEvent>) {
    let mut world = World::new().await;
    world.kafka.partitions = 12;
    let app = world.spawn().await;
    let events: Vec<TestEvent> = (0..EVENTS)
        .map(|_| TestEvent::new(10, CAPACITY, None))
        .collect();
    for e in &events {
        world.publish(&e.snapshot).await;
    }
    for e in &events {
        app.wait_for_inventory(e.id()).await;
    }
    (world, app, events)
}

/// The processor alone: a backlog of hold commands is produced while no
/// processor runs, then one instance starts and drains it. Measured from its
/// first committed batch to its last, so broker ingest speed does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "measurement; run explicitly"]
async fn processor_throughput_for_hold_commands() {
    let (world, mut app, events) = setup().await;
    app.stop().await;
    let n: usize = std::env::var("BOOKING_BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let producer = kafka_bus::Producer::new(&world.kafka).unwrap();
    let produce_start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let sends = chunk.iter().map(|i| {
            let e = &events[i % EVENTS];
            let command = BookingCommand::HoldQuantity {
                request_id: RequestId::new(),
                event_id: e.id(),
                user_id: UserId::new(),
                section_id: e.general,
                quantity: 1,
                hold_ttl_secs: None,
            };
            let producer = producer.clone();
            let key = e.id().to_string();
            async move {
                producer
                    .publish(topics::BOOKING_CREATE, &key, &Envelope::new(command), None)
                    .await
                    .unwrap()
            }
        });
        futures::future::join_all(sends).await;
    }
    let produced = produce_start.elapsed();
    let app = world.spawn().await;
    let spawned = Instant::now();
    let first = wait_for("the first batch", Duration::from_secs(60), || async {
        eprintln!(
            "t+{:.1}s owned={} received={} commands={}",
            spawned.elapsed().as_secs_f64(),
            app.stats.owned_partitions.load(Ordering::SeqCst),
            app.stats.received.load(Ordering::SeqCst),
            app.stats.commands.load(Ordering::SeqCst)
        );
        (app.stats.commands.load(Ordering::SeqCst) > 0).then(Instant::now)
    })
    .await;
    let first_count = app.stats.commands.load(Ordering::SeqCst);
    println!(
        "processor: first batch {:.1}s after start (group join, claim, load)",
        spawned.elapsed().as_secs_f64()
    );
    wait_for(
        "every command decided and committed",
        Duration::from_secs(600),
        || async { (app.stats.commands.load(Ordering::SeqCst) >= n as u64).then_some(()) },
    )
    .await;
    let elapsed = first.elapsed();
    let drained = n as u64 - first_count;
    let batches = app.stats.batches.load(Ordering::SeqCst);
    let busy = app.stats.busy_us.load(Ordering::SeqCst) as f64 / 1e6;
    println!(
        "processor: busy {busy:.2}s for {n} commands = {:.0} commands/s of processor capacity \
         (decide + one transaction per partition per batch + outbox + enqueue outcomes)",
        n as f64 / busy
    );
    println!(
        "processor: drained {drained} hold commands (decide + one transaction per partition batch + \
         outbox + publish) in {:.2}s = {:.0} commands/s; {batches} batches \
         (backlog of {n} produced in {:.2}s = {:.0} msg/s into the broker)",
        elapsed.as_secs_f64(),
        drained as f64 / elapsed.as_secs_f64(),
        produced.as_secs_f64(),
        n as f64 / produced.as_secs_f64(),
    );
    let pool = world.pool().await;
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM holds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(holds, n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "measurement; run explicitly"]
async fn http_hold_throughput_and_latency() {
    let (world, app, events) = setup().await;
    let n: usize = std::env::var("BOOKING_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let concurrency: usize = 128;
    let app = Arc::new(app);
    let events = Arc::new(events);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|_| world.token(UserId::new(), Role::Customer))
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (app, events, tokens, next) =
            (app.clone(), events.clone(), tokens.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let e = &events[i % EVENTS];
                let t0 = Instant::now();
                let r = app.hold_ga(&tokens[i], e.id(), e.general, 1).await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "http: {n} holds through the API ({concurrency} concurrent) in {:.2}s = {:.0} holds/s; \
         latency p50 {:?} p99 {:?} max {:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
}
