//! Preparation before the timed phase: an organizer, venues, published events
//! whose inventory the booking service shows, and N logged-in users.

use crate::api::{
    Api, ApiError, NewEvent, NewRow, NewSection, NewVenue, SectionKind, SectionPrice, Tokens,
};
use anyhow::Context as _;
use common_types::{EventId, SectionId};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "loadsim-password-2026";

/// A simulated customer with a current access token.
pub struct User {
    pub email: String,
    token: RwLock<Arc<str>>,
    logins: AtomicU32,
}

impl User {
    pub fn new(email: String, token: &str) -> Self {
        Self {
            email,
            token: RwLock::new(Arc::from(token)),
            logins: AtomicU32::new(0),
        }
    }

    pub fn token(&self) -> Arc<str> {
        self.token
            .read()
            .map(|t| Arc::clone(&t))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// After a 401: log in again, a few times per user at most, so a user
    /// the service keeps refusing cannot spin. Whether to retry.
    pub async fn try_reauthenticate(&self, api: &Api) -> bool {
        const MAX_LOGINS: u32 = 3;
        self.logins.fetch_add(1, Ordering::Relaxed) < MAX_LOGINS
            && self.reauthenticate(api).await.is_ok()
    }

    /// Log in again (an access token lasts 15 minutes; a long run outlives it).
    pub async fn reauthenticate(&self, api: &Api) -> Result<(), ApiError> {
        let tokens = api.login(&self.email, PASSWORD).await?;
        if let Ok(mut t) = self.token.write() {
            *t = Arc::from(tokens.access_token.as_str());
        }
        Ok(())
    }
}

/// What the simulator needs to know about one event on sale.
#[derive(Debug, Clone)]
pub struct EventOnSale {
    pub name: String,
    pub event_id: EventId,
    pub section_id: SectionId,
    pub kind: SectionKind,
    pub capacity: u64,
    /// Reserved: every seat id, as first shown available.
    pub seat_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EventSpec {
    pub name: String,
    pub kind: SectionKind,
    pub seats: u64,
    pub seats_per_row: u32,
    pub price_cents: i64,
}

/// Row labels A..Z, AA..ZZ, AAA..: unique within an event, as seat ids must be.
pub fn row_label(mut index: u64) -> String {
    let mut label = Vec::new();
    loop {
        label.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    label.reverse();
    String::from_utf8_lossy(&label).into_owned()
}

/// Rows of `per_row` seats (the last one shorter) adding up to `seats`.
pub fn rows_for(seats: u64, per_row: u32) -> Vec<NewRow> {
    let per_row = u64::from(per_row.max(1));
    (0..seats.div_ceil(per_row))
        .map(|i| NewRow {
            label: row_label(i),
            seats: u32::try_from(per_row.min(seats - i * per_row)).unwrap_or(u32::MAX),
        })
        .collect()
}

/// Unique per run, so reruns against the same stack never collide.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

pub async fn organizer(api: &Api, run_id: &str) -> anyhow::Result<String> {
    let email = format!("loadsim-{run_id}-organizer@example.com");
    with_retries("register the organizer", || {
        api.register(&email, PASSWORD, "Load Simulator Organizer", "organizer")
    })
    .await?;
    let tokens: Tokens =
        with_retries("log the organizer in", || api.login(&email, PASSWORD)).await?;
    Ok(tokens.access_token)
}

/// Venue, event, publish, then wait until the booking service shows all of
/// the inventory (it is created asynchronously from `EventPublished`).
pub async fn create_event(
    api: &Api,
    token: &str,
    run_id: &str,
    spec: &EventSpec,
    inventory_timeout: Duration,
) -> anyhow::Result<EventOnSale> {
    let section = match spec.kind {
        SectionKind::Reserved => NewSection::Reserved {
            name: "Floor".into(),
            rows: rows_for(spec.seats, spec.seats_per_row),
        },
        SectionKind::General => NewSection::General {
            name: "General admission".into(),
            capacity: spec.seats,
        },
    };
    let venue = api
        .create_venue(
            token,
            &NewVenue {
                name: format!("Loadsim Arena {run_id} {}", spec.name),
                city: "Berlin".into(),
                address: Some("Simulation Street 1".into()),
                sections: vec![section],
            },
        )
        .await
        .with_context(|| format!("creating the venue for {}", spec.name))?;
    let section_id = venue
        .sections
        .first()
        .map(|s| s.id)
        .context("the created venue has no sections")?;
    let starts_at = (chrono::Utc::now() + chrono::Duration::days(30))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = api
        .create_event(
            token,
            &NewEvent {
                title: format!("Loadsim {} {run_id}", spec.name),
                description: Some("Created by the load simulator".into()),
                category: "concert".into(),
                venue_id: venue.id,
                starts_at,
                currency: "EUR".into(),
                prices: vec![SectionPrice {
                    section_id,
                    price: spec.price_cents,
                }],
            },
        )
        .await
        .with_context(|| format!("creating the event {}", spec.name))?;
    api.publish(token, event.id)
        .await
        .with_context(|| format!("publishing the event {}", spec.name))?;

    let seat_ids = wait_for_inventory(api, token, event.id, spec.seats, inventory_timeout)
        .await
        .with_context(|| format!("waiting for the inventory of {}", spec.name))?;
    Ok(EventOnSale {
        name: spec.name.clone(),
        event_id: event.id,
        section_id,
        kind: spec.kind,
        capacity: spec.seats,
        seat_ids,
    })
}

async fn wait_for_inventory(
    api: &Api,
    token: &str,
    event: EventId,
    capacity: u64,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api.seats_available(Some(token), event).await {
            Ok(a) if a.available >= capacity => {
                return Ok(a.sections.into_iter().flat_map(|s| s.seat_ids).collect());
            }
            Ok(a) => format!("{} of {capacity} available", a.available),
            Err(e @ ApiError::Unreachable { .. }) => return Err(e.into()),
            // 404 until the booking service has consumed EventPublished.
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the booking service did not show the event's {capacity} seats within {timeout:?} \
                 (last: {last})"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Register and log in `n` customers, `concurrency` at a time. Not timed: the
/// cost is dominated by password hashing (see docs/load-simulator.md).
pub async fn prepare_users(
    api: &Api,
    run_id: &str,
    n: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<User>> {
    let bar = ProgressBar::new(n);
    if let Ok(style) =
        ProgressStyle::with_template("preparing users {bar:40} {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    let started = Instant::now();
    let users: Vec<User> = futures::stream::iter(0..n)
        .map(|i| {
            let bar = bar.clone();
            async move {
                let email = format!("loadsim-{run_id}-{i}@example.com");
                let name = format!("Simulated Fan {i}");
                with_retries("register a user", || {
                    api.register(&email, PASSWORD, &name, "customer")
                })
                .await?;
                let tokens = with_retries("log a user in", || api.login(&email, PASSWORD)).await?;
                bar.inc(1);
                Ok::<_, anyhow::Error>(User::new(email, &tokens.access_token))
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    bar.finish_and_clear();
    eprintln!(
        "prepared {n} users in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );
    Ok(users)
}

/// Retry a setup call on 429, 5xx and dropped connections, a few times.
pub(crate) async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    const ATTEMPTS: u32 = 8;
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=ATTEMPTS {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e @ ApiError::Unreachable { .. }) => return Err(e.into()),
            Err(e) => {
                let retryable = matches!(e, ApiError::Transport { .. })
                    || matches!(e.status(), Some(429 | 500..=599));
                if !retryable || attempt == ATTEMPTS {
                    return Err(anyhow::Error::new(e).context(format!("cannot {what}")));
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
    anyhow::bail!("cannot {what}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn row_labels_are_unique_and_readable() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(27), "AB");
        assert_eq!(row_label(26 + 26 * 26), "AAA");
        let labels: std::collections::HashSet<String> = (0..2000).map(row_label).collect();
        assert_eq!(labels.len(), 2000);
    }

    #[test]
    fn rows_add_up_to_the_seats() {
        let rows = rows_for(250, 100);
        assert_eq!(
            rows.iter().map(|r| r.seats).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(rows_for(100, 100).len(), 1);
    }
}
