//! HTTP routes of the event service. `venue-layout`, `seats/available` and
//! `sales` under `/api/v1/events/{id}/` belong to the booking service (it owns
//! live seat state); the gateway routes them there.

mod events;
mod venues;

use crate::cache::HotCache;
use crate::store::Catalog;
use actix_web::web;
use std::sync::Arc;
use tokio::sync::Notify;

/// Shared by every handler.
pub struct AppState {
    pub store: Catalog,
    pub cache: HotCache,
    /// Poked after a write that queued lifecycle messages.
    pub wake: Arc<Notify>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/venues")
            .route("", web::post().to(venues::create))
            .route("", web::get().to(venues::list))
            .route("/{id}", web::get().to(venues::get))
            .route("/{id}", web::put().to(venues::replace)),
    )
    .service(
        web::scope("/api/v1/events")
            .route("", web::post().to(events::create))
            .route("", web::get().to(events::search))
            .route("/{id}", web::get().to(events::get))
            .route("/{id}", web::patch().to(events::patch))
            .route("/{id}/publish", web::post().to(events::publish))
            .route("/{id}/cancel", web::post().to(events::cancel))
            .route("/{id}/complete", web::post().to(events::complete)),
    );
}
