//! The decision logic on its own: no database, no broker.

use super::*;
use chrono::Duration;
use common_types::messages::booking::{BookingOutcome, RejectReason, SeatSelection};
use common_types::messages::lifecycle::{EventSnapshot, SectionLayout};
use common_types::messages::lifecycle::{SeatSnapshot, SectionSnapshot};
use common_types::{
    BookingId, Currency, EventId, HoldId, RequestId, Role, SeatId, SectionId, UserId,
    WaitlistEntryId,
};

struct Fixture {
    inv: Inventory,
    event: EventId,
    organizer: UserId,
    reserved: SectionId,
    general: SectionId,
    t0: DateTime<Utc>,
}

fn seat(s: &str) -> SeatId {
    SeatId::parse(s).unwrap_or_else(|_| unreachable!())
}

fn fixture() -> Fixture {
    let t0 = Utc::now();
    let event = EventId::new();
    let organizer = UserId::new();
    let reserved = SectionId::new();
    let general = SectionId::new();
    let snapshot = EventSnapshot {
        event_id: event,
        organizer_id: organizer,
        title: "Show".into(),
        starts_at: t0 + Duration::days(30),
        sales_start: None,
        sales_end: None,
        currency: Currency::parse("USD").unwrap_or_else(|_| unreachable!()),
        max_tickets_per_user: Some(4),
        sections: vec![
            SectionSnapshot {
                id: reserved,
                name: "Stalls".into(),
                price: 5000,
                layout: SectionLayout::Reserved {
                    seats: (1..=3)
                        .map(|n| SeatSnapshot {
                            id: seat(&format!("A-{n}")),
                            row: "A".into(),
                            number: n,
                            x: n as f32,
                            y: 0.0,
                        })
                        .collect(),
                },
            },
            SectionSnapshot {
                id: general,
                name: "Floor".into(),
                price: 2000,
                layout: SectionLayout::General { capacity: 5 },
            },
        ],
    };
    let mut inv = Inventory::new(600);
    let d = inv.apply(
        BookingCommand::CreateInventory {
            event: snapshot.clone(),
        },
        t0,
    );
    assert_eq!(d.changes.len(), 1);
    // A second publication of the same event changes nothing.
    assert_eq!(
        inv.apply(BookingCommand::CreateInventory { event: snapshot }, t0),
        Decision::default()
    );
    Fixture {
        inv,
        event,
        organizer,
        reserved,
        general,
        t0,
    }
}

fn hold_seats(f: &mut Fixture, user: UserId, seats: &[&str], at: DateTime<Utc>) -> BookingOutcome {
    let d = f.inv.apply(
        BookingCommand::HoldSeats {
            request_id: RequestId::new(),
            event_id: f.event,
            user_id: user,
            seat_ids: seats.iter().map(|s| seat(s)).collect(),
            hold_ttl_secs: None,
        },
        at,
    );
    d.outcomes.last().cloned().unwrap_or_else(|| unreachable!())
}

fn hold_ga(f: &mut Fixture, user: UserId, quantity: u32, at: DateTime<Utc>) -> BookingOutcome {
    let d = f.inv.apply(
        BookingCommand::HoldQuantity {
            request_id: RequestId::new(),
            event_id: f.event,
            user_id: user,
            section_id: f.general,
            quantity,
            hold_ttl_secs: Some(60),
        },
        at,
    );
    d.outcomes.last().cloned().unwrap_or_else(|| unreachable!())
}

fn reason(o: &BookingOutcome) -> Option<RejectReason> {
    match o {
        BookingOutcome::HoldRejected { reason, .. }
        | BookingOutcome::BookingRejected { reason, .. }
        | BookingOutcome::CommandFailed { reason, .. } => Some(*reason),
        _ => None,
    }
}

fn hold_id(o: &BookingOutcome) -> HoldId {
    match o {
        BookingOutcome::HoldPlaced { hold_id, .. } => *hold_id,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn confirm(
    f: &mut Fixture,
    user: UserId,
    hold: HoldId,
    amount: i64,
    at: DateTime<Utc>,
) -> Decision {
    confirm_as(f, RequestId::new(), user, hold, amount, at)
}

/// [`confirm`] with a chosen request id (the booking id derives from it).
fn confirm_as(
    f: &mut Fixture,
    request_id: RequestId,
    user: UserId,
    hold: HoldId,
    amount: i64,
    at: DateTime<Utc>,
) -> Decision {
    f.inv.apply(
        BookingCommand::ConfirmHold {
            request_id,
            event_id: f.event,
            hold_id: hold,
            user_id: user,
            payment_id: format!("pay_{}", uuid::Uuid::new_v4().simple()),
            amount,
            currency: Currency::parse("USD").unwrap_or_else(|_| unreachable!()),
        },
        at,
    )
}

#[test]
fn a_seat_is_held_by_one_party_and_the_loser_learns_which_seats() {
    let mut f = fixture();
    let t0 = f.t0;
    let (alice, bob) = (UserId::new(), UserId::new());
    let t = t0;
    let placed = hold_seats(&mut f, alice, &["A-1", "A-2"], t);
    assert!(matches!(
        placed,
        BookingOutcome::HoldPlaced {
            total_price: 10000,
            quantity: 2,
            ..
        }
    ));
    match hold_seats(&mut f, bob, &["A-2", "A-3"], t) {
        BookingOutcome::HoldRejected {
            reason: RejectReason::SeatsUnavailable,
            unavailable_seats,
            ..
        } => assert_eq!(unavailable_seats, vec![seat("A-2")]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        hold_seats(&mut f, bob, &["A-3"], t),
        BookingOutcome::HoldPlaced { .. }
    ));
    assert_eq!(
        reason(&hold_seats(&mut f, bob, &["Z-9"], t)),
        Some(RejectReason::UnknownSeat)
    );
    assert_eq!(
        reason(&hold_seats(&mut f, bob, &["A-3", "A-3"], t)),
        Some(RejectReason::InvalidSelection)
    );
}

#[test]
fn general_admission_never_goes_below_zero() {
    let mut f = fixture();
    let t0 = f.t0;
    let t = t0;
    let mut sold = 0;
    for _ in 0..10 {
        if let BookingOutcome::HoldPlaced { quantity, .. } = hold_ga(&mut f, UserId::new(), 2, t) {
            sold += quantity;
        }
    }
    assert_eq!(sold, 4);
    assert_eq!(
        reason(&hold_ga(&mut f, UserId::new(), 2, t)),
        Some(RejectReason::SoldOut)
    );
    assert!(matches!(
        hold_ga(&mut f, UserId::new(), 1, t),
        BookingOutcome::HoldPlaced { .. }
    ));
    assert_eq!(
        reason(&hold_ga(&mut f, UserId::new(), 1, t)),
        Some(RejectReason::SoldOut)
    );
    assert_eq!(
        reason(&hold_ga(&mut f, UserId::new(), 0, t)),
        Some(RejectReason::InvalidSelection)
    );
}

#[test]
fn the_ticket_limit_counts_holds_and_bookings() {
    let mut f = fixture();
    let t0 = f.t0;
    let alice = UserId::new();
    let t = t0;
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1", "A-2"], t));
    let d = confirm(&mut f, alice, h, 10000, t);
    assert!(matches!(
        d.outcomes.last(),
        Some(BookingOutcome::BookingConfirmed { .. })
    ));
    assert!(matches!(
        hold_ga(&mut f, alice, 2, t),
        BookingOutcome::HoldPlaced { .. }
    ));
    assert_eq!(
        reason(&hold_ga(&mut f, alice, 1, t)),
        Some(RejectReason::TicketLimit)
    );
}

#[test]
fn holds_expire_in_order_and_their_seats_come_back() {
    let mut f = fixture();
    let t0 = f.t0;
    let (alice, bob) = (UserId::new(), UserId::new());
    let t = t0;
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1"], t));
    let d = f.inv.apply(
        BookingCommand::ExpireHolds {
            event_id: f.event,
            now: t + Duration::seconds(601),
        },
        t + Duration::seconds(601),
    );
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::HoldExpired { hold_id, .. } if *hold_id == h)));
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::SeatsReleased { .. })));
    assert!(matches!(
        hold_seats(&mut f, bob, &["A-1"], t + Duration::seconds(602)),
        BookingOutcome::HoldPlaced { .. }
    ));
    // Too late to confirm the expired hold: rejected and the payment is due back.
    let d = confirm(&mut f, alice, h, 5000, t + Duration::seconds(603));
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::HoldExpired)
    );
    assert!(d
        .changes
        .iter()
        .any(|c| matches!(c, Change::PaymentRefundDue { .. })));
}

#[test]
fn a_hold_past_its_expiry_cannot_be_confirmed_even_before_the_timer_fires() {
    let mut f = fixture();
    let t0 = f.t0;
    let alice = UserId::new();
    let h = hold_id(&hold_ga(&mut f, alice, 1, t0));
    let d = confirm(&mut f, alice, h, 2000, t0 + Duration::seconds(61));
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::HoldExpired { .. })));
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::HoldExpired)
    );
}

#[test]
fn only_the_holder_confirms_for_the_right_amount() {
    let mut f = fixture();
    let t0 = f.t0;
    let (alice, mallory) = (UserId::new(), UserId::new());
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1"], t0));
    let d = confirm(&mut f, mallory, h, 5000, t0);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::NotHoldOwner)
    );
    let d = confirm(&mut f, alice, h, 1, t0);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::AmountMismatch)
    );
    let d = confirm(&mut f, alice, h, 5000, t0);
    match d.outcomes.last() {
        Some(BookingOutcome::BookingConfirmed { reference, .. }) => {
            assert!(reference::is_reference(reference))
        }
        other => panic!("{other:?}"),
    }
    // A second confirmation of the same hold is refused (and refunded).
    let d = confirm(&mut f, alice, h, 5000, t0);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::HoldExpired)
    );
}

#[test]
fn cancellation_rules_and_refunds() {
    let mut f = fixture();
    let t0 = f.t0;
    let (alice, bob) = (UserId::new(), UserId::new());
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1"], t0));
    let d = confirm(&mut f, alice, h, 5000, t0);
    let Some(BookingOutcome::BookingConfirmed { booking_id, .. }) = d.outcomes.last().cloned()
    else {
        panic!("not confirmed")
    };
    let cancel = |f: &mut Fixture, actor: UserId, role: Role, at| {
        f.inv.apply(
            BookingCommand::CancelBooking {
                request_id: RequestId::new(),
                event_id: f.event,
                booking_id,
                actor_id: actor,
                actor_role: role,
            },
            at,
        )
    };
    let d = cancel(&mut f, bob, Role::Customer, t0);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::NotHoldOwner)
    );
    let late = t0 + Duration::days(31);
    let d = cancel(&mut f, alice, Role::Customer, late);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::EventStarted)
    );
    let organizer = f.organizer;
    let d = cancel(&mut f, organizer, Role::Organizer, late);
    assert!(d.outcomes.iter().any(|o| matches!(
        o,
        BookingOutcome::BookingCancelled {
            refund_amount: 5000,
            ..
        }
    )));
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::SeatsReleased { .. })));
    let d = cancel(&mut f, organizer, Role::Organizer, late);
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::AlreadyCancelled)
    );
}

#[test]
fn freed_seats_go_to_the_waitlist_first_and_back_on_sale_when_it_gives_them_back() {
    let mut f = fixture();
    let t0 = f.t0;
    let (alice, bob, carol) = (UserId::new(), UserId::new(), UserId::new());
    let t = t0;
    f.inv
        .apply(BookingCommand::WaitlistActivated { event_id: f.event }, t);
    let h = hold_seats(&mut f, alice, &["A-1"], t);
    let d = f.inv.apply(
        BookingCommand::ReleaseHold {
            request_id: RequestId::new(),
            event_id: f.event,
            hold_id: hold_id(&h),
            user_id: alice,
        },
        t,
    );
    assert!(d.outcomes.iter().any(|o| matches!(
        o,
        BookingOutcome::SeatsReleasedToWaitlist { price: 5000, .. }
    )));
    // Parked: nobody else can take it.
    assert_eq!(
        reason(&hold_seats(&mut f, bob, &["A-1"], t)),
        Some(RejectReason::SeatsUnavailable)
    );
    // The waitlist offers it to carol for 15 minutes.
    let selection = SeatSelection {
        section_id: f.reserved,
        seat_ids: vec![seat("A-1")],
        quantity: 1,
    };
    let d = f.inv.apply(
        BookingCommand::OfferHold {
            request_id: RequestId::new(),
            event_id: f.event,
            user_id: carol,
            waitlist_entry_id: WaitlistEntryId::new(),
            seats: selection.clone(),
            ttl_secs: 900,
        },
        t,
    );
    assert!(matches!(
        d.outcomes.last(),
        Some(BookingOutcome::HoldPlaced {
            waitlist_entry_id: Some(_),
            ..
        })
    ));
    // Carol lets it expire while the waitlist is still active: parked again.
    let later = t + Duration::seconds(901);
    let d = f.inv.apply(
        BookingCommand::ExpireHolds {
            event_id: f.event,
            now: later,
        },
        later,
    );
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::SeatsReleasedToWaitlist { .. })));
    // Nobody left: back on sale.
    let d = f.inv.apply(
        BookingCommand::ReturnToSale {
            request_id: RequestId::new(),
            event_id: f.event,
            seats: selection,
        },
        later,
    );
    assert!(matches!(
        d.outcomes.last(),
        Some(BookingOutcome::SeatsReleased { .. })
    ));
    assert!(matches!(
        hold_seats(&mut f, bob, &["A-1"], later),
        BookingOutcome::HoldPlaced { .. }
    ));
}

#[test]
fn parked_general_admission_returns_when_the_waitlist_empties() {
    let mut f = fixture();
    let t0 = f.t0;
    let alice = UserId::new();
    let t = t0;
    f.inv
        .apply(BookingCommand::WaitlistActivated { event_id: f.event }, t);
    let h = hold_id(&hold_ga(&mut f, alice, 3, t));
    let later = t + Duration::seconds(61);
    let d = f.inv.apply(
        BookingCommand::ExpireHolds {
            event_id: f.event,
            now: later,
        },
        later,
    );
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::HoldExpired { hold_id, .. } if *hold_id == h)));
    assert_eq!(
        reason(&hold_ga(&mut f, UserId::new(), 3, later)),
        Some(RejectReason::SoldOut)
    );
    let d = f.inv.apply(
        BookingCommand::WaitlistDeactivated { event_id: f.event },
        later,
    );
    assert!(d
        .outcomes
        .iter()
        .any(|o| matches!(o, BookingOutcome::SeatsReleased { seats, .. } if seats.quantity == 3)));
    assert!(matches!(
        hold_ga(&mut f, UserId::new(), 3, later),
        BookingOutcome::HoldPlaced { .. }
    ));
}

#[test]
fn a_cancelled_event_refunds_every_booking_and_sells_nothing() {
    let mut f = fixture();
    let t0 = f.t0;
    let alice = UserId::new();
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1"], t0));
    confirm(&mut f, alice, h, 5000, t0);
    hold_ga(&mut f, alice, 1, t0);
    let d = f.inv.apply(
        BookingCommand::CancelEvent {
            event_id: f.event,
            reason: None,
        },
        t0,
    );
    assert_eq!(
        d.outcomes
            .iter()
            .filter(|o| matches!(
                o,
                BookingOutcome::BookingCancelled {
                    request_id: None,
                    ..
                }
            ))
            .count(),
        1
    );
    assert_eq!(
        reason(&hold_ga(&mut f, alice, 1, t0)),
        Some(RejectReason::EventCancelled)
    );
}

#[test]
fn unknown_events_are_rejected_not_ignored() {
    let mut f = fixture();
    let t0 = f.t0;
    let d = f.inv.apply(
        BookingCommand::HoldQuantity {
            request_id: RequestId::new(),
            event_id: EventId::new(),
            user_id: UserId::new(),
            section_id: f.general,
            quantity: 1,
            hold_ttl_secs: None,
        },
        t0,
    );
    assert_eq!(
        d.outcomes.last().and_then(reason),
        Some(RejectReason::UnknownEvent)
    );
}

#[test]
fn a_reference_another_event_took_is_not_given_out_again() {
    let mut f = fixture();
    let t0 = f.t0;
    let alice = UserId::new();
    let h = hold_id(&hold_seats(&mut f, alice, &["A-1"], t0));
    let request_id = RequestId::new();
    let first_choice = reference::candidate(BookingId(request_id.0), 0);
    f.inv
        .references_taken_elsewhere(std::slice::from_ref(&first_choice));
    let d = confirm_as(&mut f, request_id, alice, h, 5000, t0);
    match d.outcomes.last() {
        Some(BookingOutcome::BookingConfirmed { reference: r, .. }) => {
            assert_ne!(r, &first_choice);
            assert_eq!(r, &reference::candidate(BookingId(request_id.0), 1));
        }
        other => panic!("{other:?}"),
    }
}
