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
                // `live` never gets here: the gateway serves the live feed itself.
                Some("venue-layout" | "seats" | "sales") => Some(Upstream::Booking),
                _ => Some(Upstream::Event),
            }
        }
        "seats" | "bookings" => Some(Upstream::Booking),
        "waitlist" => Some(Upstream::Waitlist),
        "notifications" => Some(Upstream::Notification),
        _ => None,
    }
}

/// Requests the gateway forwards without an access token. Everything else
/// needs a valid one (401 at the gateway otherwise); services check again.
/// Logout is public because its authority is the refresh token in the body,
/// and a client whose access token has just expired must still be able to
/// end its session.
pub fn is_public(method: &actix_web::http::Method, path: &str) -> bool {
    use actix_web::http::Method;
    let path = path.split('?').next().unwrap_or(path);
    let read = *method == Method::GET || *method == Method::HEAD;
    if *method == Method::POST {
        return matches!(
            path,
            "/api/v1/auth/register"
                | "/api/v1/auth/login"
                | "/api/v1/auth/refresh"
                | "/api/v1/auth/logout"
        );
    }
    if !read {
        return false;
    }
    if path == "/.well-known/jwks.json" {
        return true;
    }
    let Some(rest) = path.strip_prefix("/api/v1/events") else {
        return false;
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
        return false;
    }
    let rest = rest.trim_end_matches('/');
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    // Browsing: the list, one event, its seat map and availability, its live feed.
    matches!(
        parts.as_slice(),
        [] | [_] | [_, "venue-layout"] | [_, "seats", "available"] | [_, "live"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

    #[test]
    fn browsing_and_signing_in_are_public_everything_else_needs_a_token() {
        for (method, path) in [
            (Method::POST, "/api/v1/auth/login"),
            (Method::POST, "/api/v1/auth/register"),
            (Method::POST, "/api/v1/auth/refresh"),
            (Method::GET, "/.well-known/jwks.json"),
            (Method::GET, "/api/v1/events"),
            (Method::GET, "/api/v1/events?q=jazz"),
            (Method::GET, "/api/v1/events/123"),
            (Method::GET, "/api/v1/events/123/venue-layout"),
            (Method::GET, "/api/v1/events/123/seats/available"),
        ] {
            assert!(is_public(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/api/v1/auth/me"),
            (Method::POST, "/api/v1/events"),
            (Method::POST, "/api/v1/events/123/publish"),
            (Method::GET, "/api/v1/events/123/sales"),
            (Method::POST, "/api/v1/venues"),
            (Method::POST, "/api/v1/seats/hold"),
            (Method::GET, "/api/v1/bookings/me"),
            (Method::PATCH, "/api/v1/admin/users/1/role"),
            (Method::GET, "/api/v1/eventsx"),
        ] {
            assert!(!is_public(&method, path), "{method} {path}");
        }
    }

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
