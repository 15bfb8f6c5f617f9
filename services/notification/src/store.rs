//! PostgreSQL access: contacts, processed messages, notifications and their
//! delivery records. SQL with bound parameters only.

use crate::domain::{DeliveryStatus, NotificationRequest};
use chrono::{DateTime, Utc};
use common_types::page::PageRequest;
use common_types::{EventId, NotificationId, UserId};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// Record that `message_id` was consumed; `false` when it already was (skip it).
#[tracing::instrument(skip(conn))]
pub async fn mark_processed(
    conn: &mut PgConnection,
    message_id: Uuid,
    topic: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_messages (message_id, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(message_id)
    .bind(topic)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip(conn, email, name))]
pub async fn upsert_user(
    conn: &mut PgConnection,
    user_id: UserId,
    email: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (user_id, email, name) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, updated_at = now()",
    )
    .bind(user_id.as_uuid())
    .bind(email)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn, title))]
pub async fn upsert_event(
    conn: &mut PgConnection,
    event_id: EventId,
    title: &str,
    starts_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO events (event_id, title, starts_at) VALUES ($1, $2, $3)
         ON CONFLICT (event_id) DO UPDATE SET title = EXCLUDED.title,
             starts_at = COALESCE(EXCLUDED.starts_at, events.starts_at), updated_at = now()",
    )
    .bind(event_id.as_uuid())
    .bind(title)
    .bind(starts_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn event_title(conn: &mut PgConnection, event_id: EventId) -> sqlx::Result<String> {
    let title: Option<String> = sqlx::query_scalar("SELECT title FROM events WHERE event_id = $1")
        .bind(event_id.as_uuid())
        .fetch_optional(conn)
        .await?;
    Ok(title.unwrap_or_else(|| "your event".to_string()))
}

pub async fn user_name(conn: &mut PgConnection, user_id: UserId) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT name FROM users WHERE user_id = $1")
        .bind(user_id.as_uuid())
        .fetch_optional(conn)
        .await
}

/// The rendered parts of a notification.
pub struct Content<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// Insert a notification unless its dedupe key exists; `true` when inserted.
#[tracing::instrument(skip(conn, request, content), fields(notification_id = %request.notification_id, kind = %request.kind))]
pub async fn insert_notification(
    conn: &mut PgConnection,
    request: &NotificationRequest,
    content: Content<'_>,
    max_attempts: i32,
) -> sqlx::Result<bool> {
    let data = serde_json::to_value(&request.vars).unwrap_or_default();
    let done = sqlx::query(
        "INSERT INTO notifications
            (id, dedupe_key, user_id, kind, event_id, subject, body_text, body_html, data, max_attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING",
    )
    .bind(request.notification_id.as_uuid())
    .bind(&request.dedupe_key)
    .bind(request.user_id.as_uuid())
    .bind(&request.kind)
    .bind(request.event_id.map(|e| e.as_uuid()))
    .bind(content.subject)
    .bind(content.text)
    .bind(content.html)
    .bind(data)
    .bind(max_attempts)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A notification whose email is due, with the address known for its user.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub email: Option<String>,
}

/// Claim up to `limit` due notifications for `claim_secs`, so no other sender
/// (in this or another instance) sends them meanwhile.
#[tracing::instrument(skip(pool))]
pub async fn claim_due(pool: &PgPool, limit: i64, claim_secs: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM notifications
             WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
               AND (claimed_until IS NULL OR claimed_until < now())
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE notifications n
            SET claimed_until = now() + make_interval(secs => $2)
           FROM due
          WHERE n.id = due.id
         RETURNING n.id, n.user_id, n.kind, n.subject, n.body_text, n.body_html,
                   n.attempts, n.max_attempts,
                   (SELECT u.email FROM users u WHERE u.user_id = n.user_id) AS email",
    )
    .bind(limit)
    .bind(claim_secs as f64)
    .fetch_all(pool)
    .await
}

#[tracing::instrument(skip(pool, email))]
pub async fn mark_sent(pool: &PgPool, id: Uuid, email: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notifications
            SET status = 'sent', attempts = attempts + 1, email = $2, last_error = NULL,
                sent_at = now(), updated_at = now(), claimed_until = NULL
          WHERE id = $1",
    )
    .bind(id)
    .bind(email)
    .execute(pool)
    .await?;
    Ok(())
}

/// Record a failed attempt: retried at `retry_at`, or dead when `retry_at` is none.
#[tracing::instrument(skip(pool, error, email))]
pub async fn mark_failed(
    pool: &PgPool,
    id: Uuid,
    email: Option<&str>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let query = match retry_at {
        Some(_) => {
            "UPDATE notifications
                SET status = 'failed', attempts = attempts + 1, email = COALESCE($2, email),
                    last_error = $3, next_attempt_at = $4, updated_at = now(), claimed_until = NULL
              WHERE id = $1"
        }
        None => {
            "UPDATE notifications
                SET status = 'dead', attempts = attempts + 1, email = COALESCE($2, email),
                    last_error = $3, dead_at = now(), updated_at = now(), claimed_until = NULL
              WHERE id = $1"
        }
    };
    let mut q = sqlx::query(query).bind(id).bind(email).bind(error);
    if let Some(at) = retry_at {
        q = q.bind(at);
    }
    q.execute(pool).await?;
    Ok(())
}

/// A notification as its recipient sees it in the app.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct InApp {
    pub id: Uuid,
    pub kind: String,
    pub event_id: Option<Uuid>,
    pub subject: String,
    #[sqlx(rename = "body_text")]
    pub body: String,
    pub data: serde_json::Value,
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
    /// Delivery status of the email copy.
    pub email_status: String,
    pub created_at: DateTime<Utc>,
}

const IN_APP_COLUMNS: &str =
    "id, kind, event_id, subject, body_text, data, read_at IS NOT NULL AS read,
     read_at, status AS email_status, created_at";

#[tracing::instrument(skip(pool))]
pub async fn list_for_user(
    pool: &PgPool,
    user_id: UserId,
    page: PageRequest,
    unread_only: bool,
) -> sqlx::Result<(Vec<InApp>, u64)> {
    let items: Vec<InApp> = sqlx::query_as(&format!(
        "SELECT {IN_APP_COLUMNS} FROM notifications
          WHERE user_id = $1 AND ($2 = false OR read_at IS NULL)
          ORDER BY created_at DESC, id DESC
          LIMIT $3 OFFSET $4"
    ))
    .bind(user_id.as_uuid())
    .bind(unread_only)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND ($2 = false OR read_at IS NULL)",
    )
    .bind(user_id.as_uuid())
    .bind(unread_only)
    .fetch_one(pool)
    .await?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

/// Mark one of `user_id`'s notifications read (idempotent); none if it is not theirs.
#[tracing::instrument(skip(pool))]
pub async fn mark_read(
    pool: &PgPool,
    id: NotificationId,
    user_id: UserId,
) -> sqlx::Result<Option<InApp>> {
    sqlx::query_as(&format!(
        "UPDATE notifications SET read_at = COALESCE(read_at, now())
          WHERE id = $1 AND user_id = $2
          RETURNING {IN_APP_COLUMNS}"
    ))
    .bind(id.as_uuid())
    .bind(user_id.as_uuid())
    .fetch_optional(pool)
    .await
}

/// A delivery record as operators see it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub event_id: Option<Uuid>,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
}

const RECORD_COLUMNS: &str =
    "id, user_id, kind, event_id, status, attempts, max_attempts, last_error,
     email, created_at, updated_at, sent_at, dead_at";

#[tracing::instrument(skip(pool))]
pub async fn list_dead(
    pool: &PgPool,
    page: PageRequest,
) -> sqlx::Result<(Vec<DeliveryRecord>, u64)> {
    let items = sqlx::query_as(&format!(
        "SELECT {RECORD_COLUMNS} FROM notifications WHERE status = 'dead'
          ORDER BY dead_at DESC, id DESC LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = 'dead'")
        .fetch_one(pool)
        .await?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub enum Replay {
    Replayed(Box<DeliveryRecord>),
    NotDead(DeliveryStatus),
    NotFound,
}

/// Put a dead notification back in the queue with a fresh set of attempts.
#[tracing::instrument(skip(pool))]
pub async fn replay(pool: &PgPool, id: NotificationId) -> sqlx::Result<Replay> {
    let replayed: Option<DeliveryRecord> = sqlx::query_as(&format!(
        "UPDATE notifications
            SET status = 'pending', attempts = 0, next_attempt_at = now(), claimed_until = NULL,
                dead_at = NULL, updated_at = now()
          WHERE id = $1 AND status = 'dead'
          RETURNING {RECORD_COLUMNS}"
    ))
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await?;
    if let Some(record) = replayed {
        return Ok(Replay::Replayed(Box::new(record)));
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM notifications WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
    Ok(match status.as_deref().and_then(DeliveryStatus::parse) {
        Some(status) => Replay::NotDead(status),
        None => Replay::NotFound,
    })
}

/// Counts by status (tests and `/metrics`-style checks).
pub async fn count_by_status(pool: &PgPool, status: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
}
