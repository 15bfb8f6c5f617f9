//! HTTP routes of the auth service.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
