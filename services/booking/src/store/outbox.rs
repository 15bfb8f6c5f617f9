//! Outcomes committed but maybe not yet published: written with the batch,
//! deleted once the broker acknowledged them, re-published by the next owner
//! of the partition after a crash.

use super::batch::OutboxMessage;
use super::commit::column;
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub key: String,
    pub message_type: String,
    pub payload: Vec<u8>,
}

#[derive(FromRow)]
struct StoredRow {
    seq: i64,
    message_key: String,
    message_type: String,
    payload: serde_json::Value,
}

impl StoredRow {
    fn into_row(self) -> Result<OutboxRow, serde_json::Error> {
        Ok(OutboxRow {
            seq: self.seq,
            key: self.message_key,
            message_type: self.message_type,
            payload: serde_json::to_vec(&self.payload)?,
        })
    }
}

/// Outbox rows left by a crash between commit and publish.
pub async fn pending_outbox(pool: &PgPool, partition: i32) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT seq, message_key, message_type, payload FROM outbox
         WHERE kafka_partition = $1 ORDER BY seq",
    )
    .bind(partition)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| r.into_row().map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect()
}

pub async fn delete_outbox(pool: &PgPool, seqs: &[i64]) -> Result<(), sqlx::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
        .bind(seqs)
        .execute(pool)
        .await?;
    Ok(())
}

/// Write `messages` in the batch transaction; returns them with their
/// sequence numbers, in the order given (which is the order to publish).
pub(super) async fn insert_outbox(
    tx: &mut PgConnection,
    partition: i32,
    messages: Vec<OutboxMessage>,
) -> Result<Vec<OutboxRow>, super::commit::CommitError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let mut seqs: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO outbox (kafka_partition, message_key, message_type, payload)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::jsonb[])
         RETURNING seq",
    )
    .bind(partition)
    .bind(column(&messages, |m| m.key.as_str()))
    .bind(column(&messages, |m| m.message_type))
    .bind(column(&messages, |m| m.payload.clone()))
    .fetch_all(&mut *tx)
    .await?;
    // RETURNING gives no order guarantee; sequence values follow the input order.
    seqs.sort_unstable();
    seqs.into_iter()
        .zip(messages)
        .map(|(seq, m)| {
            Ok(OutboxRow {
                seq,
                key: m.key,
                message_type: m.message_type.to_string(),
                payload: serde_json::to_vec(&m.payload)?,
            })
        })
        .collect()
}
