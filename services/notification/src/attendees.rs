//! The booking service's internal attendee list, for fan-out. The endpoint
//! is not exposed by the gateway and wants a service credential.

use common_types::{EventId, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

pub const SERVICE_TOKEN_HEADER: &str = "X-Service-Token";
const PER_PAGE: u32 = 500;
/// A runaway paging loop stops here (5,000,000 attendees).
const MAX_PAGES: u32 = 10_000;

#[derive(Clone)]
pub struct BookingClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
}

#[derive(Debug, Deserialize)]
struct Attendee {
    user_id: UserId,
}

/// The standard list shape, a bare array, or `{attendees: [...]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AttendeesBody {
    Page {
        items: Vec<Attendee>,
        #[serde(default)]
        total: Option<u64>,
    },
    Wrapped {
        attendees: Vec<Attendee>,
    },
    List(Vec<Attendee>),
}

impl BookingClient {
    pub fn new(base_url: &str, token: SecretString) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Every distinct user holding a booking for `event_id`. An event booking
    /// does not know is an empty list; any other failure is an error (the
    /// caller retries the message later).
    #[tracing::instrument(skip(self))]
    pub async fn attendees(&self, event_id: EventId) -> anyhow::Result<Vec<UserId>> {
        let mut users = BTreeSet::new();
        let mut page = 1u32;
        loop {
            let url = format!("{}/internal/events/{event_id}/attendees", self.base_url);
            let response = self
                .http
                .get(&url)
                .query(&[("page", page), ("per_page", PER_PAGE)])
                .header(SERVICE_TOKEN_HEADER, self.token.expose_secret())
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                tracing::warn!(%event_id, "booking does not know the event; nobody to notify");
                return Ok(Vec::new());
            }
            let body: AttendeesBody = response.error_for_status()?.json().await?;
            let (items, total, paged) = match body {
                AttendeesBody::Page { items, total } => (items, total, true),
                AttendeesBody::Wrapped { attendees } => (attendees, None, false),
                AttendeesBody::List(items) => (items, None, false),
            };
            let count = items.len();
            users.extend(items.into_iter().map(|a| a.user_id));
            let seen = u64::from(page) * u64::from(PER_PAGE);
            let more = paged && count > 0 && total.map_or(count >= PER_PAGE as usize, |t| seen < t);
            if !more || page >= MAX_PAGES {
                break;
            }
            page += 1;
        }
        Ok(users.into_iter().collect())
    }
}
