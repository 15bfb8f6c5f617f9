use serde::Deserialize;
use settings::{HttpSettings, SettingsError, TelemetrySettings, TokenVerifySettings};

/// Where each service behind the gateway listens: a comma-separated list of
/// base URLs (several instances are balanced over).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstreams {
    pub auth: String,
    pub event: String,
    pub booking: String,
    pub waitlist: String,
    pub notification: String,
}

impl Upstreams {
    pub fn all(&self) -> [(crate::routing::Upstream, &str); 5] {
        use crate::routing::Upstream::*;
        [
            (Auth, self.auth.as_str()),
            (Event, self.event.as_str()),
            (Booking, self.booking.as_str()),
            (Waitlist, self.waitlist.as_str()),
            (Notification, self.notification.as_str()),
        ]
    }

    pub fn get(&self, upstream: crate::routing::Upstream) -> &str {
        use crate::routing::Upstream::*;
        match upstream {
            Auth => &self.auth,
            Event => &self.event,
            Booking => &self.booking,
            Waitlist => &self.waitlist,
            Notification => &self.notification,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub upstreams: Upstreams,
    /// Per-request timeout towards a service, in milliseconds.
    pub upstream_timeout_ms: u64,
    #[serde(default)]
    pub auth: TokenVerifySettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// The broker the live feed and the topic dashboard read.
    #[serde(default)]
    pub kafka: settings::KafkaSettings,
    #[serde(default)]
    pub live: crate::live::LiveSettings,
    #[serde(default)]
    pub admin_queues: crate::admin_queues::QueueDashboardSettings,
}

impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        settings::load(
            crate::SERVICE,
            &[
                ("http.port", "8080"),
                ("upstreams.auth", "http://127.0.0.1:8081"),
                ("upstreams.event", "http://127.0.0.1:8082"),
                ("upstreams.booking", "http://127.0.0.1:8083"),
                ("upstreams.waitlist", "http://127.0.0.1:8084"),
                ("upstreams.notification", "http://127.0.0.1:8085"),
                ("upstream_timeout_ms", "10000"),
            ],
        )
    }
}
