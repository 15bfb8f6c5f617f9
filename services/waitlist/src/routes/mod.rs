//! HTTP routes of the waitlist service: join, status, leave. Every route
//! acts for the authenticated caller only.

use crate::availability::Availability;
use crate::domain::{Join, JoinBody, Status};
use crate::error::{Error, Result};
use crate::store::{self, EntryRow};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use common_types::messages::booking::BookingCommand;
use common_types::messages::waitlist::WaitlistEvent;
use common_types::{topics, EventId, RequestId, UserId, WaitlistEntryId};
use database::ResultExt;
use serde::Serialize;
use service_http::AuthUser;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// Limits the join handler needs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_quantity: u32,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/waitlist/join", web::post().to(join))
        .route("/api/v1/waitlist/status/{event_id}", web::get().to(status))
        .route("/api/v1/waitlist/{event_id}", web::delete().to(leave));
}

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub id: Uuid,
    pub event_id: Uuid,
    /// Place among entries still waiting (only while waiting).
    pub position: Option<i64>,
    pub status: String,
    pub quantity: i32,
    pub preferences: PreferencesView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferView>,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct PreferencesView {
    pub section_id: Option<Uuid>,
    pub max_price: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct OfferView {
    pub hold_id: Uuid,
    pub seats: serde_json::Value,
    pub section_id: Option<Uuid>,
    pub quantity: Option<i32>,
    pub total_price: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn view(entry: &EntryRow, position: Option<i64>) -> EntryView {
    let offer = entry.hold_id.map(|hold_id| OfferView {
        hold_id,
        seats: entry
            .offer_seats
            .clone()
            .unwrap_or_else(|| serde_json::json!([])),
        section_id: entry.offer_section_id,
        quantity: entry.offer_quantity,
        total_price: entry.offer_total,
        currency: entry.offer_currency.clone(),
        expires_at: entry.offer_expires_at,
    });
    EntryView {
        id: entry.id,
        event_id: entry.event_id,
        position,
        status: entry.status.clone(),
        quantity: entry.quantity,
        preferences: PreferencesView {
            section_id: entry.section_id,
            max_price: entry.max_price,
        },
        // Only a live offer is shown as one; an accepted offer is a booking now.
        offer: if entry.status == "offered" {
            offer
        } else {
            None
        },
        joined_at: entry.created_at,
    }
}

/// `POST /api/v1/waitlist/join`
#[tracing::instrument(skip(user, body, pool, availability, relay, limits), fields(user_id = %user.id))]
pub async fn join(
    user: AuthUser,
    body: web::Json<JoinBody>,
    pool: web::Data<PgPool>,
    availability: web::Data<Availability>,
    relay: web::Data<Arc<Notify>>,
    limits: web::Data<Limits>,
) -> Result<HttpResponse> {
    let join = Join::parse(body.into_inner(), limits.max_quantity).map_err(Error::Invalid)?;
    availability
        .ensure_sold_out(join.event_id, join.preferences.section_id)
        .await?;

    let id = WaitlistEntryId::new();
    let mut tx = pool.begin().await?;
    store::lock_event(&mut tx, join.event_id).await?;
    store::insert_entry(&mut tx, id, user.id, &join)
        .await
        .on_constraint("entries_one_live_per_user", |_| Error::AlreadyWaiting)?;
    let entry = store::entry(&mut tx, id.as_uuid())
        .await?
        .ok_or_else(|| anyhow::anyhow!("entry vanished inside its own transaction"))?;
    let position = store::position(&mut tx, &entry).await?;
    store::enqueue(
        &mut tx,
        topics::WAITLIST_EVENTS,
        &join.event_id.to_string(),
        WaitlistEvent::Joined {
            entry_id: id,
            event_id: join.event_id,
            user_id: user.id,
            quantity: join.quantity,
            section_id: join.preferences.section_id,
            max_price: join.preferences.max_price,
            position: u32::try_from(position).unwrap_or(u32::MAX),
        },
    )
    .await?;
    store::sync_activation(&mut tx, join.event_id).await?;
    tx.commit().await?;
    relay.notify_one();
    tracing::info!(entry_id = %id, position, "joined the waitlist");
    Ok(HttpResponse::Created().json(view(&entry, Some(position))))
}

/// `GET /api/v1/waitlist/status/{event_id}`: the caller's live entry, else
/// their latest one.
#[tracing::instrument(skip(user, pool), fields(user_id = %user.id))]
pub async fn status(
    user: AuthUser,
    path: web::Path<EventId>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse> {
    let event_id = path.into_inner();
    let entry = store::current_entry(&pool, event_id, user.id)
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!("you are not on the waitlist of event {event_id}"))
        })?;
    let position = if entry.status == Status::Waiting.as_str() {
        let mut conn = pool.acquire().await?;
        Some(store::position(&mut conn, &entry).await?)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(view(&entry, position)))
}

/// `DELETE /api/v1/waitlist/{event_id}`: leave; a live offer's hold is released
/// so its seats move on to the next entry.
#[tracing::instrument(skip(user, pool, relay), fields(user_id = %user.id))]
pub async fn leave(
    user: AuthUser,
    path: web::Path<EventId>,
    pool: web::Data<PgPool>,
    relay: web::Data<Arc<Notify>>,
) -> Result<HttpResponse> {
    let event_id = path.into_inner();
    let mut tx = pool.begin().await?;
    store::lock_event(&mut tx, event_id).await?;
    let entry = store::live_entry(&mut tx, event_id, user.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("you are not waiting for event {event_id}")))?;
    if let (true, Some(hold_id)) = (entry.status == Status::Offered.as_str(), entry.hold_id) {
        store::enqueue(
            &mut tx,
            topics::BOOKING_CREATE,
            &event_id.to_string(),
            BookingCommand::ReleaseHold {
                request_id: RequestId::new(),
                event_id,
                hold_id: hold_id.into(),
                user_id: user.id,
            },
        )
        .await?;
    }
    store::set_status(&mut tx, entry.id, Status::Left.as_str(), None).await?;
    store::enqueue(
        &mut tx,
        topics::WAITLIST_EVENTS,
        &event_id.to_string(),
        WaitlistEvent::Left {
            entry_id: WaitlistEntryId(entry.id),
            event_id,
            user_id: UserId(entry.user_id),
        },
    )
    .await?;
    store::sync_activation(&mut tx, event_id).await?;
    let left = store::entry(&mut tx, entry.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("entry vanished inside its own transaction"))?;
    tx.commit().await?;
    relay.notify_one();
    Ok(HttpResponse::Ok().json(view(&left, None)))
}
