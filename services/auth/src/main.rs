use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match auth::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("auth: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("auth", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match auth::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "auth service listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "auth service stopped with an error"
            );
            eprintln!("auth: {error:#}");
            ExitCode::FAILURE
        }
    }
}
