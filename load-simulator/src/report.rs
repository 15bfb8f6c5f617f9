//! Turning a run's counters into figures: per-operation summaries, the text
//! report, the `--json` document and the README table row.

use crate::invariants::InvariantReport;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Latency and throughput of one operation.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OpSummary {
    pub requests: u64,
    pub ok: u64,
    /// Successes per second over the window that ends with the last success.
    pub ok_per_sec: f64,
    /// Requests of any outcome per second over the whole timed phase.
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub statuses: BTreeMap<u16, u64>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

impl OpSummary {
    /// `histogram` in microseconds; `ok_window_secs` ends with the last
    /// success; `elapsed_secs` is the whole timed phase.
    pub fn new(
        histogram: &Histogram<u64>,
        statuses: BTreeMap<u16, u64>,
        ok: u64,
        ok_window_secs: f64,
        elapsed_secs: f64,
    ) -> Self {
        // Requests with no answer are in `statuses` but not in the histogram.
        let requests = histogram.len().max(statuses.values().sum());
        let answered = histogram.len();
        let q = |quantile: f64| {
            if answered == 0 {
                0.0
            } else {
                ms(histogram.value_at_quantile(quantile))
            }
        };
        Self {
            requests,
            ok,
            ok_per_sec: per_sec(ok, ok_window_secs),
            requests_per_sec: per_sec(requests, elapsed_secs),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if requests == 0 {
                0.0
            } else {
                ms(histogram.max())
            },
            statuses,
        }
    }

    pub fn count_where(&self, f: impl Fn(u16) -> bool) -> u64 {
        self.statuses
            .iter()
            .filter(|(k, _)| f(**k))
            .map(|(_, v)| *v)
            .sum()
    }
}

/// Everything measured for one event (or for a whole run).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub kind: String,
    pub mode: String,
    pub users: u64,
    pub capacity: u64,
    pub elapsed_secs: f64,
    pub hold: OpSummary,
    pub confirm: OpSummary,
    pub availability_reads: u64,
    pub confirmed: u64,
    /// Seconds from the start to the last confirmation, once nothing was left to sell.
    pub sold_out_seconds: Option<f64>,
    /// Seconds from the start to the last successful hold.
    pub last_hold_seconds: Option<f64>,
    pub invariants: InvariantReport,
    /// Whether the invariants were read back (not with `--no-verify`).
    pub verified: bool,
    /// Why the read-back could not be done, if it could not.
    pub verify_error: Option<String>,
    /// Unexpected answers: (problem slug, count, first detail).
    pub failures: Vec<(String, u64, String)>,
}

impl RunSummary {
    /// The run counts as passed: read back (unless skipped) with no violation.
    pub fn passed(&self) -> bool {
        self.verify_error.is_none() && self.invariants.ok()
    }

    pub fn errors_5xx(&self) -> u64 {
        self.hold.count_where(|s| s >= 500) + self.confirm.count_where(|s| s >= 500)
    }

    pub fn transport_errors(&self) -> u64 {
        self.hold
            .count_where(|s| s == crate::stats::TRANSPORT_ERROR)
            + self
                .confirm
                .count_where(|s| s == crate::stats::TRANSPORT_ERROR)
    }
}

/// The `--json` document: the agreed keys first, then a few more.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonSummary {
    pub holds_per_sec: f64,
    pub hold_p50_ms: f64,
    pub hold_p90_ms: f64,
    pub hold_p99_ms: f64,
    pub hold_p999_ms: f64,
    pub confirms_per_sec: f64,
    pub confirm_p99_ms: f64,
    pub confirmed: u64,
    pub oversold: u64,
    pub duplicates: u64,
    pub errors_5xx: u64,
    pub sold_out_seconds: Option<f64>,
    // Beyond the agreed keys.
    pub name: String,
    pub kind: String,
    pub mode: String,
    pub users: u64,
    pub seats: u64,
    pub hold_requests_per_sec: f64,
    pub hold_max_ms: f64,
    pub last_hold_seconds: Option<f64>,
    pub confirm_p50_ms: f64,
    pub transport_errors: u64,
    pub invariants_ok: bool,
}

impl From<&RunSummary> for JsonSummary {
    fn from(r: &RunSummary) -> Self {
        Self {
            holds_per_sec: round(r.hold.ok_per_sec, 1),
            hold_p50_ms: round(r.hold.p50_ms, 3),
            hold_p90_ms: round(r.hold.p90_ms, 3),
            hold_p99_ms: round(r.hold.p99_ms, 3),
            hold_p999_ms: round(r.hold.p999_ms, 3),
            confirms_per_sec: round(r.confirm.ok_per_sec, 1),
            confirm_p99_ms: round(r.confirm.p99_ms, 3),
            confirmed: r.confirmed,
            oversold: r.invariants.oversold,
            duplicates: r.invariants.duplicates,
            errors_5xx: r.errors_5xx(),
            sold_out_seconds: r.sold_out_seconds.map(|s| round(s, 3)),
            name: r.name.clone(),
            kind: r.kind.clone(),
            mode: r.mode.clone(),
            users: r.users,
            seats: r.capacity,
            hold_requests_per_sec: round(r.hold.requests_per_sec, 1),
            hold_max_ms: round(r.hold.max_ms, 3),
            last_hold_seconds: r.last_hold_seconds.map(|s| round(s, 3)),
            confirm_p50_ms: round(r.confirm.p50_ms, 3),
            transport_errors: r.transport_errors(),
            invariants_ok: r.verified && r.passed(),
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (value * f).round() / f
}

fn statuses_text(statuses: &BTreeMap<u16, u64>) -> String {
    if statuses.is_empty() {
        return "-".into();
    }
    statuses
        .iter()
        .map(|(status, n)| match status {
            0 => format!("no-answer={n}"),
            s => format!("{s}={n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The human report of one run (one event).
pub fn render(r: &RunSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} seats ({}), {} users, {}, {:.2} s timed",
        r.name, r.capacity, r.kind, r.users, r.mode, r.elapsed_secs
    );
    let _ = writeln!(
        out,
        "  {:<8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "op", "requests", "ok", "ok/s", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for (name, op) in [("hold", &r.hold), ("confirm", &r.confirm)] {
        let _ = writeln!(
            out,
            "  {:<8} {:>8} {:>8} {:>9.1} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            name,
            op.requests,
            op.ok,
            op.ok_per_sec,
            op.requests_per_sec,
            op.p50_ms,
            op.p90_ms,
            op.p99_ms,
            op.p999_ms,
            op.max_ms
        );
    }
    let _ = writeln!(
        out,
        "  hold statuses:    {}",
        statuses_text(&r.hold.statuses)
    );
    let _ = writeln!(
        out,
        "  confirm statuses: {}",
        statuses_text(&r.confirm.statuses)
    );
    let _ = writeln!(out, "  availability reads: {}", r.availability_reads);
    let sold_out = match (r.sold_out_seconds, r.last_hold_seconds) {
        (Some(s), Some(h)) => {
            format!("last hold at {h:.2} s, sold out (last confirmation) at {s:.2} s")
        }
        (Some(s), None) => format!("sold out at {s:.2} s"),
        (None, _) => "not sold out".into(),
    };
    let _ = writeln!(
        out,
        "  confirmed {} of {} places, {sold_out}",
        r.confirmed, r.capacity
    );
    for (slug, n, detail) in &r.failures {
        let _ = writeln!(out, "  unexpected: {slug} ×{n} (first: {detail})");
    }
    let inv = &r.invariants;
    if let Some(error) = &r.verify_error {
        let _ = writeln!(
            out,
            "  invariants NOT CHECKED, the read-back failed: {error}"
        );
        return out;
    }
    if !r.verified {
        let _ = writeln!(out, "  invariants not checked (--no-verify)");
        return out;
    }
    let _ = writeln!(
        out,
        "  invariants {}: {} bookings / {} places read back; oversold {}, duplicates {}, \
         not in layout {}, unknown seats {}, booked without booking {}, lost confirmations {}",
        if inv.ok() { "OK" } else { "FAILED" },
        inv.confirmed_bookings,
        inv.sold,
        inv.oversold,
        inv.duplicates,
        inv.not_in_layout,
        inv.unknown_seats,
        inv.booked_without_booking,
        inv.lost_confirmations
    );
    for finding in &inv.findings {
        let _ = writeln!(out, "    - {finding}");
    }
    out
}

/// The README table's header (see docs/load-simulator.md).
pub const TABLE_HEADER: &str = "| run | seats | users | mode | holds/s | hold p50 | hold p99 | hold p99.9 | confirms/s | confirm p99 | sold out | confirmed | oversold | duplicates | 5xx |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/// One README table row.
pub fn table_row(r: &RunSummary) -> String {
    let j = JsonSummary::from(r);
    format!(
        "| {} ({}) | {} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.1} ms | {} | {} | {} | {} | {} |",
        j.name,
        j.kind,
        j.seats,
        j.users,
        j.mode,
        j.holds_per_sec,
        j.hold_p50_ms,
        j.hold_p99_ms,
        j.hold_p999_ms,
        j.confirms_per_sec,
        j.confirm_p99_ms,
        j.sold_out_seconds
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "—".into()),
        j.confirmed,
        j.oversold,
        j.duplicates,
        j.errors_5xx
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_zero_without_time() {
        assert_eq!(per_sec(10, 0.0), 0.0);
        assert_eq!(per_sec(10, 2.0), 5.0);
    }

    #[test]
    fn rounding_keeps_the_asked_digits() {
        assert_eq!(round(1.23456, 3), 1.235);
        assert_eq!(round(1234.56, 1), 1234.6);
    }
}
