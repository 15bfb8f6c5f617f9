//! Lifecycle messages reach Kafka consumers: `event.lifecycle`, keyed by event
//! id, through the outbox embedded in each event document.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestApp;
use common_types::messages::lifecycle::{LifecycleEvent, SectionLayout};
use common_types::{topics, Envelope, Role};
use rdkafka::consumer::{DefaultConsumerContext, StreamConsumer};
use rdkafka::Message;
use serde_json::json;
use settings::KafkaSettings;
use std::time::Duration;

fn lifecycle_consumer(kafka: &KafkaSettings) -> StreamConsumer<DefaultConsumerContext> {
    let consumer =
        kafka_bus::consumer(kafka, "lifecycle-test", DefaultConsumerContext, &[]).unwrap();
    kafka_bus::subscribe(&consumer, kafka, &[topics::EVENT_LIFECYCLE]).unwrap();
    consumer
}

/// The next `n` lifecycle messages as (key, envelope), or a panic at the deadline.
async fn next_messages(
    consumer: &StreamConsumer<DefaultConsumerContext>,
    n: usize,
) -> Vec<(String, Envelope<LifecycleEvent>)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {n} lifecycle messages arrived: {out:?}",
                    out.len()
                )
            })
            .unwrap();
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        out.push((key, kafka_bus::decode::<LifecycleEvent>(&message).unwrap()));
    }
    out
}

#[tokio::test]
async fn published_updated_and_cancelled_reach_a_consumer_with_the_seat_map() {
    let app = TestApp::spawn().await;
    let consumer = lifecycle_consumer(&app.kafka);
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let event = app.draft(&owner, &venue, "On Air", json!({})).await;
    let event_id = event["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/events/{event_id}");

    assert_eq!(
        app.post(&format!("{path}/publish"), &owner, json!({}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.patch(&path, &owner, json!({"title": "On Air (late show)"}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.post(&format!("{path}/cancel"), &owner, json!({"reason": "ill"}))
            .await
            .0,
        200
    );

    let messages = next_messages(&consumer, 3).await;
    assert!(
        messages.iter().all(|(key, _)| *key == event_id),
        "keyed by event id"
    );
    let types: Vec<_> = messages
        .iter()
        .map(|(_, e)| e.message_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["EventPublished", "EventUpdated", "EventCancelled"],
        "in order"
    );

    let LifecycleEvent::EventPublished(snapshot) = &messages[0].1.payload else {
        panic!("not EventPublished: {:?}", messages[0].1)
    };
    assert_eq!(snapshot.event_id.to_string(), event_id);
    assert_eq!(snapshot.organizer_id, owner.id);
    assert_eq!(snapshot.currency.as_str(), "EUR");
    assert_eq!(snapshot.max_tickets_per_user, Some(4));
    assert_eq!(snapshot.sections.len(), 2);
    let stalls = &snapshot.sections[0];
    assert_eq!(
        stalls.id.to_string(),
        venue["sections"][0]["id"].as_str().unwrap()
    );
    assert_eq!(stalls.price, 2_500);
    let SectionLayout::Reserved { seats } = &stalls.layout else {
        panic!("stalls are reserved")
    };
    let ids: Vec<_> = seats.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids.len(), 18);
    assert_eq!(ids[0], "A-1");
    assert_eq!(ids[17], "B-8");
    assert_eq!(
        snapshot.sections[1].layout,
        SectionLayout::General { capacity: 100 }
    );
    assert_eq!(snapshot.sections[1].price, 3_500);

    match &messages[1].1.payload {
        LifecycleEvent::EventUpdated { changed, title, .. } => {
            assert_eq!(changed, &["title".to_string()]);
            assert_eq!(title, "On Air (late show)");
        }
        other => panic!("not EventUpdated: {other:?}"),
    }
    match &messages[2].1.payload {
        LifecycleEvent::EventCancelled { reason, .. } => assert_eq!(reason.as_deref(), Some("ill")),
        other => panic!("not EventCancelled: {other:?}"),
    }
}

#[tokio::test]
async fn drafts_announce_nothing() {
    let app = TestApp::spawn().await;
    let consumer = lifecycle_consumer(&app.kafka);
    let owner = app.caller(Role::Organizer);
    let venue = app.small_venue(&owner, "Oslo").await;
    let quiet = app.draft(&owner, &venue, "Quiet", json!({})).await;
    let quiet_path = format!("/api/v1/events/{}", quiet["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&quiet_path, &owner, json!({"title": "Still quiet"}))
            .await
            .0,
        200
    );
    assert_eq!(
        app.post(&format!("{quiet_path}/cancel"), &owner, json!({}))
            .await
            .0,
        200
    );
    // A later published event is the first thing on the topic.
    let loud = app.draft(&owner, &venue, "Loud", json!({})).await;
    app.post(
        &format!("/api/v1/events/{}/publish", loud["id"].as_str().unwrap()),
        &owner,
        json!({}),
    )
    .await;
    let messages = next_messages(&consumer, 1).await;
    assert_eq!(messages[0].0, loud["id"].as_str().unwrap());
}

/// A message stored with its write but never produced (the process died in
/// between) is produced when the service starts again, with the same id.
#[tokio::test]
async fn messages_left_in_the_outbox_by_a_crash_are_sent_on_start() {
    use chrono::Utc;
    use event::domain::event::{CreateEventRequest, Event, PriceRequest};
    use event::domain::venue::{SectionPlan, Venue, VenueContent};
    use event::store::{CatalogStore, OutboxMessage};

    test_support::init_tracing();
    let database = common::TestDatabase::fresh().await;
    let kafka = test_support::isolated_kafka().await;
    // The "crashed" instance: it wrote the event and its message, and stopped.
    let store = database.store().await;
    let venue = Venue::create(
        common_types::UserId::new(),
        VenueContent {
            name: "Hall".into(),
            city: "Oslo".into(),
            address: None,
            sections: vec![("Floor".into(), SectionPlan::General { capacity: 10 })],
        },
        Utc::now(),
    );
    store.insert_venue(&venue).await.unwrap();
    let draft = Event::create(
        CreateEventRequest {
            title: "Survivor".into(),
            description: None,
            category: "music".into(),
            venue_id: venue.id,
            starts_at: Utc::now() + chrono::Duration::days(1),
            ends_at: None,
            currency: "USD".into(),
            prices: vec![PriceRequest {
                section_id: venue.sections[0].id,
                price: 100,
            }],
            max_tickets_per_user: None,
            sales_start: None,
            sales_end: None,
        },
        &venue,
        venue.organizer_id,
        Utc::now(),
    )
    .unwrap();
    store.insert_event(&draft).await.unwrap();
    let (published, snapshot) = draft.published(&venue, Utc::now()).unwrap();
    let message = OutboxMessage::lifecycle(LifecycleEvent::EventPublished(snapshot), None).unwrap();
    store
        .update_event(&published, std::slice::from_ref(&message))
        .await
        .unwrap();
    assert_eq!(
        store.pending_outbox(10).await.unwrap(),
        vec![message.clone()]
    );

    // The service starts against that database and relays what was left.
    let tokens = test_support::TestTokens::start().await;
    let settings = event::Settings::for_tests(
        &database.uri,
        &database.name,
        kafka.clone(),
        tokens.verify_settings(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let app = event::Application::build(settings, stop.clone())
        .await
        .unwrap();
    tokio::spawn(app.run_until_stopped());
    let consumer = lifecycle_consumer(&kafka);
    let messages = next_messages(&consumer, 1).await;
    assert_eq!(
        messages[0].1.id, message.id,
        "the same envelope id, so consumers can dedupe"
    );
    test_support::wait_for(
        "the outbox entry to be marked sent",
        Duration::from_secs(10),
        || async {
            store
                .pending_outbox(10)
                .await
                .unwrap()
                .is_empty()
                .then_some(())
        },
    )
    .await;
    stop.cancel();
}
