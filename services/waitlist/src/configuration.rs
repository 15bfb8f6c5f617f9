use serde::Deserialize;
use settings::{
    DatabaseSettings, HttpSettings, KafkaSettings, SettingsError, TelemetrySettings,
    TokenVerifySettings,
};

/// Everything the waitlist service reads at start-up; see `settings` for the layers.
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
    /// The booking service, asked whether seats are available before a join.
    #[serde(default = "default_booking_url")]
    pub booking_url: String,
    /// How long a waitlist offer (a hold) lasts before it moves on.
    #[serde(default = "default_offer_ttl_secs")]
    pub offer_ttl_secs: u32,
    /// Most tickets one entry may wait for.
    #[serde(default = "default_max_quantity")]
    pub max_quantity: u32,
    /// How often the outbox relay looks for messages when nothing woke it.
    #[serde(default = "default_relay_poll_ms")]
    pub relay_poll_ms: u64,
}

fn default_booking_url() -> String {
    "http://127.0.0.1:8083".into()
}
fn default_offer_ttl_secs() -> u32 {
    15 * 60
}
fn default_max_quantity() -> u32 {
    10
}
fn default_relay_poll_ms() -> u64 {
    200
}

impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let settings: Self = settings::load(crate::SERVICE, &[("http.port", "8084")])?;
        if settings.offer_ttl_secs == 0 {
            return Err(SettingsError::invalid(
                crate::SERVICE,
                "offer_ttl_secs",
                "must be at least 1",
            ));
        }
        if settings.max_quantity == 0 {
            return Err(SettingsError::invalid(
                crate::SERVICE,
                "max_quantity",
                "must be at least 1",
            ));
        }
        Ok(settings)
    }

    /// Settings for a test: port 0, the given database and broker.
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
            booking_url: default_booking_url(),
            offer_ttl_secs: default_offer_ttl_secs(),
            max_quantity: default_max_quantity(),
            relay_poll_ms: 20,
        }
    }
}
