//! `GET /health` and `GET /metrics`, the same on every service.

use crate::metrics::HttpMetrics;
use actix_web::{web, HttpResponse};
use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::Arc;

type Check = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// A service's health: itself plus each dependency it needs.
#[derive(Clone)]
pub struct Health {
    service: &'static str,
    checks: Vec<(&'static str, Check)>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct HealthReport {
    pub service: String,
    pub status: String,
    pub checks: std::collections::BTreeMap<String, String>,
}

impl Health {
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            checks: Vec::new(),
        }
    }

    /// Add a dependency check, e.g. `("database", || database::ping(&pool))`.
    pub fn check<F, Fut>(mut self, name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.checks.push((name, Arc::new(move || Box::pin(f()))));
        self
    }

    pub async fn report(&self) -> HealthReport {
        let results = futures::future::join_all(self.checks.iter().map(|(_, check)| check())).await;
        let checks: std::collections::BTreeMap<String, String> = self
            .checks
            .iter()
            .zip(results)
            .map(|((name, _), ok)| (name.to_string(), if ok { "up" } else { "down" }.to_string()))
            .collect();
        let healthy = checks.values().all(|v| v == "up");
        HealthReport {
            service: self.service.to_string(),
            status: if healthy { "up" } else { "down" }.to_string(),
            checks,
        }
    }
}

async fn health(health: web::Data<Health>) -> HttpResponse {
    let report = health.report().await;
    if report.status == "up" {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

async fn metrics(metrics: web::Data<HttpMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics));
}
