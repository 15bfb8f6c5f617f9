//! Sends due notifications by email and records every attempt.
//!
//! Each notification is its own job: claimed for a while (so no other sender
//! takes it), sent over SMTP, then marked `sent`, or `failed` with its next
//! attempt after an exponential backoff with jitter, or `dead` after the last
//! attempt (and published to `notification.dlq`). One bad address never holds
//! up the others. A `sent` notification is never claimed again, so a
//! redelivered source message cannot mail twice; the `Message-ID` is derived
//! from the notification id so a mail server can drop the duplicate of a send
//! whose acknowledgement was lost in a crash.

use crate::configuration::{DeliverySettings, Settings};
use crate::domain::NotificationDead;
use crate::store::{self, Due};
use chrono::Utc;
use common_types::{topics, Envelope, NotificationId, UserId};
use futures::StreamExt;
use kafka_bus::Producer;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prometheus::IntCounterVec;
use rand::Rng;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a sender owns a claimed notification.
const CLAIM_SECS: i64 = 120;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let (host, port) = smtp_host_port(&settings.smtp_url)?;
        // Plain SMTP: the local catcher and Mailpit speak no TLS.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(
                settings.delivery.smtp_timeout_secs,
            )))
            .build();
        Ok(Self {
            transport,
            from: settings.mail_from.parse()?,
        })
    }

    /// Send one notification to `to`; the error text is what gets recorded.
    async fn send(&self, to: &str, due: &Due) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("invalid address {to:?}: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(due.subject.clone())
            .message_id(Some(format!("<{}@evently.notification>", due.id)))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(readable_body(&due.body_text)),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(readable_body(&due.body_html)),
                    ),
            )
            .map_err(|e| format!("cannot build the mail: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("smtp: {e}"))
    }
}

/// `smtp://host:port` (port 25 when omitted) → host and port.
pub fn smtp_host_port(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("smtp://")
        .ok_or_else(|| anyhow::anyhow!("smtp_url {url:?} must start with smtp://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((host.to_string(), port.parse()?)),
        None if !authority.is_empty() => Ok((authority.to_string(), 25)),
        _ => anyhow::bail!("smtp_url {url:?} names no host"),
    }
}

/// Quoted-printable keeps the text readable in a mail catcher's files
/// (lettre would pick base64 for any non-ASCII character).
fn readable_body(text: &str) -> Body {
    Body::new_with_encoding(text.to_string(), ContentTransferEncoding::QuotedPrintable)
        .unwrap_or_else(Body::new)
}

/// The delay before attempt `attempt + 1` after `attempt` failures:
/// `base * 2^(attempt-1)`, capped, then a random point in its upper half.
pub fn backoff(settings: &DeliverySettings, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ceiling = settings
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(settings.backoff_max_ms)
        .max(1);
    let jittered = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
    Duration::from_millis(jittered)
}

pub struct Sender {
    pub pool: PgPool,
    pub producer: Producer,
    pub mailer: Mailer,
    pub settings: DeliverySettings,
    pub new_work: Arc<Notify>,
    pub outcomes: IntCounterVec,
}

impl Sender {
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let idle = Duration::from_millis(self.settings.poll_interval_ms);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let due = match store::claim_due(&self.pool, self.settings.batch, CLAIM_SECS).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(%error, "cannot claim due notifications");
                    Vec::new()
                }
            };
            if due.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.new_work.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                }
                continue;
            }
            futures::stream::iter(due)
                .for_each_concurrent(self.settings.concurrency, |due| {
                    let this = self.clone();
                    async move { this.deliver(due).await }
                })
                .await;
        }
    }

    #[tracing::instrument(skip(self, due), fields(notification_id = %due.id, kind = %due.kind, attempt = due.attempts + 1))]
    async fn deliver(&self, due: Due) {
        let result = match due.email.as_deref() {
            Some(email) => self.mailer.send(email, &due).await,
            None => Err("no email address known for this user yet".to_string()),
        };
        let recorded = match result {
            Ok(()) => {
                self.outcomes.with_label_values(&["sent"]).inc();
                store::mark_sent(&self.pool, due.id, due.email.as_deref().unwrap_or("")).await
            }
            Err(error) => self.record_failure(&due, &error).await,
        };
        if let Err(error) = recorded {
            // The claim runs out and the notification is tried again.
            tracing::error!(%error, "cannot record a delivery attempt");
        }
    }

    async fn record_failure(&self, due: &Due, error: &str) -> sqlx::Result<()> {
        let attempts = u32::try_from(due.attempts + 1).unwrap_or(u32::MAX);
        let max = u32::try_from(due.max_attempts).unwrap_or(1);
        if attempts < max {
            self.outcomes.with_label_values(&["failed"]).inc();
            let delay = backoff(&self.settings, attempts);
            let retry_at = Utc::now()
                + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::zero());
            tracing::warn!(error, attempts, ?delay, "delivery failed; will retry");
            return store::mark_failed(
                &self.pool,
                due.id,
                due.email.as_deref(),
                error,
                Some(retry_at),
            )
            .await;
        }
        self.outcomes.with_label_values(&["dead"]).inc();
        tracing::warn!(
            error,
            attempts,
            "delivery failed for the last time; dead-lettered"
        );
        store::mark_failed(&self.pool, due.id, due.email.as_deref(), error, None).await?;
        let dead = NotificationDead {
            notification_id: NotificationId(due.id),
            user_id: UserId(due.user_id),
            kind: due.kind.clone(),
            email: due.email.clone(),
            attempts: due.attempts + 1,
            last_error: error.to_string(),
        };
        // The row is already dead (and listed by the admin endpoint); the topic
        // copy is for operators' tooling, so a broker hiccup is only logged.
        let envelope = Envelope::new(dead);
        if let Err(error) = self
            .producer
            .publish(
                topics::NOTIFICATION_DLQ,
                &due.user_id.to_string(),
                &envelope,
                None,
            )
            .await
        {
            tracing::error!(%error, "cannot publish to the dead-letter topic");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_give_host_and_port() {
        assert_eq!(
            smtp_host_port("smtp://127.0.0.1:2525").ok(),
            Some(("127.0.0.1".into(), 2525))
        );
        assert_eq!(
            smtp_host_port("smtp://mailpit").ok(),
            Some(("mailpit".into(), 25))
        );
        assert!(smtp_host_port("smtps://x:1").is_err());
        assert!(smtp_host_port("smtp://:25").is_err());
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let settings = DeliverySettings {
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..DeliverySettings::default()
        };
        for _ in 0..50 {
            let first = backoff(&settings, 1).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = backoff(&settings, 3).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let late = backoff(&settings, 20).as_millis();
            assert!((500..=1_000).contains(&late), "{late}");
        }
    }
}
