//! Forwards `event.lifecycle` into `booking.create`, so inventory creation,
//! rescheduling and cancellation are ordered with the seat commands of the
//! same event (same key, same partition, one decider).

use common_types::messages::booking::BookingCommand;
use common_types::messages::lifecycle::LifecycleEvent;
use common_types::{topics, Envelope};
use kafka_bus::rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext, StreamConsumer};
use kafka_bus::Producer;
use settings::KafkaSettings;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub const GROUP: &str = "booking-lifecycle";

fn forward(event: LifecycleEvent) -> BookingCommand {
    match event {
        LifecycleEvent::EventPublished(snapshot) => {
            BookingCommand::CreateInventory { event: snapshot }
        }
        LifecycleEvent::EventUpdated {
            event_id,
            starts_at,
            ..
        } => BookingCommand::RescheduleEvent {
            event_id,
            starts_at,
        },
        LifecycleEvent::EventCancelled {
            event_id, reason, ..
        } => BookingCommand::CancelEvent { event_id, reason },
    }
}

/// At least once: the command is produced before the offset is committed;
/// a duplicate is harmless (creating existing inventory or cancelling a
/// cancelled event changes nothing).
pub async fn run(
    kafka: KafkaSettings,
    producer: Producer,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka_bus::consumer(
        &kafka,
        GROUP,
        DefaultConsumerContext,
        &[kafka_bus::BACKGROUND],
    )?;
    kafka_bus::subscribe(&consumer, &kafka, &[topics::EVENT_LIFECYCLE])?;
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "event.lifecycle consumer error");
                    continue;
                }
            },
        };
        let span = kafka_bus::message_span(&message);
        let decoded = kafka_bus::decode::<LifecycleEvent>(&message);
        async {
            match decoded {
                Ok(envelope) => {
                    let command = forward(envelope.payload);
                    let key = command.event_id().to_string();
                    // Same id as the lifecycle message: one fact, one id.
                    let out = Envelope::with_id(envelope.id, command);
                    let mut delay = Duration::from_millis(100);
                    while let Err(e) = producer
                        .publish(topics::BOOKING_CREATE, &key, &out, None)
                        .await
                    {
                        tracing::warn!(error = %e, "forwarding a lifecycle event failed; retrying");
                        if shutdown.is_cancelled() {
                            return;
                        }
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "skipping a lifecycle message booking does not use")
                }
            }
        }
        .instrument(span)
        .await;
        if shutdown.is_cancelled() {
            // Possibly not forwarded: leave the offset for the next start.
            break;
        }
        if let Err(e) = consumer.commit_message(&message, CommitMode::Async) {
            tracing::warn!(error = %e, "committing event.lifecycle offset failed");
        }
    }
    Ok(())
}
