//! The timed phase: users hold and confirm seats until the events sell out.
//!
//! Closed loop: `concurrency` workers, each starting the next purchase when
//! its last one is done. Open loop: purchases start on a fixed schedule
//! (`rate` per second) whatever the answers do, and the first hold of each
//! purchase is timed from its *intended* start, so a slow server cannot hide
//! its queueing delay by slowing the load down (coordinated omission).

use crate::api::{Api, ApiError, Hold, HoldRequest, Outcome, SectionKind};
use crate::report::{OpSummary, RunSummary};
use crate::scenario::setup::{EventOnSale, User};
use crate::stats::{Failures, OpStats, TRANSPORT_ERROR};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng as _;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Closed { concurrency: usize },
    Open { rate: f64, max_in_flight: usize },
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed { concurrency } => write!(f, "closed loop, {concurrency} concurrent"),
            Self::Open { rate, .. } => write!(f, "open loop, {rate:.0}/s"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Shape {
    pub mode: Mode,
    /// Hard end of the timed phase.
    pub duration: Duration,
    /// Seats (or general-admission places) per hold.
    pub tickets_per_hold: u64,
    /// Stop early once this many requests failed unexpectedly.
    pub max_errors: u64,
    /// How stale the shared seat map may get before a conflict refreshes it.
    pub refresh_every: Duration,
}

/// Which purchases happen, in what order.
pub enum Intents {
    /// Users 0..n take turns buying from target 0 until it sells out.
    Cyclic { users: usize },
    /// Each (user, target) buys once.
    Listed(Vec<(usize, usize)>),
}

impl Intents {
    fn get(&self, i: u64) -> Option<(usize, usize)> {
        match self {
            Self::Cyclic { users } => {
                let users = u64::try_from(*users).ok().filter(|u| *u > 0)?;
                usize::try_from(i % users).ok().map(|u| (u, 0))
            }
            Self::Listed(list) => usize::try_from(i).ok().and_then(|i| list.get(i).copied()),
        }
    }
}

/// The seats a user believes are free: the last availability read, minus
/// what has been seen taken since. Users pick from it at random, so they
/// collide like real fans clicking the same seat map.
struct SeatPool {
    seats: Mutex<SeatSet>,
    refreshed: Mutex<Instant>,
    refresh_lock: tokio::sync::Mutex<()>,
}

/// A set with O(1) random pick and removal (100,000 seats, thousands of
/// removals a second: a `retain` over the whole list would dominate).
#[derive(Default)]
struct SeatSet {
    seats: Vec<String>,
    index: HashMap<String, usize>,
}

impl SeatSet {
    fn new(seats: Vec<String>) -> Self {
        let mut set = Self::default();
        for seat in seats {
            if !set.index.contains_key(&seat) {
                set.index.insert(seat.clone(), set.seats.len());
                set.seats.push(seat);
            }
        }
        set
    }

    fn remove(&mut self, seat: &str) {
        if let Some(i) = self.index.remove(seat) {
            self.seats.swap_remove(i);
            if let Some(moved) = self.seats.get(i) {
                self.index.insert(moved.clone(), i);
            }
        }
    }
}

impl SeatPool {
    fn new(seats: Vec<String>) -> Self {
        Self {
            seats: Mutex::new(SeatSet::new(seats)),
            refreshed: Mutex::new(Instant::now()),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn pick(&self, n: u64) -> Option<Vec<String>> {
        let set = self.seats.lock().ok()?;
        let seats = &set.seats;
        if seats.is_empty() {
            return None;
        }
        let mut rng = rand::thread_rng();
        let n = usize::try_from(n).unwrap_or(1).clamp(1, seats.len());
        let mut picked: Vec<String> = Vec::with_capacity(n);
        while picked.len() < n {
            let seat = &seats[rng.gen_range(0..seats.len())];
            if !picked.contains(seat) {
                picked.push(seat.clone());
            }
        }
        Some(picked)
    }

    fn remove(&self, taken: &[String]) {
        if let Ok(mut set) = self.seats.lock() {
            for seat in taken {
                set.remove(seat);
            }
        }
    }

    fn replace(&self, fresh: Vec<String>) {
        let fresh = SeatSet::new(fresh);
        if let Ok(mut set) = self.seats.lock() {
            *set = fresh;
        }
        if let Ok(mut at) = self.refreshed.lock() {
            *at = Instant::now();
        }
    }

    fn age(&self) -> Duration {
        self.refreshed
            .lock()
            .map(|at| at.elapsed())
            .unwrap_or(Duration::MAX)
    }

    fn is_empty(&self) -> bool {
        self.seats
            .lock()
            .map(|s| s.seats.is_empty())
            .unwrap_or(true)
    }
}

/// One event under load and everything measured about it.
pub struct Target {
    pub on_sale: EventOnSale,
    pub demand: u64,
    pool: SeatPool,
    sold_out: AtomicBool,
    pub hold: OpStats,
    pub confirm: OpStats,
    pub availability: OpStats,
    pub failures: Failures,
    confirmed_places: AtomicU64,
    /// Booking ids the simulator got a confirmation for.
    acknowledged: Mutex<Vec<String>>,
}

impl Target {
    pub fn new(on_sale: EventOnSale, demand: u64, empty: &Histogram<u64>) -> Self {
        let pool = SeatPool::new(on_sale.seat_ids.clone());
        Self {
            on_sale,
            demand,
            pool,
            sold_out: AtomicBool::new(false),
            hold: OpStats::new(empty),
            confirm: OpStats::new(empty),
            availability: OpStats::new(empty),
            failures: Failures::default(),
            confirmed_places: AtomicU64::new(0),
            acknowledged: Mutex::new(Vec::new()),
        }
    }

    pub fn is_sold_out(&self) -> bool {
        self.sold_out.load(Ordering::Relaxed)
    }

    pub fn confirmed_places(&self) -> u64 {
        self.confirmed_places.load(Ordering::Relaxed)
    }

    pub fn acknowledged(&self) -> Vec<String> {
        self.acknowledged
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// The figures of this event after the run (invariants filled in later).
    pub fn summary(&self, mode: &Mode, elapsed: Duration) -> RunSummary {
        let elapsed_secs = elapsed.as_secs_f64();
        let op = |stats: &OpStats| {
            let window = stats.last_ok().map(|d| d.as_secs_f64()).unwrap_or(0.0);
            stats
                .histogram()
                .map(|h| OpSummary::new(&h, stats.statuses(), stats.ok(), window, elapsed_secs))
                .unwrap_or_default()
        };
        RunSummary {
            name: self.on_sale.name.clone(),
            kind: self.on_sale.kind.to_string(),
            mode: mode.to_string(),
            users: self.demand,
            capacity: self.on_sale.capacity,
            elapsed_secs,
            hold: op(&self.hold),
            confirm: op(&self.confirm),
            availability_reads: self.availability.requests(),
            confirmed: self.confirmed_places(),
            sold_out_seconds: if self.is_sold_out()
                || self.confirmed_places() >= self.on_sale.capacity
            {
                self.confirm.last_ok().map(|d| d.as_secs_f64())
            } else {
                None
            },
            last_hold_seconds: self.hold.last_ok().map(|d| d.as_secs_f64()),
            invariants: Default::default(),
            verified: false,
            verify_error: None,
            failures: self.failures.snapshot(),
        }
    }
}

/// What a fan does after one hold request.
enum Step {
    /// The outcome is unknown (no answer, 5xx): send the same request again
    /// after this wait, a few times at most.
    Retry(Duration),
    /// Told to wait (429): send the same request again after this long.
    Wait(Duration),
    /// Try other seats.
    Next,
    /// This purchase is over (bought, sold out, or refused).
    Done,
}

pub struct Engine {
    api: Api,
    users: Arc<Vec<User>>,
    targets: Vec<Arc<Target>>,
    shape: Shape,
    start: Instant,
    deadline: Instant,
    errors: AtomicU64,
    stop_reason: Mutex<Option<String>>,
}

impl Engine {
    pub fn new(api: Api, users: Arc<Vec<User>>, targets: Vec<Arc<Target>>, shape: Shape) -> Self {
        let start = Instant::now();
        Self {
            api,
            users,
            targets,
            deadline: start + shape.duration,
            shape,
            start,
            errors: AtomicU64::new(0),
            stop_reason: Mutex::new(None),
        }
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    pub fn stop_reason(&self) -> Option<String> {
        self.stop_reason.lock().ok().and_then(|r| r.clone())
    }

    fn all_sold_out(&self) -> bool {
        self.targets.iter().all(|t| t.is_sold_out())
    }

    fn stopping(&self) -> bool {
        self.must_stop() || self.all_sold_out()
    }

    /// The run is over whatever is in flight: out of time or of patience.
    fn must_stop(&self) -> bool {
        if Instant::now() >= self.deadline {
            self.stop("the --duration ran out");
            return true;
        }
        if self.errors.load(Ordering::Relaxed) > self.shape.max_errors {
            self.stop("too many unexpected answers (--max-errors)");
            return true;
        }
        false
    }

    fn stop(&self, reason: &str) {
        if let Ok(mut r) = self.stop_reason.lock() {
            r.get_or_insert_with(|| reason.to_string());
        }
    }

    fn error(&self, target: &Target, slug: &str, detail: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        target.failures.note(slug, detail);
    }

    /// Run the timed phase to the end; returns its duration.
    pub async fn run(self: &Arc<Self>, intents: Arc<Intents>) -> Duration {
        let bar = self.progress();
        match self.shape.mode {
            Mode::Closed { concurrency } => self.closed_loop(intents, concurrency).await,
            Mode::Open {
                rate,
                max_in_flight,
            } => self.open_loop(intents, rate, max_in_flight).await,
        }
        let elapsed = self.start.elapsed();
        bar.finish_and_clear();
        elapsed
    }

    fn progress(self: &Arc<Self>) -> ProgressBar {
        let total: u64 = self.targets.iter().map(|t| t.on_sale.capacity).sum();
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} {bar:40} {pos}/{len} confirmed  {msg}")
        {
            bar.set_style(style);
        }
        let engine = Arc::downgrade(self);
        let ticker = bar.clone();
        tokio::spawn(async move {
            let mut last_holds = 0;
            let mut last = Instant::now();
            while let Some(engine) = engine.upgrade() {
                if ticker.is_finished() {
                    break;
                }
                let holds: u64 = engine.targets.iter().map(|t| t.hold.ok()).sum();
                let confirmed: u64 = engine.targets.iter().map(|t| t.confirmed_places()).sum();
                let conflicts: u64 = engine
                    .targets
                    .iter()
                    .map(|t| t.hold.count_where(|s| s == 409))
                    .sum();
                let rate = (holds - last_holds) as f64 / last.elapsed().as_secs_f64().max(1e-3);
                last_holds = holds;
                last = Instant::now();
                ticker.set_position(confirmed);
                ticker.set_message(format!(
                    "{rate:.0} holds/s  409s {conflicts}  errors {}",
                    engine.errors.load(Ordering::Relaxed)
                ));
                drop(engine);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        bar
    }

    async fn closed_loop(self: &Arc<Self>, intents: Arc<Intents>, concurrency: usize) {
        let next = Arc::new(AtomicU64::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let engine = Arc::clone(self);
            let intents = Arc::clone(&intents);
            let next = Arc::clone(&next);
            workers.spawn(async move {
                while !engine.stopping() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((user, target)) = intents.get(i) else {
                        break;
                    };
                    engine.purchase(user, target, None).await;
                }
            });
        }
        while workers.join_next().await.is_some() {}
    }

    async fn open_loop(self: &Arc<Self>, intents: Arc<Intents>, rate: f64, max_in_flight: usize) {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let mut arrivals: u64 = 0;
        for i in 0.. {
            if self.stopping() {
                break;
            }
            let Some((user, target)) = intents.get(i) else {
                break;
            };
            if self.targets.get(target).is_none_or(|t| t.is_sold_out()) {
                // A fan who arrives after the sell-out leaves without a request.
                continue;
            }
            let intended = self.start + Duration::from_secs_f64(arrivals as f64 / rate);
            arrivals += 1;
            tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
            // Waiting for a slot is part of the measured latency (it starts at `intended`).
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let engine = Arc::clone(self);
            running.spawn(async move {
                engine.purchase(user, target, Some(intended)).await;
                drop(slot);
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }

    /// One fan's attempt: hold (retrying other seats on conflicts) then confirm.
    async fn purchase(&self, user: usize, target: usize, mut intended: Option<Instant>) {
        let (Some(user), Some(target)) = (self.users.get(user), self.targets.get(target)) else {
            return;
        };
        let event = &target.on_sale;
        let mut failures = 0u32;
        // A request whose outcome is unknown or deferred (no answer, 5xx, 429) is
        // sent again as it was, with its Idempotency-Key: it must not become a
        // second hold if the first one was placed after all.
        let mut again: Option<(HoldRequest, String)> = None;
        loop {
            // A request that may have been placed is finished even after the
            // sell-out: its seats count towards it.
            let over = if again.is_some() {
                self.must_stop()
            } else {
                target.is_sold_out() || self.stopping()
            };
            if over {
                return;
            }
            if let Some((request, key)) = again.take() {
                let sent = intended.take().unwrap_or_else(Instant::now);
                match self.try_hold(user, target, &request, &key, sent).await {
                    Step::Retry(wait) => {
                        failures += 1;
                        if failures >= 3 {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                        again = Some((request, key));
                    }
                    Step::Wait(wait) => {
                        tokio::time::sleep(wait).await;
                        again = Some((request, key));
                    }
                    Step::Done => return,
                    Step::Next => {}
                }
                continue;
            }
            let request = match event.kind {
                SectionKind::General => HoldRequest::Quantity {
                    event_id: event.event_id,
                    section_id: event.section_id,
                    quantity: self.shape.tickets_per_hold,
                },
                SectionKind::Reserved => match target.pool.pick(self.shape.tickets_per_hold) {
                    Some(seats) => HoldRequest::Seats {
                        event_id: event.event_id,
                        seat_ids: seats,
                    },
                    None => {
                        self.refresh(target, true).await;
                        continue;
                    }
                },
            };
            let key = uuid::Uuid::new_v4().to_string();
            let sent = intended.take().unwrap_or_else(Instant::now);
            match self.try_hold(user, target, &request, &key, sent).await {
                Step::Retry(wait) | Step::Wait(wait) => {
                    tokio::time::sleep(wait).await;
                    again = Some((request, key));
                }
                Step::Done => return,
                Step::Next => {}
            }
        }
    }

    /// One hold request and what to do next.
    async fn try_hold(
        &self,
        user: &User,
        target: &Target,
        request: &HoldRequest,
        key: &str,
        sent: Instant,
    ) -> Step {
        let event = &target.on_sale;
        let answer = self.api.hold(&user.token(), request, key).await;
        let latency = sent.elapsed();
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                target.hold.no_answer();
                self.error(target, "no-answer", &e.to_string());
                return Step::Retry(Duration::from_millis(50));
            }
        };
        target.hold.record(latency, answer.status);
        match answer.outcome {
            Outcome::Ok(hold) => {
                target.hold.succeeded(self.start);
                let taken = match request {
                    HoldRequest::Seats { seat_ids, .. } if hold.seats.is_empty() => {
                        seat_ids.clone()
                    }
                    _ => hold.seats.clone(),
                };
                target.pool.remove(&taken);
                self.confirm(user, target, &hold).await;
                Step::Done
            }
            Outcome::Unavailable(seats) => {
                if event.kind == SectionKind::General {
                    // Fewer places left than asked for: at one a time, that is sold out.
                    if self.shape.tickets_per_hold <= 1 {
                        target.sold_out.store(true, Ordering::Relaxed);
                    }
                    return Step::Done;
                }
                match (request, seats.is_empty()) {
                    (HoldRequest::Seats { seat_ids, .. }, true) => target.pool.remove(seat_ids),
                    _ => target.pool.remove(&seats),
                }
                if target.pool.age() >= self.shape.refresh_every {
                    self.refresh(target, false).await;
                }
                Step::Next
            }
            Outcome::SoldOut => {
                target.sold_out.store(true, Ordering::Relaxed);
                Step::Done
            }
            Outcome::RateLimited(wait) => Step::Wait(wait),
            Outcome::Failed { slug, detail } => {
                if answer.status == 401 && user.try_reauthenticate(&self.api).await {
                    return Step::Next;
                }
                self.error(target, &format!("hold {}: {slug}", answer.status), &detail);
                if answer.status >= 500 {
                    Step::Retry(Duration::from_millis(50))
                } else {
                    Step::Done
                }
            }
        }
    }

    /// Confirm a hold; retries on 429, 5xx and lost answers keep the same
    /// Idempotency-Key, so they cannot book twice.
    async fn confirm(&self, user: &User, target: &Target, hold: &Hold) {
        let key = uuid::Uuid::new_v4().to_string();
        for _attempt in 0..4 {
            let sent = Instant::now();
            let answer = self.api.confirm(&user.token(), hold.hold_id, &key).await;
            let latency = sent.elapsed();
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    target.confirm.no_answer();
                    self.error(target, "no-answer", &e.to_string());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            target.confirm.record(latency, answer.status);
            match answer.outcome {
                Outcome::Ok(booking) => {
                    target.confirm.succeeded(self.start);
                    let places = if booking.seats.is_empty() {
                        booking
                            .quantity
                            .or(hold.quantity)
                            .unwrap_or(self.shape.tickets_per_hold)
                    } else {
                        booking.seats.len() as u64
                    };
                    target.confirmed_places.fetch_add(places, Ordering::Relaxed);
                    if let Ok(mut acks) = target.acknowledged.lock() {
                        acks.push(booking.id.to_string());
                    }
                    return;
                }
                Outcome::RateLimited(wait) => tokio::time::sleep(wait).await,
                Outcome::Failed { slug, detail } if answer.status >= 500 => {
                    self.error(
                        target,
                        &format!("confirm {}: {slug}", answer.status),
                        &detail,
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Outcome::Failed { slug, detail } => {
                    self.error(
                        target,
                        &format!("confirm {}: {slug}", answer.status),
                        &detail,
                    );
                    return;
                }
                Outcome::Unavailable(_) | Outcome::SoldOut => {
                    self.error(target, "confirm 409", "a live hold could not be confirmed");
                    return;
                }
            }
        }
    }

    /// Re-read availability. With `wait`, a caller that finds another refresh
    /// under way waits for it; without, it carries on with the stale map.
    async fn refresh(&self, target: &Target, wait: bool) {
        let _guard = match target.pool.refresh_lock.try_lock() {
            Ok(guard) => guard,
            Err(_) if wait => {
                let _ = target.pool.refresh_lock.lock().await;
                if target.pool.is_empty() && !target.is_sold_out() {
                    // The refresh we waited for found nothing either.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return;
            }
            Err(_) => return,
        };
        let event = &target.on_sale;
        let sent = Instant::now();
        let read = self
            .api
            .seats_available(Some(&self.users_token()), event.event_id)
            .await;
        let latency = sent.elapsed();
        match read {
            Ok(availability) => {
                target.availability.record(latency, 200);
                target.availability.succeeded(self.start);
                let seats: Vec<String> = availability
                    .sections
                    .into_iter()
                    .filter(|s| s.id == event.section_id)
                    .flat_map(|s| s.seat_ids)
                    .collect();
                if seats.is_empty() {
                    if availability.available == 0 {
                        target.sold_out.store(true, Ordering::Relaxed);
                    } else {
                        self.error(
                            target,
                            "availability",
                            "seats/available lists no seat ids for the section but says seats are left",
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                target.pool.replace(seats);
            }
            Err(e) => {
                target
                    .availability
                    .record(latency, e.status().unwrap_or(TRANSPORT_ERROR));
                self.error(target, "availability", &e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn users_token(&self) -> Arc<str> {
        self.users
            .first()
            .map(|u| u.token())
            .unwrap_or_else(|| Arc::from(""))
    }
}

/// Preflight: a readable error when the gateway is not there, a one-line
/// warning naming the services that are not up.
pub async fn check_gateway(api: &Api) -> Result<(), ApiError> {
    let (status, body) = api.health().await?;
    if status != 200 {
        let down: Vec<String> = body
            .get("services")
            .and_then(|s| s.as_object())
            .map(|services| {
                services
                    .iter()
                    .filter(|(_, v)| v.get("status").and_then(|s| s.as_str()) != Some("up"))
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        eprintln!(
            "warning: {}/health answered {status}; not up: {}",
            api.base(),
            if down.is_empty() {
                "(unknown)".to_string()
            } else {
                down.join(", ")
            }
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cyclic_intents_go_round_the_users() {
        let intents = Intents::Cyclic { users: 3 };
        let got: Vec<_> = (0..5).filter_map(|i| intents.get(i)).collect();
        assert_eq!(got, vec![(0, 0), (1, 0), (2, 0), (0, 0), (1, 0)]);
        assert_eq!(Intents::Cyclic { users: 0 }.get(0), None);
        assert_eq!(Intents::Listed(vec![(4, 1)]).get(1), None);
    }

    #[test]
    fn the_pool_hands_out_distinct_known_seats() {
        let pool = SeatPool::new(vec!["A-1".into(), "A-2".into(), "A-3".into()]);
        let picked = pool.pick(2).unwrap();
        assert_eq!(picked.len(), 2);
        assert_ne!(picked[0], picked[1]);
        pool.remove(&picked);
        assert_eq!(pool.pick(5).unwrap().len(), 1);
        pool.replace(vec![]);
        assert!(pool.pick(1).is_none());
    }

    #[test]
    fn the_seat_set_removes_in_place_and_keeps_its_index() {
        let mut set = SeatSet::new((0..5).map(|i| format!("A-{i}")).collect());
        set.remove("A-1");
        set.remove("A-1");
        set.remove("A-4");
        set.remove("Z-9");
        let mut left = set.seats.clone();
        left.sort();
        assert_eq!(left, ["A-0", "A-2", "A-3"]);
        for (i, seat) in set.seats.iter().enumerate() {
            assert_eq!(set.index[seat], i);
        }
    }
}
