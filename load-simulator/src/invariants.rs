//! The invariant check after a run, on what the API reads back: the event's
//! layout (live seat statuses) and every simulated user's bookings.
//!
//! Pure code over plain data, so it is tested on synthetic cases (a seat sold
//! twice, a general-admission section over capacity) without a running stack.

use crate::api::{Booking, Layout, SectionKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    Held,
    Booked,
    Other(String),
}

impl SeatStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "available" => Self::Available,
            "held" => Self::Held,
            "booked" => Self::Booked,
            other => Self::Other(other.to_string()),
        }
    }
}

/// One section of the layout as read back.
#[derive(Debug, Clone)]
pub struct SectionState {
    pub id: String,
    pub kind: SectionKind,
    pub capacity: u64,
    pub available: u64,
    /// Reserved sections only: seat id → status.
    pub seats: BTreeMap<String, SeatStatus>,
}

/// One confirmed booking as read back from a user's `bookings/me`.
#[derive(Debug, Clone)]
pub struct SoldBooking {
    pub booking_id: String,
    pub section_id: Option<String>,
    /// Reserved seats; empty for general admission.
    pub seats: Vec<String>,
    /// Places bought (general admission); for reserved, the seat count.
    pub quantity: u64,
}

impl SectionState {
    pub fn from_layout(layout: &Layout) -> Vec<Self> {
        layout
            .sections
            .iter()
            .map(|s| Self {
                id: s.id.to_string(),
                kind: s.kind,
                capacity: s.capacity,
                available: s.available,
                seats: s
                    .seats
                    .iter()
                    .map(|seat| (seat.id.clone(), SeatStatus::parse(&seat.status)))
                    .collect(),
            })
            .collect()
    }
}

impl SoldBooking {
    /// Confirmed bookings of `event` among `bookings`; cancelled ones hold no seats.
    pub fn confirmed_of(event: common_types::EventId, bookings: &[Booking]) -> Vec<Self> {
        bookings
            .iter()
            .filter(|b| b.event_id == event && b.status == "confirmed")
            .map(|b| Self {
                booking_id: b.id.to_string(),
                section_id: b.section_id.map(|s| s.to_string()),
                quantity: if b.seats.is_empty() {
                    b.quantity.unwrap_or(0)
                } else {
                    b.seats.len() as u64
                },
                seats: b.seats.clone(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Overflow {
    pub section: String,
    pub sold: u64,
    pub capacity: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct InvariantReport {
    pub capacity: u64,
    /// Places in confirmed bookings (a seat sold twice counts twice).
    pub sold: u64,
    pub confirmed_bookings: u64,
    /// Places sold beyond a section's capacity, summed over sections.
    pub oversold: u64,
    /// Extra sales of a reserved seat that was already sold.
    pub duplicates: u64,
    /// Sections whose confirmed places exceed their capacity.
    pub over_capacity: Vec<Overflow>,
    /// Sold places the layout does not show as booked.
    pub not_in_layout: u64,
    /// Booked seat ids that the layout does not have at all.
    pub unknown_seats: u64,
    /// Reserved seats the layout shows as booked that no booking holds.
    pub booked_without_booking: u64,
    /// Bookings the simulator was told were confirmed (201) but no user has.
    pub lost_confirmations: u64,
    /// The first few findings, for people.
    pub findings: Vec<String>,
}

impl InvariantReport {
    pub fn ok(&self) -> bool {
        self.oversold == 0
            && self.duplicates == 0
            && self.over_capacity.is_empty()
            && self.not_in_layout == 0
            && self.unknown_seats == 0
            && self.booked_without_booking == 0
            && self.lost_confirmations == 0
    }

    fn finding(&mut self, text: String) {
        const KEEP: usize = 10;
        if self.findings.len() < KEEP {
            self.findings.push(text);
        }
    }
}

/// Check the invariants. `acknowledged` lists the booking ids the simulator
/// got a confirmation for.
pub fn check(
    layout: &[SectionState],
    bookings: &[SoldBooking],
    acknowledged: &[String],
) -> InvariantReport {
    let mut report = InvariantReport {
        capacity: layout.iter().map(|s| s.capacity).sum(),
        confirmed_bookings: bookings.len() as u64,
        ..InvariantReport::default()
    };

    let seat_section: HashMap<&str, (&str, &SeatStatus)> = layout
        .iter()
        .flat_map(|s| {
            s.seats
                .iter()
                .map(move |(seat, status)| (seat.as_str(), (s.id.as_str(), status)))
        })
        .collect();
    let general: Vec<&SectionState> = layout
        .iter()
        .filter(|s| s.kind == SectionKind::General)
        .collect();

    let mut sold_per_section: BTreeMap<String, u64> = BTreeMap::new();
    let mut seat_sales: HashMap<&str, u64> = HashMap::new();
    for booking in bookings {
        report.sold += booking.quantity;
        if booking.seats.is_empty() {
            // General admission: the section named, or the only one there is.
            let section = booking
                .section_id
                .clone()
                .or_else(|| match general.as_slice() {
                    [only] => Some(only.id.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "general (unattributed)".to_string());
            *sold_per_section.entry(section).or_default() += booking.quantity;
            continue;
        }
        for seat in &booking.seats {
            *seat_sales.entry(seat.as_str()).or_default() += 1;
            match seat_section.get(seat.as_str()) {
                Some((section, status)) => {
                    *sold_per_section.entry((*section).to_string()).or_default() += 1;
                    if **status != SeatStatus::Booked {
                        report.not_in_layout += 1;
                        report.finding(format!(
                            "seat {seat} of booking {} shows as {status:?} in the layout",
                            booking.booking_id
                        ));
                    }
                }
                None => {
                    report.unknown_seats += 1;
                    report.finding(format!(
                        "booking {} holds seat {seat}, which the layout does not have",
                        booking.booking_id
                    ));
                }
            }
        }
    }

    let mut twice: Vec<(&str, u64)> = seat_sales
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(seat, n)| (*seat, *n))
        .collect();
    twice.sort_unstable();
    for (seat, n) in twice {
        report.duplicates += n - 1;
        report.finding(format!("seat {seat} is in {n} confirmed bookings"));
    }

    let capacity_of: HashMap<&str, &SectionState> =
        layout.iter().map(|s| (s.id.as_str(), s)).collect();
    let general_capacity: u64 = general.iter().map(|s| s.capacity).sum();
    for (section, sold) in &sold_per_section {
        let state = capacity_of.get(section.as_str());
        let capacity = state.map(|s| s.capacity).unwrap_or(general_capacity);
        if *sold > capacity {
            report.oversold += sold - capacity;
            report.over_capacity.push(Overflow {
                section: section.clone(),
                sold: *sold,
                capacity,
            });
            report.finding(format!(
                "section {section}: {sold} places sold, capacity {capacity}"
            ));
        }
        // General admission shows no seats: the places it no longer offers
        // (held or booked) must cover what was sold.
        if let Some(state) = state.filter(|s| s.kind == SectionKind::General) {
            let taken = state.capacity.saturating_sub(state.available);
            if *sold > taken {
                report.not_in_layout += sold - taken;
                report.finding(format!(
                    "general section {section}: {sold} sold but only {taken} shown as taken"
                ));
            }
        }
    }

    let sold_seats: HashSet<&str> = seat_sales.keys().copied().collect();
    for section in layout.iter().filter(|s| s.kind == SectionKind::Reserved) {
        for (seat, status) in &section.seats {
            if *status == SeatStatus::Booked && !sold_seats.contains(seat.as_str()) {
                report.booked_without_booking += 1;
                report.finding(format!(
                    "seat {seat} is booked in the layout but in no booking"
                ));
            }
        }
    }

    let found: HashSet<&str> = bookings.iter().map(|b| b.booking_id.as_str()).collect();
    for id in acknowledged {
        if !found.contains(id.as_str()) {
            report.lost_confirmations += 1;
            report.finding(format!(
                "booking {id} was confirmed to its user but is not in their bookings"
            ));
        }
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn reserved(id: &str, seats: &[(&str, &str)]) -> SectionState {
        SectionState {
            id: id.into(),
            kind: SectionKind::Reserved,
            capacity: seats.len() as u64,
            available: seats.iter().filter(|(_, s)| *s == "available").count() as u64,
            seats: seats
                .iter()
                .map(|(seat, status)| (seat.to_string(), SeatStatus::parse(status)))
                .collect(),
        }
    }

    fn booking(id: &str, seats: &[&str]) -> SoldBooking {
        SoldBooking {
            booking_id: id.into(),
            section_id: None,
            seats: seats.iter().map(|s| s.to_string()).collect(),
            quantity: seats.len() as u64,
        }
    }

    #[test]
    fn a_clean_sale_passes() {
        let layout = [reserved("s", &[("A-1", "booked"), ("A-2", "available")])];
        let report = check(&layout, &[booking("b1", &["A-1"])], &["b1".into()]);
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.sold, 1);
    }

    #[test]
    fn a_seat_sold_twice_is_a_duplicate() {
        let layout = [reserved("s", &[("A-1", "booked"), ("A-2", "available")])];
        let report = check(
            &layout,
            &[booking("b1", &["A-1"]), booking("b2", &["A-1"])],
            &[],
        );
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.oversold, 0, "two places sold of two");
        assert!(!report.ok());
    }

    #[test]
    fn a_booking_the_layout_does_not_show_is_reported() {
        let layout = [reserved("s", &[("A-1", "held"), ("A-2", "booked")])];
        let report = check(&layout, &[booking("b1", &["A-1"])], &[]);
        assert_eq!(report.not_in_layout, 1);
        assert_eq!(report.booked_without_booking, 1, "A-2 is booked by nobody");
        assert!(!report.ok());
    }

    #[test]
    fn general_admission_over_capacity_is_oversold() {
        let layout = [SectionState {
            id: "ga".into(),
            kind: SectionKind::General,
            capacity: 3,
            available: 0,
            seats: BTreeMap::new(),
        }];
        let bookings: Vec<SoldBooking> = (0..4)
            .map(|i| SoldBooking {
                booking_id: format!("b{i}"),
                section_id: None,
                seats: vec![],
                quantity: 1,
            })
            .collect();
        let report = check(&layout, &bookings, &[]);
        assert_eq!(report.oversold, 1);
        assert_eq!(
            report.over_capacity,
            vec![Overflow {
                section: "ga".into(),
                sold: 4,
                capacity: 3
            }]
        );
        assert_eq!(
            report.not_in_layout, 1,
            "4 sold but the layout shows 3 taken"
        );
    }

    #[test]
    fn an_acknowledged_booking_nobody_has_is_lost() {
        let layout = [reserved("s", &[("A-1", "available")])];
        let report = check(&layout, &[], &["b9".into()]);
        assert_eq!(report.lost_confirmations, 1);
        assert!(!report.ok());
    }

    #[test]
    fn unknown_seats_are_reported() {
        let layout = [reserved("s", &[("A-1", "available")])];
        let report = check(&layout, &[booking("b1", &["Z-9"])], &[]);
        assert_eq!(report.unknown_seats, 1);
        assert!(!report.ok());
    }
}
