use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match booking::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("booking: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("booking", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match booking::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "booking service listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "booking service stopped with an error"
            );
            eprintln!("booking: {error:#}");
            ExitCode::FAILURE
        }
    }
}
