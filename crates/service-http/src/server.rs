//! Listening and stopping.

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
