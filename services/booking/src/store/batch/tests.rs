//! The folding rules, without a database.

use super::*;
use common_types::messages::booking::RejectReason;
use common_types::Currency;

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: Currency::parse("USD").unwrap_or_else(|_| unreachable!()),
    }
}

fn seat(s: &str) -> SeatId {
    SeatId::parse(s).unwrap_or_else(|_| unreachable!())
}

fn hold(seats: &[&str]) -> Hold {
    Hold {
        id: HoldId::new(),
        user_id: UserId::new(),
        seats: seats.iter().map(|s| seat(s)).collect(),
        section_id: None,
        quantity: u32::try_from(seats.len()).unwrap_or(u32::MAX),
        total: usd(5000),
        expires_at: Utc::now(),
        waitlist_entry_id: None,
    }
}

fn booking_of(hold: &Hold) -> Booking {
    Booking {
        id: BookingId::new(),
        reference: "EVT-AAAAAA".into(),
        hold_id: hold.id,
        user_id: hold.user_id,
        seats: hold.seats.clone(),
        section_id: None,
        quantity: hold.quantity,
        total: hold.total,
        payment_id: "pay_1".into(),
        cancelled: false,
        waitlist_entry_id: None,
    }
}

fn decision(changes: Vec<Change>) -> Decision {
    Decision {
        changes,
        outcomes: Vec::new(),
    }
}

#[test]
fn a_hold_placed_and_confirmed_in_one_batch_is_written_once_as_confirmed() -> anyhow::Result<()> {
    let event_id = EventId::new();
    let at = Utc::now();
    let h = hold(&["A-1", "A-2"]);
    let b = booking_of(&h);
    let mut batch = BatchWrite::default();
    batch.record(
        Uuid::new_v4(),
        None,
        decision(vec![Change::HoldCreated {
            event_id,
            hold: h.clone(),
            at,
        }]),
    )?;
    batch.record(
        Uuid::new_v4(),
        None,
        decision(vec![
            Change::HoldEnded {
                hold_id: h.id,
                end: HoldEnd::Confirmed(b.id),
                at,
            },
            Change::BookingCreated {
                event_id,
                booking: b.clone(),
                at,
            },
        ]),
    )?;
    assert_eq!(batch.commands, 2);
    assert!(batch.ended_holds.is_empty());
    assert_eq!(batch.new_holds.len(), 1);
    assert_eq!(batch.new_holds[0].status, HoldStatus::Confirmed);
    assert_eq!(batch.new_holds[0].booking_id, Some(b.id));
    let claims = batch.seat_claims();
    assert_eq!(claims.len(), 2);
    assert!(claims.iter().all(|c| c.live && c.booking_id == Some(b.id)));
    Ok(())
}

#[test]
fn a_booking_cancelled_in_its_own_batch_leaves_no_live_claim() -> anyhow::Result<()> {
    let event_id = EventId::new();
    let at = Utc::now();
    let h = hold(&["A-1"]);
    let b = booking_of(&h);
    let mut batch = BatchWrite::default();
    batch.record(
        Uuid::new_v4(),
        None,
        decision(vec![
            Change::HoldCreated {
                event_id,
                hold: h.clone(),
                at,
            },
            Change::HoldEnded {
                hold_id: h.id,
                end: HoldEnd::Confirmed(b.id),
                at,
            },
            Change::BookingCreated {
                event_id,
                booking: b.clone(),
                at,
            },
            Change::BookingCancelled {
                booking_id: b.id,
                refund: b.total,
                by: None,
                at,
            },
        ]),
    )?;
    assert!(batch.cancelled_bookings.is_empty());
    assert_eq!(
        batch.new_bookings[0].cancellation.map(|c| c.refund),
        Some(usd(5000))
    );
    assert!(batch.seat_claims().iter().all(|c| !c.live));
    Ok(())
}

#[test]
fn rows_from_earlier_batches_are_updated_not_inserted() -> anyhow::Result<()> {
    let at = Utc::now();
    let released = HoldId::new();
    let confirmed = HoldId::new();
    let booking_id = BookingId::new();
    let old_booking = BookingId::new();
    let mut batch = BatchWrite::default();
    batch.record(
        Uuid::new_v4(),
        None,
        decision(vec![
            Change::HoldEnded {
                hold_id: released,
                end: HoldEnd::Released,
                at,
            },
            Change::HoldEnded {
                hold_id: confirmed,
                end: HoldEnd::Confirmed(booking_id),
                at,
            },
            Change::BookingCancelled {
                booking_id: old_booking,
                refund: usd(100),
                by: None,
                at,
            },
        ]),
    )?;
    assert!(batch.new_holds.is_empty());
    assert_eq!(
        batch.claim_updates(),
        vec![
            ClaimUpdate {
                hold_id: released,
                booking_id: None,
                live: false
            },
            ClaimUpdate {
                hold_id: confirmed,
                booking_id: Some(booking_id),
                live: true
            },
        ]
    );
    assert_eq!(batch.cancelled_bookings[0].booking_id, old_booking);
    Ok(())
}

#[test]
fn counter_moves_add_up_and_those_that_cancel_out_are_dropped() -> anyhow::Result<()> {
    let event_id = EventId::new();
    let (busy, idle) = (SectionId::new(), SectionId::new());
    let delta = |section_id, available, parked| Change::GaDelta {
        event_id,
        section_id,
        available,
        parked,
    };
    let mut batch = BatchWrite::default();
    batch.record(
        Uuid::new_v4(),
        None,
        decision(vec![
            delta(busy, -2, 0),
            delta(busy, 0, 1),
            delta(idle, -1, 0),
            delta(idle, 1, 0),
        ]),
    )?;
    let moves = batch.counter_moves();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0].0.section_id, busy);
    assert_eq!(
        moves[0].1,
        CounterMove {
            available: -2,
            parked: 1
        }
    );
    Ok(())
}

#[test]
fn answers_are_kept_for_requests_and_every_outcome_is_published_with_a_stable_id(
) -> anyhow::Result<()> {
    let event_id = EventId::new();
    let request_id = RequestId::new();
    let command_id = Uuid::new_v4();
    let outcomes = vec![
        BookingOutcome::EventSalesClosed { event_id },
        BookingOutcome::CommandFailed {
            request_id,
            event_id,
            reason: RejectReason::UnknownBooking,
            detail: "no such booking for this event".into(),
        },
    ];
    let write = |outcomes: Vec<BookingOutcome>| -> anyhow::Result<BatchWrite> {
        let mut batch = BatchWrite::default();
        batch.record(
            command_id,
            Some(UserId::new()),
            Decision {
                changes: Vec::new(),
                outcomes,
            },
        )?;
        Ok(batch)
    };
    let mut batch = write(outcomes.clone())?;
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].request_id, request_id);
    assert_eq!(batch.outbox.len(), 2);
    assert_eq!(batch.outbox[0].key, event_id.to_string());
    assert_eq!(batch.take_answers().len(), 1);
    let again = write(outcomes)?;
    let ids = |b: &BatchWrite| -> Vec<serde_json::Value> {
        b.outbox.iter().map(|o| o.payload["id"].clone()).collect()
    };
    assert_eq!(ids(&batch), ids(&again), "a replay publishes the same ids");
    assert_ne!(ids(&batch)[0], ids(&batch)[1]);
    Ok(())
}
