use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match notification::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("notification: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("notification", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match notification::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "notification service listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "notification service stopped with an error"
            );
            eprintln!("notification: {error:#}");
            ExitCode::FAILURE
        }
    }
}
