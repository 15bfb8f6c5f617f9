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
}

impl Settings {
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
        }
    }
}
