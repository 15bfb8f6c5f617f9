use secrecy::SecretString;
use serde::Deserialize;
use settings::{
    DatabaseSettings, HttpSettings, KafkaSettings, SettingsError, TelemetrySettings,
    TokenVerifySettings,
};

/// Everything the booking service reads at start-up; see `settings` for the layers.
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
    #[serde(default)]
    pub booking: BookingSettings,
    /// Callers of `/internal/...` send this as `X-Service-Token`.
    #[serde(default = "default_internal_token")]
    pub internal_token: SecretString,
}

/// How the booking core behaves (`BOOKING__BOOKING__<KEY>` in the environment).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingSettings {
    /// Lifetime of a hold.
    pub hold_ttl_secs: u32,
    /// How long an HTTP request waits for its command's outcome before 202.
    pub reply_timeout_ms: u64,
    /// How long payment authorization may take before 504.
    pub payment_timeout_ms: u64,
    /// Delay of the simulated provider's slow test card (4000000000000077).
    pub slow_card_delay_ms: u64,
    /// Run the processor (consumer of `booking.create`) in this instance.
    pub processor: bool,
    /// Most commands decided and written per transaction.
    pub max_batch: usize,
    /// How often the expiry timer looks for due holds.
    pub expiry_tick_ms: u64,
    /// How often refunds and voids that are due are sent to the provider.
    pub refund_sweep_ms: u64,
    /// The processor's own connection pool (separate from the HTTP side's, so
    /// a crowd of requests can never starve the ordered path).
    pub processor_db_connections: u32,
    /// A name this instance keeps across restarts (the pod or container
    /// name): the processor then joins its consumer group as a *static*
    /// member, so an instance restarted within its session (30 s) takes its
    /// partitions straight back without a rebalance of the others (a k8s
    /// StatefulSet's pod name). Unset means dynamic membership.
    pub processor_instance_id: Option<String>,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            hold_ttl_secs: 600,
            reply_timeout_ms: 3000,
            payment_timeout_ms: 5000,
            slow_card_delay_ms: 3000,
            processor: true,
            max_batch: 1000,
            expiry_tick_ms: 500,
            refund_sweep_ms: 2000,
            processor_db_connections: 6,
            processor_instance_id: None,
        }
    }
}

fn default_internal_token() -> SecretString {
    SecretString::from("dev-internal-token")
}

// `SettingsError` is the shared crate's type; boxing it here would only differ
// from every other service.
#[allow(clippy::result_large_err)]
impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let settings: Self = settings::load(crate::SERVICE, &[("http.port", "8083")])?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let b = &self.booking;
        if b.hold_ttl_secs == 0 {
            return Err(SettingsError::invalid(
                crate::SERVICE,
                "booking.hold_ttl_secs",
                "must be at least 1",
            ));
        }
        if b.max_batch == 0 {
            return Err(SettingsError::invalid(
                crate::SERVICE,
                "booking.max_batch",
                "must be at least 1",
            ));
        }
        Ok(())
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
            booking: BookingSettings::default(),
            internal_token: default_internal_token(),
        }
    }
}
