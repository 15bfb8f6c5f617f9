//! HTTP routes of the booking service.

pub mod bookings;
pub mod events;
pub mod holds;
pub mod internal;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/seats/hold", web::post().to(holds::place))
        .route("/api/v1/seats/hold/{hold_id}", web::get().to(holds::get))
        .route(
            "/api/v1/seats/hold/{hold_id}",
            web::delete().to(holds::release),
        )
        .route(
            "/api/v1/bookings/confirm",
            web::post().to(bookings::confirm),
        )
        .route("/api/v1/bookings/me", web::get().to(bookings::mine))
        .route(
            "/api/v1/bookings/requests/{request_id}",
            web::get().to(bookings::request_status),
        )
        .route("/api/v1/bookings/{id}", web::get().to(bookings::show))
        .route("/api/v1/bookings/{id}", web::delete().to(bookings::cancel))
        .route(
            "/api/v1/bookings/{id}/cancel",
            web::delete().to(bookings::cancel),
        )
        .route(
            "/api/v1/bookings/{id}/cancel",
            web::post().to(bookings::cancel),
        )
        .route(
            "/api/v1/events/{id}/venue-layout",
            web::get().to(events::venue_layout),
        )
        .route(
            "/api/v1/events/{id}/seats/available",
            web::get().to(events::available),
        )
        .route("/api/v1/events/{id}/sales", web::get().to(events::sales))
        .route(
            "/internal/events/{id}/attendees",
            web::get().to(internal::attendees),
        );
}
