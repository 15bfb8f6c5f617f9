use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use settings::{
    HttpSettings, KafkaSettings, SettingsError, TelemetrySettings, TokenVerifySettings,
};

/// Everything the event service reads at start-up; see `settings` for the layers.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    #[serde(default)]
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub auth: TokenVerifySettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// The MongoDB server holding the catalogue (`MONGODB_URI`). Secret:
    /// it may carry a password.
    #[serde(default = "default_mongodb_uri")]
    pub mongodb_uri: SecretString,
    /// The database on that server (`EVENT__MONGODB_DATABASE`); unset: the
    /// URI's own (`mongodb://host/name`), else `evently_event`.
    #[serde(default)]
    pub mongodb_database: Option<String>,
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

fn default_mongodb_uri() -> SecretString {
    SecretString::from("mongodb://127.0.0.1:27017")
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
        let settings: Self = settings::load(crate::SERVICE, &[("http.port", "8082")])?;
        settings.validate()?;
        Ok(settings)
    }

    /// What serde cannot say: a usable URI and database name. The server
    /// itself is checked when the service connects.
    #[allow(clippy::result_large_err)]
    pub fn validate(&self) -> Result<(), SettingsError> {
        let uri = self.mongodb_uri.expose_secret().trim();
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            return Err(SettingsError::invalid(
                crate::SERVICE,
                "mongodb_uri",
                "must start with mongodb:// or mongodb+srv:// (MONGODB_URI)",
            ));
        }
        if let Some(name) = &self.mongodb_database {
            // MongoDB's own rules for database names.
            let bad = name.is_empty()
                || name.len() > 63
                || name
                    .chars()
                    .any(|c| "/\\. \"$".contains(c) || c.is_control());
            if bad {
                return Err(SettingsError::invalid(
                    crate::SERVICE,
                    "mongodb_database",
                    "must be 1 to 63 characters without / \\ . space \" or $",
                ));
            }
        }
        Ok(())
    }

    /// Settings for a test: port 0, the given MongoDB database and broker.
    pub fn for_tests(
        mongodb_uri: &str,
        database: &str,
        kafka: KafkaSettings,
        auth: TokenVerifySettings,
    ) -> Self {
        Self {
            http: HttpSettings::on_port(0),
            kafka,
            auth,
            telemetry: TelemetrySettings::default(),
            mongodb_uri: SecretString::from(mongodb_uri),
            mongodb_database: Some(database.to_string()),
            catalog: CatalogSettings::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(uri: &str, database: Option<&str>) -> Settings {
        let mut s = Settings::for_tests(
            uri,
            "x",
            KafkaSettings::default(),
            TokenVerifySettings::default(),
        );
        s.mongodb_database = database.map(str::to_string);
        s
    }

    #[test]
    fn the_store_settings_are_checked_at_start_up() {
        assert!(with("mongodb://127.0.0.1:27017", None).validate().is_ok());
        assert!(with("mongodb+srv://u:p@cluster/db", Some("evently"))
            .validate()
            .is_ok());
        for bad in ["postgres://127.0.0.1/x", "", "127.0.0.1:27017"] {
            let error = with(bad, None).validate().unwrap_err().to_string();
            assert!(error.contains("mongodb_uri"), "{bad}: {error}");
        }
        for bad in ["", "a.b", "a b", "a$b", &"x".repeat(64)] {
            let error = with("mongodb://h", Some(bad))
                .validate()
                .unwrap_err()
                .to_string();
            assert!(error.contains("mongodb_database"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_uri_defaults_to_the_local_server() {
        assert_eq!(
            default_mongodb_uri().expose_secret(),
            "mongodb://127.0.0.1:27017"
        );
    }
}
