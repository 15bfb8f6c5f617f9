//! HTTP routes of the booking service.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
