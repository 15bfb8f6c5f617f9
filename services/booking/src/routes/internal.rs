//! Service-to-service endpoints under `/internal` (never exposed by the
//! gateway), guarded by the shared `X-Service-Token`.

use crate::api::AppState;
use crate::error::{Error, Result};
use crate::store::queries;
use actix_web::{web, HttpRequest, HttpResponse};
use common_types::{EventId, Page, PageQuery};
use secrecy::ExposeSecret;

pub const SERVICE_TOKEN_HEADER: &str = "X-Service-Token";

fn check_token(state: &AppState, req: &HttpRequest) -> Result<()> {
    let expected = state.internal_token.expose_secret().as_bytes();
    let sent = req
        .headers()
        .get(SERVICE_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Constant-time comparison: the token is a secret.
    let same = !expected.is_empty()
        && sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "internal endpoint: send a valid {SERVICE_TOKEN_HEADER}"
        )))
    }
}

/// Users with a confirmed booking for the event (notification fan-out).
#[tracing::instrument(skip(state, req, query))]
pub async fn attendees(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<EventId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse> {
    check_token(&state, &req)?;
    let id = path.into_inner();
    let page = PageQuery {
        page: query.page,
        per_page: Some(query.per_page.unwrap_or(100).min(1000)),
    };
    // Internal callers page through thousands; allow bigger pages than the public API.
    let page = common_types::page::PageRequest {
        page: page.page.unwrap_or(1).max(1),
        per_page: page.per_page.unwrap_or(100).max(1),
    };
    if queries::event(&state.pool, id).await?.is_none() {
        return Err(Error::NotFound(
            "unknown-event",
            format!("no event {id} here"),
        ));
    }
    let (users, total) = queries::attendees(&state.pool, id, page).await?;
    Ok(HttpResponse::Ok().json(Page::new(users, page, total)))
}
