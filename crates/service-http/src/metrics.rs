//! Prometheus metrics: per-route request counts and latency histograms, plus
//! whatever a service registers in the same registry.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::time::Instant;

#[derive(Clone)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    pub fn new(service: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(
            Some("evently".into()),
            Some(
                [("service".to_string(), service.to_string())]
                    .into_iter()
                    .collect(),
            ),
        )?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
        })
    }

    /// Register a service's own metrics here to have them on `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

/// Middleware: wrap with `actix_web::middleware::from_fn(track)`.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    // The route pattern, not the path, so ids do not explode the label set.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        metrics
            .latency
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(started.elapsed().as_secs_f64());
        metrics
            .requests
            .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
            .inc();
    }
    result
}
