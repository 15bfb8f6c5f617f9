use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match event::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("event: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("event", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match event::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "event service listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "event service stopped with an error"
            );
            eprintln!("event: {error:#}");
            ExitCode::FAILURE
        }
    }
}
