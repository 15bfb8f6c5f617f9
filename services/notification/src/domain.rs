//! What a notification is before it is stored: a template, its values, its
//! recipient, and the key that makes it unique.

use chrono::{DateTime, Utc};
use common_types::{Currency, EventId, MessageType, NotificationId, SeatId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use templates::Template;
use uuid::Uuid;

/// Namespace of notification ids derived from their dedupe key.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6e6f_7469_6669_6361_7469_6f6e_2d69_6473);

/// A notification to create: also the payload of `notification.requests`
/// (one message per recipient, keyed by user id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotificationRequest {
    pub notification_id: NotificationId,
    /// Source message id and recipient; the same pair never notifies twice.
    pub dedupe_key: String,
    pub user_id: UserId,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// Template values; `name` is filled from the user's contact details.
    pub vars: BTreeMap<String, String>,
}

impl MessageType for NotificationRequest {
    fn message_type(&self) -> &'static str {
        "NotificationRequested"
    }
}

impl NotificationRequest {
    /// `source` is the id of the message that caused it: its id is derived
    /// from (source, recipient, kind), so a redelivery yields the same id.
    pub fn new(
        source: Uuid,
        user_id: UserId,
        template: Template,
        event_id: Option<EventId>,
        vars: BTreeMap<String, String>,
    ) -> Self {
        let dedupe_key = format!("{source}:{user_id}:{}", template.name());
        let notification_id = NotificationId(Uuid::new_v5(&ID_NAMESPACE, dedupe_key.as_bytes()));
        Self {
            notification_id,
            dedupe_key,
            user_id,
            kind: template.name().to_string(),
            event_id,
            vars,
        }
    }

    pub fn template(&self) -> Option<Template> {
        Template::from_name(&self.kind)
    }
}

/// What goes to `notification.dlq` when a notification failed every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotificationDead {
    pub notification_id: NotificationId,
    pub user_id: UserId,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub attempts: i32,
    pub last_error: String,
}

impl MessageType for NotificationDead {
    fn message_type(&self) -> &'static str {
        "NotificationDead"
    }
}

/// Delivery status of a notification's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    Dead,
}

impl DeliveryStatus {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// `USD 25.00`, `JPY 2500`: minor units shown in the currency's own way.
pub fn format_money(amount: i64, currency: &Currency) -> String {
    let code = currency.as_str();
    if matches!(code, "JPY" | "KRW") {
        return format!("{code} {amount}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{code} {sign}{}.{:02}", abs / 100, abs % 100)
}

/// `A-1, A-2`, or `2 × general admission` when no seat ids are named.
pub fn format_seats(seats: &[SeatId], quantity: u32) -> String {
    if seats.is_empty() {
        format!("{quantity} × general admission")
    } else {
        seats
            .iter()
            .map(SeatId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Build the value map of a template from pairs.
pub fn vars<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_source_and_recipient() {
        let source = Uuid::now_v7();
        let user = UserId::new();
        let a = NotificationRequest::new(source, user, Template::EventUpdated, None, vars([]));
        let b = NotificationRequest::new(source, user, Template::EventUpdated, None, vars([]));
        let c = NotificationRequest::new(
            source,
            UserId::new(),
            Template::EventUpdated,
            None,
            vars([]),
        );
        assert_eq!(a.notification_id, b.notification_id);
        assert_ne!(a.notification_id, c.notification_id);
    }

    #[test]
    fn money_is_shown_in_major_units() -> Result<(), common_types::money::UnknownCurrency> {
        assert_eq!(format_money(2550, &Currency::parse("USD")?), "USD 25.50");
        assert_eq!(format_money(2500, &Currency::parse("JPY")?), "JPY 2500");
        Ok(())
    }
}
