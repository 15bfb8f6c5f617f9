use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match gateway::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("gateway: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("gateway", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match gateway::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "gateway listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}
