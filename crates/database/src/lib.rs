//! Each service owns one PostgreSQL database. On start-up it creates the
//! database when missing and runs its migrations (our one migration policy:
//! at start-up, embedded with `sqlx::migrate!()`), so a fresh cluster needs no
//! manual step.

use settings::DatabaseSettings;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    #[error("cannot reach PostgreSQL at {target}")]
    Unreachable {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create database {name}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Parse the URL without connecting: bad configuration fails at start-up
/// with a clear line instead of at the first query.
pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, DatabaseError> {
    PgConnectOptions::from_str(settings.expose_url())
        .map(|o| o.log_statements(tracing::log::LevelFilter::Trace))
        .map_err(DatabaseError::InvalidUrl)
}

/// Create the database if needed, migrate it, and return a pool.
pub async fn prepare(
    settings: &DatabaseSettings,
    migrator: &Migrator,
) -> Result<PgPool, DatabaseError> {
    let options = connect_options(settings)?;
    ensure_database_exists(&options).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_with(options.clone())
        .await
        .map_err(|source| DatabaseError::Unreachable {
            target: describe(&options),
            source,
        })?;
    migrator.run(&pool).await?;
    Ok(pool)
}

fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

async fn ensure_database_exists(options: &PgConnectOptions) -> Result<(), DatabaseError> {
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&maintenance)
        .await
        .map_err(|source| DatabaseError::Unreachable {
            target: describe(&maintenance),
            source,
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .map_err(|source| DatabaseError::Create {
                name: name.clone(),
                source,
            })?;
    if !exists {
        // Identifiers cannot be bound; quote it so any name is taken literally.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another instance created it at the same moment.
            Err(e) if is_code(&e, "42P04") || is_code(&e, "23505") => {}
            Err(source) => return Err(DatabaseError::Create { name, source }),
        }
    }
    let _ = conn.close().await;
    Ok(())
}

fn is_code(error: &sqlx::Error, code: &str) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}

/// The name of the constraint a statement violated, if that is why it failed.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Turn a specific constraint violation into a domain error at the call site:
/// `.on_constraint("users_email_key", |_| Error::EmailTaken)?`.
pub trait ResultExt<T> {
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        name: &str,
        f: impl FnOnce(&sqlx::Error) -> E,
    ) -> Result<T, E>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        name: &str,
        f: impl FnOnce(&sqlx::Error) -> E,
    ) -> Result<T, E> {
        self.map_err(|e| {
            if violated_constraint(&e) == Some(name) {
                f(&e)
            } else {
                E::from(e)
            }
        })
    }
}

/// `SELECT 1` with a short timeout, for `/health`.
pub async fn ping(pool: &PgPool) -> bool {
    let check = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Ok(_))
    )
}

/// A `/health` check for `pool`: `Health::new(..).check("database", database::health_check(&pool))`.
pub fn health_check(
    pool: &PgPool,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync + 'static
{
    let pool = pool.clone();
    move || {
        let pool = pool.clone();
        Box::pin(async move { ping(&pool).await })
    }
}
