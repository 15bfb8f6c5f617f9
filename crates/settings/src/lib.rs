//! Layered settings for every service.
//!
//! Order, later wins:
//! 1. defaults (serde defaults on each settings struct),
//! 2. an optional TOML file: `$EVENTLY_CONFIG_DIR/<service>.toml` (default `config/`),
//! 3. environment variables `<SERVICE>__SECTION__KEY` (e.g. `BOOKING__HTTP__PORT=9000`),
//! 4. the well-known variables that swap an embedded component for a real server:
//!    `DATABASE_URL`, `KAFKA_BROKERS`, `MONGODB_URI`, `SMTP_URL`, `KAFKA_TOPIC_PREFIX`,
//!    `KAFKA_PARTITIONS`, `JWKS_URL`.
//!
//! `DATABASE_URL` names a PostgreSQL *server*: each service uses its own database
//! on it (`evently_<service>`), so services never share tables. A service-specific
//! `<SERVICE>__DATABASE__URL` is taken as it is.

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration for {service}: {source}")]
    Load {
        service: String,
        // Boxed: config's error is large, and every service returns this.
        #[source]
        source: Box<config::ConfigError>,
    },
    #[error("invalid configuration for {service}: {key}: {message}")]
    Invalid {
        service: String,
        key: String,
        message: String,
    },
}

impl SettingsError {
    pub fn invalid(service: &str, key: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            service: service.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Load `T` for `service` from all layers. Nested sections deny unknown keys, so
/// a typo in `BOOKING__HTTP__PROT` is an error; top-level service structs do not,
/// because the well-known variables above are shared by every service.
///
/// `defaults` are `(key, value)` pairs such as `("http.port", "8084")`.
pub fn load<T: DeserializeOwned>(
    service: &str,
    defaults: &[(&str, &str)],
) -> Result<T, SettingsError> {
    let wrap = |source| SettingsError::Load {
        service: service.to_string(),
        source: Box::new(source),
    };
    let dir = std::env::var_os("EVENTLY_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"));
    let mut builder = config::Config::builder()
        .set_default(
            "database.url",
            format!("postgres://postgres@127.0.0.1:5432/evently_{service}"),
        )
        .map_err(wrap)?;
    for (key, value) in defaults {
        builder = builder.set_default(*key, *value).map_err(wrap)?;
    }
    builder = builder
        .add_source(config::File::from(dir.join(format!("{service}.toml"))).required(false))
        .add_source(
            config::Environment::with_prefix(&service.to_ascii_uppercase())
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .ignore_empty(true),
        );

    let service_db_key = format!("{}__DATABASE__URL", service.to_ascii_uppercase());
    if std::env::var_os(&service_db_key).is_none() {
        if let Some(server) = non_empty_env("DATABASE_URL") {
            let url = database_url_for(&server, service)
                .map_err(|m| SettingsError::invalid(service, "DATABASE_URL", m))?;
            builder = builder.set_override("database.url", url).map_err(wrap)?;
        }
    }
    for (var, key) in [
        ("KAFKA_BROKERS", "kafka.brokers"),
        ("KAFKA_TOPIC_PREFIX", "kafka.topic_prefix"),
        ("KAFKA_PARTITIONS", "kafka.partitions"),
        ("MONGODB_URI", "mongodb_uri"),
        ("SMTP_URL", "smtp_url"),
        ("JWKS_URL", "auth.jwks_url"),
    ] {
        if let Some(value) = non_empty_env(var) {
            builder = builder.set_override(key, value).map_err(wrap)?;
        }
    }
    builder
        .build()
        .map_err(wrap)?
        .try_deserialize()
        .map_err(wrap)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The URL of `service`'s own database on the server `server_url` names.
pub fn database_url_for(server_url: &str, service: &str) -> Result<String, String> {
    let mut url = url::Url::parse(server_url)
        .map_err(|e| format!("not a URL ({e}); expected postgres://user@host:port/"))?;
    if url.scheme() != "postgres" && url.scheme() != "postgresql" {
        return Err(format!("scheme {:?} is not postgres", url.scheme()));
    }
    if url.host_str().is_none() {
        return Err("no host".into());
    }
    url.set_path(&format!("/evently_{service}"));
    Ok(url.to_string())
}

/// Where a service listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(default = "default_host")]
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// Actix workers; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
}

impl HttpSettings {
    pub fn on_port(port: u16) -> Self {
        Self {
            host: default_host(),
            port,
            body_limit: default_body_limit(),
            workers: 0,
        }
    }
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_body_limit() -> usize {
    // A 20,000-seat venue in one call is ~1 MB of JSON.
    4 * 1024 * 1024
}

/// A service's own PostgreSQL database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_acquire_timeout")]
    pub acquire_timeout_secs: u64,
}

impl DatabaseSettings {
    pub fn local_default(service: &str) -> Self {
        Self {
            url: SecretString::from(format!(
                "postgres://postgres@127.0.0.1:5432/evently_{service}"
            )),
            max_connections: default_max_connections(),
            acquire_timeout_secs: default_acquire_timeout(),
        }
    }
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            max_connections: default_max_connections(),
            acquire_timeout_secs: default_acquire_timeout(),
        }
    }
    pub fn expose_url(&self) -> &str {
        self.url.expose_secret()
    }
}

fn default_max_connections() -> u32 {
    10
}
fn default_acquire_timeout() -> u64 {
    5
}

/// The Kafka-protocol broker and how this service talks to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Put in front of every topic name; tests use a unique one each.
    #[serde(default)]
    pub topic_prefix: String,
    /// Partitions of the topics this service creates when they are missing.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    #[serde(default = "default_replication")]
    pub replication_factor: i32,
    /// Producer linger: a small batch window that trades ~ms for throughput.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u32,
    /// Consumer groups get this in front of their name (tests isolate by it).
    #[serde(default)]
    pub group_prefix: String,
    /// How long a fetch may wait at the broker for new messages. Kafka answers
    /// as soon as data arrives, so this bounds only idle round trips, not the
    /// latency of a consumed hop.
    #[serde(default = "default_fetch_wait_max_ms")]
    pub fetch_wait_max_ms: u32,
    /// librdkafka debug contexts (e.g. `fetch,protocol`), logged at debug
    /// level: how to see what the client and broker say to each other.
    #[serde(default)]
    pub debug: Option<String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: default_brokers(),
            topic_prefix: String::new(),
            partitions: default_partitions(),
            replication_factor: default_replication(),
            linger_ms: default_linger_ms(),
            group_prefix: String::new(),
            fetch_wait_max_ms: default_fetch_wait_max_ms(),
            debug: None,
        }
    }
}

impl KafkaSettings {
    pub fn topic(&self, base: &str) -> String {
        format!("{}{}", self.topic_prefix, base)
    }
    pub fn group(&self, base: &str) -> String {
        format!("{}{}", self.group_prefix, base)
    }
}

fn default_brokers() -> String {
    // The local broker listens on IPv4 only; `localhost` may resolve to ::1 first.
    "127.0.0.1:9092".into()
}
fn default_partitions() -> i32 {
    12
}
fn default_replication() -> i32 {
    1
}
fn default_linger_ms() -> u32 {
    2
}
fn default_fetch_wait_max_ms() -> u32 {
    100
}

/// How a service verifies access tokens: auth's JWKS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenVerifySettings {
    #[serde(default = "default_jwks_url")]
    pub jwks_url: String,
    #[serde(default = "default_issuer")]
    pub issuer: String,
    #[serde(default = "default_audience")]
    pub audience: String,
}

impl Default for TokenVerifySettings {
    fn default() -> Self {
        Self {
            jwks_url: default_jwks_url(),
            issuer: default_issuer(),
            audience: default_audience(),
        }
    }
}

fn default_jwks_url() -> String {
    "http://127.0.0.1:8081/.well-known/jwks.json".into()
}
pub fn default_issuer() -> String {
    "evently-auth".into()
}
pub fn default_audience() -> String {
    "evently".into()
}

/// Logging and tracing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    #[serde(default = "default_log_filter")]
    pub log_filter: String,
    /// `json` (default) or `pretty`.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint (e.g. `http://jaeger:4318/v1/traces`); none exports nothing.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// The share of new traces kept (0.0 to 1.0); a span whose caller sent a
    /// `traceparent` follows the caller's decision, so a trace is whole or absent.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_filter: default_log_filter(),
            log_format: LogFormat::Json,
            otlp_endpoint: None,
            sample_ratio: default_sample_ratio(),
        }
    }
}

fn default_sample_ratio() -> f64 {
    1.0
}

fn default_log_filter() -> String {
    "info".into()
}
fn default_log_format() -> LogFormat {
    LogFormat::Json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_names_the_service_database() {
        assert_eq!(
            database_url_for("postgres://u:p@db:5432/postgres?sslmode=disable", "booking").ok(),
            Some("postgres://u:p@db:5432/evently_booking?sslmode=disable".to_string())
        );
        assert!(database_url_for("mysql://x@y/z", "auth").is_err());
        assert!(database_url_for("not a url", "auth").is_err());
    }
}
