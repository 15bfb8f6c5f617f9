//! Statuses as the database stores them. Code compares these enums; the
//! strings exist only at the SQL boundary.

use std::fmt;

#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} status {value:?}")]
pub struct UnknownStatus {
    kind: &'static str,
    value: String,
}

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownStatus { kind: $kind, value: other.to_string() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownStatus;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// A hold's life: active until it ends one of four ways.
    HoldStatus, "hold" {
        Active => "active",
        Released => "released",
        Expired => "expired",
        Confirmed => "confirmed",
        Cancelled => "cancelled",
    }
);

status_enum!(
    BookingStatus, "booking" {
        Confirmed => "confirmed",
        Cancelled => "cancelled",
        Refunded => "refunded",
    }
);

status_enum!(
    /// Authorized by the API, captured or due a refund by the processor,
    /// voided or refunded by the refund worker.
    PaymentStatus, "payment" {
        Authorized => "authorized",
        Captured => "captured",
        RefundDue => "refund_due",
        Voided => "voided",
        Refunded => "refunded",
    }
);

status_enum!(
    EventStatus, "event" {
        OnSale => "on_sale",
        Cancelled => "cancelled",
    }
);

status_enum!(
    /// A seat as the read side sees it; the processor's [`super::SeatStatus`]
    /// also knows which hold or booking has it.
    SeatState, "seat" {
        Available => "available",
        Held => "held",
        Booked => "booked",
        ReleasedToWaitlist => "released_to_waitlist",
    }
);

status_enum!(
    /// How a section sells: seats by id, or a number of general-admission places.
    SectionType, "section kind" {
        Reserved => "reserved",
        General => "general",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for s in [
            HoldStatus::Active,
            HoldStatus::Released,
            HoldStatus::Expired,
            HoldStatus::Confirmed,
            HoldStatus::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<HoldStatus>().ok(), Some(s));
        }
        assert_eq!(
            "refund_due".parse::<PaymentStatus>().ok(),
            Some(PaymentStatus::RefundDue)
        );
        assert!("pending".parse::<BookingStatus>().is_err());
    }
}
