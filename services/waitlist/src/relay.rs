//! The outbox relay: publishes messages written by transactions, in order,
//! and deletes them once the broker acknowledged them. A crash between the
//! two republishes a batch with the same envelope ids, which consumers dedupe.

use crate::store;
use kafka_bus::Producer;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 200;

pub async fn run(
    pool: PgPool,
    producer: Producer,
    wake: Arc<Notify>,
    idle: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let pause = match relay_once(&pool, &producer).await {
            Ok(0) => idle,
            Ok(_) => continue,
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "outbox relay failed; retrying"
                );
                Duration::from_millis(500)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last round so that what was committed before the stop goes out.
                let _ = relay_once(&pool, &producer).await;
                break;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn relay_once(pool: &PgPool, producer: &Producer) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let batch = store::outbox_batch(&mut tx, BATCH).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let payloads = batch
        .iter()
        .map(|(_, _, _, _, envelope)| serde_json::to_vec(envelope))
        .collect::<Result<Vec<_>, _>>()?;
    // All sends are queued in order on the first poll; the idempotent
    // producer keeps that order per partition.
    let sends = batch
        .iter()
        .zip(&payloads)
        .map(|((_, topic, key, message_type, _), payload)| {
            producer.publish_raw(topic, key, payload, message_type, None)
        });
    futures::future::try_join_all(sends).await?;
    let ids: Vec<i64> = batch.iter().map(|(id, ..)| *id).collect();
    store::outbox_delete(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(ids.len())
}
