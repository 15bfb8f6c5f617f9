//! Listening and stopping.

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer};
use settings::HttpSettings;
use tokio_util::sync::CancellationToken;

/// Bind the service's listener. Port 0 picks a free port (tests read it back).
pub fn bind(settings: &HttpSettings) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(settings.address()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", settings.address()),
        )
    })
}

/// A token cancelled on SIGTERM or Ctrl-C: background loops stop on it, and
/// the HTTP server is stopped gracefully (in-flight requests finish).
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Stop `server` gracefully when `token` is cancelled.
pub fn stop_on(token: CancellationToken, handle: actix_web::dev::ServerHandle) {
    tokio::spawn(async move {
        token.cancelled().await;
        handle.stop(true).await;
    });
}

/// Start serving `app` on `listener` with the service's worker count; the
/// server ignores signals itself and stops gracefully (15 s for in-flight
/// requests) when `shutdown` is cancelled. The returned future resolves once
/// it has stopped.
pub fn serve<F, T, B>(
    listener: std::net::TcpListener,
    settings: &HttpSettings,
    shutdown: CancellationToken,
    app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let mut server = HttpServer::new(app)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(15);
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let server = server.run();
    stop_on(shutdown, server.handle());
    Ok(server)
}
