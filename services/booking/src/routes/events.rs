//! Live inventory reads under `/api/v1/events/{id}/...` (booking owns
//! inventory, so the gateway routes these here).

use crate::api::AppState;
use crate::error::{Error, Result};
use crate::store::queries;
use actix_web::{web, HttpResponse};
use common_types::EventId;
use serde_json::json;
use service_http::AuthUser;

async fn known(state: &AppState, id: EventId) -> Result<queries::EventInfo> {
    queries::event(&state.pool, id)
        .await?
        .ok_or_else(|| Error::NotFound("unknown-event", format!("no event {id} is on sale here")))
}

/// Public: sections and seats with live statuses.
#[tracing::instrument(skip(state))]
pub async fn venue_layout(
    state: web::Data<AppState>,
    path: web::Path<EventId>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    let info = known(&state, id).await?;
    let sections = queries::layout(&state.pool, id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "event_id": id,
        "status": info.status,
        "currency": info.currency,
        "sections": sections,
    })))
}

/// Public: what can be bought right now.
#[tracing::instrument(skip(state))]
pub async fn available(
    state: web::Data<AppState>,
    path: web::Path<EventId>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    known(&state, id).await?;
    let sections = queries::layout(&state.pool, id).await?;
    let total: i64 = sections.iter().map(|s| s.available).sum();
    let sections: Vec<_> = sections
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "price": s.price,
                "available": s.available,
                "seat_ids": s.seats.iter().filter(|x| x.status == queries::PublicSeat::Available).map(|x| x.id.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "event_id": id,
        "available": total,
        "sections": sections,
    })))
}

/// The event's organizer or an admin: sold, held, available, revenue.
#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn sales(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<EventId>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    let info = known(&state, id).await?;
    if info.organizer_id != user.id && !user.is_admin() {
        return Err(Error::Forbidden(
            "only the event's organizer or an admin sees its sales".into(),
        ));
    }
    let sections = queries::sales(&state.pool, id).await?;
    let totals = queries::booking_totals(&state.pool, id).await?;
    let sum = |f: fn(&queries::SectionSales) -> i64| sections.iter().map(f).sum::<i64>();
    Ok(HttpResponse::Ok().json(json!({
        "event_id": id,
        "status": info.status,
        "currency": info.currency,
        "capacity": sum(|s| s.capacity),
        "sold": sum(|s| s.sold),
        "held": sum(|s| s.held),
        "available": sum(|s| s.available),
        "released_to_waitlist": sum(|s| s.released_to_waitlist),
        "revenue": totals.revenue,
        "refunded": totals.refunded,
        "bookings": totals.confirmed,
        "waitlist_active": info.waitlist_active,
        "sections": sections,
    })))
}
