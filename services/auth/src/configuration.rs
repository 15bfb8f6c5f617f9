use secrecy::SecretString;
use serde::Deserialize;
use settings::{
    DatabaseSettings, HttpSettings, KafkaSettings, SettingsError, TelemetrySettings,
    TokenVerifySettings,
};

/// Everything the auth service reads at start-up; see `settings` for the layers.
/// Every key is documented in `docs/auth-and-gateway.md`.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub kafka: KafkaSettings,
    /// Issuer and audience put into (and checked on) access tokens.
    #[serde(default)]
    pub auth: TokenVerifySettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// `development` (default) or `production`; production refuses unsafe settings.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Argon2id cost: `owasp` (default) or `dev-fast` (never in production).
    #[serde(default)]
    pub password_hash_cost: PasswordHashCost,
    /// A user made admin at start-up (created when missing). Both or neither.
    #[serde(default)]
    pub bootstrap_admin_email: Option<String>,
    #[serde(default)]
    pub bootstrap_admin_password: Option<SecretString>,
    /// The Ed25519 signing key as a PKCS#8 PEM (takes precedence over the file).
    #[serde(default)]
    pub signing_key_pem: Option<SecretString>,
    /// Where the signing key is read from; generated there when missing.
    #[serde(default = "default_signing_key_file")]
    pub signing_key_file: String,
    /// Comma-separated PEM files of retired keys (public or private): their
    /// public halves stay in the JWKS so tokens they signed keep verifying.
    #[serde(default)]
    pub previous_key_files: String,
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_secs: i64,
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl_secs: i64,
    /// Take the client address from the last `X-Forwarded-For` entry (the
    /// gateway sets it); turn off if auth is reachable without the gateway.
    #[serde(default = "default_true")]
    pub trust_forwarded_for: bool,
    #[serde(default)]
    pub login_throttle: LoginThrottleSettings,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordHashCost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    #[default]
    Owasp,
    /// Tiny memory and one iteration: for preparing thousands of load-test users.
    DevFast,
}

/// Failed logins: `max_failures` within `window_secs` lock the account (or
/// address) for `lockout_secs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleSettings {
    #[serde(default = "default_account_failures")]
    pub account_max_failures: i32,
    #[serde(default = "default_address_failures")]
    pub address_max_failures: i32,
    #[serde(default = "default_window")]
    pub window_secs: u64,
    #[serde(default = "default_lockout")]
    pub lockout_secs: u64,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        Self {
            account_max_failures: default_account_failures(),
            address_max_failures: default_address_failures(),
            window_secs: default_window(),
            lockout_secs: default_lockout(),
        }
    }
}

fn default_environment() -> String {
    "development".into()
}
fn default_signing_key_file() -> String {
    ".evently/auth-signing-key.pem".into()
}
fn default_access_ttl() -> i64 {
    15 * 60
}
fn default_refresh_ttl() -> i64 {
    30 * 24 * 3600
}
fn default_true() -> bool {
    true
}
fn default_account_failures() -> i32 {
    5
}
fn default_address_failures() -> i32 {
    100
}
fn default_window() -> u64 {
    15 * 60
}
fn default_lockout() -> u64 {
    5 * 60
}

// SettingsError is the shared crate's type; its size is not ours to change.
#[allow(clippy::result_large_err)]
impl Settings {
    pub fn load() -> Result<Self, SettingsError> {
        let settings: Self = settings::load(crate::SERVICE, &[("http.port", "8081")])?;
        settings.validate()?;
        Ok(settings)
    }

    /// Refuse combinations that would be unsafe or cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid =
            |key: &str, message: &str| SettingsError::invalid(crate::SERVICE, key, message);
        if self.is_production() && self.password_hash_cost == PasswordHashCost::DevFast {
            return Err(invalid(
                "password_hash_cost",
                "dev-fast is for load tests only and is refused when environment = \"production\"",
            ));
        }
        if !(1..=24 * 3600).contains(&self.access_token_ttl_secs) {
            return Err(invalid(
                "access_token_ttl_secs",
                "must be between 1 second and a day",
            ));
        }
        if self.refresh_token_ttl_secs < 60 {
            return Err(invalid(
                "refresh_token_ttl_secs",
                "must be at least 60 seconds",
            ));
        }
        if self.bootstrap_admin_email.is_some() != self.bootstrap_admin_password.is_some() {
            return Err(invalid(
                "bootstrap_admin_email",
                "set both bootstrap_admin_email and bootstrap_admin_password, or neither",
            ));
        }
        if self.login_throttle.account_max_failures < 1
            || self.login_throttle.address_max_failures < 1
        {
            return Err(invalid("login_throttle", "max failures must be at least 1"));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.environment.eq_ignore_ascii_case("production")
    }

    /// Settings for a test: port 0, the given database and broker, cheap
    /// password hashing, and a fresh signing key in a temporary file.
    pub fn for_tests(
        database: DatabaseSettings,
        kafka: KafkaSettings,
        auth: TokenVerifySettings,
    ) -> Self {
        let key_file = std::env::temp_dir().join(format!(
            "evently-auth-test-{}.pem",
            uuid::Uuid::new_v4().simple()
        ));
        Self {
            http: HttpSettings::on_port(0),
            database,
            kafka,
            auth,
            telemetry: TelemetrySettings::default(),
            environment: "test".into(),
            password_hash_cost: PasswordHashCost::DevFast,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            signing_key_pem: None,
            signing_key_file: key_file.to_string_lossy().into_owned(),
            previous_key_files: String::new(),
            access_token_ttl_secs: default_access_ttl(),
            refresh_token_ttl_secs: default_refresh_ttl(),
            trust_forwarded_for: true,
            login_throttle: LoginThrottleSettings::default(),
        }
    }
}
