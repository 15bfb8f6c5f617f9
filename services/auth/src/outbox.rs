//! The outbox relay: publishes messages that were committed together with the
//! change they announce. A crash between commit and produce leaves the row in
//! place, and the next pass (of this or any other instance) sends it; a crash
//! between produce and delete sends it twice, with the same envelope id, which
//! consumers already treat as the idempotency key.

use kafka_bus::Producer;
use sqlx::{PgPool, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Wakes the relay right after a commit, so messages go out in milliseconds
/// rather than at the next poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

const BATCH: i64 = 200;
const POLL: Duration = Duration::from_secs(2);

/// Run until `shutdown`; also does periodic housekeeping of expired rows.
pub async fn run(
    pool: PgPool,
    producer: Producer,
    signal: OutboxSignal,
    shutdown: CancellationToken,
    throttle_window_secs: f64,
) {
    let mut backoff = Duration::from_millis(100);
    let mut last_housekeeping = std::time::Instant::now();
    loop {
        match drain_once(&pool, &producer).await {
            Ok(sent) => {
                backoff = Duration::from_millis(100);
                if sent as i64 == BATCH {
                    continue;
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "outbox relay pass failed; retrying"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        if last_housekeeping.elapsed() > Duration::from_secs(600) {
            last_housekeeping = std::time::Instant::now();
            if let Err(error) = crate::store::housekeeping(&pool, throttle_window_secs).await {
                tracing::warn!(error = %error, "housekeeping failed");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = signal.0.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Send one batch, oldest first. Rows are locked with SKIP LOCKED so several
/// auth instances relay in parallel without sending the same row together.
#[tracing::instrument(name = "outbox.drain", skip_all)]
pub async fn drain_once(pool: &PgPool, producer: &Producer) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, topic, message_key, message_type, payload, request_id FROM outbox
         ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let payload: serde_json::Value = row.try_get("payload")?;
        messages.push((
            row.try_get::<uuid::Uuid, _>("id")?,
            row.try_get::<String, _>("topic")?,
            row.try_get::<String, _>("message_key")?,
            row.try_get::<String, _>("message_type")?,
            serde_json::to_vec(&payload)?,
            row.try_get::<Option<String>, _>("request_id")?,
        ));
    }
    // All in flight at once: the idempotent producer keeps per-partition
    // order, and a batch costs one round trip instead of one per message.
    let results = futures::future::join_all(messages.iter().map(
        |(_, topic, key, message_type, bytes, request_id)| {
            producer.publish_raw(topic, key, bytes, message_type, request_id.as_deref())
        },
    ))
    .await;
    let mut sent = Vec::with_capacity(messages.len());
    let mut failure = None;
    for ((id, ..), result) in messages.iter().zip(results) {
        match result {
            Ok(_) => sent.push(*id),
            Err(error) => failure = Some(error),
        }
    }
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&sent)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some(error) = failure {
        // What was acknowledged is deleted; the rest stays for the next pass.
        return Err(error.into());
    }
    tracing::debug!(count = sent.len(), "outbox messages published");
    Ok(sent.len())
}
