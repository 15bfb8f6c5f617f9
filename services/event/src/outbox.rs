//! The outbox relay: produces stored lifecycle messages, then marks them
//! sent. A crash between the produce and the mark re-sends the same envelope
//! (same id) on restart: at least once, and consumers dedupe on the id.

use crate::metrics::CatalogMetrics;
use crate::store::{Catalog, CatalogStore};
use kafka_bus::Producer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: u32 = 200;

/// Produce every pending message once; returns how many were sent. Stops at
/// the first failure so messages of one event never overtake each other.
pub async fn relay_once(store: &Catalog, producer: &Producer) -> anyhow::Result<usize> {
    let batch = store.pending_outbox(BATCH).await?;
    let mut sent = Vec::with_capacity(batch.len());
    let mut failure = None;
    for message in batch {
        match producer
            .publish_raw(
                &message.topic,
                &message.key,
                message.payload.as_bytes(),
                &message.message_type,
                message.request_id.as_deref(),
            )
            .await
        {
            Ok(_) => sent.push(message),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if !sent.is_empty() {
        store.mark_sent(&sent).await?;
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(sent.len()),
    }
}

/// Run until `shutdown`: relay whenever woken by a write, and every `poll`
/// (messages left by a crash or by another instance).
pub async fn run(
    store: Catalog,
    producer: Producer,
    wake: Arc<Notify>,
    poll: Duration,
    metrics: CatalogMetrics,
    shutdown: CancellationToken,
) {
    let mut backoff = poll;
    loop {
        let pause = match relay_once(&store, &producer).await {
            Ok(n) if n as u32 == BATCH => {
                metrics.outbox_sent.inc_by(n as u64);
                continue;
            }
            Ok(n) => {
                metrics.outbox_sent.inc_by(n as u64);
                if n > 0 {
                    tracing::debug!(sent = n, "outbox relayed");
                }
                backoff = poll;
                poll
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "outbox relay failed; will retry"
                );
                backoff = (backoff * 2).min(Duration::from_secs(10));
                backoff
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => {
                // One last pass so a clean stop leaves nothing behind.
                if let Err(error) = relay_once(&store, &producer).await {
                    tracing::warn!(error = format!("{error:#}"), "final outbox pass failed");
                }
                return;
            }
        }
    }
}
