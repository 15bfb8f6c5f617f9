use serde::Deserialize;
use settings::{HttpSettings, SettingsError, TelemetrySettings, TokenVerifySettings};

/// Where each service behind the gateway listens: a comma-separated list of
/// instances, each a base URL (`http://10.0.0.5:8083`) or `dns://name:port`,
/// a DNS name re-resolved every `balancing.resolve_interval_ms` whose every
/// address is one instance (so `docker-compose up --scale` is picked up).
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

/// Per-service overrides of `upstream_timeout_ms`, in milliseconds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    pub auth: Option<u64>,
    pub event: Option<u64>,
    pub booking: Option<u64>,
    pub waitlist: Option<u64>,
    pub notification: Option<u64>,
}

/// How requests are spread over instances and how failing ones are avoided.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancingSettings {
    /// How often `dns://` instances are resolved again.
    #[serde(default = "default_resolve_interval")]
    pub resolve_interval_ms: u64,
    /// Treat `http://name:port` (a DNS name, not an IP or `localhost`) like
    /// `dns://name:port`: every address of the name is an instance.
    #[serde(default = "default_true")]
    pub resolve_hostnames: bool,
    /// Consecutive failures (connection error, timeout, 502/503/504) that
    /// take an instance out of rotation.
    #[serde(default = "default_eject_after")]
    pub eject_after_failures: u32,
    /// How long an ejected instance stays out before it is tried again.
    #[serde(default = "default_eject_for")]
    pub eject_for_ms: u64,
    /// Extra attempts on another instance, only for requests safe to repeat
    /// (GET/HEAD, or POST with `Idempotency-Key`; any request that never
    /// reached an instance because the connection was refused).
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl Default for BalancingSettings {
    fn default() -> Self {
        Self {
            resolve_interval_ms: default_resolve_interval(),
            resolve_hostnames: true,
            eject_after_failures: default_eject_after(),
            eject_for_ms: default_eject_for(),
            retries: default_retries(),
        }
    }
}

fn default_resolve_interval() -> u64 {
    5_000
}
fn default_eject_after() -> u32 {
    3
}
fn default_eject_for() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    1
}

/// One token bucket: `per_second` refill, up to `burst` at once.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub per_second: f64,
    pub burst: u32,
}

/// Rate limits (token buckets). Defaults are generous so a load test from one
/// address is not throttled; tighten them for a public deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Every proxied request, per client address.
    #[serde(default = "default_per_address")]
    pub per_address: Budget,
    /// Every proxied request with a valid token, per user.
    #[serde(default = "default_per_user")]
    pub per_user: Budget,
    /// `POST /api/v1/auth/{login,register,refresh}`, per client address.
    #[serde(default = "default_login")]
    pub login_per_address: Budget,
    /// Writes to holds and bookings (`POST`/`DELETE` under `/api/v1/seats`
    /// and `/api/v1/bookings`), per user.
    #[serde(default = "default_writes")]
    pub booking_writes_per_user: Budget,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            per_address: default_per_address(),
            per_user: default_per_user(),
            login_per_address: default_login(),
            booking_writes_per_user: default_writes(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_per_address() -> Budget {
    Budget {
        per_second: 5_000.0,
        burst: 10_000,
    }
}
fn default_per_user() -> Budget {
    Budget {
        per_second: 50.0,
        burst: 100,
    }
}
fn default_login() -> Budget {
    Budget {
        per_second: 500.0,
        burst: 2_000,
    }
}
fn default_writes() -> Budget {
    Budget {
        per_second: 5.0,
        burst: 20,
    }
}

/// Browsers may call the API from these origins (comma-separated, `*` for any).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    #[serde(default = "default_origins")]
    pub allowed_origins: String,
    #[serde(default = "default_cors_max_age")]
    pub max_age_secs: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: default_origins(),
            max_age_secs: default_cors_max_age(),
        }
    }
}

fn default_origins() -> String {
    "http://localhost:3000,http://localhost:5173,http://localhost:8080,http://127.0.0.1:8080".into()
}
fn default_cors_max_age() -> u64 {
    600
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub upstreams: Upstreams,
    /// Per-request timeout towards a service (until its response headers), in
    /// milliseconds. Streams (server-sent events) are not cut by it.
    pub upstream_timeout_ms: u64,
    #[serde(default)]
    pub upstream_timeouts_ms: UpstreamTimeouts,
    #[serde(default)]
    pub balancing: BalancingSettings,
    #[serde(default)]
    pub rate_limits: RateLimitSettings,
    #[serde(default)]
    pub cors: CorsSettings,
    /// Take the client address from the last `X-Forwarded-For` entry, for a
    /// gateway behind a trusted load balancer. Off: the TCP peer is the client.
    #[serde(default)]
    pub trust_forwarded_for: bool,
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

// SettingsError is the shared crate's type; its size is not ours to change.
#[allow(clippy::result_large_err)]
impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let settings: Self = settings::load(
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
        )?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid =
            |key: &str, message: String| SettingsError::invalid(crate::SERVICE, key, message);
        for (upstream, list) in self.upstreams.all() {
            crate::balancer::parse_targets(list)
                .map_err(|m| invalid(&format!("upstreams.{}", upstream.name()), m))?;
        }
        let limits = &self.rate_limits;
        for (key, budget) in [
            ("per_address", limits.per_address),
            ("per_user", limits.per_user),
            ("login_per_address", limits.login_per_address),
            ("booking_writes_per_user", limits.booking_writes_per_user),
        ] {
            if !budget.per_second.is_finite() || budget.per_second <= 0.0 || budget.burst == 0 {
                return Err(invalid(
                    &format!("rate_limits.{key}"),
                    "per_second and burst must be positive".into(),
                ));
            }
        }
        Ok(())
    }

    /// The timeout towards `upstream`.
    pub fn timeout_for(&self, upstream: crate::routing::Upstream) -> std::time::Duration {
        use crate::routing::Upstream::*;
        let t = &self.upstream_timeouts_ms;
        let specific = match upstream {
            Auth => t.auth,
            Event => t.event,
            Booking => t.booking,
            Waitlist => t.waitlist,
            Notification => t.notification,
        };
        std::time::Duration::from_millis(specific.unwrap_or(self.upstream_timeout_ms))
    }

    /// Settings for a test: port 0 and the given upstreams.
    pub fn for_tests(upstreams: Upstreams, auth: TokenVerifySettings) -> Self {
        Self {
            http: HttpSettings::on_port(0),
            upstreams,
            upstream_timeout_ms: 5_000,
            upstream_timeouts_ms: UpstreamTimeouts::default(),
            balancing: BalancingSettings::default(),
            rate_limits: RateLimitSettings::default(),
            cors: CorsSettings::default(),
            trust_forwarded_for: false,
            auth,
            telemetry: TelemetrySettings::default(),
            kafka: settings::KafkaSettings::default(),
            live: crate::live::LiveSettings {
                enabled: false,
                ..Default::default()
            },
            admin_queues: crate::admin_queues::QueueDashboardSettings::default(),
        }
    }
}
