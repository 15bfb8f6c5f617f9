//! The catalogue's own metrics, on `/metrics` next to the HTTP ones.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct CatalogMetrics {
    /// Hot-read cache lookups by what was looked up (`event`, `list`) and `hit`/`miss`.
    pub cache: IntCounterVec,
    /// Lifecycle messages the outbox relay produced.
    pub outbox_sent: IntCounter,
    /// Relay passes that failed (broker or store down); they are retried.
    pub outbox_failures: IntCounter,
}

impl CatalogMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let cache = IntCounterVec::new(
            Opts::new("event_cache_lookups_total", "Hot-read cache lookups"),
            &["kind", "result"],
        )?;
        let outbox_sent = IntCounter::new(
            "event_outbox_sent_total",
            "Lifecycle messages produced by the outbox relay",
        )?;
        let outbox_failures = IntCounter::new(
            "event_outbox_failures_total",
            "Outbox relay passes that failed and will be retried",
        )?;
        registry.register(Box::new(cache.clone()))?;
        registry.register(Box::new(outbox_sent.clone()))?;
        registry.register(Box::new(outbox_failures.clone()))?;
        Ok(Self {
            cache,
            outbox_sent,
            outbox_failures,
        })
    }
}
