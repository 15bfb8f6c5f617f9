//! A typed client for the parts of the gateway's API contract the simulator uses.
//!
//! Setup calls (register, venues, events, reads) return `Result<T, ApiError>`:
//! any failure there stops the run with a readable message. The hot-path
//! calls (`hold`, `confirm`) instead return an outcome with the HTTP status,
//! because a 409 or a 429 is an expected, counted result under load.

use common_types::{EventId, ProblemDetails, SectionId};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const API: &str = "/api/v1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "cannot reach the gateway at {base}: {reason}. Is the stack up (`make up`)? \
         Pass another address with --gateway"
    )]
    Unreachable { base: String, reason: String },
    #[error("{method} {path}: request failed: {reason}")]
    Transport {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("{method} {path}: HTTP {status}{}", problem_text(.problem.as_deref(), .body))]
    Status {
        method: Method,
        path: String,
        status: u16,
        problem: Option<Box<ProblemDetails>>,
        body: String,
    },
    #[error("{method} {path}: unexpected response body ({reason}): {body}")]
    Decode {
        method: Method,
        path: String,
        reason: String,
        body: String,
    },
}

fn problem_text(problem: Option<&ProblemDetails>, body: &str) -> String {
    match problem {
        Some(p) => format!(
            " {} ({}){}",
            p.title,
            p.slug(),
            p.detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        None if body.is_empty() => String::new(),
        None => format!(": {}", truncate(body, 300)),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Tokens from login or refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    Reserved,
    General,
}

impl std::fmt::Display for SectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Reserved => "reserved",
            Self::General => "general",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewRow {
    pub label: String,
    pub seats: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NewSection {
    Reserved { name: String, rows: Vec<NewRow> },
    General { name: String, capacity: u64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct NewVenue {
    pub name: String,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub sections: Vec<NewSection>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Venue {
    pub id: common_types::VenueId,
    pub sections: Vec<VenueSection>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VenueSection {
    #[serde(alias = "section_id")]
    pub id: SectionId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionPrice {
    pub section_id: SectionId,
    pub price: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewEvent {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub category: String,
    pub venue_id: common_types::VenueId,
    pub starts_at: String,
    pub currency: String,
    pub prices: Vec<SectionPrice>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreatedEvent {
    pub id: EventId,
}

/// `GET /events/{id}/seats/available`.
#[derive(Debug, Clone, Deserialize)]
pub struct Availability {
    pub available: u64,
    #[serde(default)]
    pub sections: Vec<SectionAvailability>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SectionAvailability {
    pub id: SectionId,
    pub available: u64,
    #[serde(default)]
    pub seat_ids: Vec<String>,
}

/// `GET /events/{id}/venue-layout`.
#[derive(Debug, Clone, Deserialize)]
pub struct Layout {
    pub sections: Vec<LayoutSection>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayoutSection {
    pub id: SectionId,
    #[serde(default)]
    pub name: String,
    pub kind: SectionKind,
    pub capacity: u64,
    pub available: u64,
    #[serde(default)]
    pub seats: Vec<LayoutSeat>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayoutSeat {
    pub id: String,
    pub status: String,
}

/// A seat in a hold or booking: the contract names seat ids; accept an object
/// with an id too, so a richer answer does not break the simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SeatRef {
    Id(String),
    Object {
        #[serde(alias = "seat_id")]
        id: String,
    },
}

impl SeatRef {
    pub fn into_id(self) -> String {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

fn seat_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let seats: Option<Vec<SeatRef>> = Option::deserialize(d)?;
    Ok(seats
        .unwrap_or_default()
        .into_iter()
        .map(SeatRef::into_id)
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hold {
    pub hold_id: common_types::HoldId,
    #[serde(default, deserialize_with = "seat_ids")]
    pub seats: Vec<String>,
    #[serde(default)]
    pub quantity: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Booking {
    pub id: common_types::BookingId,
    pub event_id: EventId,
    #[serde(default)]
    pub section_id: Option<SectionId>,
    #[serde(default, deserialize_with = "seat_ids")]
    pub seats: Vec<String>,
    #[serde(default)]
    pub quantity: Option<u64>,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
struct BookingPage {
    items: Vec<Booking>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum HoldRequest {
    Seats {
        event_id: EventId,
        seat_ids: Vec<String>,
    },
    Quantity {
        event_id: EventId,
        section_id: SectionId,
        quantity: u64,
    },
}

#[derive(Debug, Clone, Serialize)]
struct ConfirmRequest<'a> {
    hold_id: common_types::HoldId,
    payment: Payment<'a>,
}

#[derive(Debug, Clone, Serialize)]
struct Payment<'a> {
    method: &'a str,
    card_number: &'a str,
}

/// The simulated provider's card that always succeeds.
pub const GOOD_CARD: &str = "4242424242424242";

/// What became of one hold or confirm call.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Ok(T),
    /// 409 `seats-unavailable`: these seats are taken (may be empty if unnamed).
    Unavailable(Vec<String>),
    /// 409 `sold-out`.
    SoldOut,
    /// 429: wait this long before trying again.
    RateLimited(Duration),
    /// Any other answer: 4xx other than the above, 5xx, or a body we could not read.
    Failed {
        slug: String,
        detail: String,
    },
}

/// One hot-path call: the first HTTP status seen (202 when the outcome had to
/// be polled) and what it came to.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub status: u16,
    pub outcome: Outcome<T>,
}

#[derive(Debug, Clone, Deserialize)]
struct Accepted {
    #[serde(default)]
    status_url: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// First wait before polling a 202; doubles up to `POLL_MAX` so a
    /// backlog of pending requests does not become a storm of polls.
    poll_interval: Duration,
    poll_deadline: Duration,
}

impl Api {
    pub fn new(base: &str, pool: usize) -> Result<Self, ApiError> {
        let base = base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::Unreachable {
                base: base.clone(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base,
            poll_interval: Duration::from_millis(25),
            poll_deadline: Duration::from_secs(30),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /health`: a clear error when nothing answers; the aggregated body otherwise.
    pub async fn health(&self) -> Result<(u16, serde_json::Value), ApiError> {
        let url = format!("{}/health", self.base);
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| ApiError::Unreachable {
                base: self.base.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        Ok((status, value))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{}", self.base, path)
        } else {
            format!("{}{API}/{path}", self.base)
        }
    }

    /// A setup call: success must be a 2xx with a body of `T`.
    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let (status, text) = self.send(method.clone(), path, token, body).await?;
        if !(200..300).contains(&status) {
            let problem = serde_json::from_str::<ProblemDetails>(&text)
                .ok()
                .map(Box::new);
            return Err(ApiError::Status {
                method,
                path: path.to_string(),
                status,
                problem,
                body: truncate(&text, 500).to_string(),
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            method,
            path: path.to_string(),
            reason: e.to_string(),
            body: truncate(&text, 500).to_string(),
        })
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<(u16, String), ApiError> {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if method == Method::POST {
            // Every POST carries a key, so a retried setup call has one effect.
            request = request.header("Idempotency-Key", Uuid::new_v4().to_string());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport(method.clone(), path, &e))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport(method, path, &e))?;
        Ok((status, text))
    }

    fn transport(&self, method: Method, path: &str, e: &reqwest::Error) -> ApiError {
        if e.is_connect() {
            ApiError::Unreachable {
                base: self.base.clone(),
                reason: error_chain(e),
            }
        } else {
            ApiError::Transport {
                method,
                path: path.to_string(),
                reason: error_chain(e),
            }
        }
    }

    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: &str,
    ) -> Result<(), ApiError> {
        let body =
            serde_json::json!({"email": email, "password": password, "name": name, "role": role});
        match self
            .call::<_, serde_json::Value>(Method::POST, "auth/register", None, Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            // Taken: a rerun with the same run id; logging in will tell if the password differs.
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"email": email, "password": password});
        self.call(Method::POST, "auth/login", None, Some(&body))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"refresh_token": refresh_token});
        self.call(Method::POST, "auth/refresh", None, Some(&body))
            .await
    }

    pub async fn create_venue(&self, token: &str, venue: &NewVenue) -> Result<Venue, ApiError> {
        self.call(Method::POST, "venues", Some(token), Some(venue))
            .await
    }

    pub async fn create_event(
        &self,
        token: &str,
        event: &NewEvent,
    ) -> Result<CreatedEvent, ApiError> {
        self.call(Method::POST, "events", Some(token), Some(event))
            .await
    }

    pub async fn publish(&self, token: &str, event: EventId) -> Result<(), ApiError> {
        self.call::<(), serde_json::Value>(
            Method::POST,
            &format!("events/{event}/publish"),
            Some(token),
            None,
        )
        .await
        .map(|_| ())
    }

    pub async fn seats_available(
        &self,
        token: Option<&str>,
        event: EventId,
    ) -> Result<Availability, ApiError> {
        self.call::<(), _>(
            Method::GET,
            &format!("events/{event}/seats/available"),
            token,
            None,
        )
        .await
    }

    pub async fn venue_layout(
        &self,
        token: Option<&str>,
        event: EventId,
    ) -> Result<Layout, ApiError> {
        self.call::<(), _>(
            Method::GET,
            &format!("events/{event}/venue-layout"),
            token,
            None,
        )
        .await
    }

    /// Every booking of the caller, all pages.
    pub async fn my_bookings(&self, token: &str) -> Result<Vec<Booking>, ApiError> {
        const PER_PAGE: u64 = 100;
        let mut all = Vec::new();
        for page in 1u64.. {
            let got: BookingPage = self
                .call::<(), _>(
                    Method::GET,
                    &format!("bookings/me?page={page}&per_page={PER_PAGE}"),
                    Some(token),
                    None,
                )
                .await?;
            let n = got.items.len() as u64;
            all.extend(got.items);
            let done = match got.total {
                Some(total) => all.len() as u64 >= total,
                None => n < PER_PAGE,
            };
            if done || n == 0 {
                break;
            }
        }
        Ok(all)
    }

    /// `POST /seats/hold`. `key` is the Idempotency-Key: pass the same one to
    /// retry the same request.
    pub async fn hold(
        &self,
        token: &str,
        request: &HoldRequest,
        key: &str,
    ) -> Result<Answer<Hold>, ApiError> {
        self.hot_post("seats/hold", token, request, key).await
    }

    /// `POST /bookings/confirm` with the test card that succeeds.
    pub async fn confirm(
        &self,
        token: &str,
        hold: common_types::HoldId,
        key: &str,
    ) -> Result<Answer<Booking>, ApiError> {
        let body = ConfirmRequest {
            hold_id: hold,
            payment: Payment {
                method: "card",
                card_number: GOOD_CARD,
            },
        };
        self.hot_post("bookings/confirm", token, &body, key).await
    }

    async fn hot_post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &B,
        key: &str,
    ) -> Result<Answer<T>, ApiError> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(Method::POST, path, &e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(|e| self.transport(Method::POST, path, &e))?;
        if status == StatusCode::ACCEPTED {
            let outcome = self.poll(token, path, &text).await?;
            return Ok(Answer {
                status: 202,
                outcome,
            });
        }
        Ok(Answer {
            status: status.as_u16(),
            outcome: interpret(status.as_u16(), &text, retry_after),
        })
    }

    /// Follow a 202's `status_url` until the outcome is known or the deadline passes.
    async fn poll<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
        accepted: &str,
    ) -> Result<Outcome<T>, ApiError> {
        let accepted: Accepted = serde_json::from_str(accepted).map_err(|e| ApiError::Decode {
            method: Method::POST,
            path: path.to_string(),
            reason: format!("202 without a status_url: {e}"),
            body: truncate(accepted, 300).to_string(),
        })?;
        let status_url = match (accepted.status_url, accepted.request_id) {
            (Some(url), _) => url,
            (None, Some(id)) => format!("{API}/bookings/requests/{id}"),
            (None, None) => {
                return Ok(Outcome::Failed {
                    slug: "accepted-without-status-url".into(),
                    detail: "202 named neither status_url nor request_id".into(),
                })
            }
        };
        const POLL_MAX: Duration = Duration::from_millis(400);
        let deadline = Instant::now() + self.poll_deadline;
        let mut wait = self.poll_interval;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(POLL_MAX);
            let response = self
                .http
                .get(self.url(&status_url))
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| self.transport(Method::GET, &status_url, &e))?;
            let status = response.status().as_u16();
            let retry = retry_after(response.headers());
            let text = response
                .text()
                .await
                .map_err(|e| self.transport(Method::GET, &status_url, &e))?;
            if let Some(outcome) = interpret_poll(status, &text, retry) {
                return Ok(outcome);
            }
            if Instant::now() >= deadline {
                return Ok(Outcome::Failed {
                    slug: "poll-timeout".into(),
                    detail: format!("no outcome at {status_url} within {:?}", self.poll_deadline),
                });
            }
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_millis(200))
}

/// What a final answer (not 202) means.
pub fn interpret<T: DeserializeOwned>(status: u16, text: &str, retry: Duration) -> Outcome<T> {
    match status {
        200..=299 => match serde_json::from_str::<T>(text) {
            Ok(value) => Outcome::Ok(value),
            Err(e) => Outcome::Failed {
                slug: "unreadable-body".into(),
                detail: format!("{e}: {}", truncate(text, 200)),
            },
        },
        429 => Outcome::RateLimited(retry),
        _ => problem_outcome(status, text),
    }
}

fn problem_outcome<T>(status: u16, text: &str) -> Outcome<T> {
    let problem = serde_json::from_str::<ProblemDetails>(text).ok();
    let slug = problem
        .as_ref()
        .map(|p| p.slug().to_string())
        .unwrap_or_else(|| format!("http-{status}"));
    if status == 409 && slug == "sold-out" {
        return Outcome::SoldOut;
    }
    if status == 409 && slug == "request-in-progress" {
        // The same Idempotency-Key is still being decided: ask again shortly.
        return Outcome::RateLimited(Duration::from_millis(100));
    }
    if status == 409 && (slug == "seats-unavailable" || problem.is_none()) {
        let seats = problem
            .as_ref()
            .map(|p| named_seats(&p.extensions))
            .unwrap_or_default();
        return Outcome::Unavailable(seats);
    }
    Outcome::Failed {
        slug,
        detail: problem
            .and_then(|p| p.detail.or(Some(p.title)))
            .unwrap_or_else(|| truncate(text, 200).to_string()),
    }
}

/// The seats a 409 names, under whichever member the booking service uses.
fn named_seats(ext: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    for key in ["unavailable_seats", "seats", "seat_ids", "unavailable"] {
        if let Some(serde_json::Value::Array(items)) = ext.get(key) {
            return items
                .iter()
                .filter_map(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Object(o) => o
                        .get("id")
                        .or_else(|| o.get("seat_id"))
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    _ => None,
                })
                .collect();
        }
    }
    Vec::new()
}

/// A poll answer: `None` while the outcome is still pending. The request
/// status resource may answer with the final resource itself, with a problem,
/// or with `{status, result | hold | booking | problem}`; all are understood.
pub fn interpret_poll<T: DeserializeOwned>(
    status: u16,
    text: &str,
    retry: Duration,
) -> Option<Outcome<T>> {
    match status {
        202 | 404 => return None,
        429 => return Some(Outcome::RateLimited(retry)),
        200..=299 => {}
        _ => return Some(problem_outcome(status, text)),
    }
    if let Ok(value) = serde_json::from_str::<T>(text) {
        return Some(Outcome::Ok(value));
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    for key in ["result", "hold", "booking", "outcome"] {
        if let Some(inner) = value.get(key) {
            if let Ok(found) = serde_json::from_value::<T>(inner.clone()) {
                return Some(Outcome::Ok(found));
            }
        }
    }
    if let Some(problem) = value.get("problem").or_else(|| value.get("error")) {
        let inner_status = problem
            .get("status")
            .and_then(|s| s.as_u64())
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(409);
        return Some(problem_outcome(inner_status, &problem.to_string()));
    }
    match value.get("status").and_then(|s| s.as_str()) {
        Some("pending" | "processing" | "accepted" | "queued") | None => None,
        Some(other) => Some(Outcome::Failed {
            slug: format!("request-{other}"),
            detail: truncate(text, 200).to_string(),
        }),
    }
}

/// A reqwest error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_name_their_seats_and_sold_out_is_its_own_case() {
        let body = r#"{"type":"https://evently.dev/problems/seats-unavailable","title":"t","status":409,"unavailable_seats":["A-1","A-2"]}"#;
        match interpret::<Hold>(409, body, Duration::ZERO) {
            Outcome::Unavailable(seats) => assert_eq!(seats, vec!["A-1", "A-2"]),
            other => panic!("{other:?}"),
        }
        let body = r#"{"type":"https://evently.dev/problems/sold-out","title":"t","status":409}"#;
        assert!(matches!(
            interpret::<Hold>(409, body, Duration::ZERO),
            Outcome::SoldOut
        ));
    }

    #[test]
    fn holds_read_seats_as_ids_or_objects() {
        let id = uuid::Uuid::new_v4();
        let plain = format!(r#"{{"hold_id":"{id}","seats":["A-1"],"quantity":1}}"#);
        let objects = format!(r#"{{"hold_id":"{id}","seats":[{{"id":"A-1","row":"A"}}]}}"#);
        for body in [plain, objects] {
            match interpret::<Hold>(201, &body, Duration::ZERO) {
                Outcome::Ok(hold) => assert_eq!(hold.seats, vec!["A-1"]),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn polls_wait_while_pending_and_unwrap_results() {
        assert!(interpret_poll::<Hold>(200, r#"{"status":"pending"}"#, Duration::ZERO).is_none());
        assert!(interpret_poll::<Hold>(202, "", Duration::ZERO).is_none());
        let id = uuid::Uuid::new_v4();
        let done = format!(r#"{{"status":"completed","result":{{"hold_id":"{id}","seats":[]}}}}"#);
        assert!(matches!(
            interpret_poll::<Hold>(200, &done, Duration::ZERO),
            Some(Outcome::Ok(_))
        ));
        let rejected = r#"{"status":"rejected","problem":{"type":"https://evently.dev/problems/sold-out","title":"t","status":409}}"#;
        assert!(matches!(
            interpret_poll::<Hold>(200, rejected, Duration::ZERO),
            Some(Outcome::SoldOut)
        ));
    }
}
