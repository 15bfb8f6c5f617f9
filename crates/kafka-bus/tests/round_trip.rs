//! One producer, one consumer group, through the real broker: the envelope,
//! the key, the request id and the trace context all arrive.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use common_types::messages::user::UserEvent;
use common_types::{topics, Envelope, Role, UserId};
use kafka_bus::rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext};
use kafka_bus::rdkafka::Message;
use std::time::Duration;

#[tokio::test]
async fn a_produced_envelope_is_consumed_with_its_key_request_id_and_trace() {
    test_support::init_tracing();
    let kafka = test_support::isolated_kafka().await;
    kafka_bus::ensure_topics(&kafka, &[topics::USER_EVENTS])
        .await
        .expect("create topic");
    let producer = kafka_bus::Producer::new(&kafka).expect("producer");

    let user_id = UserId::new();
    let sent = Envelope::new(UserEvent::UserRegistered {
        user_id,
        email: "ada@example.com".into(),
        name: "Ada".into(),
        role: Role::Customer,
    });
    let span = tracing::info_span!("register");
    let delivered = {
        let _entered = span.enter();
        producer
            .publish(
                topics::USER_EVENTS,
                &user_id.to_string(),
                &sent,
                Some("req-42"),
            )
            .await
            .expect("publish")
    };
    assert!(delivered.offset >= 0);

    let consumer =
        kafka_bus::consumer(&kafka, "round-trip", DefaultConsumerContext, &[]).expect("consumer");
    kafka_bus::subscribe(&consumer, &kafka, &[topics::USER_EVENTS]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .expect("no consumer error");

    assert_eq!(message.key(), Some(user_id.to_string().as_bytes()));
    assert_eq!(
        kafka_bus::header(&message, kafka_bus::REQUEST_ID_HEADER),
        Some("req-42")
    );
    assert_eq!(
        kafka_bus::header(&message, kafka_bus::MESSAGE_TYPE_HEADER),
        Some("UserRegistered")
    );
    let traceparent =
        kafka_bus::header(&message, "traceparent").expect("trace context travels in headers");
    assert!(
        traceparent.starts_with("00-"),
        "W3C traceparent, got {traceparent}"
    );
    let received: Envelope<UserEvent> = kafka_bus::decode(&message).expect("decodes");
    assert_eq!(received, sent);
    consumer
        .commit_message(&message, CommitMode::Sync)
        .expect("commit");

    // The committed offset is what a restarted member of the group resumes from.
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets");
    let next = committed
        .elements()
        .iter()
        .find(|e| e.partition() == message.partition())
        .and_then(|e| e.offset().to_raw());
    assert_eq!(next, Some(message.offset() + 1));
}
