//! HTTP routes of the notification service.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
