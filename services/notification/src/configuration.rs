use secrecy::SecretString;
use serde::Deserialize;
use settings::{
    DatabaseSettings, HttpSettings, KafkaSettings, SettingsError, TelemetrySettings,
    TokenVerifySettings,
};

/// Everything the notification service reads at start-up; see `settings` for the layers.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub auth: TokenVerifySettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// Where mail goes: `smtp://host:port` (no TLS; the local catcher, Mailpit).
    #[serde(default = "default_smtp_url")]
    pub smtp_url: String,
    /// The `From` of every mail.
    #[serde(default = "default_mail_from")]
    pub mail_from: String,
    /// Base of links in mails (the gateway as users see it).
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// The booking service, for the attendee list of an event (fan-out).
    #[serde(default = "default_booking_url")]
    pub booking_url: String,
    /// Sent as `X-Service-Token` to booking's internal endpoints.
    #[serde(default = "default_internal_token")]
    pub internal_token: SecretString,
    #[serde(default)]
    pub delivery: DeliverySettings,
}

/// How notifications are delivered and retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Sends per notification before it is dead (and goes to `notification.dlq`).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt (with jitter), capped at `backoff_max_ms`.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Mails in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Due notifications claimed per round.
    #[serde(default = "default_batch")]
    pub batch: i64,
    /// How often the sender looks for due notifications when idle.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// SMTP connect/command timeout.
    #[serde(default = "default_smtp_timeout")]
    pub smtp_timeout_secs: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            concurrency: default_concurrency(),
            batch: default_batch(),
            poll_interval_ms: default_poll_ms(),
            smtp_timeout_secs: default_smtp_timeout(),
        }
    }
}

fn default_smtp_url() -> String {
    "smtp://127.0.0.1:2525".into()
}
fn default_mail_from() -> String {
    "Evently <no-reply@evently.local>".into()
}
fn default_public_url() -> String {
    "http://localhost:8080".into()
}
fn default_booking_url() -> String {
    "http://127.0.0.1:8083".into()
}
fn default_internal_token() -> SecretString {
    SecretString::from("dev-internal-token")
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_base_ms() -> u64 {
    2_000
}
fn default_backoff_max_ms() -> u64 {
    10 * 60 * 1000
}
fn default_concurrency() -> usize {
    16
}
fn default_batch() -> i64 {
    200
}
fn default_poll_ms() -> u64 {
    250
}
fn default_smtp_timeout() -> u64 {
    10
}

impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let settings: Self = settings::load(crate::SERVICE, &[("http.port", "8085")])?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid =
            |key: &str, message: &str| Err(SettingsError::invalid(crate::SERVICE, key, message));
        if !self.smtp_url.starts_with("smtp://") {
            return invalid("smtp_url", "expected smtp://host:port");
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid(
                "mail_from",
                "expected a mailbox such as `Evently <no-reply@example.com>`",
            );
        }
        if self.delivery.max_attempts == 0 {
            return invalid("delivery.max_attempts", "must be at least 1");
        }
        if self.delivery.concurrency == 0 || self.delivery.batch <= 0 {
            return invalid("delivery", "concurrency and batch must be at least 1");
        }
        Ok(())
    }

    /// Settings for a test: port 0, the given database and broker, fast retries.
    pub fn for_tests(
        database: DatabaseSettings,
        kafka: KafkaSettings,
        auth: TokenVerifySettings,
    ) -> Self {
        Self {
            http: HttpSettings::on_port(0),
            database,
            kafka,
            auth,
            telemetry: TelemetrySettings::default(),
            smtp_url: default_smtp_url(),
            mail_from: default_mail_from(),
            public_url: default_public_url(),
            booking_url: default_booking_url(),
            internal_token: default_internal_token(),
            delivery: DeliverySettings {
                backoff_base_ms: 20,
                backoff_max_ms: 200,
                poll_interval_ms: 20,
                ..DeliverySettings::default()
            },
        }
    }
}
