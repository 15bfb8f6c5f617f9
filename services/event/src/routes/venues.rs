use super::AppState;
use crate::domain::venue::{Venue, VenueContent, VenueRequest, VenueSummary, VenueView};
use crate::error::{Error, Result};
use crate::store::CatalogStore;
use actix_web::{http::header, web, HttpResponse};
use common_types::{Page, PageQuery, VenueId};
use service_http::AuthUser;

/// The venue, if `user` may see and change it (its organizer, or an admin).
async fn owned_venue(state: &AppState, id: VenueId, user: &AuthUser) -> Result<Venue> {
    user.require_organizer()?;
    let venue = state
        .store
        .venue(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no venue {id}")))?;
    if user.is_admin() || venue.organizer_id == user.id {
        Ok(venue)
    } else {
        Err(Error::Forbidden(format!(
            "venue {id} belongs to another organizer"
        )))
    }
}

#[tracing::instrument(name = "venues.create", skip_all, fields(user_id = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<VenueRequest>,
) -> Result<HttpResponse> {
    user.require_organizer()?;
    let content = VenueContent::try_from(body.into_inner())?;
    let venue = Venue::create(user.id, content, chrono::Utc::now());
    state.store.insert_venue(&venue).await?;
    tracing::info!(venue_id = %venue.id, capacity = venue.capacity(), "venue created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/venues/{}", venue.id)))
        .json(VenueView::of(&venue)?))
}

#[tracing::instrument(name = "venues.get", skip(state, user), fields(user_id = %user.id))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<VenueId>,
) -> Result<HttpResponse> {
    let venue = owned_venue(&state, id.into_inner(), &user).await?;
    Ok(HttpResponse::Ok().json(VenueView::of(&venue)?))
}

/// Replace a venue's layout. Events already published keep the seats they
/// fixed at publishing; drafts see the new layout.
#[tracing::instrument(name = "venues.replace", skip(state, user, body), fields(user_id = %user.id))]
pub async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<VenueId>,
    body: web::Json<VenueRequest>,
) -> Result<HttpResponse> {
    let venue = owned_venue(&state, id.into_inner(), &user).await?;
    let content = VenueContent::try_from(body.into_inner())?;
    let edited = venue.edited(content, chrono::Utc::now());
    state.store.update_venue(&edited).await?;
    Ok(HttpResponse::Ok().json(VenueView::of(&edited)?))
}

/// The caller's venues (an admin sees everyone's), newest first.
#[tracing::instrument(name = "venues.list", skip(state, user), fields(user_id = %user.id))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse> {
    user.require_organizer()?;
    let page = query.into_inner().resolve().map_err(|e| {
        let field = match e {
            common_types::page::PageError::Page => "page",
            common_types::page::PageError::PerPage { .. } => "per_page",
        };
        Error::field(field, e.to_string())
    })?;
    let owner = (!user.is_admin()).then_some(user.id);
    let (venues, total) = state.store.venues(owner, page).await?;
    let items = venues.iter().map(VenueSummary::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, page, total)))
}
