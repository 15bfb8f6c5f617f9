//! Venues: reusable seat-map templates owned by an organizer.
//!
//! A venue stores its layout compactly (rows with seat counts); the seats,
//! with their ids and coordinates, are a pure function of that layout
//! ([`Venue::seat_map`]). An event copies the expanded seat map when it is
//! published, so nothing later done to the venue (or to this function) can
//! change seats already on sale.

use super::{optional_text, text, Problems};
use crate::error::Error;
use chrono::{DateTime, Utc};
use common_types::messages::lifecycle::{SeatSnapshot, SectionLayout};
use common_types::{SeatId, SectionId, UserId, VenueId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most seats one reserved row may have.
pub const MAX_SEATS_PER_ROW: i64 = 10_000;
/// Most places (seats plus general admission) one venue may have; keeps one
/// venue document well under MongoDB's 16 MB limit once an event copies it.
pub const MAX_VENUE_CAPACITY: i64 = 200_000;
pub const MAX_SECTIONS: usize = 500;
pub const MAX_ROW_LABEL: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Venue {
    pub id: VenueId,
    pub organizer_id: UserId,
    pub name: String,
    pub city: String,
    pub address: Option<String>,
    pub sections: Vec<VenueSection>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueSection {
    pub id: SectionId,
    pub name: String,
    #[serde(flatten)]
    pub plan: SectionPlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SectionPlan {
    Reserved { rows: Vec<RowPlan> },
    General { capacity: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowPlan {
    pub label: String,
    pub seats: u32,
}

impl SectionPlan {
    pub fn capacity(&self) -> u64 {
        match self {
            SectionPlan::Reserved { rows } => rows.iter().map(|r| u64::from(r.seats)).sum(),
            SectionPlan::General { capacity } => u64::from(*capacity),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SectionPlan::Reserved { .. } => "reserved",
            SectionPlan::General { .. } => "general",
        }
    }
}

/// Rows of empty space between two sections on the drawn map.
const SECTION_GAP: f32 = 2.0;

impl Venue {
    pub fn capacity(&self) -> u64 {
        self.sections.iter().map(|s| s.plan.capacity()).sum()
    }

    pub fn section(&self, id: SectionId) -> Option<&VenueSection> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// Every section with its seats. Seats sit on a grid: one unit per seat
    /// along x, each row centred on x = 0; one unit per row along y, counted
    /// down the whole venue with a gap between sections, so a client can draw
    /// the map as it is.
    pub fn seat_map(&self) -> Result<Vec<(SectionId, String, SectionLayout)>, Error> {
        let mut y = 0.0_f32;
        let mut out = Vec::with_capacity(self.sections.len());
        for section in &self.sections {
            let layout = match &section.plan {
                SectionPlan::General { capacity } => SectionLayout::General {
                    capacity: *capacity,
                },
                SectionPlan::Reserved { rows } => {
                    let total: usize = rows.iter().map(|r| r.seats as usize).sum();
                    let mut seats = Vec::with_capacity(total);
                    for row in rows {
                        let centre = (row.seats as f32 + 1.0) / 2.0;
                        for number in 1..=row.seats {
                            let id = SeatId::for_row_seat(&row.label, number).map_err(|e| {
                                // Labels are checked on the way in; reaching this is a bug.
                                Error::Unexpected(anyhow::anyhow!("stored venue {}: {e}", self.id))
                            })?;
                            seats.push(SeatSnapshot {
                                id,
                                row: row.label.clone(),
                                number,
                                x: number as f32 - centre,
                                y,
                            });
                        }
                        y += 1.0;
                    }
                    SectionLayout::Reserved { seats }
                }
            };
            out.push((section.id, section.name.clone(), layout));
            y += SECTION_GAP;
        }
        Ok(out)
    }
}

// ---- request DTOs -------------------------------------------------------

/// `POST /api/v1/venues` and `PUT /api/v1/venues/{id}`. Counts are signed so
/// a negative number gets a clear field error instead of a serde message.
#[derive(Debug, Deserialize)]
pub struct VenueRequest {
    pub name: String,
    pub city: String,
    #[serde(default)]
    pub address: Option<String>,
    pub sections: Vec<SectionRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SectionRequest {
    Reserved { name: String, rows: Vec<RowRequest> },
    General { name: String, capacity: i64 },
}

#[derive(Debug, Deserialize)]
pub struct RowRequest {
    pub label: String,
    pub seats: i64,
}

/// A venue's content as parsed from a request: everything but its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueContent {
    pub name: String,
    pub city: String,
    pub address: Option<String>,
    pub sections: Vec<(String, SectionPlan)>,
}

impl TryFrom<VenueRequest> for VenueContent {
    type Error = Error;

    fn try_from(request: VenueRequest) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let name = text(&mut problems, "name", &request.name, 200);
        let city = text(&mut problems, "city", &request.city, 100);
        let address = optional_text(&mut problems, "address", request.address.as_deref(), 300);
        if request.sections.is_empty() {
            problems.add("sections", "a venue needs at least one section");
        } else if request.sections.len() > MAX_SECTIONS {
            problems.add(
                "sections",
                format!("a venue has at most {MAX_SECTIONS} sections"),
            );
        }

        let mut names: HashMap<String, usize> = HashMap::new();
        // Seat ids are row label + number and must be unique within a venue
        // (holds name seats without their section), so a row label may appear
        // once across all reserved sections.
        let mut labels: HashMap<String, String> = HashMap::new();
        let mut capacity: i64 = 0;
        let mut sections = Vec::with_capacity(request.sections.len());
        for (i, section) in request.sections.into_iter().enumerate() {
            let (raw_name, plan) = match section {
                SectionRequest::General { name, capacity: c } => {
                    let field = format!("sections[{i}].capacity");
                    if !(1..=MAX_VENUE_CAPACITY).contains(&c) {
                        problems.add(field, format!("must be 1 to {MAX_VENUE_CAPACITY}"));
                    }
                    capacity = capacity.saturating_add(c.max(0));
                    let c = u32::try_from(c.clamp(0, MAX_VENUE_CAPACITY)).unwrap_or(0);
                    (name, SectionPlan::General { capacity: c })
                }
                SectionRequest::Reserved { name, rows } => {
                    if rows.is_empty() {
                        problems.add(
                            format!("sections[{i}].rows"),
                            "a reserved section needs at least one row",
                        );
                    }
                    let mut plans = Vec::with_capacity(rows.len());
                    for (j, row) in rows.into_iter().enumerate() {
                        let label = row.label.trim().to_string();
                        let label_field = format!("sections[{i}].rows[{j}].label");
                        if label.is_empty()
                            || label.len() > MAX_ROW_LABEL
                            || !label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        {
                            problems.add(
                                label_field,
                                format!(
                                    "a row label is 1 to {MAX_ROW_LABEL} letters, digits or '_' (got {label:?})"
                                ),
                            );
                        } else if let Some(owner) = labels.get(&label) {
                            problems.add(
                                label_field,
                                format!(
                                    "row {label} already exists in section {owner:?}; seat ids such as {label}-1 must be unique within the venue"
                                ),
                            );
                        } else {
                            labels.insert(label.clone(), name.trim().to_string());
                        }
                        if !(1..=MAX_SEATS_PER_ROW).contains(&row.seats) {
                            problems.add(
                                format!("sections[{i}].rows[{j}].seats"),
                                format!(
                                    "a row has 1 to {MAX_SEATS_PER_ROW} seats (got {})",
                                    row.seats
                                ),
                            );
                        }
                        capacity = capacity.saturating_add(row.seats.max(0));
                        let seats =
                            u32::try_from(row.seats.clamp(0, MAX_SEATS_PER_ROW)).unwrap_or(0);
                        plans.push(RowPlan { label, seats });
                    }
                    (name, SectionPlan::Reserved { rows: plans })
                }
            };
            let name = text(
                &mut problems,
                &format!("sections[{i}].name"),
                &raw_name,
                100,
            );
            let key = name.to_lowercase();
            if let Some(first) = names.get(&key) {
                problems.add(
                    format!("sections[{i}].name"),
                    format!("section name {name:?} is already used by sections[{first}]"),
                );
            } else {
                names.insert(key, i);
            }
            sections.push((name, plan));
        }
        if capacity > MAX_VENUE_CAPACITY {
            problems.add(
                "sections",
                format!("a venue holds at most {MAX_VENUE_CAPACITY} places (got {capacity})"),
            );
        }
        problems.into_result(|| VenueContent {
            name,
            city,
            address,
            sections,
        })
    }
}

impl Venue {
    pub fn create(organizer_id: UserId, content: VenueContent, now: DateTime<Utc>) -> Self {
        Self {
            id: VenueId::new(),
            organizer_id,
            name: content.name,
            city: content.city,
            address: content.address,
            sections: content
                .sections
                .into_iter()
                .map(|(name, plan)| VenueSection {
                    id: SectionId::new(),
                    name,
                    plan,
                })
                .collect(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// The venue with new content. A section keeps its id when its name stays
    /// (case-insensitively), so events still in draft keep their prices.
    pub fn edited(&self, content: VenueContent, now: DateTime<Utc>) -> Self {
        let sections = content
            .sections
            .into_iter()
            .map(|(name, plan)| {
                let id = self
                    .sections
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(&name))
                    .map(|s| s.id)
                    .unwrap_or_default();
                VenueSection { id, name, plan }
            })
            .collect();
        Self {
            name: content.name,
            city: content.city,
            address: content.address,
            sections,
            version: self.version + 1,
            updated_at: now,
            ..self.clone()
        }
    }
}

// ---- responses ----------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct VenueView {
    pub id: VenueId,
    pub organizer_id: UserId,
    pub name: String,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub capacity: u64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sections: Vec<SectionView>,
}

#[derive(Debug, Serialize)]
pub struct SectionView {
    pub id: SectionId,
    pub name: String,
    pub kind: &'static str,
    pub capacity: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<RowPlan>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<Vec<SeatSnapshot>>,
}

impl VenueView {
    pub fn of(venue: &Venue) -> Result<Self, Error> {
        let map = venue.seat_map()?;
        let sections = venue
            .sections
            .iter()
            .zip(map)
            .map(|(section, (_, _, layout))| SectionView {
                id: section.id,
                name: section.name.clone(),
                kind: section.plan.kind(),
                capacity: section.plan.capacity(),
                rows: match &section.plan {
                    SectionPlan::Reserved { rows } => Some(rows.clone()),
                    SectionPlan::General { .. } => None,
                },
                seats: match layout {
                    SectionLayout::Reserved { seats } => Some(seats),
                    SectionLayout::General { .. } => None,
                },
            })
            .collect();
        Ok(Self {
            id: venue.id,
            organizer_id: venue.organizer_id,
            name: venue.name.clone(),
            city: venue.city.clone(),
            address: venue.address.clone(),
            capacity: venue.capacity(),
            version: venue.version,
            created_at: venue.created_at,
            updated_at: venue.updated_at,
            sections,
        })
    }
}

/// A venue in a list: no seats.
#[derive(Debug, Serialize)]
pub struct VenueSummary {
    pub id: VenueId,
    pub name: String,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub capacity: u64,
    pub sections: Vec<SectionSummary>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct SectionSummary {
    pub id: SectionId,
    pub name: String,
    pub kind: &'static str,
    pub capacity: u64,
}

impl From<&Venue> for VenueSummary {
    fn from(venue: &Venue) -> Self {
        Self {
            id: venue.id,
            name: venue.name.clone(),
            city: venue.city.clone(),
            address: venue.address.clone(),
            capacity: venue.capacity(),
            sections: venue
                .sections
                .iter()
                .map(|s| SectionSummary {
                    id: s.id,
                    name: s.name.clone(),
                    kind: s.plan.kind(),
                    capacity: s.plan.capacity(),
                })
                .collect(),
            created_at: venue.created_at,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn request(sections: serde_json::Value) -> VenueRequest {
        serde_json::from_value(serde_json::json!({
            "name": "Hall", "city": "Oslo", "sections": sections
        }))
        .unwrap()
    }

    fn fields(result: Result<VenueContent, Error>) -> Vec<String> {
        match result {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn seats_get_stable_ids_and_coordinates() {
        let content = VenueContent::try_from(request(serde_json::json!([
            {"name": "Stalls", "kind": "reserved", "rows": [{"label": "A", "seats": 3}, {"label": "B", "seats": 2}]},
            {"name": "Floor", "kind": "general", "capacity": 500}
        ])))
        .unwrap();
        let venue = Venue::create(UserId::new(), content, Utc::now());
        assert_eq!(venue.capacity(), 505);
        let map = venue.seat_map().unwrap();
        let SectionLayout::Reserved { seats } = &map[0].2 else {
            panic!("reserved")
        };
        let ids: Vec<_> = seats.iter().map(|s| s.id.to_string()).collect();
        assert_eq!(ids, ["A-1", "A-2", "A-3", "B-1", "B-2"]);
        assert_eq!((seats[0].x, seats[0].y), (-1.0, 0.0));
        assert_eq!((seats[4].x, seats[4].y), (0.5, 1.0));
        assert_eq!(map[1].2, SectionLayout::General { capacity: 500 });
    }

    #[test]
    fn bad_layouts_name_the_field() {
        assert_eq!(
            fields(VenueContent::try_from(request(serde_json::json!([])))),
            ["sections"]
        );
        assert_eq!(
            fields(VenueContent::try_from(request(serde_json::json!([
                {"name": "S", "kind": "reserved", "rows": [{"label": "A", "seats": 0}, {"label": "B", "seats": 10001}]}
            ])))),
            ["sections[0].rows[0].seats", "sections[0].rows[1].seats"]
        );
        assert_eq!(
            fields(VenueContent::try_from(request(serde_json::json!([
                {"name": "S", "kind": "reserved", "rows": [{"label": "A", "seats": 1}]},
                {"name": "s", "kind": "reserved", "rows": [{"label": "A", "seats": 1}]}
            ])))),
            ["sections[1].rows[0].label", "sections[1].name"]
        );
    }
}
