//! Waitlist requests parsed into domain types before any logic runs.

use common_types::{EventId, FieldError, SectionId};
use serde::Deserialize;

/// `POST /api/v1/waitlist/join` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub event_id: EventId,
    pub quantity: i64,
    #[serde(default)]
    pub preferences: Option<PreferencesBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    #[serde(default)]
    pub section_id: Option<SectionId>,
    #[serde(default)]
    pub max_price: Option<i64>,
}

/// What an entry waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    pub section_id: Option<SectionId>,
    /// Highest acceptable price per ticket, minor units.
    pub max_price: Option<i64>,
}

/// A valid join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Join {
    pub event_id: EventId,
    pub quantity: u32,
    pub preferences: Preferences,
}

impl Join {
    /// Every problem at once, each naming its field.
    pub fn parse(body: JoinBody, max_quantity: u32) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let quantity = match u32::try_from(body.quantity) {
            Ok(q) if (1..=max_quantity).contains(&q) => q,
            _ => {
                errors.push(FieldError::new(
                    "quantity",
                    format!("must be between 1 and {max_quantity}"),
                ));
                0
            }
        };
        let preferences = body.preferences.unwrap_or_default();
        if preferences.max_price.is_some_and(|p| p < 0) {
            errors.push(FieldError::new(
                "preferences.max_price",
                "must be a non-negative amount in minor units",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            event_id: body.event_id,
            quantity,
            preferences: Preferences {
                section_id: preferences.section_id,
                max_price: preferences.max_price,
            },
        })
    }
}

/// An entry's status, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Waiting,
    Offered,
    Accepted,
    Expired,
    Left,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Offered => "offered",
            Status::Accepted => "accepted",
            Status::Expired => "expired",
            Status::Left => "left",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(quantity: i64, max_price: Option<i64>) -> JoinBody {
        JoinBody {
            event_id: EventId::new(),
            quantity,
            preferences: Some(PreferencesBody {
                section_id: None,
                max_price,
            }),
        }
    }

    #[test]
    fn joins_name_every_bad_field() {
        assert!(Join::parse(body(2, Some(5000)), 10).is_ok());
        let errors = Join::parse(body(0, Some(-1)), 10).err().unwrap_or_default();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["quantity", "preferences.max_price"]);
        assert!(Join::parse(body(11, None), 10).is_err());
        assert!(Join::parse(body(-3, None), 10).is_err());
    }
}
