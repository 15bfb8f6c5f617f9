//! The life of a service process: settings, telemetry, build, serve, exit code.

use std::future::Future;
use std::process::ExitCode;

#[doc(hidden)]
pub use anyhow;
pub use settings::{SettingsError, TelemetrySettings};
pub use tokio_util::sync::CancellationToken;

/// What `run_service` needs from a service's `Application`.
pub trait Service: Sized {
    /// The service name: telemetry's service name and the prefix of errors
    /// printed to stderr.
    const NAME: &'static str;

    type Settings;

    fn load() -> Result<Self::Settings, SettingsError>;

    fn telemetry(settings: &Self::Settings) -> &TelemetrySettings;

    /// Bind, connect and start the background workers; cancelling `shutdown`
    /// stops them gracefully.
    fn build(
        settings: Self::Settings,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<Self>> + Send;

    fn port(&self) -> u16;

    /// Serve until shutdown, then let the workers finish.
    fn run_until_stopped(self) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// How the service names itself in its log lines.
    fn title() -> String {
        format!("{} service", Self::NAME)
    }
}

/// Run `S` until SIGTERM or Ctrl-C. Failure to load settings, to build, or
/// while running is printed with its cause chain and exits with failure.
pub async fn run_service<S: Service>() -> ExitCode {
    let settings = match S::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{}: {error}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init(S::NAME, S::telemetry(&settings));
    let shutdown = crate::shutdown_on_signal();
    let result = match S::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "{} listening", S::title());
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "{} stopped with an error",
                S::title()
            );
            eprintln!("{}: {error:#}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

/// Implement [`Service`] for a service's `Application` by forwarding to its
/// inherent `build`, `port` and `run_until_stopped` (which tests call
/// directly) and its `Settings::load` and `telemetry` field:
/// `service_http::service!(SERVICE, Application, Settings);`, or with
/// `title = "gateway"` where the log lines name it differently.
#[macro_export]
macro_rules! service {
    ($name:expr, $app:ty, $settings:ty $(, title = $title:expr)?) => {
        impl $crate::Service for $app {
            const NAME: &'static str = $name;
            type Settings = $settings;

            fn load() -> ::std::result::Result<$settings, $crate::service::SettingsError> {
                <$settings>::load()
            }

            fn telemetry(settings: &$settings) -> &$crate::service::TelemetrySettings {
                &settings.telemetry
            }

            async fn build(
                settings: $settings,
                shutdown: $crate::service::CancellationToken,
            ) -> $crate::service::anyhow::Result<Self> {
                <$app>::build(settings, shutdown).await
            }

            fn port(&self) -> u16 {
                <$app>::port(self)
            }

            async fn run_until_stopped(self) -> $crate::service::anyhow::Result<()> {
                <$app>::run_until_stopped(self).await
            }

            $(
                fn title() -> String {
                    ($title).to_string()
                }
            )?
        }
    };
}
