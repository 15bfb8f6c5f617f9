//! A small TTL cache of rendered JSON for the hot reads: one published event,
//! and the first page of the public list. Entries live `ttl` at most, and this
//! instance drops them on its own writes; other instances' writes show up
//! within one TTL.

use crate::metrics::CatalogMetrics;
use actix_web::web::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Enough for every hot key of a busy catalogue; past it, the cache is cleared
/// rather than grown (cheap, and a miss only costs one query).
const MAX_ENTRIES: usize = 10_000;

pub struct HotCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Bytes)>>,
    metrics: CatalogMetrics,
}

impl HotCache {
    pub fn new(ttl: Duration, metrics: CatalogMetrics) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn count(&self, key: &str, hit: bool) {
        let kind = if key.starts_with(LIST_PREFIX) {
            "list"
        } else {
            "event"
        };
        self.metrics
            .cache
            .with_label_values(&[kind, if hit { "hit" } else { "miss" }])
            .inc();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Bytes)>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        if self.ttl.is_zero() {
            return None;
        }
        let found = {
            let mut entries = self.lock();
            match entries.get(key) {
                Some((at, body)) if at.elapsed() < self.ttl => Some(body.clone()),
                Some(_) => {
                    entries.remove(key);
                    None
                }
                None => None,
            }
        };
        self.count(key, found.is_some());
        found
    }

    pub fn put(&self, key: String, body: Bytes) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), body));
    }

    /// Forget one event and every cached list (it may appear on any of them).
    pub fn invalidate_event(&self, event_key: &str) {
        let mut entries = self.lock();
        entries.remove(event_key);
        entries.retain(|k, _| !k.starts_with(LIST_PREFIX));
    }
}

pub const LIST_PREFIX: &str = "list:";

pub fn event_key(id: common_types::EventId) -> String {
    format!("event:{id}")
}
