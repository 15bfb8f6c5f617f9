//! HTTP pieces every Evently service shares.
//!
//! A service's `App` is assembled as:
//! ```ignore
//! App::new()
//!     .app_data(service_http::json_config(limit))
//!     .app_data(service_http::query_config())
//!     .app_data(service_http::path_config())
//!     .app_data(metrics.clone()).app_data(health.clone()).app_data(verifier.clone())
//!     .wrap(actix_web::middleware::from_fn(service_http::metrics::track))
//!     .wrap(service_http::tracing_logger())
//!     .wrap(actix_web::middleware::from_fn(service_http::request_id::middleware))
//!     .configure(service_http::ops::routes)
//!     .configure(crate::routes::configure)
//! ```

pub mod auth;
pub mod extract;
pub mod metrics;
pub mod ops;
pub mod problem;
pub mod request_id;
pub mod server;
pub mod signing;

pub use auth::{AccessClaims, AuthUser, JwtVerifier};
pub use extract::{json_config, path_config, query_config};
pub use metrics::HttpMetrics;
pub use ops::Health;
pub use problem::problem_response;
pub use request_id::{current_request_id, RequestId};
pub use server::{bind, shutdown_on_signal};

/// The root span of every request: carries the request id and continues the
/// caller's W3C trace (`traceparent`) when one is sent.
pub struct EventlyRootSpan;

impl tracing_actix_web::RootSpanBuilder for EventlyRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let request_id = request
            .headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        tracing_actix_web::root_span!(request, request_id = %request_id)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

pub fn tracing_logger() -> tracing_actix_web::TracingLogger<EventlyRootSpan> {
    tracing_actix_web::TracingLogger::<EventlyRootSpan>::new()
}
