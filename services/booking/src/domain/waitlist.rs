//! Seats parked for the waitlist: offered to someone waiting, or returned to
//! open sale.

use super::decision::{Change, Decision, HoldRequest, Refusal};
use super::model::{EventState, Hold, SeatStatus, Section, SectionKind};
use super::state::count;
use chrono::{DateTime, Utc};
use common_types::messages::booking::{BookingOutcome, RejectReason, SeatSelection};
use common_types::{RequestId, SeatId, SectionId};
use std::collections::{BTreeMap, HashSet};

impl EventState {
    pub(super) fn offer_hold(
        &mut self,
        req: &HoldRequest,
        seats: SeatSelection,
        now: DateTime<Utc>,
        out: &mut Decision,
    ) {
        let hold = match self.offerable(req, seats, now) {
            Ok(hold) => hold,
            Err(refusal) => return out.reject_hold(self.id, req, refusal),
        };
        if let Some(section_id) = hold.section_id {
            self.take_parked_places(section_id, hold.quantity, out);
        }
        self.place_hold(req.request_id, hold, now, out);
    }

    fn offerable(
        &self,
        req: &HoldRequest,
        seats: SeatSelection,
        now: DateTime<Utc>,
    ) -> Result<Hold, Refusal> {
        if self.cancelled {
            return Err(Refusal::new(
                RejectReason::EventCancelled,
                "the event was cancelled",
            ));
        }
        self.check_parked(&seats)
            .map_err(|detail| Refusal::new(RejectReason::NotParked, detail))?;
        let (quantity, section_id) = if seats.seat_ids.is_empty() {
            (seats.quantity, Some(seats.section_id))
        } else {
            (count(&seats.seat_ids), None)
        };
        let total = self
            .sections
            .get(&seats.section_id)
            .map(|s| s.price.times(quantity))
            .transpose()
            .map_err(|_| Refusal::too_expensive())?
            .unwrap_or(common_types::Money::zero(self.currency));
        Ok(req.hold(seats.seat_ids, section_id, quantity, total, now))
    }

    fn take_parked_places(&mut self, section_id: SectionId, quantity: u32, out: &mut Decision) {
        if let Some(Section {
            kind: SectionKind::General { parked, .. },
            ..
        }) = self.sections.get_mut(&section_id)
        {
            *parked -= quantity;
        }
        out.change(Change::GaDelta {
            event_id: self.id,
            section_id,
            available: 0,
            parked: -i64::from(quantity),
        });
    }

    pub(super) fn return_to_sale(
        &mut self,
        request_id: RequestId,
        seats: SeatSelection,
        out: &mut Decision,
    ) {
        match self.check_parked(&seats) {
            Ok(()) => self.unpark(seats, out),
            Err(detail) => out.fail(
                request_id,
                self.id,
                Refusal::new(RejectReason::NotParked, detail),
            ),
        }
    }

    /// Nobody is waiting any more: whatever is still parked goes back on sale.
    pub(super) fn return_all_parked(&mut self, out: &mut Decision) {
        let mut by_section: BTreeMap<SectionId, Vec<SeatId>> = BTreeMap::new();
        for (id, seat) in &self.seats {
            if seat.status == SeatStatus::Parked {
                by_section
                    .entry(seat.section_id)
                    .or_default()
                    .push(id.clone());
            }
        }
        let mut selections: Vec<SeatSelection> = by_section
            .into_iter()
            .map(|(section_id, mut seat_ids)| {
                seat_ids.sort();
                SeatSelection {
                    section_id,
                    quantity: count(&seat_ids),
                    seat_ids,
                }
            })
            .collect();
        let mut general: Vec<(SectionId, u32)> = self
            .sections
            .values()
            .filter_map(|s| match s.kind {
                SectionKind::General { parked, .. } if parked > 0 => Some((s.id, parked)),
                _ => None,
            })
            .collect();
        general.sort();
        selections.extend(
            general
                .into_iter()
                .map(|(section_id, quantity)| SeatSelection {
                    section_id,
                    seat_ids: Vec::new(),
                    quantity,
                }),
        );
        for seats in selections {
            self.unpark(seats, out);
        }
    }

    fn unpark(&mut self, seats: SeatSelection, out: &mut Decision) {
        if seats.seat_ids.is_empty() {
            if let Some(Section {
                kind:
                    SectionKind::General {
                        available, parked, ..
                    },
                ..
            }) = self.sections.get_mut(&seats.section_id)
            {
                *parked -= seats.quantity;
                *available += seats.quantity;
            }
            out.change(Change::GaDelta {
                event_id: self.id,
                section_id: seats.section_id,
                available: i64::from(seats.quantity),
                parked: -i64::from(seats.quantity),
            });
        } else {
            for seat in &seats.seat_ids {
                if let Some(s) = self.seats.get_mut(seat) {
                    s.status = SeatStatus::Available;
                }
                out.change(Change::SeatStatus {
                    event_id: self.id,
                    seat_id: seat.clone(),
                    status: SeatStatus::Available,
                });
            }
        }
        if !self.cancelled {
            out.tell(BookingOutcome::SeatsReleased {
                event_id: self.id,
                seats,
            });
        }
    }

    /// Check that `seats` are parked in their section; the error names why not.
    fn check_parked(&self, seats: &SeatSelection) -> Result<(), String> {
        match self.sections.get(&seats.section_id) {
            None => Err(format!("this event has no section {}", seats.section_id)),
            Some(Section {
                kind: SectionKind::General { parked, .. },
                ..
            }) => {
                if seats.quantity == 0 || !seats.seat_ids.is_empty() {
                    Err("general admission: give a quantity and no seat ids".into())
                } else if *parked < seats.quantity {
                    Err(format!(
                        "only {parked} places of this section are parked for the waitlist"
                    ))
                } else {
                    Ok(())
                }
            }
            Some(Section {
                kind: SectionKind::Reserved,
                ..
            }) => {
                let mut seen = HashSet::new();
                let ok = !seats.seat_ids.is_empty()
                    && seats.seat_ids.iter().all(|s| {
                        seen.insert(s.clone())
                            && self.seats.get(s).is_some_and(|seat| {
                                seat.section_id == seats.section_id
                                    && seat.status == SeatStatus::Parked
                            })
                    });
                if ok {
                    Ok(())
                } else {
                    Err("some of these seats are not parked for the waitlist".into())
                }
            }
        }
    }
}
