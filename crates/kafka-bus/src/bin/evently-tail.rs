//! `evently-tail TOPIC [--from-beginning] [--brokers HOST:PORT]`: print every
//! message of a topic as it arrives — partition, offset, key, headers and the
//! JSON value: `make tail TOPIC=...` on the local stack, no other tool needed.
//!
//! `evently-tail --check` exits 0 when the broker answers a metadata request.

use kafka_bus::rdkafka::consumer::{Consumer, DefaultConsumerContext};
use kafka_bus::rdkafka::message::{Headers, Message};
use settings::KafkaSettings;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: evently-tail TOPIC [--from-beginning] [--brokers HOST:PORT] | evently-tail --check";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut topic = None;
    let mut from_beginning = false;
    let mut check = false;
    let mut brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--from-beginning" => from_beginning = true,
            "--check" => check = true,
            "--brokers" => match args.next() {
                Some(value) => brokers = value,
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            other if topic.is_none() && !other.starts_with('-') => topic = Some(other.to_string()),
            _ => return usage(),
        }
    }
    let settings = KafkaSettings {
        brokers,
        ..KafkaSettings::default()
    };
    if check {
        return match kafka_bus::ping(&settings, Duration::from_secs(5)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(topic) = topic else { return usage() };
    match tail(&settings, &topic, from_beginning).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evently-tail: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

async fn tail(
    settings: &KafkaSettings,
    topic: &str,
    from_beginning: bool,
) -> Result<(), kafka_bus::BusError> {
    let group = format!("evently-tail-{}", uuid::Uuid::new_v4().simple());
    let reset = if from_beginning { "earliest" } else { "latest" };
    // A throwaway group: commit nothing, start where asked.
    let consumer = kafka_bus::consumer(
        settings,
        &group,
        DefaultConsumerContext,
        &[("auto.offset.reset", reset)],
    )?;
    consumer.subscribe(&[topic])?;
    eprintln!(
        "tailing {topic} on {} ({reset}); Ctrl-C to stop",
        settings.brokers
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            received = consumer.recv() => {
                let message = received?;
                let key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
                let headers: Vec<String> = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| format!("{}={}", h.key, h.value.map(String::from_utf8_lossy).unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = match message.payload() {
                    Some(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
                        Ok(json) => serde_json::to_string(&json).unwrap_or_default(),
                        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                    },
                    None => "null".into(),
                };
                println!(
                    "partition={} offset={} key={} headers=[{}]\n  {}",
                    message.partition(),
                    message.offset(),
                    key,
                    headers.join(", "),
                    value
                );
            }
        }
    }
}
