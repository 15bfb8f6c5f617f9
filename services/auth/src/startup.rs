//! Builds the auth service: database, broker, keys, HTTP server, outbox relay.

use crate::configuration::Settings;
use crate::domain::{Email, Name, Password};
use crate::keys::KeyRing;
use crate::outbox::OutboxSignal;
use crate::password::PasswordHasherService;
use crate::routes::AuthState;
use crate::tokens::TokenIssuer;
use crate::SERVICE;
use actix_web::web;
use anyhow::Context;
use common_types::{topics, Role, UserId};
use kafka_bus::Producer;
use secrecy::{ExposeSecret, SecretString};
use service_http::{Health, HttpMetrics, JwtVerifier};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Topics this service produces to (created at start-up when missing).
pub const PRODUCES: &[&str] = &[topics::USER_EVENTS];

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    producer: Producer,
    pool: PgPool,
    relay: tokio::task::JoinHandle<()>,
    relay_stop: CancellationToken,
}

impl Application {
    /// Bind, connect and migrate; the server runs once `run_until_stopped` is awaited.
    /// Cancelling `shutdown` stops it gracefully.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        settings.validate()?;
        let pool = database::prepare(&settings.database, &MIGRATOR).await?;
        kafka_bus::ensure_topics(&settings.kafka, PRODUCES).await?;
        let producer = Producer::new(&settings.kafka)?;
        producer.warm_up(PRODUCES).await?;

        let keys = KeyRing::load(&settings).context("loading the token signing key")?;
        let verifier = web::Data::new(JwtVerifier::from_jwks(&keys.jwks(), &settings.auth));
        let hasher = PasswordHasherService::new(settings.password_hash_cost).await?;
        let outbox = OutboxSignal::default();
        if let (Some(email), Some(password)) = (
            &settings.bootstrap_admin_email,
            &settings.bootstrap_admin_password,
        ) {
            bootstrap_admin(&pool, &hasher, email, password).await?;
            outbox.notify();
        }
        let metrics = web::Data::new(HttpMetrics::new(SERVICE)?);
        let auth_metrics = crate::metrics::AuthMetrics::register(metrics.registry())?;
        let state = web::Data::new(AuthState {
            pool: pool.clone(),
            hasher,
            tokens: TokenIssuer {
                keys,
                issuer: settings.auth.issuer.clone(),
                audience: settings.auth.audience.clone(),
                access_ttl_secs: settings.access_token_ttl_secs,
                refresh_ttl_secs: settings.refresh_token_ttl_secs,
            },
            outbox: outbox.clone(),
            throttle: settings.login_throttle.clone(),
            trust_forwarded_for: settings.trust_forwarded_for,
            metrics: auth_metrics,
        });

        // The relay stops after the HTTP server, so messages committed by the
        // last requests still go out.
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(crate::outbox::run(
            pool.clone(),
            producer.clone(),
            outbox,
            relay_stop.clone(),
            settings.login_throttle.window_secs as f64,
        ));

        let health = web::Data::new(
            Health::new(SERVICE)
                .check("database", database::health_check(&pool))
                .check("broker", producer.health_check()),
        );

        let common = service_http::Common {
            metrics,
            health,
            verifier,
        };
        let (port, server) =
            service_http::serve_api(&settings.http, shutdown, common, move |cfg| {
                cfg.app_data(state.clone());
                crate::routes::configure(cfg);
            })?;
        Ok(Self {
            port,
            server,
            producer,
            pool,
            relay,
            relay_stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until shutdown; in-flight requests finish, the outbox relay makes
    /// a last pass, then the producer is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        self.relay_stop.cancel();
        let _ = self.relay.await;
        if let Err(error) = crate::outbox::drain_once(&self.pool, &self.producer).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "final outbox pass failed; rows stay for the next start"
            );
        }
        self.producer.flush(Duration::from_secs(10));
        self.pool.close().await;
        Ok(())
    }
}

/// Make sure the configured admin exists and is an admin. An existing
/// account keeps its password (the setting only creates it once).
async fn bootstrap_admin(
    pool: &PgPool,
    hasher: &PasswordHasherService,
    email: &str,
    password: &SecretString,
) -> anyhow::Result<()> {
    let email =
        Email::parse(email).map_err(|e| anyhow::anyhow!("bootstrap_admin_email {}", e.message))?;
    let password = Password::parse(password.expose_secret().to_string())
        .map_err(|e| anyhow::anyhow!("bootstrap_admin_password {}", e.message))?;
    let mut tx = pool.begin().await?;
    if crate::store::promote_to_admin(&mut tx, email.as_str()).await? {
        tx.commit().await?;
        tracing::info!("bootstrap admin present");
        return Ok(());
    }
    let hash = hasher
        .hash(SecretString::from(password.expose().to_string()))
        .await?;
    let name = Name::parse("Administrator").map_err(|e| anyhow::anyhow!(e.message))?;
    let created = crate::store::insert_user(
        &mut tx,
        UserId::new(),
        email.as_str(),
        name.as_str(),
        Role::Admin,
        &hash,
    )
    .await;
    match created {
        Ok(user) => {
            crate::routes::announce(&mut tx, &user).await?;
            tx.commit().await?;
            tracing::info!(user_id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another instance created it at the same moment.
        Err(crate::error::Error::EmailTaken) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating the bootstrap admin: {e}")),
    }
}

service_http::service!(SERVICE, Application, Settings);
