//! What the gateway shows people itself, rather than forwarding: the realtime
//! monitor page (`GET /monitor`), the live feed and the topic dashboard.
//!
//! [`Showcase`] owns their shared state; `startup.rs` starts it once and adds
//! its routes to every worker's `App` ahead of the proxy's catch-all.

use crate::admin_queues::{self, QueueDashboard};
use crate::configuration::Settings;
use crate::live::{self, LiveFeed, LiveMetrics};
use actix_web::{web, HttpResponse};
use service_http::JwtVerifier;
use tokio_util::sync::CancellationToken;

/// The demo page, compiled in so the gateway binary serves it with no files
/// beside it. Edit `demo-scripts/realtime-monitor.html`; it can also be
/// opened straight from disk against a gateway (see the page's `?gateway=`).
pub const MONITOR_PAGE: &str = include_str!("../../../demo-scripts/realtime-monitor.html");

#[derive(Clone)]
pub struct Showcase {
    live: web::Data<LiveFeed>,
    dashboard: web::Data<QueueDashboard>,
    verifier: web::Data<JwtVerifier>,
}

impl Showcase {
    /// Start the live feed's consumer (in the background; it retries while
    /// the broker is away) and prepare the dashboard.
    pub fn start(
        settings: &Settings,
        shutdown: CancellationToken,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let metrics = LiveMetrics::register(registry)?;
        let live = LiveFeed::start(&settings.kafka, &settings.live, metrics, shutdown);
        let dashboard = QueueDashboard::new(&settings.kafka, &settings.admin_queues, live.clone());
        Ok(Self {
            live: web::Data::new(live),
            dashboard: web::Data::new(dashboard),
            verifier: web::Data::new(JwtVerifier::remote(&settings.auth)),
        })
    }

    pub fn live(&self) -> &LiveFeed {
        &self.live
    }

    /// Register the routes (call before the proxy's `default_service`).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.live.clone())
            .route("/monitor", web::get().to(monitor_page))
            .configure(live::routes)
            .service(admin_queues::scope(
                self.dashboard.clone(),
                self.verifier.clone(),
            ));
    }
}

async fn monitor_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(MONITOR_PAGE)
}
