//! Forwarding a request to a service and streaming its answer back.

use crate::configuration::Upstreams;
use crate::routing::{route, Upstream};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use service_http::problem::{problem, problem_response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The instances of every service, and a round-robin cursor each.
pub struct Balancer {
    instances: Vec<(Upstream, Vec<String>, AtomicUsize)>,
}

impl Balancer {
    pub fn new(upstreams: &Upstreams) -> Self {
        let instances = upstreams
            .all()
            .into_iter()
            .map(|(upstream, list)| {
                let urls = list
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                (upstream, urls, AtomicUsize::new(0))
            })
            .collect();
        Self { instances }
    }

    pub fn pick(&self, upstream: Upstream) -> Option<&str> {
        let (_, urls, cursor) = self.instances.iter().find(|(u, _, _)| *u == upstream)?;
        if urls.is_empty() {
            return None;
        }
        let i = cursor.fetch_add(1, Ordering::Relaxed) % urls.len();
        urls.get(i).map(String::as_str)
    }

    pub fn instances(&self, upstream: Upstream) -> &[String] {
        self.instances
            .iter()
            .find(|(u, _, _)| *u == upstream)
            .map(|(_, urls, _)| urls.as_slice())
            .unwrap_or(&[])
    }
}

pub struct ProxyState {
    pub client: reqwest::Client,
    pub balancer: Arc<Balancer>,
}

pub async fn forward(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ProxyState>,
) -> HttpResponse {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Some(upstream) = route(req.uri().path()) else {
        return problem_response(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such endpoint",
            format!("nothing is served at {}", req.uri().path()),
        ));
    };
    let Some(base) = state.balancer.pick(upstream) else {
        return unavailable(upstream);
    };
    let url = format!("{base}{path_and_query}");
    let method = match reqwest::Method::from_bytes(req.method().as_str().as_bytes()) {
        Ok(method) => method,
        Err(_) => {
            return problem_response(problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "",
            ))
        }
    };
    let mut outgoing = state.client.request(method, &url);
    for (name, value) in req.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    if let Some(peer) = req.peer_addr() {
        outgoing = outgoing.header("x-forwarded-for", peer.ip().to_string());
    }
    // Request bodies are buffered (bounded by the payload limit): actix's
    // payload stream is not `Send`, and our bodies are small JSON.
    let outgoing = outgoing.body(body);

    match outgoing.send().await {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut builder = HttpResponse::build(status);
            for (name, value) in response.headers() {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    builder.insert_header((name.as_str(), value.as_bytes()));
                }
            }
            builder.streaming(response.bytes_stream())
        }
        Err(error) => {
            tracing::warn!(upstream = upstream.name(), %url, error = %error, "upstream request failed");
            if error.is_timeout() {
                problem_response(problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "The service did not answer in time",
                    format!("{} did not answer in time", upstream.name()),
                ))
            } else {
                unavailable(upstream)
            }
        }
    }
}

fn unavailable(upstream: Upstream) -> HttpResponse {
    problem_response(problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
        "Service unavailable",
        format!("the {} service is not reachable", upstream.name()),
    ))
}
