//! `Idempotency-Key` on every POST, scoped to the caller: the first request
//! with a key is processed and its answer stored; a repeat with the same body
//! gets that answer (one effect); a repeat with another body is 422.

use crate::error::{Error, Result};
use common_types::{RequestId, UserId};
use serde_json::Value;
use sqlx::{PgPool, Row};

/// A stored answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

#[derive(Debug)]
pub enum Begin {
    /// First time: go ahead.
    Fresh,
    /// Answered before: send this again.
    Replay(Answer),
    /// Still being processed; its command (if produced yet).
    InFlight(Option<RequestId>),
}

pub const MAX_KEY_LEN: usize = 255;

#[tracing::instrument(skip(pool, request))]
pub async fn begin(
    pool: &PgPool,
    user: UserId,
    key: &str,
    route: &str,
    request: &Value,
) -> Result<Begin> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, method_path, request)
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(user.0)
    .bind(key)
    .bind(route)
    .bind(request)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Begin::Fresh);
    }
    let row = sqlx::query(
        "SELECT method_path, request, request_id, status_code, response
         FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user.0)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        // Deleted in between (a failed attempt): treat as new.
        return Box::pin(begin(pool, user, key, route, request)).await;
    };
    let stored_route: String = row.try_get("method_path")?;
    let stored: Value = row.try_get("request")?;
    if stored_route != route || &stored != request {
        return Err(Error::IdempotencyMismatch);
    }
    let status: Option<i32> = row.try_get("status_code")?;
    let response: Option<Value> = row.try_get("response")?;
    if let (Some(status), Some(body)) = (status, response) {
        return Ok(Begin::Replay(Answer {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }));
    }
    let request_id: Option<uuid::Uuid> = row.try_get("request_id")?;
    Ok(Begin::InFlight(request_id.map(RequestId)))
}

/// Remember which command the key produced (before producing it).
pub async fn attach(pool: &PgPool, user: UserId, key: &str, request_id: RequestId) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET request_id = $3 WHERE user_id = $1 AND key = $2")
        .bind(user.0)
        .bind(key)
        .bind(request_id.0)
        .execute(pool)
        .await?;
    Ok(())
}

/// Store the answer; server-side failures are forgotten so a retry runs again.
pub async fn finish(pool: &PgPool, user: UserId, key: &str, answer: &Answer) -> Result<()> {
    if answer.status >= 500 {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2")
            .bind(user.0)
            .bind(key)
            .execute(pool)
            .await?;
    } else if answer.status != 202 {
        sqlx::query(
            "UPDATE idempotency_keys SET status_code = $3, response = $4
             WHERE user_id = $1 AND key = $2",
        )
        .bind(user.0)
        .bind(key)
        .bind(i32::from(answer.status))
        .bind(&answer.body)
        .execute(pool)
        .await?;
    }
    Ok(())
}
