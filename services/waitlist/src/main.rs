use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match waitlist::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("waitlist: {error}");
            return ExitCode::FAILURE;
        }
    };
    let _telemetry = telemetry::init("waitlist", &settings.telemetry);
    let shutdown = service_http::shutdown_on_signal();
    let result = match waitlist::Application::build(settings, shutdown).await {
        Ok(app) => {
            tracing::info!(port = app.port(), "waitlist service listening");
            app.run_until_stopped().await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "waitlist service stopped with an error"
            );
            eprintln!("waitlist: {error:#}");
            ExitCode::FAILURE
        }
    }
}
