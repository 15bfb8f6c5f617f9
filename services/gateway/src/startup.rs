//! Builds the gateway.

use crate::balancer::Balancer;
use crate::configuration::Settings;
use crate::cors::Cors;
use crate::proxy::{forward, ProxyMetrics, ProxyState};
use crate::ratelimit::RateLimits;
use crate::routing::Upstream;
use crate::SERVICE;
use actix_web::{web, App, HttpResponse};
use service_http::ops::HealthReport;
use service_http::HttpMetrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        settings.validate()?;
        let balancer = Arc::new(
            Balancer::new(&settings.upstreams, &settings.balancing)
                .map_err(|m| anyhow::anyhow!("upstreams: {m}"))?,
        );
        balancer.resolve_all().await;
        balancer.spawn_resolver(shutdown.child_token());
        let limits = RateLimits::new(&settings.rate_limits);
        limits.spawn_cleanup(shutdown.child_token());
        let metrics = web::Data::new(HttpMetrics::new(SERVICE)?);
        let proxy_metrics = ProxyMetrics::register(metrics.registry())?;
        let state = web::Data::new(ProxyState::new(&settings, balancer, limits, proxy_metrics)?);
        let cors = web::Data::new(Cors::new(&settings.cors));

        let showcase =
            crate::monitor::Showcase::start(&settings, shutdown.child_token(), metrics.registry())?;
        let listener = service_http::bind(&settings.http)?;
        let port = listener.local_addr()?.port();
        let server = service_http::serve(listener, &settings.http, shutdown, move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(cors.clone())
                .wrap(actix_web::middleware::from_fn(service_http::metrics::track))
                .wrap(service_http::tracing_logger())
                .wrap(actix_web::middleware::from_fn(
                    service_http::request_id::middleware,
                ))
                .wrap(actix_web::middleware::from_fn(crate::cors::middleware))
                .route("/health", web::get().to(platform_health))
                .route("/api/v1/openapi.json", web::get().to(openapi))
                .route("/metrics", web::get().to(metrics_endpoint))
                .configure(|cfg| showcase.configure(cfg))
                .default_service(web::to(forward))
        })?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        Ok(())
    }
}

/// The public API contract, as a static OpenAPI 3.1 document.
const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("cache-control", "public, max-age=300"))
        .body(OPENAPI)
}

async fn metrics_endpoint(metrics: web::Data<HttpMetrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// Each service's status, from every instance's own `/health`.
async fn platform_health(state: web::Data<ProxyState>) -> HttpResponse {
    let upstreams = [
        Upstream::Auth,
        Upstream::Event,
        Upstream::Booking,
        Upstream::Waitlist,
        Upstream::Notification,
    ];
    let checks = upstreams.iter().map(|upstream| {
        let state = state.clone();
        async move {
            let instances = state.balancer.instances(*upstream);
            let reports = futures::future::join_all(instances.iter().map(|base| {
                let client = state.client.clone();
                let url = format!("{base}/health");
                let ejected = state.balancer.is_ejected(base);
                async move {
                    let report = client
                        .get(&url)
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await
                        .ok()
                        .map(|r| r.json::<HealthReport>());
                    let report = match report {
                        Some(body) => body.await.ok(),
                        None => None,
                    };
                    let status = report.as_ref().map(|r| r.status.clone()).unwrap_or_else(|| "down".into());
                    serde_json::json!({"url": base, "status": status, "ejected": ejected, "checks": report.map(|r| r.checks)})
                }
            }))
            .await;
            let up = reports.iter().any(|r| r["status"] == "up");
            (upstream.name(), serde_json::json!({"status": if up {"up"} else {"down"}, "instances": reports}))
        }
    });
    let services: BTreeMap<&str, serde_json::Value> = futures::future::join_all(checks)
        .await
        .into_iter()
        .collect();
    let all_up = services.values().all(|s| s["status"] == "up");
    let body = serde_json::json!({
        "service": SERVICE,
        "status": if all_up { "up" } else { "degraded" },
        "services": services,
    });
    if all_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

service_http::service!(SERVICE, Application, Settings, title = "gateway");
