//! Builds the booking service: database, broker, HTTP server.

use crate::api::AppState;
use crate::configuration::Settings;
use crate::payment::{PaymentProvider, SimulatedProvider};
use crate::processor::{CrashSwitch, Processor, ProcessorStats};
use crate::replies::Replies;
use crate::store::queries;
use crate::SERVICE;
use actix_web::web;
use common_types::topics;
use kafka_bus::Producer;
use service_http::{Health, HttpMetrics, JwtVerifier};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Topics this service produces to (created at start-up when missing).
pub const PRODUCES: &[&str] = &[topics::BOOKING_CREATE, topics::BOOKING_EVENTS];
/// Topics it consumes; created too, so a fresh stack starts in any order.
pub const CONSUMES: &[&str] = &[topics::EVENT_LIFECYCLE];

/// Seams for tests: a crash switch for the processor, another payment provider.
#[derive(Clone, Default)]
pub struct Hooks {
    pub crash: CrashSwitch,
    pub payments: Option<Arc<dyn PaymentProvider>>,
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    producer: Producer,
    pool: PgPool,
    stats: Arc<ProcessorStats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Bind, connect and migrate; the server runs once `run_until_stopped` is awaited.
    /// Cancelling `shutdown` stops it gracefully.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        Self::build_with(settings, shutdown, Hooks::default()).await
    }

    pub async fn build_with(
        settings: Settings,
        shutdown: CancellationToken,
        hooks: Hooks,
    ) -> anyhow::Result<Self> {
        let pool = database::prepare(&settings.database, &MIGRATOR).await?;
        kafka_bus::ensure_topics(&settings.kafka, PRODUCES).await?;
        kafka_bus::ensure_topics(&settings.kafka, CONSUMES).await?;
        let producer = Producer::new(&settings.kafka)?;
        producer.warm_up(PRODUCES).await?;

        let payments: Arc<dyn PaymentProvider> = hooks.payments.clone().unwrap_or_else(|| {
            Arc::new(SimulatedProvider::new(Duration::from_millis(
                settings.booking.slow_card_delay_ms,
            )))
        });
        let replies = Replies::default();
        let outcome_listener = Replies::listener(&pool).await?;
        let stats = Arc::new(ProcessorStats::default());
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(replies.clone().run(
            outcome_listener,
            pool.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn({
            let (kafka, producer, shutdown) =
                (settings.kafka.clone(), producer.clone(), shutdown.clone());
            async move {
                if let Err(e) = crate::lifecycle::run(kafka, producer, shutdown).await {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "event.lifecycle forwarder stopped"
                    );
                }
            }
        }));
        if settings.booking.processor {
            let processor_pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(settings.booking.processor_db_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(database::connect_options(&settings.database)?)
                .await?;
            let processor = Processor::new(
                processor_pool,
                producer.clone(),
                settings.kafka.clone(),
                settings.booking.clone(),
                hooks.crash.clone(),
                stats.clone(),
                replies.clone(),
            );
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = processor.run(shutdown).await {
                    tracing::error!(error = format!("{e:#}"), "booking processor stopped");
                }
            }));
        }
        tasks.push(tokio::spawn(refund_sweeper(
            pool.clone(),
            payments.clone(),
            Duration::from_millis(settings.booking.refund_sweep_ms),
            shutdown.clone(),
        )));
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            producer: producer.clone(),
            replies,
            payments,
            settings: settings.booking.clone(),
            internal_token: settings.internal_token.clone(),
        });

        let metrics = web::Data::new(HttpMetrics::new(SERVICE)?);
        tasks.push(tokio::spawn(export_processor_metrics(
            metrics.registry().clone(),
            stats.clone(),
            shutdown.clone(),
        )?));
        let verifier = web::Data::new(JwtVerifier::remote(&settings.auth));
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
            stats,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The processor's counters (tests wait on them).
    pub fn stats(&self) -> Arc<ProcessorStats> {
        self.stats.clone()
    }

    /// Serve until shutdown; in-flight requests finish, then the producer is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        self.producer.flush(Duration::from_secs(10));
        self.pool.close().await;
        Ok(())
    }
}

/// Refunds and voids the processor marked as due (cancelled bookings,
/// confirmations that found no live hold) are sent to the provider here,
/// outside the ordered path, and retried until the provider confirms.
async fn refund_sweeper(
    pool: PgPool,
    payments: Arc<dyn PaymentProvider>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = match queries::refunds_due(&pool, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "refund sweep: cannot read due refunds");
                continue;
            }
        };
        for (payment_id, amount) in due {
            match payments.refund(&payment_id, amount).await {
                Ok(()) => {
                    if let Err(e) = queries::settle_refund(&pool, &payment_id).await {
                        tracing::warn!(error = %e, %payment_id, "refund sweep: cannot record refund");
                    }
                }
                Err(e) => tracing::warn!(error = %e, %payment_id, "refund failed; retrying later"),
            }
        }
    }
}

/// Copies the processor's counters into Prometheus metrics once a second.
fn export_processor_metrics(
    registry: prometheus::Registry,
    stats: Arc<ProcessorStats>,
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use prometheus::{IntCounter, IntGauge};
    use std::sync::atomic::Ordering;
    let commands = IntCounter::new(
        "booking_processor_commands_total",
        "commands decided and committed by this instance's processor",
    )?;
    let batches = IntCounter::new(
        "booking_processor_batches_total",
        "batch transactions committed by this instance's processor",
    )?;
    let busy = IntCounter::new(
        "booking_processor_busy_microseconds_total",
        "time spent deciding and committing (not waiting for the broker)",
    )?;
    let owned = IntGauge::new(
        "booking_processor_owned_partitions",
        "booking.create partitions this instance owns",
    )?;
    registry.register(Box::new(commands.clone()))?;
    registry.register(Box::new(batches.clone()))?;
    registry.register(Box::new(busy.clone()))?;
    registry.register(Box::new(owned.clone()))?;
    Ok(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let sync = |counter: &IntCounter, value: u64| {
                let seen = counter.get();
                if value > seen {
                    counter.inc_by(value - seen);
                }
            };
            sync(&commands, stats.commands.load(Ordering::Relaxed));
            sync(&batches, stats.batches.load(Ordering::Relaxed));
            sync(&busy, stats.busy_us.load(Ordering::Relaxed));
            owned.set(i64::try_from(stats.owned_partitions.load(Ordering::Relaxed)).unwrap_or(0));
        }
    })
}

service_http::service!(SERVICE, Application, Settings);
