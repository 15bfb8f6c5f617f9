//! The part of every API service's `App` that is the same everywhere.

use crate::{Health, HttpMetrics, JwtVerifier};
use actix_web::dev::Server;
use actix_web::{web, App};
use settings::HttpSettings;
use tokio_util::sync::CancellationToken;

/// What every API service shares with its handlers: metrics, health checks
/// and the token verifier. Cloned into each worker.
#[derive(Clone)]
pub struct Common {
    pub metrics: web::Data<HttpMetrics>,
    pub health: web::Data<Health>,
    pub verifier: web::Data<JwtVerifier>,
}

/// Bind `http`'s address and serve an `App` with the extractor configs, the
/// [`Common`] data, the metrics, tracing and request-id middleware and the
/// health and metrics routes, to which `routes` adds the service's own data
/// and routes. Returns the bound port (0 in the settings picks a free one)
/// and the server, which stops gracefully when `shutdown` is cancelled.
pub fn serve_api<F>(
    http: &HttpSettings,
    shutdown: CancellationToken,
    common: Common,
    routes: F,
) -> std::io::Result<(u16, Server)>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = crate::bind(http)?;
    let port = listener.local_addr()?.port();
    let body_limit = http.body_limit;
    let server = crate::serve(listener, http, shutdown, move || {
        App::new()
            .app_data(crate::json_config(body_limit))
            .app_data(crate::query_config())
            .app_data(crate::path_config())
            .app_data(common.metrics.clone())
            .app_data(common.health.clone())
            .app_data(common.verifier.clone())
            .wrap(actix_web::middleware::from_fn(crate::metrics::track))
            .wrap(crate::tracing_logger())
            .wrap(actix_web::middleware::from_fn(
                crate::request_id::middleware,
            ))
            .configure(crate::ops::routes)
            .configure(routes.clone())
    })?;
    Ok((port, server))
}
