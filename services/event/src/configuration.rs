use secrecy::SecretString;
use serde::Deserialize;
use settings::{
    DatabaseSettings, HttpSettings, KafkaSettings, SettingsError, TelemetrySettings,
    TokenVerifySettings,
};

/// Everything the event service reads at start-up; see `settings` for the layers.
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
    /// `MONGODB_URI`: when set, the catalogue lives in MongoDB; otherwise in
    /// PostgreSQL (`database`).
    #[serde(default)]
    pub mongodb_uri: Option<SecretString>,
    #[serde(default)]
    pub catalog: CatalogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// How long a published event or the first list page is served from
    /// memory; 0 turns the cache off.
    #[serde(default = "default_cache_ttl_ms")]
    pub cache_ttl_ms: u64,
    /// How often the outbox relay looks for messages nobody woke it for.
    #[serde(default = "default_outbox_poll_ms")]
    pub outbox_poll_ms: u64,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            cache_ttl_ms: default_cache_ttl_ms(),
            outbox_poll_ms: default_outbox_poll_ms(),
        }
    }
}

fn default_cache_ttl_ms() -> u64 {
    2_000
}
fn default_outbox_poll_ms() -> u64 {
    500
}

impl Settings {
    // SettingsError is the shared crate's; boxing it here would only move the size.
    #[allow(clippy::result_large_err)]
    pub fn load() -> Result<Self, SettingsError> {
        settings::load(crate::SERVICE, &[("http.port", "8082")])
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
            mongodb_uri: None,
            catalog: CatalogSettings::default(),
        }
    }
}
