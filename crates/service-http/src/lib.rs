//! HTTP pieces every Evently service shares: the common `App` (extractor
//! configs, metrics, tracing and request-id middleware, health and metrics
//! routes), the server and its graceful stop, and the process skeleton
//! (`run_service`) each `main.rs` calls.

pub mod app;
pub mod auth;
pub mod extract;
pub mod metrics;
pub mod ops;
pub mod problem;
pub mod request_id;
pub mod server;
pub mod service;
pub mod signing;

pub use app::{serve_api, Common};
pub use auth::{AccessClaims, AuthUser, JwtVerifier};
pub use extract::{json_config, path_config, query_config};
pub use metrics::HttpMetrics;
pub use ops::Health;
pub use problem::problem_response;
pub use request_id::{current_request_id, RequestId};
pub use server::{bind, serve, shutdown_on_signal};
pub use service::{run_service, Service};

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
