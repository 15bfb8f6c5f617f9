//! Which service owns a path. Live seat state (`venue-layout`,
//! `seats/available`, `sales`) belongs to booking even though it sits under
//! `/events/{id}`, because booking owns inventory.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Upstream {
    Auth,
    Event,
    Booking,
    Waitlist,
    Notification,
}

impl Upstream {
    pub fn name(&self) -> &'static str {
        match self {
            Upstream::Auth => "auth",
            Upstream::Event => "event",
            Upstream::Booking => "booking",
            Upstream::Waitlist => "waitlist",
            Upstream::Notification => "notification",
        }
    }
}

/// The service that answers `path`, or `None` (404 at the gateway).
pub fn route(path: &str) -> Option<Upstream> {
    let path = path.split('?').next().unwrap_or(path);
    if path == "/.well-known/jwks.json" {
        return Some(Upstream::Auth);
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    match first {
        "auth" => Some(Upstream::Auth),
        "admin" => match parts.next()? {
            "users" => Some(Upstream::Auth),
            "notifications" => Some(Upstream::Notification),
            "bookings" => Some(Upstream::Booking),
            "waitlist" => Some(Upstream::Waitlist),
            _ => None,
        },
        "venues" => Some(Upstream::Event),
        "events" => {
            let _id = parts.next();
            match parts.next() {
                Some("venue-layout" | "seats" | "sales" | "live") => Some(Upstream::Booking),
                _ => Some(Upstream::Event),
            }
        }
        "seats" | "bookings" => Some(Upstream::Booking),
        "waitlist" => Some(Upstream::Waitlist),
        "notifications" => Some(Upstream::Notification),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_to_their_owner() {
        assert_eq!(route("/api/v1/auth/login"), Some(Upstream::Auth));
        assert_eq!(route("/api/v1/events?q=jazz"), Some(Upstream::Event));
        assert_eq!(route("/api/v1/events/123"), Some(Upstream::Event));
        assert_eq!(route("/api/v1/events/123/publish"), Some(Upstream::Event));
        assert_eq!(
            route("/api/v1/events/123/venue-layout"),
            Some(Upstream::Booking)
        );
        assert_eq!(
            route("/api/v1/events/123/seats/available"),
            Some(Upstream::Booking)
        );
        assert_eq!(route("/api/v1/seats/hold"), Some(Upstream::Booking));
        assert_eq!(route("/api/v1/bookings/me"), Some(Upstream::Booking));
        assert_eq!(route("/api/v1/waitlist/join"), Some(Upstream::Waitlist));
        assert_eq!(
            route("/api/v1/notifications/me"),
            Some(Upstream::Notification)
        );
        assert_eq!(route("/api/v1/nothing"), None);
        assert_eq!(route("/internal/attendees"), None);
    }
}
