//! HTTP routes of the notification service.

mod admin;
mod me;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/notifications/me", web::get().to(me::list))
        .route(
            "/api/v1/notifications/{id}/read",
            web::post().to(me::mark_read),
        )
        .route(
            "/api/v1/admin/notifications/dead",
            web::get().to(admin::list_dead),
        )
        .route(
            "/api/v1/admin/notifications/{id}/replay",
            web::post().to(admin::replay),
        );
}
