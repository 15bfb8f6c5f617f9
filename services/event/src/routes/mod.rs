//! HTTP routes of the event service.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
