//! The booking side of the waitlist: freed seats are parked while people
//! wait, offered to one of them as a hold, or returned to sale.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use common_types::messages::booking::{BookingCommand, BookingOutcome, SeatSelection};
use common_types::{topics, Envelope, RequestId, Role, SeatId, UserId, WaitlistEntryId};
use kafka_bus::rdkafka::consumer::{Consumer, DefaultConsumerContext, StreamConsumer};
use kafka_bus::rdkafka::message::Message;
use kafka_bus::rdkafka::{Offset, TopicPartitionList};
use reqwest::StatusCode;
use std::time::Duration;
use test_support::wait_for;

async fn send(world: &World, command: BookingCommand) {
    let producer = kafka_bus::Producer::new(&world.kafka).unwrap();
    let key = command.event_id().to_string();
    producer
        .publish(topics::BOOKING_CREATE, &key, &Envelope::new(command), None)
        .await
        .unwrap();
}

/// Every outcome published so far for the test's topics.
async fn outcomes(world: &World) -> Vec<BookingOutcome> {
    let consumer: StreamConsumer = kafka_bus::consumer(
        &world.kafka,
        "waitlist-test-reader",
        DefaultConsumerContext,
        &[],
    )
    .unwrap();
    let topic = world.kafka.topic(topics::BOOKING_EVENTS);
    let mut tpl = TopicPartitionList::new();
    for p in 0..world.kafka.partitions {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
        if let Some(Ok(e)) = m
            .payload()
            .map(serde_json::from_slice::<Envelope<BookingOutcome>>)
        {
            out.push(e.payload);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn freed_seats_are_parked_offered_and_returned_to_sale() {
    let world = World::new().await;
    let app = world.spawn().await;
    let event = TestEvent::new(2, 5, None);
    world.publish(&event.snapshot).await;
    app.wait_for_inventory(event.id()).await;
    let organizer = world.token(event.organizer, Role::Organizer);
    let alice = world.token(UserId::new(), Role::Customer);
    let bob = world.token(UserId::new(), Role::Customer);
    let carol_id = UserId::new();
    let carol = world.token(carol_id, Role::Customer);

    send(
        &world,
        BookingCommand::WaitlistActivated {
            event_id: event.id(),
        },
    )
    .await;

    // Alice releases a seat while people wait: it is parked, not sold to Bob.
    let hold = app.hold_seats(&alice, event.id(), &["A-1"]).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let released = app
        .delete(
            &format!(
                "/api/v1/seats/hold/{}",
                hold.body["hold_id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    let sales = app
        .get(
            &format!("/api/v1/events/{}/sales", event.id()),
            Some(&organizer),
        )
        .await;
    assert_eq!(sales.body["released_to_waitlist"], 1, "{}", sales.body);
    assert_eq!(sales.body["waitlist_active"], true);
    let taken = app.hold_seats(&bob, event.id(), &["A-1"]).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);

    // The waitlist offers it to Carol: a hold she confirms like any other.
    let offer = RequestId::new();
    let entry = WaitlistEntryId::new();
    send(
        &world,
        BookingCommand::OfferHold {
            request_id: offer,
            event_id: event.id(),
            user_id: carol_id,
            waitlist_entry_id: entry,
            seats: SeatSelection {
                section_id: event.reserved,
                seat_ids: vec![SeatId::parse("A-1").unwrap()],
                quantity: 1,
            },
            ttl_secs: 900,
        },
    )
    .await;
    let hold_path = format!("/api/v1/seats/hold/{offer}");
    let offered = wait_for("the offer hold", Duration::from_secs(20), || async {
        let h = app.get(&hold_path, Some(&carol)).await;
        (h.status == StatusCode::OK).then_some(h)
    })
    .await;
    assert_eq!(offered.body["status"], "active");
    assert_eq!(offered.body["waitlist_entry_id"], entry.to_string());
    let booking = app.confirm(&carol, &offered.body["hold_id"], CARD_OK).await;
    assert_eq!(booking.status, StatusCode::CREATED, "{}", booking.body);

    // General admission: two places parked, then given back to public sale.
    let ga = app.hold_ga(&alice, event.id(), event.general, 2).await;
    assert_eq!(ga.status, StatusCode::CREATED);
    app.delete(
        &format!(
            "/api/v1/seats/hold/{}",
            ga.body["hold_id"].as_str().unwrap()
        ),
        &alice,
    )
    .await;
    let available = format!("/api/v1/events/{}/seats/available", event.id());
    assert_eq!(
        app.get(&available, None).await.body["sections"][1]["available"],
        3
    );
    send(
        &world,
        BookingCommand::ReturnToSale {
            request_id: RequestId::new(),
            event_id: event.id(),
            seats: SeatSelection {
                section_id: event.general,
                seat_ids: Vec::new(),
                quantity: 2,
            },
        },
    )
    .await;
    wait_for(
        "the places back on sale",
        Duration::from_secs(20),
        || async {
            (app.get(&available, None).await.body["sections"][1]["available"] == 5).then_some(())
        },
    )
    .await;

    // What the waitlist service reads on booking.events.
    let seen = outcomes(&world).await;
    assert!(seen.iter().any(|o| matches!(o, BookingOutcome::SeatsReleasedToWaitlist { seats, price: 5000, .. } if seats.seat_ids.len() == 1)));
    assert!(seen.iter().any(|o| matches!(o, BookingOutcome::HoldPlaced { waitlist_entry_id: Some(e), .. } if *e == entry)));
    assert!(seen.iter().any(|o| matches!(o, BookingOutcome::BookingConfirmed { waitlist_entry_id: Some(e), .. } if *e == entry)));
    assert!(seen
        .iter()
        .any(|o| matches!(o, BookingOutcome::SeatsReleased { seats, .. } if seats.quantity == 2)));
}
