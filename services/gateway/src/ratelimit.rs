//! Token-bucket rate limits (governor): per client address and per user for
//! everything, plus tighter separate budgets for logins and for hold/booking
//! writes. Answers carry `RateLimit-*` headers; a refusal is 429 with
//! `Retry-After`.

use crate::configuration::{Budget, RateLimitSettings};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;
use common_types::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use service_http::problem::{problem, problem_response};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Which budgets a request draws from besides the general ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    BookingWrite,
    Other,
}

/// `POST /api/v1/auth/{login,register,refresh}` spend the login budget;
/// holds and bookings written (POST/DELETE/PATCH) spend the write budget.
pub fn classify(method: &Method, path: &str) -> Class {
    if method == Method::POST
        && matches!(
            path,
            "/api/v1/auth/login" | "/api/v1/auth/register" | "/api/v1/auth/refresh"
        )
    {
        return Class::Login;
    }
    let writes = matches!(
        *method,
        Method::POST | Method::DELETE | Method::PATCH | Method::PUT
    );
    if writes && (path.starts_with("/api/v1/seats/") || path.starts_with("/api/v1/bookings")) {
        return Class::BookingWrite;
    }
    Class::Other
}

struct Limiter<K: Hash + Eq + Clone> {
    name: &'static str,
    budget: Budget,
    keyed: Keyed<K>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(name: &'static str, budget: Budget) -> Self {
        let burst = NonZeroU32::new(budget.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / budget.per_second.max(0.001));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Self {
            name,
            budget,
            keyed: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        }
    }

    fn check(&self, key: &K) -> Result<Remaining, Refused> {
        match self.keyed.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.budget.burst.saturating_sub(remaining);
                let refill = Duration::from_secs_f64(used as f64 / self.budget.per_second);
                Ok(Remaining {
                    limit: self.budget.burst,
                    remaining,
                    reset_secs: refill.as_secs_f64().ceil() as u64,
                    window_secs: window(self.budget),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.keyed.clock().now());
                Err(Refused {
                    budget: self.name,
                    limit: self.budget.burst,
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                    window_secs: window(self.budget),
                })
            }
        }
    }
}

/// The time a full bucket takes to refill: the window of the quota policy.
fn window(budget: Budget) -> u64 {
    (budget.burst as f64 / budget.per_second).ceil().max(1.0) as u64
}

/// What is left of the tightest budget a request drew from.
#[derive(Debug, Clone, Copy)]
pub struct Remaining {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    window_secs: u64,
}

impl Remaining {
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset_secs.to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.limit, self.window_secs),
            ),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Refused {
    pub budget: &'static str,
    pub limit: u32,
    pub retry_after_secs: u64,
    window_secs: u64,
}

impl Refused {
    pub fn response(&self) -> HttpResponse {
        let mut response = problem_response(
            problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "the {} budget is spent; retry in {} s",
                    self.budget, self.retry_after_secs
                ),
            )
            .with_extension("retry_after", self.retry_after_secs.into()),
        );
        let headers = response.headers_mut();
        for (name, value) in [
            ("retry-after", self.retry_after_secs.to_string()),
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", "0".to_string()),
            ("ratelimit-reset", self.retry_after_secs.to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.limit, self.window_secs),
            ),
        ] {
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&value) {
                headers.insert(
                    actix_web::http::header::HeaderName::from_static(name),
                    value,
                );
            }
        }
        response
    }
}

pub struct RateLimits {
    enabled: bool,
    per_address: Limiter<IpAddr>,
    per_user: Limiter<UserId>,
    login: Limiter<IpAddr>,
    writes: Limiter<UserId>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Arc<Self> {
        Arc::new(Self {
            enabled: settings.enabled,
            per_address: Limiter::new("per-address", settings.per_address),
            per_user: Limiter::new("per-user", settings.per_user),
            login: Limiter::new("login", settings.login_per_address),
            writes: Limiter::new("booking-writes", settings.booking_writes_per_user),
        })
    }

    /// Draw from every budget that applies; `Ok(None)` when limits are off.
    pub fn check(
        &self,
        address: IpAddr,
        user: Option<UserId>,
        class: Class,
    ) -> Result<Option<Remaining>, Refused> {
        if !self.enabled {
            return Ok(None);
        }
        let mut tightest = self.per_address.check(&address)?;
        let mut consider = |r: Remaining| {
            if r.remaining < tightest.remaining {
                tightest = r;
            }
        };
        if let Some(user) = user {
            consider(self.per_user.check(&user)?);
        }
        match (class, user) {
            (Class::Login, _) => consider(self.login.check(&address)?),
            (Class::BookingWrite, Some(user)) => consider(self.writes.check(&user)?),
            _ => {}
        }
        Ok(Some(tightest))
    }

    /// Forget idle keys now and then, so memory follows active clients.
    pub fn spawn_cleanup(self: &Arc<Self>, shutdown: CancellationToken) {
        let limits = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {
                        limits.per_address.keyed.retain_recent();
                        limits.per_user.keyed.retain_recent();
                        limits.login.keyed.retain_recent();
                        limits.writes.keyed.retain_recent();
                    }
                }
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified() {
        assert_eq!(classify(&Method::POST, "/api/v1/auth/login"), Class::Login);
        assert_eq!(classify(&Method::GET, "/api/v1/auth/me"), Class::Other);
        assert_eq!(
            classify(&Method::POST, "/api/v1/seats/hold"),
            Class::BookingWrite
        );
        assert_eq!(
            classify(&Method::DELETE, "/api/v1/bookings/x/cancel"),
            Class::BookingWrite
        );
        assert_eq!(classify(&Method::GET, "/api/v1/bookings/me"), Class::Other);
    }

    #[test]
    fn a_spent_budget_refuses_with_a_retry_time() {
        let limits = RateLimits::new(&RateLimitSettings {
            login_per_address: Budget {
                per_second: 0.5,
                burst: 2,
            },
            ..Default::default()
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limits.check(ip, None, Class::Login).is_ok());
        let second = limits.check(ip, None, Class::Login).unwrap().unwrap();
        assert_eq!(second.remaining, 0);
        let refused = limits.check(ip, None, Class::Login).unwrap_err();
        assert_eq!(refused.budget, "login");
        assert_eq!(refused.retry_after_secs, 2);
        // Other requests from the address still pass; so do logins from elsewhere.
        assert!(limits.check(ip, None, Class::Other).is_ok());
        assert!(limits
            .check("10.0.0.2".parse().unwrap(), None, Class::Login)
            .is_ok());
    }
}
