//! Builds the notification service: database, broker, HTTP server.

use crate::attendees::BookingClient;
use crate::configuration::Settings;
use crate::delivery::{Mailer, Sender};
use crate::ingest::{Ingest, CONSUMES, DIRECT_TOPICS, FAN_OUT_GROUP, FAN_OUT_TOPICS, GROUP};
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
pub const PRODUCES: &[&str] = &[topics::NOTIFICATION_REQUESTS, topics::NOTIFICATION_DLQ];

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
        kafka_bus::ensure_topics(&settings.kafka, CONSUMES).await?;
        let producer = Producer::new(&settings.kafka)?;
        producer.warm_up(PRODUCES).await?;

        let metrics = HttpMetrics::new(SERVICE)?;
        let outcomes = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "notification_delivery_attempts_total",
                "Email delivery attempts by outcome (sent, failed, dead)",
            ),
            &["outcome"],
        )?;
        metrics.registry().register(Box::new(outcomes.clone()))?;
        let metrics = web::Data::new(metrics);
        let new_work = Arc::new(Notify::new());
        let ingest = Arc::new(Ingest {
            pool: pool.clone(),
            producer: producer.clone(),
            booking: BookingClient::new(&settings.booking_url, settings.internal_token.clone())?,
            settings: settings.clone(),
            new_work: new_work.clone(),
        });
        let consumer = kafka_bus::consumer(
            &settings.kafka,
            GROUP,
            kafka_bus::rdkafka::consumer::DefaultConsumerContext,
            kafka_bus::BACKGROUND_WORKER,
        )?;
        kafka_bus::subscribe(&consumer, &settings.kafka, DIRECT_TOPICS)?;
        let fan_out_consumer = kafka_bus::consumer(
            &settings.kafka,
            FAN_OUT_GROUP,
            kafka_bus::rdkafka::consumer::DefaultConsumerContext,
            kafka_bus::BACKGROUND_WORKER,
        )?;
        kafka_bus::subscribe(&fan_out_consumer, &settings.kafka, FAN_OUT_TOPICS)?;
        let sender = Arc::new(Sender {
            pool: pool.clone(),
            producer: producer.clone(),
            mailer: Mailer::new(&settings)?,
            settings: settings.delivery.clone(),
            new_work: new_work.clone(),
            outcomes,
        });
        let workers = vec![
            tokio::spawn(ingest.clone().run(consumer, shutdown.clone())),
            tokio::spawn(ingest.run(fan_out_consumer, shutdown.clone())),
            tokio::spawn(sender.run(shutdown.clone())),
        ];
        let new_work_data = web::Data::new(new_work);
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
                cfg.app_data(new_work_data.clone());
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
        // The consumer and sender stop on the same token (a failed server too).
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
