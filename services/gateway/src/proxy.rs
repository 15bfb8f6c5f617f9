//! Forwarding a request to a service and streaming its answer back: token
//! check, rate limits, instance choice with retries, trace propagation.

use crate::balancer::{Balancer, Instance};
use crate::configuration::Settings;
use crate::ratelimit::{classify, RateLimits};
use crate::routing::{is_public, route, Upstream};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use rand::RngCore;
use service_http::auth::bearer_token;
use service_http::problem::{problem, problem_response};
use service_http::JwtVerifier;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded; the forwarding
/// and trace headers are set by the gateway itself, never taken from the caller.
const NOT_FORWARDED: &[&str] = &[
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
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "traceparent",
];

const NOT_RETURNED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Per-upstream request counts and latencies, by route pattern (ids folded).
#[derive(Clone)]
pub struct ProxyMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    retries: IntCounterVec,
}

impl ProxyMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "gateway_upstream_requests_total",
                "Proxied requests by service, route and status",
            ),
            &["upstream", "method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "gateway_upstream_duration_seconds",
                "Time until a service's response headers, by service and route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["upstream", "method", "route"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "gateway_upstream_retries_total",
                "Requests sent again to another instance",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        Ok(Self {
            requests,
            latency,
            retries,
        })
    }
}

/// A path with ids folded into `{id}`, so labels stay few.
pub fn route_label(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let looks_like_id = segment.len() >= 8
                && segment.chars().any(|c| c.is_ascii_digit())
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if looks_like_id {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub struct ProxyState {
    pub client: reqwest::Client,
    pub balancer: Arc<Balancer>,
    pub verifier: JwtVerifier,
    pub limits: Arc<RateLimits>,
    pub metrics: ProxyMetrics,
    pub timeouts: HashMap<Upstream, Duration>,
    pub retries: u32,
    pub body_limit: usize,
    pub trust_forwarded_for: bool,
}

impl ProxyState {
    pub fn new(
        settings: &Settings,
        balancer: Arc<Balancer>,
        limits: Arc<RateLimits>,
        metrics: ProxyMetrics,
    ) -> anyhow::Result<Self> {
        // No overall timeout on the client: it would cut server-sent-event
        // streams. Each attempt is bounded until its response headers instead.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        let timeouts = settings
            .upstreams
            .all()
            .iter()
            .map(|(upstream, _)| (*upstream, settings.timeout_for(*upstream)))
            .collect();
        Ok(Self {
            client,
            balancer,
            verifier: JwtVerifier::remote(&settings.auth),
            limits,
            metrics,
            timeouts,
            retries: settings.balancing.retries,
            body_limit: settings.http.body_limit,
            trust_forwarded_for: settings.trust_forwarded_for,
        })
    }
}

/// The caller's address: the TCP peer, or the last `X-Forwarded-For` hop
/// when the gateway sits behind a trusted load balancer.
pub fn client_address(req: &HttpRequest, trust_forwarded_for: bool) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trust_forwarded_for {
        return peer;
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// The `traceparent` to send upstream: the gateway's own span when tracing
/// is on; otherwise the caller's trace continued with a new span id, or a
/// new trace. Either way the upstream and the caller see the same trace id.
fn outgoing_traceparent(req: &HttpRequest) -> String {
    if let Some(current) = telemetry::current_traceparent() {
        return current;
    }
    let mut rng = rand::thread_rng();
    let mut span = [0u8; 8];
    rng.fill_bytes(&mut span);
    let span = hex(&span);
    let incoming = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent);
    match incoming {
        Some((trace, flags)) => format!("00-{trace}-{span}-{flags}"),
        None => {
            let mut trace = [0u8; 16];
            rng.fill_bytes(&mut trace);
            format!("00-{}-{span}-01", hex(&trace))
        }
    }
}

/// `(trace-id, flags)` of a well-formed version-00 traceparent.
fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = *version == "00"
        && is_hex(trace, 32)
        && is_hex(parent, 16)
        && is_hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| (trace.to_ascii_lowercase(), flags.to_ascii_lowercase()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn idempotent(req: &HttpRequest) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || (*req.method() == Method::POST && req.headers().contains_key("idempotency-key"))
}

/// What one attempt came to.
enum Attempt {
    Answered(reqwest::Response),
    /// The instance answered 502/503/504: it is unhealthy, try another if allowed.
    Unhealthy(reqwest::Response),
    /// Nothing reached the instance (connection refused): always safe to retry.
    NotConnected(reqwest::Error),
    TimedOut,
    Failed(reqwest::Error),
}

pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ProxyState>,
) -> HttpResponse {
    let path = req.uri().path().to_string();
    let Some(upstream) = route(&path) else {
        return problem_response(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such endpoint",
            format!("nothing is served at {path}"),
        ));
    };

    // The token check comes first: a request that would be refused costs no
    // rate-limit budget of the user it claims to be.
    let mut user = None;
    if !is_public(req.method(), &path) {
        let Some(token) = bearer_token(&req) else {
            return actix_web::ResponseError::error_response(
                &service_http::auth::AuthError::Missing,
            );
        };
        match state.verifier.verify(token).await {
            Ok(claims) => user = Some(claims.sub),
            Err(error) => return actix_web::ResponseError::error_response(&error),
        }
    }

    let address = client_address(&req, state.trust_forwarded_for);
    let remaining = match state
        .limits
        .check(address, user, classify(req.method(), &path))
    {
        Ok(remaining) => remaining,
        Err(refused) => {
            tracing::info!(%address, budget = refused.budget, "rate limited");
            return refused.response();
        }
    };

    let body = match read_body(&req, payload, state.body_limit).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let traceparent = outgoing_traceparent(&req);
    let mut response = proxy(&req, body, &state, upstream, &address, &traceparent).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        headers.insert(HeaderName::from_static("traceparent"), value);
    }
    if let Some(remaining) = remaining {
        for (name, value) in remaining.headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    response
}

/// The request body, up to the limit (413 problem+json beyond it). Bodies
/// are small JSON; buffering them is what makes a retry possible.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, HttpResponse> {
    let too_large = || {
        problem_response(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The request body is too large",
            format!("the limit is {limit} bytes"),
        ))
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            problem_response(problem(
                StatusCode::BAD_REQUEST,
                "bad-body",
                "The request body could not be read",
                e.to_string(),
            ))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn proxy(
    req: &HttpRequest,
    body: web::Bytes,
    state: &ProxyState,
    upstream: Upstream,
    address: &IpAddr,
    traceparent: &str,
) -> HttpResponse {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return problem_response(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "",
        ));
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if NOT_FORWARDED.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    for (name, value) in [
        ("x-forwarded-for", address.to_string()),
        (
            "x-forwarded-proto",
            req.connection_info().scheme().to_string(),
        ),
        ("x-forwarded-host", req.connection_info().host().to_string()),
        ("traceparent", traceparent.to_string()),
    ] {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }

    let route = route_label(req.uri().path());
    let method_label = req.method().as_str().to_string();
    let timeout = state
        .timeouts
        .get(&upstream)
        .copied()
        .unwrap_or(Duration::from_secs(10));
    let may_repeat = idempotent(req);
    let mut tried: Vec<Arc<Instance>> = Vec::new();
    let mut last: Option<Attempt> = None;
    for attempt in 0..=state.retries {
        let Some(instance) = state.balancer.pick(upstream, &tried) else {
            break;
        };
        if attempt > 0 {
            state
                .metrics
                .retries
                .with_label_values(&[upstream.name()])
                .inc();
        }
        let url = format!("{}{path_and_query}", instance.url);
        let started = Instant::now();
        let request = state
            .client
            .request(method.clone(), &url)
            .headers(headers.clone())
            .body(body.clone())
            .send();
        let outcome = match tokio::time::timeout(timeout, request).await {
            Err(_) => Attempt::TimedOut,
            Ok(Err(e)) if e.is_connect() => Attempt::NotConnected(e),
            Ok(Err(e)) if e.is_timeout() => Attempt::TimedOut,
            Ok(Err(e)) => Attempt::Failed(e),
            Ok(Ok(r)) if matches!(r.status().as_u16(), 502..=504) => Attempt::Unhealthy(r),
            Ok(Ok(r)) => Attempt::Answered(r),
        };
        state
            .metrics
            .latency
            .with_label_values(&[upstream.name(), &method_label, &route])
            .observe(started.elapsed().as_secs_f64());
        let retry = match &outcome {
            Attempt::Answered(_) => {
                state.balancer.succeeded(&instance);
                false
            }
            Attempt::NotConnected(e) => {
                tracing::warn!(upstream = upstream.name(), instance = %instance.url, error = %e, "cannot connect to instance");
                state.balancer.failed(upstream, &instance);
                true
            }
            Attempt::Unhealthy(r) => {
                tracing::warn!(upstream = upstream.name(), instance = %instance.url, status = r.status().as_u16(), "instance answered unhealthy");
                state.balancer.failed(upstream, &instance);
                may_repeat
            }
            Attempt::TimedOut => {
                tracing::warn!(upstream = upstream.name(), instance = %instance.url, ?timeout, "instance timed out");
                state.balancer.failed(upstream, &instance);
                may_repeat
            }
            Attempt::Failed(e) => {
                tracing::warn!(upstream = upstream.name(), instance = %instance.url, error = %e, "request to instance failed");
                state.balancer.failed(upstream, &instance);
                may_repeat
            }
        };
        tried.push(instance);
        last = Some(outcome);
        if !retry {
            break;
        }
    }

    let response = match last {
        Some(Attempt::Answered(r)) | Some(Attempt::Unhealthy(r)) => stream_back(r),
        Some(Attempt::TimedOut) => problem_response(problem(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream-timeout",
            "The service did not answer in time",
            format!("{} did not answer within {timeout:?}", upstream.name()),
        )),
        Some(Attempt::NotConnected(_)) | Some(Attempt::Failed(_)) | None => unavailable(upstream),
    };
    state
        .metrics
        .requests
        .with_label_values(&[
            upstream.name(),
            &method_label,
            &route,
            response.status().as_str(),
        ])
        .inc();
    response
}

/// The service's answer, its body streamed as it arrives (server-sent
/// events flow through chunk by chunk).
fn stream_back(response: reqwest::Response) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if !NOT_RETURNED.contains(&name.as_str()) {
            builder.append_header((name.as_str(), value.as_bytes()));
        }
    }
    // A 204 or 304 has no body by definition: a streamed (chunked) one would
    // be an invalid HTTP message that strict clients refuse to parse.
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return builder.finish();
    }
    builder.streaming(response.bytes_stream())
}

fn unavailable(upstream: Upstream) -> HttpResponse {
    problem_response(problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
        "Service unavailable",
        format!("the {} service is not reachable", upstream.name()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_folded_in_route_labels() {
        assert_eq!(
            route_label("/api/v1/events/0190c1a2-7b3e-7c44-9a55-3f0e3c1d2b4a/venue-layout"),
            "/api/v1/events/{id}/venue-layout"
        );
        assert_eq!(route_label("/api/v1/bookings/me"), "/api/v1/bookings/me");
    }

    #[test]
    fn only_well_formed_traceparents_are_continued() {
        assert_eq!(
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736".into(), "01".into()))
        );
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(parse_traceparent("garbage"), None);
    }
}
