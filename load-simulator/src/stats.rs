//! Live counters and latency histograms, shared by every worker of a run.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, 1 µs to 5 minutes, 3 significant digits.
pub const HIGHEST_US: u64 = 300_000_000;

/// The status key used for a request that got no HTTP answer at all.
pub const TRANSPORT_ERROR: u16 = 0;

pub fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3)
}

/// One operation (hold, confirm, availability read): latencies, answers by
/// status, successes and when the last one happened.
pub struct OpStats {
    histogram: Mutex<Histogram<u64>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    requests: AtomicU64,
    ok: AtomicU64,
    /// Microseconds after the run's start of the latest success (0: none yet).
    last_ok_us: AtomicU64,
}

impl OpStats {
    /// `empty` is a fresh histogram to clone (made once, where its creation can fail).
    pub fn new(empty: &Histogram<u64>) -> Self {
        Self {
            histogram: Mutex::new(empty.clone()),
            statuses: Mutex::new(BTreeMap::new()),
            requests: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            last_ok_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, latency: Duration, status: u16) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        if let Ok(mut h) = self.histogram.lock() {
            h.saturating_record(us.min(HIGHEST_US));
        }
        if let Ok(mut s) = self.statuses.lock() {
            *s.entry(status).or_default() += 1;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A request that got no answer: counted, but no latency sample (a
    /// refused connection says nothing about how fast the service is).
    pub fn no_answer(&self) {
        if let Ok(mut s) = self.statuses.lock() {
            *s.entry(TRANSPORT_ERROR).or_default() += 1;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn succeeded(&self, start: Instant) {
        self.ok.fetch_add(1, Ordering::Relaxed);
        let at = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_ok_us.fetch_max(at, Ordering::Relaxed);
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn last_ok(&self) -> Option<Duration> {
        match self.last_ok_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// A copy of the histogram (`None` only if a worker panicked holding it).
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        self.histogram.lock().map(|h| h.clone()).ok()
    }

    pub fn statuses(&self) -> BTreeMap<u16, u64> {
        self.statuses.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn count_where(&self, f: impl Fn(u16) -> bool) -> u64 {
        self.statuses
            .lock()
            .map(|s| s.iter().filter(|(k, _)| f(**k)).map(|(_, v)| *v).sum())
            .unwrap_or(0)
    }
}

/// Unexpected answers, grouped by problem slug, with the first detail seen.
#[derive(Default)]
pub struct Failures {
    by_slug: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Failures {
    pub fn note(&self, slug: &str, detail: &str) {
        if let Ok(mut map) = self.by_slug.lock() {
            let entry = map
                .entry(slug.to_string())
                .or_insert_with(|| (0, detail.chars().take(300).collect()));
            entry.0 += 1;
        }
    }

    pub fn snapshot(&self) -> Vec<(String, u64, String)> {
        self.by_slug
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(slug, (n, detail))| (slug.clone(), *n, detail.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn records_latency_status_and_last_success() {
        let start = Instant::now();
        let stats = OpStats::new(&new_histogram().unwrap());
        stats.record(Duration::from_millis(3), 201);
        stats.record(Duration::from_millis(7), 409);
        stats.record(Duration::from_secs(1000), TRANSPORT_ERROR);
        stats.succeeded(start);
        assert_eq!(stats.requests(), 3);
        assert_eq!(stats.ok(), 1);
        assert_eq!(stats.statuses().get(&409), Some(&1));
        assert_eq!(stats.count_where(|s| s >= 400), 1);
        let h = stats.histogram().unwrap();
        assert_eq!(h.len(), 3);
        assert!(h.max() <= HIGHEST_US + HIGHEST_US / 100);
        assert!(stats.last_ok().is_some());
    }
}
