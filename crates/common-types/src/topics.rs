//! Topic names: the contract between services (see DESIGN.md). Deployments and
//! tests may put a prefix in front of every name (`kafka.topic_prefix`).

pub const BOOKING_CREATE: &str = "booking.create";
pub const BOOKING_EVENTS: &str = "booking.events";
pub const EVENT_LIFECYCLE: &str = "event.lifecycle";
pub const WAITLIST_EVENTS: &str = "waitlist.events";
pub const NOTIFICATION_REQUESTS: &str = "notification.requests";
pub const NOTIFICATION_DLQ: &str = "notification.dlq";
pub const USER_EVENTS: &str = "user.events";

pub const ALL: &[&str] = &[
    BOOKING_CREATE,
    BOOKING_EVENTS,
    EVENT_LIFECYCLE,
    WAITLIST_EVENTS,
    NOTIFICATION_REQUESTS,
    NOTIFICATION_DLQ,
    USER_EVENTS,
];
