//! Consumes booking, waitlist, event and user messages and turns them into
//! notifications.
//!
//! Every message is applied in one transaction together with its id in
//! `processed_messages`, so a redelivery (Kafka is at-least-once) has no
//! second effect. Fan-out (`EventUpdated`, `EventCancelled`) publishes one
//! `notification.requests` message per attendee whose id is derived from
//! (source message, recipient): republishing after a crash creates nothing new.

use crate::attendees::BookingClient;
use crate::configuration::Settings;
use crate::domain::{format_money, format_seats, format_time, vars, NotificationRequest};
use crate::store;
use common_types::messages::booking::BookingOutcome;
use common_types::messages::lifecycle::LifecycleEvent;
use common_types::messages::user::UserEvent;
use common_types::messages::waitlist::WaitlistEvent;
use common_types::{topics, Envelope, EventId};
use futures::StreamExt;
use kafka_bus::rdkafka::consumer::StreamConsumer;
use kafka_bus::rdkafka::message::{BorrowedMessage, Message};
use kafka_bus::Producer;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use templates::Template;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

pub const CONSUMES: &[&str] = &[
    topics::USER_EVENTS,
    topics::EVENT_LIFECYCLE,
    topics::BOOKING_EVENTS,
    topics::WAITLIST_EVENTS,
    topics::NOTIFICATION_REQUESTS,
];
pub const GROUP: &str = "notification";

/// Fan-out has its own consumer (and group): while booking cannot list an
/// event's attendees, that lifecycle message is retried without holding up
/// booking confirmations, waitlist offers and the per-attendee requests.
pub const FAN_OUT_TOPICS: &[&str] = &[topics::EVENT_LIFECYCLE];
pub const FAN_OUT_GROUP: &str = "notification-fanout";
pub const DIRECT_TOPICS: &[&str] = &[
    topics::USER_EVENTS,
    topics::BOOKING_EVENTS,
    topics::WAITLIST_EVENTS,
    topics::NOTIFICATION_REQUESTS,
];

/// Fan-out requests in flight at once.
const FAN_OUT_CONCURRENCY: usize = 64;

pub struct Ingest {
    pub pool: PgPool,
    pub producer: Producer,
    pub booking: BookingClient,
    pub settings: Settings,
    /// Wakes the sender when new notifications are stored.
    pub new_work: Arc<Notify>,
}

impl Ingest {
    /// Consume until `shutdown`. A message whose handling fails for a
    /// transient reason (database, booking, broker) is retried with backoff
    /// before the partition moves on, so nothing is skipped.
    pub async fn run(self: Arc<Self>, consumer: StreamConsumer, shutdown: CancellationToken) {
        loop {
            let Some(message) = kafka_bus::next_message(&consumer, &shutdown).await else {
                break;
            };
            let span = kafka_bus::message_span(&message);
            let mut delay = Duration::from_millis(100);
            loop {
                match self.handle(&message).instrument(span.clone()).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::error!(parent: &span, error = format!("{error:#}"), "handling a message failed; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                }
            }
            if let Err(error) = kafka_bus::mark_done(&consumer, &message) {
                tracing::warn!(%error, "storing the offset failed; the message may be redelivered (harmless)");
            }
        }
    }

    fn is(&self, message: &BorrowedMessage<'_>, base: &str) -> bool {
        message.topic() == self.settings.kafka.topic(base)
    }

    async fn handle(&self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        if self.is(message, topics::USER_EVENTS) {
            if let Some(envelope) = decode::<UserEvent>(message) {
                return self.on_user(envelope).await;
            }
        } else if self.is(message, topics::EVENT_LIFECYCLE) {
            if let Some(envelope) = decode::<LifecycleEvent>(message) {
                return self.on_lifecycle(envelope).await;
            }
        } else if self.is(message, topics::BOOKING_EVENTS) {
            if let Some(envelope) = decode::<BookingOutcome>(message) {
                return self.on_booking(envelope).await;
            }
        } else if self.is(message, topics::WAITLIST_EVENTS) {
            if let Some(envelope) = decode::<WaitlistEvent>(message) {
                return self.on_waitlist(envelope).await;
            }
        } else if self.is(message, topics::NOTIFICATION_REQUESTS) {
            if let Some(envelope) = decode::<NotificationRequest>(message) {
                let mut tx = self.pool.begin().await?;
                let inserted = self.create(&mut tx, &envelope.payload).await?;
                tx.commit().await?;
                if inserted {
                    self.new_work.notify_one();
                }
            }
        }
        Ok(())
    }

    async fn on_user(&self, envelope: Envelope<UserEvent>) -> anyhow::Result<()> {
        let UserEvent::UserRegistered {
            user_id,
            email,
            name,
            ..
        } = &envelope.payload;
        let mut tx = self.pool.begin().await?;
        if store::mark_processed(&mut tx, envelope.id, topics::USER_EVENTS).await? {
            store::upsert_user(&mut tx, *user_id, email, name).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn on_lifecycle(&self, envelope: Envelope<LifecycleEvent>) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        if !store::mark_processed(&mut tx, envelope.id, topics::EVENT_LIFECYCLE).await? {
            return Ok(());
        }
        match &envelope.payload {
            LifecycleEvent::EventPublished(snapshot) => {
                store::upsert_event(
                    &mut tx,
                    snapshot.event_id,
                    &snapshot.title,
                    Some(snapshot.starts_at),
                )
                .await?;
            }
            LifecycleEvent::EventUpdated {
                event_id,
                title,
                changed,
                starts_at,
                ..
            } => {
                store::upsert_event(&mut tx, *event_id, title, Some(*starts_at)).await?;
                let changed = if changed.is_empty() {
                    "details".to_string()
                } else {
                    changed.join(", ")
                };
                let values = vars([
                    ("event_title", title.clone()),
                    ("starts_at", format_time(*starts_at)),
                    ("changed", changed),
                    ("event_url", self.event_url(*event_id)),
                ]);
                self.fan_out(envelope.id, *event_id, Template::EventUpdated, values)
                    .await?;
            }
            LifecycleEvent::EventCancelled {
                event_id,
                title,
                reason,
                ..
            } => {
                store::upsert_event(&mut tx, *event_id, title, None).await?;
                let reason = reason
                    .as_deref()
                    .map(|r| format!("The organizer said: {r}"))
                    .unwrap_or_default();
                let values = vars([("event_title", title.clone()), ("reason", reason)]);
                self.fan_out(envelope.id, *event_id, Template::EventCancelled, values)
                    .await?;
            }
        }
        // The marker commits only after every request was acknowledged by the
        // broker; a crash before that replays the fan-out with the same ids.
        tx.commit().await?;
        Ok(())
    }

    /// One `notification.requests` message per attendee, keyed by user id.
    #[tracing::instrument(skip(self, values))]
    async fn fan_out(
        &self,
        source: Uuid,
        event_id: EventId,
        template: Template,
        values: BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let attendees = self.booking.attendees(event_id).await?;
        tracing::info!(attendees = attendees.len(), %template, "fanning out");
        let results: Vec<Result<_, kafka_bus::BusError>> = futures::stream::iter(attendees)
            .map(|user_id| {
                let request = NotificationRequest::new(
                    source,
                    user_id,
                    template,
                    Some(event_id),
                    values.clone(),
                );
                async move {
                    let envelope = Envelope::with_id(request.notification_id.as_uuid(), request);
                    self.producer
                        .publish(
                            topics::NOTIFICATION_REQUESTS,
                            &user_id.to_string(),
                            &envelope,
                            None,
                        )
                        .await
                }
            })
            .buffer_unordered(FAN_OUT_CONCURRENCY)
            .collect()
            .await;
        for result in results {
            result?;
        }
        Ok(())
    }

    async fn on_booking(&self, envelope: Envelope<BookingOutcome>) -> anyhow::Result<()> {
        let (user_id, event_id, template, mut values) = match &envelope.payload {
            BookingOutcome::BookingConfirmed {
                booking_id,
                reference,
                event_id,
                user_id,
                seats,
                quantity,
                total_price,
                currency,
                ..
            } => (
                *user_id,
                *event_id,
                Template::BookingConfirmed,
                vars([
                    ("reference", reference.clone()),
                    ("seats", format_seats(seats, *quantity)),
                    ("quantity", quantity.to_string()),
                    ("total", format_money(*total_price, currency)),
                    (
                        "bookings_url",
                        format!("{}/bookings/{booking_id}", self.public_url()),
                    ),
                ]),
            ),
            BookingOutcome::BookingCancelled {
                request_id,
                reference,
                event_id,
                user_id,
                refund_amount,
                currency,
                ..
            } => (
                *user_id,
                *event_id,
                Template::BookingCancelled,
                vars([
                    ("reference", reference.clone()),
                    ("refund", format_money(*refund_amount, currency)),
                    (
                        "reason",
                        if request_id.is_none() {
                            "The event was cancelled by its organizer.".to_string()
                        } else {
                            String::new()
                        },
                    ),
                ]),
            ),
            _ => return Ok(()),
        };
        let mut tx = self.pool.begin().await?;
        if !store::mark_processed(&mut tx, envelope.id, topics::BOOKING_EVENTS).await? {
            return Ok(());
        }
        values.insert(
            "event_title".into(),
            store::event_title(&mut tx, event_id).await?,
        );
        let request =
            NotificationRequest::new(envelope.id, user_id, template, Some(event_id), values);
        let inserted = self.create(&mut tx, &request).await?;
        tx.commit().await?;
        if inserted {
            self.new_work.notify_one();
        }
        Ok(())
    }

    async fn on_waitlist(&self, envelope: Envelope<WaitlistEvent>) -> anyhow::Result<()> {
        let WaitlistEvent::OfferMade {
            event_id,
            user_id,
            hold_id,
            seats,
            expires_at,
            ..
        } = &envelope.payload
        else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await?;
        if !store::mark_processed(&mut tx, envelope.id, topics::WAITLIST_EVENTS).await? {
            return Ok(());
        }
        let values = vars([
            ("event_title", store::event_title(&mut tx, *event_id).await?),
            ("seats", format_seats(&seats.seat_ids, seats.quantity)),
            ("quantity", seats.quantity.to_string()),
            ("hold_id", hold_id.to_string()),
            ("deadline", format_time(*expires_at)),
            (
                "confirm_url",
                format!("{}/checkout?hold_id={hold_id}", self.public_url()),
            ),
        ]);
        let request = NotificationRequest::new(
            envelope.id,
            *user_id,
            Template::WaitlistOffer,
            Some(*event_id),
            values,
        );
        let inserted = self.create(&mut tx, &request).await?;
        tx.commit().await?;
        if inserted {
            self.new_work.notify_one();
        }
        Ok(())
    }

    /// Render and store one notification (in-app, and its email as pending).
    async fn create(
        &self,
        tx: &mut sqlx::PgConnection,
        request: &NotificationRequest,
    ) -> anyhow::Result<bool> {
        let Some(template) = request.template() else {
            tracing::error!(kind = %request.kind, "unknown notification kind; skipped");
            return Ok(false);
        };
        let mut values = request.vars.clone();
        if !values.contains_key("name") {
            let name = store::user_name(tx, request.user_id)
                .await?
                .unwrap_or_else(|| "there".to_string());
            values.insert("name".into(), name);
        }
        let rendered = match templates::render(template, &values) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(%error, "cannot render a notification; skipped");
                return Ok(false);
            }
        };
        let max_attempts = i32::try_from(self.settings.delivery.max_attempts).unwrap_or(i32::MAX);
        Ok(store::insert_notification(
            tx,
            request,
            store::Content {
                subject: &rendered.subject,
                text: &rendered.text,
                html: &rendered.html,
            },
            max_attempts,
        )
        .await?)
    }

    fn public_url(&self) -> &str {
        self.settings.public_url.trim_end_matches('/')
    }

    fn event_url(&self, event_id: EventId) -> String {
        format!("{}/events/{event_id}", self.public_url())
    }
}

/// A message of a type this service does not understand is skipped, not retried.
fn decode<T: serde::de::DeserializeOwned>(message: &BorrowedMessage<'_>) -> Option<Envelope<T>> {
    match kafka_bus::decode::<T>(message) {
        Ok(envelope) => Some(envelope),
        Err(error) => {
            tracing::debug!(%error, topic = message.topic(), "skipping a message this service does not handle");
            None
        }
    }
}
