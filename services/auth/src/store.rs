//! SQL for users, refresh tokens, the outbox and login throttling. Every
//! query binds its parameters.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use common_types::{Role, UserId};
use database::ResultExt;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: role
            .parse()
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("stored role: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

#[tracing::instrument(skip(conn, password_hash), fields(user_id = %id))]
pub async fn insert_user(
    conn: &mut PgConnection,
    id: UserId,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<User> {
    let row = sqlx::query(
        "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, email, name, role, created_at",
    )
    .bind(id.as_uuid())
    .bind(email)
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .fetch_one(conn)
    .await
    .on_constraint("users_email_lower_key", |_| Error::EmailTaken)?;
    user_from_row(&row)
}

/// The user with this (normalized) email and their password hash.
#[tracing::instrument(skip(pool, email))]
pub async fn user_by_email(pool: &PgPool, email: &str) -> Result<Option<(User, String)>> {
    let row = sqlx::query(
        "SELECT id, email, name, role, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

#[tracing::instrument(skip(pool))]
pub async fn user_by_id(pool: &PgPool, id: UserId) -> Result<Option<User>> {
    let row = sqlx::query("SELECT id, email, name, role, created_at FROM users WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Users whose email contains `email` (case-insensitive) and with `role`,
/// newest first, and how many match in all.
#[tracing::instrument(skip(pool))]
pub async fn list_users(
    pool: &PgPool,
    email: Option<&str>,
    role: Option<Role>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<User>, i64)> {
    // LIKE wildcards typed by the admin are matched literally.
    let pattern = email.map(|e| {
        let escaped = e
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    let role = role.map(|r| r.as_str());
    let rows = sqlx::query(
        "SELECT id, email, name, role, created_at, count(*) OVER () AS total FROM users
         WHERE ($1::text IS NULL OR lower(email) LIKE $1)
           AND ($2::text IS NULL OR role = $2)
         ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT $4",
    )
    .bind(pattern.as_deref())
    .bind(role)
    .bind(offset)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => {
            sqlx::query_scalar(
                "SELECT count(*) FROM users WHERE ($1::text IS NULL OR lower(email) LIKE $1)
               AND ($2::text IS NULL OR role = $2)",
            )
            .bind(pattern.as_deref())
            .bind(role)
            .fetch_one(pool)
            .await?
        }
    };
    let users = rows.iter().map(user_from_row).collect::<Result<_>>()?;
    Ok((users, total))
}

#[tracing::instrument(skip(pool))]
pub async fn set_role(pool: &PgPool, id: UserId, role: Role) -> Result<Option<User>> {
    let row = sqlx::query(
        "UPDATE users SET role = $2, updated_at = now() WHERE id = $1
         RETURNING id, email, name, role, created_at",
    )
    .bind(id.as_uuid())
    .bind(role.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Make the user with this email an admin; returns whether it exists.
#[tracing::instrument(skip(conn, email))]
pub async fn promote_to_admin(conn: &mut PgConnection, email: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET role = 'admin', updated_at = now() WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[tracing::instrument(skip(conn, token_hash), fields(user_id = %user))]
pub async fn insert_refresh_token(
    conn: &mut PgConnection,
    user: UserId,
    family: Uuid,
    token_hash: &[u8],
    ttl_secs: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(Uuid::now_v7())
    .bind(family)
    .bind(user.as_uuid())
    .bind(token_hash)
    .bind(ttl_secs as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored refresh token, locked for the rest of the transaction so two
/// concurrent refreshes with one token are decided one after the other.
pub struct StoredRefreshToken {
    pub id: Uuid,
    pub family: Uuid,
    pub user: UserId,
    pub expired: bool,
    pub used: bool,
    pub revoked: bool,
}

#[tracing::instrument(skip_all)]
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<StoredRefreshToken>> {
    let row = sqlx::query(
        "SELECT id, family_id, user_id, expires_at <= now() AS expired,
                used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(StoredRefreshToken {
            id: row.try_get("id")?,
            family: row.try_get("family_id")?,
            user: UserId(row.try_get("user_id")?),
            expired: row.try_get("expired")?,
            used: row.try_get("used")?,
            revoked: row.try_get("revoked")?,
        })
    })
    .transpose()
}

pub async fn mark_refresh_token_used(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip(conn))]
pub async fn revoke_family(conn: &mut PgConnection, family: Uuid) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[tracing::instrument(skip(pool))]
pub async fn revoke_all_for_user(pool: &PgPool, user: UserId) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user.as_uuid())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Queue a message for the outbox relay, in the caller's transaction.
#[tracing::instrument(skip(conn, payload))]
pub async fn enqueue(
    conn: &mut PgConnection,
    id: Uuid,
    topic: &str,
    key: &str,
    message_type: &str,
    payload: &serde_json::Value,
    request_id: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, topic, message_key, message_type, payload, request_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(topic)
    .bind(key)
    .bind(message_type)
    .bind(payload)
    .bind(request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// How long a key (account or address) is still locked out, if it is.
#[tracing::instrument(skip(pool))]
pub async fn locked_for(pool: &PgPool, keys: &[String]) -> Result<Option<f64>> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT max(EXTRACT(EPOCH FROM (locked_until - now()))::float8)
         FROM login_throttle WHERE key = ANY($1) AND locked_until > now()",
    )
    .bind(keys)
    .fetch_one(pool)
    .await?;
    Ok(seconds)
}

/// Count one failed login against `key`; lock it once `max_failures` fall
/// within the window. The counter restarts after a lockout.
#[tracing::instrument(skip(pool))]
pub async fn record_failure(
    pool: &PgPool,
    key: &str,
    max_failures: i32,
    window_secs: f64,
    lockout_secs: f64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_throttle AS t (key, failures, window_started_at, locked_until)
         VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $4) END)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE
               WHEN t.window_started_at < now() - make_interval(secs => $3) THEN 1
               WHEN t.failures + 1 >= $2 THEN 0
               ELSE t.failures + 1 END,
           window_started_at = CASE
               WHEN t.window_started_at < now() - make_interval(secs => $3)
                 OR t.failures + 1 >= $2 THEN now()
               ELSE t.window_started_at END,
           locked_until = CASE
               WHEN t.window_started_at >= now() - make_interval(secs => $3)
                AND t.failures + 1 >= $2 THEN now() + make_interval(secs => $4)
               WHEN $2 <= 1 THEN now() + make_interval(secs => $4)
               ELSE t.locked_until END",
    )
    .bind(key)
    .bind(max_failures)
    .bind(window_secs)
    .bind(lockout_secs)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn clear_failures(pool: &PgPool, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1 AND (locked_until IS NULL OR locked_until <= now())")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Drop rows that no longer matter: expired refresh tokens and stale counters.
#[tracing::instrument(skip(pool))]
pub async fn housekeeping(pool: &PgPool, window_secs: f64) -> Result<()> {
    sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    sqlx::query(
        "DELETE FROM login_throttle WHERE window_started_at < now() - make_interval(secs => $1)
           AND (locked_until IS NULL OR locked_until < now())",
    )
    .bind(window_secs)
    .execute(pool)
    .await?;
    Ok(())
}
