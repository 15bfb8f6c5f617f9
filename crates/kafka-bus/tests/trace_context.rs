//! Trace context across Kafka without a broker: a consumed batch continues
//! the trace of its first message and what it publishes carries that trace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kafka_bus::rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn consumed(traceparent: Option<&str>) -> OwnedMessage {
    let headers = traceparent.map(|value| {
        OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some(value),
        })
    });
    OwnedMessage::new(
        Some(b"{}".to_vec()),
        Some(b"key".to_vec()),
        "booking.create".into(),
        Timestamp::NotAvailable,
        0,
        0,
        headers,
    )
}

#[test]
fn a_batch_continues_its_first_messages_trace_and_passes_it_on() {
    test_support::init_tracing();
    let batch = [
        consumed(Some(&format!("00-{TRACE}-00f067aa0ba902b7-01"))),
        consumed(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )),
        consumed(None),
    ];
    let span = kafka_bus::batch_span(&batch);
    let _inside = span.enter();
    let traceparent = telemetry::current_traceparent().expect("a trace context");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "a span of its own"
    );

    // What the batch publishes carries the same trace.
    let headers = kafka_bus::outgoing_headers("BookingConfirmed", None);
    let message = OwnedMessage::new(
        None,
        None,
        "booking.events".into(),
        Timestamp::NotAvailable,
        0,
        0,
        Some(headers),
    );
    let sent = kafka_bus::header(&message, "traceparent").unwrap();
    assert!(sent.starts_with(&format!("00-{TRACE}-")), "{sent}");
    let child = kafka_bus::message_span(&message);
    drop(child);
}

#[test]
fn an_empty_or_untraced_batch_still_gets_a_span() {
    test_support::init_tracing();
    let span = kafka_bus::batch_span::<OwnedMessage>(&[]);
    drop(span);
    let span = kafka_bus::batch_span(&[consumed(None)]);
    let _inside = span.enter();
    assert!(telemetry::current_traceparent().is_some());
}
