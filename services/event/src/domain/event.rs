//! Events: a show at a venue, with prices per section and a lifecycle
//! draft → published → cancelled | completed.

use super::venue::Venue;
use super::{optional_text, text, Problems};
use crate::error::Error;
use chrono::{DateTime, Utc};
use common_types::messages::lifecycle::{
    EventSnapshot, LifecycleEvent, SectionLayout, SectionSnapshot,
};
use common_types::{Currency, EventId, SectionId, UserId, VenueId};
use serde::{Deserialize, Deserializer, Serialize};
use service_http::AuthUser;
use std::collections::HashSet;

/// The largest price accepted, in minor units (one million in major units).
pub const MAX_PRICE: i64 = 100_000_000;
pub const MAX_TICKETS_PER_USER: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Draft,
    Published,
    Cancelled,
    Completed,
}

impl EventStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventStatus::Draft => "draft",
            EventStatus::Published => "published",
            EventStatus::Cancelled => "cancelled",
            EventStatus::Completed => "completed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(EventStatus::Draft),
            "published" => Some(EventStatus::Published),
            "cancelled" => Some(EventStatus::Cancelled),
            "completed" => Some(EventStatus::Completed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionPrice {
    pub section_id: SectionId,
    /// Minor units of the event's currency.
    pub price: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub organizer_id: UserId,
    pub venue_id: VenueId,
    pub venue_name: String,
    /// Copied from the venue so search by city needs no join.
    pub city: String,
    pub title: String,
    pub description: Option<String>,
    /// Lower-case, so filters match whatever case a client sends.
    pub category: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub currency: Currency,
    pub prices: Vec<SectionPrice>,
    pub max_tickets_per_user: Option<u32>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub status: EventStatus,
    /// Optimistic concurrency: every write must name the version it read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// The event's own copy of the venue layout, fixed when it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Vec<SectionSnapshot>>,
}

// ---- request DTOs -------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
pub struct PriceRequest {
    pub section_id: SectionId,
    pub price: i64,
}

#[derive(Debug, Deserialize)]
pub struct CreateEventRequest {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub category: String,
    pub venue_id: VenueId,
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    pub currency: String,
    #[serde(default)]
    pub prices: Vec<PriceRequest>,
    #[serde(default)]
    pub max_tickets_per_user: Option<i64>,
    #[serde(default)]
    pub sales_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sales_end: Option<DateTime<Utc>>,
}

/// Absent means "leave as is"; `null` means "clear" for optional fields.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEventRequest {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub category: Option<String>,
    pub venue_id: Option<VenueId>,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "present")]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub currency: Option<String>,
    pub prices: Option<Vec<PriceRequest>>,
    #[serde(default, deserialize_with = "present")]
    pub max_tickets_per_user: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub sales_start: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    pub sales_end: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

fn category(problems: &mut Problems, value: &str) -> String {
    text(problems, "category", value, 50).to_lowercase()
}

fn currency(problems: &mut Problems, value: &str) -> Option<Currency> {
    match Currency::parse(value) {
        Ok(c) => Some(c),
        Err(e) => {
            problems.add("currency", e.to_string());
            None
        }
    }
}

fn prices(problems: &mut Problems, requested: &[PriceRequest]) -> Vec<SectionPrice> {
    let mut seen = HashSet::new();
    for (i, p) in requested.iter().enumerate() {
        if p.price < 0 {
            problems.add(
                format!("prices[{i}].price"),
                format!("a price cannot be negative (got {})", p.price),
            );
        } else if p.price > MAX_PRICE {
            problems.add(
                format!("prices[{i}].price"),
                format!("a price is at most {MAX_PRICE} minor units"),
            );
        }
        if !seen.insert(p.section_id) {
            problems.add(
                format!("prices[{i}].section_id"),
                format!("section {} is priced twice", p.section_id),
            );
        }
    }
    requested
        .iter()
        .map(|p| SectionPrice {
            section_id: p.section_id,
            price: p.price,
        })
        .collect()
}

fn max_tickets(problems: &mut Problems, value: Option<i64>) -> Option<u32> {
    let value = value?;
    if !(1..=MAX_TICKETS_PER_USER).contains(&value) {
        problems.add(
            "max_tickets_per_user",
            format!("must be 1 to {MAX_TICKETS_PER_USER}"),
        );
        return None;
    }
    u32::try_from(value).ok()
}

/// Prices must name sections of the venue.
fn check_prices_against(problems: &mut Problems, prices: &[SectionPrice], venue: &Venue) {
    for (i, p) in prices.iter().enumerate() {
        if venue.section(p.section_id).is_none() {
            problems.add(
                format!("prices[{i}].section_id"),
                format!("venue {} has no section {}", venue.id, p.section_id),
            );
        }
    }
}

/// Times that must hold together, checked on every create and edit.
fn check_times(problems: &mut Problems, event: &Event) {
    if let Some(ends_at) = event.ends_at {
        if ends_at <= event.starts_at {
            problems.add("ends_at", "must be after starts_at");
        }
    }
    if let (Some(start), Some(end)) = (event.sales_start, event.sales_end) {
        if end <= start {
            problems.add("sales_end", "must be after sales_start");
        }
    }
    if let (Some(start), Some(ends_at)) = (event.sales_start, event.ends_at) {
        if start >= ends_at {
            problems.add("sales_start", "must be before the event ends");
        }
    }
}

impl Event {
    /// A new draft from a request, at a venue the caller may use.
    pub fn create(
        request: CreateEventRequest,
        venue: &Venue,
        organizer_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let title = text(&mut problems, "title", &request.title, 200);
        let description = optional_text(
            &mut problems,
            "description",
            request.description.as_deref(),
            5000,
        );
        let category = category(&mut problems, &request.category);
        let currency = currency(&mut problems, &request.currency);
        let prices = prices(&mut problems, &request.prices);
        check_prices_against(&mut problems, &prices, venue);
        let max_tickets_per_user = max_tickets(&mut problems, request.max_tickets_per_user);
        if request.starts_at <= now {
            problems.add("starts_at", "must be in the future");
        }
        let Some(currency) = currency else {
            return Err(Error::Validation(problems.0));
        };
        let event = Event {
            id: EventId::new(),
            organizer_id,
            venue_id: venue.id,
            venue_name: venue.name.clone(),
            city: venue.city.clone(),
            title,
            description,
            category,
            starts_at: request.starts_at,
            ends_at: request.ends_at,
            currency,
            prices,
            max_tickets_per_user,
            sales_start: request.sales_start,
            sales_end: request.sales_end,
            status: EventStatus::Draft,
            version: 1,
            created_at: now,
            updated_at: now,
            published_at: None,
            cancelled_at: None,
            cancel_reason: None,
            layout: None,
        };
        check_times(&mut problems, &event);
        problems.into_result(|| event)
    }

    /// Only the organizer who owns the event, or an admin, changes it.
    pub fn authorize_change(&self, user: &AuthUser) -> Result<(), Error> {
        user.require_organizer()?;
        if user.is_admin() || user.id == self.organizer_id {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "event {} belongs to another organizer",
                self.id
            )))
        }
    }

    /// Whether `user` (or an anonymous caller) may see this event.
    pub fn visible_to(&self, user: Option<&AuthUser>) -> bool {
        self.status == EventStatus::Published
            || user.is_some_and(|u| u.is_admin() || u.id == self.organizer_id)
    }

    fn ensure_editable(&self) -> Result<(), Error> {
        match self.status {
            EventStatus::Draft | EventStatus::Published => Ok(()),
            other => Err(Error::InvalidTransition {
                detail: format!(
                    "event {} is {} and can no longer change",
                    self.id,
                    other.as_str()
                ),
            }),
        }
    }

    /// Apply an edit. `venue` is the venue the event will be at (the new one
    /// when `venue_id` changes). Returns the edited event and what changed;
    /// once published, only what does not touch seats on sale may change.
    pub fn edited(
        &self,
        patch: PatchEventRequest,
        venue: Option<&Venue>,
        now: DateTime<Utc>,
    ) -> Result<(Event, Vec<String>), Error> {
        self.ensure_editable()?;
        if self.status == EventStatus::Published {
            let frozen: Vec<&str> = [
                ("venue_id", patch.venue_id.is_some()),
                ("currency", patch.currency.is_some()),
                ("prices", patch.prices.is_some()),
                ("max_tickets_per_user", patch.max_tickets_per_user.is_some()),
                ("sales_start", patch.sales_start.is_some()),
                ("sales_end", patch.sales_end.is_some()),
            ]
            .into_iter()
            .filter_map(|(field, set)| set.then_some(field))
            .collect();
            if !frozen.is_empty() {
                return Err(Error::InvalidTransition {
                    detail: format!(
                        "{} cannot change once the event is published (its seats are on sale)",
                        frozen.join(", ")
                    ),
                });
            }
        }
        let mut problems = Problems::default();
        let mut next = self.clone();
        let mut changed = Vec::new();
        let mut note = |field: &str, differs: bool| {
            if differs {
                changed.push(field.to_string());
            }
        };
        if let Some(title) = patch.title {
            next.title = text(&mut problems, "title", &title, 200);
            note("title", next.title != self.title);
        }
        if let Some(description) = patch.description {
            next.description =
                optional_text(&mut problems, "description", description.as_deref(), 5000);
            note("description", next.description != self.description);
        }
        if let Some(value) = patch.category {
            next.category = category(&mut problems, &value);
            note("category", next.category != self.category);
        }
        if let Some(starts_at) = patch.starts_at {
            if starts_at <= now && starts_at != self.starts_at {
                problems.add("starts_at", "must be in the future");
            }
            next.starts_at = starts_at;
            note("starts_at", next.starts_at != self.starts_at);
        }
        if let Some(ends_at) = patch.ends_at {
            next.ends_at = ends_at;
            note("ends_at", next.ends_at != self.ends_at);
        }
        if let Some(code) = patch.currency {
            if let Some(c) = currency(&mut problems, &code) {
                next.currency = c;
            }
            note("currency", next.currency != self.currency);
        }
        if let Some(requested) = patch.prices {
            next.prices = prices(&mut problems, &requested);
            note("prices", next.prices != self.prices);
        }
        if let Some(value) = patch.max_tickets_per_user {
            next.max_tickets_per_user = max_tickets(&mut problems, value);
            note(
                "max_tickets_per_user",
                next.max_tickets_per_user != self.max_tickets_per_user,
            );
        }
        if let Some(value) = patch.sales_start {
            next.sales_start = value;
            note("sales_start", next.sales_start != self.sales_start);
        }
        if let Some(value) = patch.sales_end {
            next.sales_end = value;
            note("sales_end", next.sales_end != self.sales_end);
        }
        if let Some(venue) = venue {
            if venue.id != self.venue_id {
                next.venue_id = venue.id;
                next.venue_name = venue.name.clone();
                next.city = venue.city.clone();
                changed.push("venue_id".to_string());
            }
            check_prices_against(&mut problems, &next.prices, venue);
        }
        check_times(&mut problems, &next);
        if !problems.is_empty() {
            return Err(Error::Validation(problems.0));
        }
        if !changed.is_empty() {
            next.version = self.version + 1;
            next.updated_at = now;
        }
        Ok((next, changed))
    }

    /// Publish: fix the event's copy of the venue layout and put it on sale.
    pub fn published(
        &self,
        venue: &Venue,
        now: DateTime<Utc>,
    ) -> Result<(Event, EventSnapshot), Error> {
        if self.status != EventStatus::Draft {
            return Err(Error::InvalidTransition {
                detail: format!(
                    "event {} is {}; only a draft can be published",
                    self.id,
                    self.status.as_str()
                ),
            });
        }
        let mut problems = Problems::default();
        check_prices_against(&mut problems, &self.prices, venue);
        let mut sections = Vec::with_capacity(venue.sections.len());
        for (id, name, layout) in venue.seat_map()? {
            match self.prices.iter().find(|p| p.section_id == id) {
                Some(p) => sections.push(SectionSnapshot {
                    id,
                    name,
                    price: p.price,
                    layout,
                }),
                None => problems.add(
                    "prices",
                    format!("section {name:?} ({id}) has no price; every section needs one before publishing"),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(problems.0));
        }
        let mut next = self.clone();
        next.status = EventStatus::Published;
        next.published_at = Some(now);
        next.updated_at = now;
        next.version = self.version + 1;
        next.layout = Some(sections.clone());
        let snapshot = EventSnapshot {
            event_id: next.id,
            organizer_id: next.organizer_id,
            title: next.title.clone(),
            starts_at: next.starts_at,
            sales_start: next.sales_start,
            sales_end: next.sales_end,
            currency: next.currency,
            max_tickets_per_user: next.max_tickets_per_user,
            sections,
        };
        Ok((next, snapshot))
    }

    /// Cancel a draft or a published event; returns whether it was on sale.
    pub fn cancelled(
        &self,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Event, bool), Error> {
        self.ensure_editable()?;
        let mut next = self.clone();
        next.status = EventStatus::Cancelled;
        next.cancelled_at = Some(now);
        next.cancel_reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        next.updated_at = now;
        next.version = self.version + 1;
        Ok((next, self.status == EventStatus::Published))
    }

    /// Mark a published event as having taken place.
    pub fn completed(&self, now: DateTime<Utc>) -> Result<Event, Error> {
        if self.status != EventStatus::Published {
            return Err(Error::InvalidTransition {
                detail: format!(
                    "event {} is {}; only a published event can be completed",
                    self.id,
                    self.status.as_str()
                ),
            });
        }
        let mut next = self.clone();
        next.status = EventStatus::Completed;
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn updated_message(&self, changed: Vec<String>) -> LifecycleEvent {
        LifecycleEvent::EventUpdated {
            event_id: self.id,
            organizer_id: self.organizer_id,
            title: self.title.clone(),
            changed,
            starts_at: self.starts_at,
        }
    }

    pub fn cancelled_message(&self) -> LifecycleEvent {
        LifecycleEvent::EventCancelled {
            event_id: self.id,
            organizer_id: self.organizer_id,
            title: self.title.clone(),
            reason: self.cancel_reason.clone(),
        }
    }
}

// ---- responses ----------------------------------------------------------

/// An event as clients see it: everything but the seat-by-seat layout.
#[derive(Debug, Serialize)]
pub struct EventView {
    #[serde(flatten)]
    pub event: Event,
    /// For a published event: its fixed sections (without seats; the live
    /// seat map is the booking service's `venue-layout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<SectionInfo>>,
}

#[derive(Debug, Serialize)]
pub struct SectionInfo {
    pub id: SectionId,
    pub name: String,
    pub kind: &'static str,
    pub capacity: u64,
    pub price: i64,
}

impl From<Event> for EventView {
    fn from(mut event: Event) -> Self {
        let sections = event.layout.take().map(|layout| {
            layout
                .iter()
                .map(|s| SectionInfo {
                    id: s.id,
                    name: s.name.clone(),
                    kind: match s.layout {
                        SectionLayout::Reserved { .. } => "reserved",
                        SectionLayout::General { .. } => "general",
                    },
                    capacity: match &s.layout {
                        SectionLayout::Reserved { seats } => seats.len() as u64,
                        SectionLayout::General { capacity } => u64::from(*capacity),
                    },
                    price: s.price,
                })
                .collect()
        });
        Self { event, sections }
    }
}
