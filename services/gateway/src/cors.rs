//! CORS from an allow-list: browsers on listed origins may call the API with
//! a bearer token; preflights are answered here, never forwarded.

use crate::configuration::CorsSettings;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

pub struct Cors {
    any: bool,
    origins: Vec<String>,
    max_age: String,
}

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "authorization, content-type, idempotency-key, x-request-id, traceparent, tracestate, last-event-id";
const EXPOSE_HEADERS: &str = "x-request-id, traceparent, retry-after, location, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy";

impl Cors {
    pub fn new(settings: &CorsSettings) -> Self {
        let origins: Vec<String> = settings
            .allowed_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins,
            max_age: settings.max_age_secs.to_string(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Middleware: wrap with `from_fn(cors::middleware)`, `web::Data<Cors>` in app data.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let cors = req.app_data::<web::Data<Cors>>().cloned();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (Some(cors), Some(origin)) = (cors, origin) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let allowed = cors.allows(&origin);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        // A refused origin gets no CORS headers: the browser then blocks it.
        let mut response = HttpResponse::NoContent();
        response.insert_header((header::VARY, "Origin"));
        if allowed {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, cors.max_age.as_str()));
        }
        return Ok(req.into_response(response.finish()).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    if allowed {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response.map_into_left_body())
}
