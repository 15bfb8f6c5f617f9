//! Builds the event service: store, broker, outbox relay, HTTP server.

use crate::cache::HotCache;
use crate::configuration::Settings;
use crate::metrics::CatalogMetrics;
use crate::routes::AppState;
use crate::store::{Catalog, CatalogStore, MongoCatalog};
use crate::SERVICE;
use actix_web::web;
use common_types::topics;
use kafka_bus::Producer;
use secrecy::ExposeSecret;
use service_http::{Health, HttpMetrics, JwtVerifier};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Topics this service produces to (created at start-up when missing).
pub const PRODUCES: &[&str] = &[topics::EVENT_LIFECYCLE];

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    producer: Producer,
    store: Catalog,
    relay: JoinHandle<()>,
    relay_stop: CancellationToken,
}

/// Connect to the configured MongoDB database and prepare its indexes.
#[tracing::instrument(name = "startup.open_store", skip_all)]
pub async fn open_store(settings: &Settings) -> anyhow::Result<Catalog> {
    let uri = settings.mongodb_uri.expose_secret();
    let database = MongoCatalog::database_name(uri, settings.mongodb_database.as_deref()).await?;
    let store = MongoCatalog::connect(uri, &database).await?;
    tracing::info!(database, "catalogue store ready");
    Ok(store)
}

impl Application {
    /// Bind, connect and prepare the indexes; the server runs once `run_until_stopped` is awaited.
    /// Cancelling `shutdown` stops it gracefully.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let store = open_store(&settings).await?;
        kafka_bus::ensure_topics(&settings.kafka, PRODUCES).await?;
        let producer = Producer::new(&settings.kafka)?;
        producer.warm_up(PRODUCES).await?;

        let metrics = web::Data::new(HttpMetrics::new(SERVICE)?);
        let catalog_metrics = CatalogMetrics::register(metrics.registry())?;
        let verifier = web::Data::new(JwtVerifier::remote(&settings.auth));
        let health = web::Data::new(
            Health::new(SERVICE)
                .check("mongodb", {
                    let store = store.clone();
                    move || {
                        let store = store.clone();
                        async move { store.ping().await }
                    }
                })
                .check("broker", producer.health_check()),
        );

        let wake = Arc::new(Notify::new());
        // The relay outlives the HTTP server by one final pass (see run_until_stopped).
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(crate::outbox::run(
            store.clone(),
            producer.clone(),
            wake.clone(),
            Duration::from_millis(settings.catalog.outbox_poll_ms.max(10)),
            catalog_metrics.clone(),
            relay_stop.clone(),
        ));
        let state = web::Data::new(AppState {
            store: store.clone(),
            cache: HotCache::new(
                Duration::from_millis(settings.catalog.cache_ttl_ms),
                catalog_metrics,
            ),
            wake,
        });

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
            store,
            relay,
            relay_stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until shutdown; in-flight requests finish, the relay makes a last
    /// pass, then the producer is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.relay_stop.cancel();
        if let Err(e) = self.relay.await {
            tracing::warn!(error = %e, "outbox relay ended abnormally");
        }
        self.producer.flush(Duration::from_secs(10));
        self.store.shutdown().await;
        served?;
        Ok(())
    }
}

service_http::service!(SERVICE, Application, Settings);
