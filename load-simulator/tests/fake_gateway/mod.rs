//! A small in-memory stand-in for the gateway's API contract, so the whole
//! simulator (setup, timed phase, read-back, report) runs in a test without
//! the stack. `Faults` makes it misbehave on purpose, to prove the invariant
//! check catches it.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

#[derive(Clone, Copy, Default)]
pub struct Faults {
    /// Seat `A-1` can be held by anyone, whatever its state: it gets sold twice.
    pub double_sell_first_seat: bool,
    /// General admission does not count down: places are sold beyond capacity.
    pub ga_never_runs_out: bool,
    /// Every 7th hold is placed but answered 503, as if the answer got lost;
    /// the same Idempotency-Key then gets the stored answer.
    pub lose_hold_answers: bool,
}

#[derive(Clone)]
enum Section {
    Reserved { id: Uuid, seats: Vec<String> },
    General { id: Uuid, capacity: u64 },
}

#[derive(Default)]
struct Inventory {
    section: Option<Section>,
    /// The double-sell fault: A-1 is also always offered as available.
    double_sell: bool,
    /// Reserved: seat → "held" | "booked".
    seats: HashMap<String, &'static str>,
    ga_taken: u64,
}

#[derive(Default)]
struct State {
    venues: HashMap<Uuid, Section>,
    events: HashMap<Uuid, Uuid>,
    inventory: HashMap<Uuid, Inventory>,
    holds: HashMap<Uuid, (String, Uuid, Vec<String>, u64)>,
    bookings: Vec<(String, Value)>,
    requests: HashMap<Uuid, (u32, Value)>,
    hold_count: u64,
    /// Idempotency-Key → the hold's answer body.
    answered: HashMap<String, Value>,
}

struct Fake {
    state: Mutex<State>,
    faults: Faults,
}

fn user(req: &HttpRequest) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string()
}

fn problem(status: u16, slug: &str, extra: Value) -> HttpResponse {
    let mut body = json!({"type": format!("https://evently.dev/problems/{slug}"), "title": slug, "status": status});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/problem+json")
        .json(body)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn register(body: web::Json<Value>) -> HttpResponse {
    HttpResponse::Created().json(json!({"id": Uuid::new_v4(), "email": body["email"], "name": body["name"], "role": body["role"]}))
}

async fn login(body: web::Json<Value>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"access_token": body["email"], "refresh_token": "r", "token_type": "Bearer", "expires_in": 900}))
}

async fn venue(fake: web::Data<Fake>, body: web::Json<Value>) -> HttpResponse {
    let s = &body["sections"][0];
    let id = Uuid::new_v4();
    let section = if s["kind"] == "reserved" {
        let seats = s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                let label = r["label"].as_str().unwrap().to_string();
                (1..=r["seats"].as_u64().unwrap()).map(move |n| format!("{label}-{n}"))
            })
            .collect();
        Section::Reserved { id, seats }
    } else {
        Section::General {
            id,
            capacity: s["capacity"].as_u64().unwrap(),
        }
    };
    let venue_id = Uuid::new_v4();
    fake.state.lock().unwrap().venues.insert(venue_id, section);
    HttpResponse::Created()
        .json(json!({"id": venue_id, "sections": [{"id": id, "name": s["name"]}]}))
}

async fn event(fake: web::Data<Fake>, body: web::Json<Value>) -> HttpResponse {
    let venue: Uuid = body["venue_id"].as_str().unwrap().parse().unwrap();
    let id = Uuid::new_v4();
    fake.state.lock().unwrap().events.insert(id, venue);
    HttpResponse::Created().json(json!({"id": id, "status": "draft"}))
}

async fn publish(fake: web::Data<Fake>, path: web::Path<Uuid>) -> HttpResponse {
    let mut state = fake.state.lock().unwrap();
    let venue = state.events[&path];
    let section = state.venues[&venue].clone();
    state.inventory.insert(
        *path,
        Inventory {
            section: Some(section),
            double_sell: fake.faults.double_sell_first_seat,
            ..Inventory::default()
        },
    );
    HttpResponse::Ok().json(json!({"id": *path, "status": "published"}))
}

fn available(inv: &Inventory) -> (Uuid, u64, Vec<String>, u64) {
    match inv.section.as_ref().unwrap() {
        Section::Reserved { id, seats } => {
            let free: Vec<String> = seats
                .iter()
                .filter(|s| !inv.seats.contains_key(*s) || (inv.double_sell && *s == "A-1"))
                .cloned()
                .collect();
            (*id, free.len() as u64, free, seats.len() as u64)
        }
        Section::General { id, capacity } => (
            *id,
            capacity.saturating_sub(inv.ga_taken),
            vec![],
            *capacity,
        ),
    }
}

async fn seats_available(fake: web::Data<Fake>, path: web::Path<Uuid>) -> HttpResponse {
    let state = fake.state.lock().unwrap();
    let Some(inv) = state.inventory.get(&path) else {
        return problem(404, "not-found", json!({}));
    };
    let (id, n, seat_ids, _) = available(inv);
    HttpResponse::Ok().json(json!({"event_id": *path, "available": n, "sections": [{"id": id, "available": n, "seat_ids": seat_ids}]}))
}

async fn layout(fake: web::Data<Fake>, path: web::Path<Uuid>) -> HttpResponse {
    let state = fake.state.lock().unwrap();
    let inv = &state.inventory[&path];
    let (id, n, _, capacity) = available(inv);
    let (kind, seats) = match inv.section.as_ref().unwrap() {
        Section::Reserved { seats, .. } => (
            "reserved",
            seats
                .iter()
                .map(|s| json!({"id": s, "row": "A", "number": 1, "x": 0, "y": 0, "status": inv.seats.get(s).copied().unwrap_or("available")}))
                .collect::<Vec<_>>(),
        ),
        Section::General { .. } => ("general", vec![]),
    };
    HttpResponse::Ok().json(json!({"event_id": *path, "sections": [{"id": id, "name": "s", "kind": kind, "price": 4900, "capacity": capacity, "available": n, "seats": seats}]}))
}

async fn hold(fake: web::Data<Fake>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let who = user(&req);
    let event: Uuid = body["event_id"].as_str().unwrap().parse().unwrap();
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_string();
    let mut state = fake.state.lock().unwrap();
    if let Some(answer) = state.answered.get(&key) {
        return HttpResponse::Created().json(answer.clone());
    }
    state.hold_count += 1;
    let poll = state.hold_count.is_multiple_of(5);
    let lose = fake.faults.lose_hold_answers && state.hold_count.is_multiple_of(7);
    let inv = state.inventory.get_mut(&event).unwrap();
    let (section, _, _, _) = available(inv);
    let (seats, quantity) = if let Some(ids) = body["seat_ids"].as_array() {
        let seats: Vec<String> = ids
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        let taken: Vec<&String> = seats
            .iter()
            .filter(|s| {
                inv.seats.contains_key(*s) && !(fake.faults.double_sell_first_seat && *s == "A-1")
            })
            .collect();
        if !taken.is_empty() {
            return problem(
                409,
                "seats-unavailable",
                json!({"unavailable_seats": taken}),
            );
        }
        for s in &seats {
            inv.seats.insert(s.clone(), "held");
        }
        let n = seats.len() as u64;
        (seats, n)
    } else {
        let q = body["quantity"].as_u64().unwrap();
        let (_, left, _, _) = available(inv);
        if left < q && !fake.faults.ga_never_runs_out {
            return problem(409, "sold-out", json!({}));
        }
        if !fake.faults.ga_never_runs_out {
            inv.ga_taken += q;
        }
        (vec![], q)
    };
    let id = Uuid::new_v4();
    state
        .holds
        .insert(id, (who, event, seats.clone(), quantity));
    let body = json!({"hold_id": id, "event_id": event, "seats": seats, "quantity": quantity, "total_price": 4900, "currency": "EUR", "expires_at": "2030-01-01T00:00:00Z"});
    state.answered.insert(key, body.clone());
    if lose {
        return problem(503, "unavailable", json!({}));
    }
    if poll {
        let request = Uuid::new_v4();
        state.requests.insert(request, (0, body));
        return HttpResponse::Accepted().json(json!({"request_id": request, "status_url": format!("/api/v1/bookings/requests/{request}")}));
    }
    let _ = section;
    HttpResponse::Created().json(body)
}

async fn request_status(fake: web::Data<Fake>, path: web::Path<Uuid>) -> HttpResponse {
    let mut state = fake.state.lock().unwrap();
    let Some((polls, body)) = state.requests.get_mut(&path) else {
        return problem(404, "not-found", json!({}));
    };
    *polls += 1;
    if *polls == 1 {
        return HttpResponse::Ok().json(json!({"status": "pending"}));
    }
    HttpResponse::Ok().json(json!({"status": "completed", "result": body.clone()}))
}

async fn confirm(fake: web::Data<Fake>, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let who = user(&req);
    let hold: Uuid = body["hold_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["payment"]["card_number"], "4242424242424242");
    let mut state = fake.state.lock().unwrap();
    let Some((owner, event, seats, quantity)) = state.holds.remove(&hold) else {
        return problem(410, "hold-expired", json!({}));
    };
    assert_eq!(owner, who);
    let inv = state.inventory.get_mut(&event).unwrap();
    for s in &seats {
        inv.seats.insert(s.clone(), "booked");
    }
    let booking = json!({"id": Uuid::new_v4(), "reference": "EVT-7K2M9Q", "event_id": event, "seats": seats, "quantity": quantity, "total_price": 4900, "currency": "EUR", "status": "confirmed"});
    state.bookings.push((who, booking.clone()));
    HttpResponse::Created().json(booking)
}

#[derive(serde::Deserialize)]
struct PageQ {
    page: usize,
    per_page: usize,
}

async fn my_bookings(
    fake: web::Data<Fake>,
    req: HttpRequest,
    q: web::Query<PageQ>,
) -> HttpResponse {
    let who = user(&req);
    let state = fake.state.lock().unwrap();
    let mine: Vec<&Value> = state
        .bookings
        .iter()
        .filter(|(u, _)| *u == who)
        .map(|(_, b)| b)
        .collect();
    let items: Vec<&Value> = mine
        .iter()
        .skip((q.page - 1) * q.per_page)
        .take(q.per_page)
        .copied()
        .collect();
    HttpResponse::Ok()
        .json(json!({"items": items, "page": q.page, "per_page": q.per_page, "total": mine.len()}))
}

/// Start the fake on a free port; returns its base URL.
pub async fn start(faults: Faults) -> String {
    let data = web::Data::new(Fake {
        state: Mutex::new(State::default()),
        faults,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/health", web::get().to(health))
            .service(
                web::scope("/api/v1")
                    .route("/auth/register", web::post().to(register))
                    .route("/auth/login", web::post().to(login))
                    .route("/venues", web::post().to(venue))
                    .route("/events", web::post().to(event))
                    .route("/events/{id}/publish", web::post().to(publish))
                    .route(
                        "/events/{id}/seats/available",
                        web::get().to(seats_available),
                    )
                    .route("/events/{id}/venue-layout", web::get().to(layout))
                    .route("/seats/hold", web::post().to(hold))
                    .route("/bookings/confirm", web::post().to(confirm))
                    .route("/bookings/me", web::get().to(my_bookings))
                    .route("/bookings/requests/{id}", web::get().to(request_status)),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}
