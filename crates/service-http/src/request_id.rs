//! `X-Request-Id`: taken from the caller when sane, generated otherwise,
//! returned on every response, logged on the root span, put into problem
//! bodies and forwarded on Kafka headers.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage};

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The request id of the request being handled, as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl FromRequest for RequestId {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()));
        std::future::ready(Ok(id))
    }
}

/// The id of the request this task is serving, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

fn acceptable(value: &str) -> bool {
    !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let header_value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &header_value {
        // Replace whatever was sent, so the root span and upstreams see one id.
        req.headers_mut()
            .insert(HeaderName::from_static(HEADER), value.clone());
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = CURRENT.scope(id, next.call(req)).await?;
    if let Some(value) = header_value {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}
