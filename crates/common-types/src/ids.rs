//! Identifiers. Each is its own type so an `EventId` can never be passed where
//! a `UserId` is expected; all are UUIDs except seat ids, which people read.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7), so ids sort roughly by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl From<$name> for Uuid {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

uuid_id!(/// A user account (auth service).
    UserId);
uuid_id!(/// A venue: a reusable seat-map template.
    VenueId);
uuid_id!(/// A section of a venue (reserved rows or general admission).
    SectionId);
uuid_id!(/// An event on sale at a venue.
    EventId);
uuid_id!(/// A hold on seats or a general-admission quantity.
    HoldId);
uuid_id!(/// A confirmed (or later cancelled) booking.
    BookingId);
uuid_id!(/// One reservation command; the key its outcome is awaited and polled under.
    RequestId);
uuid_id!(/// A waitlist entry.
    WaitlistEntryId);
uuid_id!(/// A notification record.
    NotificationId);

/// A seat's id within an event, such as `A-12`: the row label and seat number.
/// It is unique within an event (the event service refuses venues where two
/// reserved sections share a row label), so a hold can name seats alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeatId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a seat id is 1 to 32 letters, digits, '-' or '_' (got {0:?})")]
pub struct InvalidSeatId(pub String);

impl SeatId {
    pub const MAX_LEN: usize = 32;

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidSeatId> {
        let value = value.into();
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value))
        } else {
            Err(InvalidSeatId(value))
        }
    }

    /// The id a reserved seat gets from its row label and number.
    pub fn for_row_seat(row_label: &str, number: u32) -> Result<Self, InvalidSeatId> {
        Self::parse(format!("{row_label}-{number}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeatId {
    type Error = InvalidSeatId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<SeatId> for String {
    fn from(value: SeatId) -> Self {
        value.0
    }
}

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_ids_are_short_and_plain() {
        assert_eq!(
            SeatId::for_row_seat("A", 12).map(|s| s.to_string()),
            Ok("A-12".into())
        );
        assert!(SeatId::parse("").is_err());
        assert!(SeatId::parse("A 1").is_err());
        assert!(SeatId::parse("x".repeat(33)).is_err());
    }

    #[test]
    fn uuid_ids_round_trip_through_strings() {
        let id = EventId::new();
        assert_eq!(id.to_string().parse::<EventId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }
}
