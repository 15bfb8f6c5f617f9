//! What operators watch on auth besides request latency: login outcomes and
//! refresh-token replays (a replay is a sign of a stolen token).

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct AuthMetrics {
    logins: IntCounterVec,
    refresh_reuse: IntCounter,
}

impl AuthMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let logins = IntCounterVec::new(
            Opts::new("auth_logins_total", "Login attempts by outcome"),
            &["outcome"],
        )?;
        let refresh_reuse = IntCounter::new(
            "auth_refresh_token_reuse_total",
            "Used refresh tokens presented again (their family is revoked)",
        )?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(refresh_reuse.clone()))?;
        Ok(Self {
            logins,
            refresh_reuse,
        })
    }

    /// `success`, `invalid_credentials` or `throttled`.
    pub fn login(&self, outcome: &str) {
        self.logins.with_label_values(&[outcome]).inc();
    }

    pub fn refresh_reuse(&self) {
        self.refresh_reuse.inc();
    }
}
