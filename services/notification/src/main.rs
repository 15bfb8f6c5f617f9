use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    service_http::run_service::<notification::Application>().await
}
