//! Builds the waitlist service: database, broker, HTTP server.

use crate::availability::Availability;
use crate::configuration::Settings;
use crate::consumer::{Offers, GROUP};
use crate::routes::Limits;
use crate::SERVICE;
use actix_web::web;
use common_types::topics;
use kafka_bus::Producer;
use service_http::{Health, HttpMetrics, JwtVerifier};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Topics this service produces to (created at start-up when missing).
pub const PRODUCES: &[&str] = &[topics::WAITLIST_EVENTS, topics::BOOKING_CREATE];

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    producer: Producer,
    pool: PgPool,
    shutdown: CancellationToken,
    workers: Vec<JoinHandle<()>>,
}

impl Application {
    /// Bind, connect and migrate; the server runs once `run_until_stopped` is awaited.
    /// Cancelling `shutdown` stops it gracefully.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let pool = database::prepare(&settings.database, &MIGRATOR).await?;
        kafka_bus::ensure_topics(&settings.kafka, PRODUCES).await?;
        // Subscribing to a topic nobody created yet would idle until it appears.
        kafka_bus::ensure_topics(&settings.kafka, &[topics::BOOKING_EVENTS]).await?;
        let producer = Producer::new(&settings.kafka)?;
        producer.warm_up(PRODUCES).await?;

        let metrics = web::Data::new(HttpMetrics::new(SERVICE)?);
        let relay_wake = Arc::new(Notify::new());
        let offers = Arc::new(Offers {
            pool: pool.clone(),
            offer_ttl_secs: settings.offer_ttl_secs,
            relay: relay_wake.clone(),
        });
        let consumer = kafka_bus::consumer(
            &settings.kafka,
            GROUP,
            kafka_bus::rdkafka::consumer::DefaultConsumerContext,
            kafka_bus::BACKGROUND_WORKER,
        )?;
        kafka_bus::subscribe(&consumer, &settings.kafka, &[topics::BOOKING_EVENTS])?;
        let workers = vec![
            tokio::spawn(offers.run(consumer, shutdown.clone())),
            tokio::spawn(crate::relay::run(
                pool.clone(),
                producer.clone(),
                relay_wake.clone(),
                Duration::from_millis(settings.relay_poll_ms),
                shutdown.clone(),
            )),
        ];
        let availability = web::Data::new(Availability::new(&settings.booking_url)?);
        let limits = web::Data::new(Limits {
            max_quantity: settings.max_quantity,
        });
        let relay_data = web::Data::new(relay_wake);
        let verifier = web::Data::new(JwtVerifier::remote(&settings.auth));
        let health = web::Data::new(
            Health::new(SERVICE)
                .check("database", database::health_check(&pool))
                .check("broker", producer.health_check()),
        );

        // Handlers read the pool directly as `web::Data<PgPool>`.
        let pool_data = web::Data::new(pool.clone());
        let common = service_http::Common {
            metrics,
            health,
            verifier,
        };
        let (port, server) =
            service_http::serve_api(&settings.http, shutdown.clone(), common, move |cfg| {
                cfg.app_data(pool_data.clone());
                cfg.app_data(availability.clone());
                cfg.app_data(limits.clone());
                cfg.app_data(relay_data.clone());
                crate::routes::configure(cfg);
            })?;
        Ok(Self {
            port,
            server,
            producer,
            pool,
            shutdown,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until shutdown; in-flight requests finish, then the producer is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        // The consumer and the relay stop on the same token (a failed server too).
        self.shutdown.cancel();
        for worker in self.workers {
            let _ = worker.await;
        }
        served?;
        self.producer.flush(Duration::from_secs(10));
        self.pool.close().await;
        Ok(())
    }
}

service_http::service!(SERVICE, Application, Settings);
