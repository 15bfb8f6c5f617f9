//! `broker-roundtrip`: produce → consume through the broker with the clients
//! the services use (`kafka-bus`: idempotent producer, acks=all, the same
//! linger; a consumer-group consumer), to show the ceiling that the booking
//! path — the command's hop to the processor in every hold — sits under.

use crate::cli::BrokerArgs;
use crate::report::OpSummary;
use crate::scenario::write_json;
use crate::stats::{new_histogram, OpStats};
use anyhow::Context as _;
use futures::StreamExt as _;
use kafka_bus::rdkafka::consumer::{Consumer as _, DefaultConsumerContext};
use kafka_bus::rdkafka::Message as _;
use serde::{Deserialize, Serialize};
use settings::KafkaSettings;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "roundtrip";

#[derive(Serialize, Deserialize)]
struct Ping {
    seq: u64,
    /// Microseconds after the run's origin (one process, one monotonic clock).
    sent_us: u64,
    pad: String,
}

#[derive(Debug, Serialize)]
pub struct BrokerSummary {
    pub messages: u64,
    pub received: u64,
    pub duplicates: u64,
    pub produce_per_sec: f64,
    pub roundtrip_per_sec: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p90_ms: f64,
    pub e2e_p99_ms: f64,
    pub e2e_p999_ms: f64,
    pub e2e_max_ms: f64,
    pub linger_ms: u32,
    pub partitions: i32,
    pub payload_bytes: usize,
}

pub async fn run(args: &BrokerArgs) -> anyhow::Result<BrokerSummary> {
    let run_id = crate::scenario::setup::new_run_id();
    let mut settings = KafkaSettings {
        brokers: args.brokers.clone(),
        topic_prefix: format!("loadsim-{run_id}-"),
        group_prefix: format!("loadsim-{run_id}-"),
        partitions: args.partitions,
        ..KafkaSettings::default()
    };
    if let Some(linger) = args.linger_ms {
        settings.linger_ms = linger;
    }
    // No separate `kafka_bus::ping`: creating the scratch topic is the first
    // request, and its error below names the broker that did not answer.
    kafka_bus::ensure_topics(&settings, &[TOPIC])
        .await
        .with_context(|| {
            format!(
                "cannot create a scratch topic on the broker at {} (is it up? pass --brokers)",
                args.brokers
            )
        })?;
    let producer = kafka_bus::Producer::new(&settings)?;
    producer.warm_up(&[TOPIC]).await?;
    let consumer = Arc::new(kafka_bus::consumer(
        &settings,
        TOPIC,
        DefaultConsumerContext,
        &[],
    )?);
    kafka_bus::subscribe(&consumer, &settings, &[TOPIC])?;

    let empty = new_histogram()?;
    let e2e = Arc::new(OpStats::new(&empty));
    let ack = OpStats::new(&empty);
    let received = Arc::new(AtomicU64::new(0));
    let duplicates = Arc::new(AtomicU64::new(0));
    let last_received_us = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    let seen = Arc::new(Mutex::new(HashSet::<u64>::new()));

    let reader = {
        let consumer = Arc::clone(&consumer);
        let (e2e, received, duplicates, last, seen) = (
            Arc::clone(&e2e),
            Arc::clone(&received),
            Arc::clone(&duplicates),
            Arc::clone(&last_received_us),
            Arc::clone(&seen),
        );
        tokio::spawn(async move {
            loop {
                let Ok(message) = consumer.recv().await else {
                    continue;
                };
                let now = micros(origin.elapsed());
                let Some(ping) = message
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Ping>(p).ok())
                else {
                    continue;
                };
                let fresh = seen.lock().map(|mut s| s.insert(ping.seq)).unwrap_or(true);
                if !fresh {
                    duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                e2e.record(Duration::from_micros(now.saturating_sub(ping.sent_us)), 200);
                received.fetch_add(1, Ordering::Relaxed);
                last.fetch_max(now, Ordering::Relaxed);
            }
        })
    };

    // Join the group before timing, or the first messages would carry the rebalance.
    let joined = Instant::now();
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        anyhow::ensure!(
            joined.elapsed() < Duration::from_secs(30),
            "the consumer got no partitions within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    eprintln!(
        "producing {} messages of ~{} bytes to {} partitions, {} in flight, linger {} ms",
        args.messages, args.payload_bytes, args.partitions, args.in_flight, settings.linger_ms
    );
    let pad = "x".repeat(args.payload_bytes.saturating_sub(40));
    let bar = indicatif::ProgressBar::new(args.messages);
    let start = micros(origin.elapsed());
    let results: Vec<bool> = futures::stream::iter(0..args.messages)
        .map(|seq| {
            let (producer, pad, ack, bar) = (&producer, &pad, &ack, &bar);
            async move {
                let ping = Ping {
                    seq,
                    sent_us: micros(origin.elapsed()),
                    pad: pad.clone(),
                };
                let Ok(payload) = serde_json::to_vec(&ping) else {
                    return false;
                };
                let key = format!("event-{}", seq % 997);
                let sent = Instant::now();
                let result = producer
                    .publish_raw(TOPIC, &key, &payload, "LoadsimPing", None)
                    .await;
                ack.record(sent.elapsed(), if result.is_ok() { 200 } else { 500 });
                bar.inc(1);
                result.is_ok()
            }
        })
        .buffer_unordered(args.in_flight.max(1))
        .collect()
        .await;
    let produced_us = micros(origin.elapsed()) - start;
    bar.finish_and_clear();
    let failed = results.iter().filter(|ok| !**ok).count();
    if failed > 0 {
        eprintln!("warning: {failed} messages were not acknowledged");
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let expected = args.messages - failed as u64;
    while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();

    let got = received.load(Ordering::Relaxed);
    let secs = |us: u64| us as f64 / 1e6;
    let roundtrip_us = last_received_us
        .load(Ordering::Relaxed)
        .saturating_sub(start);
    let op = |stats: &OpStats| {
        stats
            .histogram()
            .map(|h| OpSummary::new(&h, stats.statuses(), stats.ok(), 0.0, 0.0))
            .unwrap_or_default()
    };
    let (a, e) = (op(&ack), op(&e2e));
    let summary = BrokerSummary {
        messages: args.messages,
        received: got,
        duplicates: duplicates.load(Ordering::Relaxed),
        produce_per_sec: args.messages as f64 / secs(produced_us).max(1e-9),
        roundtrip_per_sec: got as f64 / secs(roundtrip_us).max(1e-9),
        ack_p50_ms: a.p50_ms,
        ack_p99_ms: a.p99_ms,
        e2e_p50_ms: e.p50_ms,
        e2e_p90_ms: e.p90_ms,
        e2e_p99_ms: e.p99_ms,
        e2e_p999_ms: e.p999_ms,
        e2e_max_ms: e.max_ms,
        linger_ms: settings.linger_ms,
        partitions: args.partitions,
        payload_bytes: args.payload_bytes,
    };
    println!(
        "broker round trip via {}: {} sent, {} received, {} duplicates\n  \
         produce {:.0} msg/s (ack p50 {:.2} ms, p99 {:.2} ms)\n  \
         produce→consume {:.0} msg/s, latency p50 {:.2} / p90 {:.2} / p99 {:.2} / p99.9 {:.2} / max {:.2} ms",
        args.brokers,
        summary.messages,
        summary.received,
        summary.duplicates,
        summary.produce_per_sec,
        summary.ack_p50_ms,
        summary.ack_p99_ms,
        summary.roundtrip_per_sec,
        summary.e2e_p50_ms,
        summary.e2e_p90_ms,
        summary.e2e_p99_ms,
        summary.e2e_p999_ms,
        summary.e2e_max_ms
    );
    if let Some(path) = &args.json {
        write_json(path, &summary)?;
    }
    anyhow::ensure!(
        got == expected,
        "only {got} of {expected} acknowledged messages came back within {} s",
        args.timeout
    );
    Ok(summary)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
