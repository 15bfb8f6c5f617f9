use super::AppState;
use crate::cache::{event_key, LIST_PREFIX};
use crate::domain::event::{
    CancelRequest, CreateEventRequest, Event, EventStatus, EventView, PatchEventRequest,
};
use crate::domain::search::{EventSearch, SearchParams};
use crate::error::{Error, Result};
use crate::store::{CatalogStore, OutboxMessage, StoreError};
use actix_web::web::Bytes;
use actix_web::{http::header, web, HttpResponse};
use common_types::messages::lifecycle::LifecycleEvent;
use common_types::{EventId, Page, VenueId};
use service_http::AuthUser;

/// How often a write that lost an optimistic-concurrency race is retried.
const ATTEMPTS: usize = 3;

fn json_response(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(body)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Unexpected(e.into()))
}

/// A venue the caller may build an event on: their own (any, for an admin).
async fn usable_venue(
    state: &AppState,
    id: VenueId,
    user: &AuthUser,
) -> Result<crate::domain::venue::Venue> {
    let venue = state
        .store
        .venue(id)
        .await?
        .ok_or_else(|| Error::field("venue_id", format!("no venue {id}")))?;
    if user.is_admin() || venue.organizer_id == user.id {
        Ok(venue)
    } else {
        Err(Error::Forbidden(format!(
            "venue {id} belongs to another organizer"
        )))
    }
}

/// Load, authorize, change and store an event, with its lifecycle messages in
/// the same atomic write; retried when another writer got in between.
/// `change` returns `None` when nothing changes (no write, no message).
async fn mutate<F>(state: &AppState, id: EventId, user: &AuthUser, mut change: F) -> Result<Event>
where
    F: FnMut(&Event) -> Result<Option<(Event, Vec<LifecycleEvent>)>>,
{
    user.require_organizer()?;
    let request_id = service_http::current_request_id();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = state
            .store
            .event(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no event {id}")))?;
        current.authorize_change(user)?;
        let Some((next, messages)) = change(&current)? else {
            return Ok(current);
        };
        let outbox = messages
            .into_iter()
            .map(|m| OutboxMessage::lifecycle(m, request_id.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        match state.store.update_event(&next, &outbox).await {
            Ok(()) => {
                state.cache.invalidate_event(&event_key(id));
                if !outbox.is_empty() {
                    state.wake.notify_one();
                }
                return Ok(next);
            }
            Err(StoreError::Conflict) if attempt < ATTEMPTS => {
                tracing::info!(event_id = %id, attempt, "concurrent write; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[tracing::instrument(name = "events.create", skip_all, fields(user_id = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateEventRequest>,
) -> Result<HttpResponse> {
    user.require_organizer()?;
    let request = body.into_inner();
    let venue = usable_venue(&state, request.venue_id, &user).await?;
    let event = Event::create(request, &venue, user.id, chrono::Utc::now())?;
    state.store.insert_event(&event).await?;
    tracing::info!(event_id = %event.id, "event created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/events/{}", event.id)))
        .json(EventView::from(event)))
}

#[tracing::instrument(name = "events.search", skip(state, user))]
pub async fn search(
    state: web::Data<AppState>,
    user: Option<AuthUser>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse> {
    let search = EventSearch::parse(params.into_inner(), user.as_ref().map(|u| u.id))?;
    let cache_key = search.cache_key().map(|k| format!("{LIST_PREFIX}{k}"));
    if let Some(body) = cache_key.as_deref().and_then(|k| state.cache.get(k)) {
        return Ok(json_response(body));
    }
    let (events, total) = state.store.search_events(&search).await?;
    let items: Vec<EventView> = events.into_iter().map(EventView::from).collect();
    let body = encode(&Page::new(items, search.page, total))?;
    if let Some(key) = cache_key {
        state.cache.put(key, body.clone());
    }
    Ok(json_response(body))
}

#[tracing::instrument(name = "events.get", skip(state, user))]
pub async fn get(
    state: web::Data<AppState>,
    user: Option<AuthUser>,
    id: web::Path<EventId>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let key = event_key(id);
    // Only published events are cached, and those everyone may see.
    if let Some(body) = state.cache.get(&key) {
        return Ok(json_response(body));
    }
    let event = state
        .store
        .event(id)
        .await?
        .filter(|e| e.visible_to(user.as_ref()))
        .ok_or_else(|| Error::NotFound(format!("no event {id}")))?;
    let published = event.status == EventStatus::Published;
    let body = encode(&EventView::from(event))?;
    if published {
        state.cache.put(key, body.clone());
    }
    Ok(json_response(body))
}

#[tracing::instrument(name = "events.patch", skip(state, user, body), fields(user_id = %user.id))]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<EventId>,
    body: web::Json<PatchEventRequest>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let patch = body.into_inner();
    // A new venue, or new prices, are checked against the venue they will be at.
    let venue = match patch.venue_id {
        Some(venue_id) => Some(usable_venue(&state, venue_id, &user).await?),
        None if patch.prices.is_some() => {
            user.require_organizer()?;
            match state.store.event(id).await? {
                Some(e) => state.store.venue(e.venue_id).await?,
                None => None,
            }
        }
        None => None,
    };
    let now = chrono::Utc::now();
    let event = mutate(&state, id, &user, |current| {
        // Applied afresh to the state read on each attempt.
        let request = patch.clone();
        let venue = venue
            .as_ref()
            .filter(|v| request.venue_id.is_some() || v.id == current.venue_id);
        let (next, changed) = current.edited(request, venue, now)?;
        if changed.is_empty() {
            return Ok(None);
        }
        let messages = if next.status == EventStatus::Published {
            vec![next.updated_message(changed)]
        } else {
            Vec::new()
        };
        Ok(Some((next, messages)))
    })
    .await?;
    Ok(HttpResponse::Ok().json(EventView::from(event)))
}

#[tracing::instrument(name = "events.publish", skip(state, user), fields(user_id = %user.id))]
pub async fn publish(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<EventId>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    user.require_organizer()?;
    let current = state
        .store
        .event(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no event {id}")))?;
    current.authorize_change(&user)?;
    let venue = state.store.venue(current.venue_id).await?.ok_or_else(|| {
        Error::field(
            "venue_id",
            format!("venue {} no longer exists", current.venue_id),
        )
    })?;
    let now = chrono::Utc::now();
    let event = mutate(&state, id, &user, |current| {
        if current.venue_id != venue.id {
            return Err(Error::Conflict(
                "the event's venue changed meanwhile; retry".into(),
            ));
        }
        let (next, snapshot) = current.published(&venue, now)?;
        Ok(Some((next, vec![LifecycleEvent::EventPublished(snapshot)])))
    })
    .await?;
    tracing::info!(event_id = %id, "event published");
    Ok(HttpResponse::Ok().json(EventView::from(event)))
}

#[tracing::instrument(name = "events.cancel", skip(state, user, body), fields(user_id = %user.id))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<EventId>,
    body: Option<web::Json<CancelRequest>>,
) -> Result<HttpResponse> {
    let reason = body.and_then(|b| b.into_inner().reason);
    let now = chrono::Utc::now();
    let event = mutate(&state, id.into_inner(), &user, |current| {
        let (next, was_on_sale) = current.cancelled(reason.clone(), now)?;
        // A draft was never announced, so there is nobody to tell.
        let messages = if was_on_sale {
            vec![next.cancelled_message()]
        } else {
            Vec::new()
        };
        Ok(Some((next, messages)))
    })
    .await?;
    Ok(HttpResponse::Ok().json(EventView::from(event)))
}

#[tracing::instrument(name = "events.complete", skip(state, user), fields(user_id = %user.id))]
pub async fn complete(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<EventId>,
) -> Result<HttpResponse> {
    let now = chrono::Utc::now();
    let event = mutate(&state, id.into_inner(), &user, |current| {
        Ok(Some((current.completed(now)?, Vec::new())))
    })
    .await?;
    Ok(HttpResponse::Ok().json(EventView::from(event)))
}
