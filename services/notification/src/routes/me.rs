//! The caller's in-app notifications.

use crate::error::{Error, Result};
use crate::store;
use actix_web::{web, HttpResponse};
use common_types::{NotificationId, Page, PageQuery};
use serde::Deserialize;
use service_http::AuthUser;
use sqlx::PgPool;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    /// Only unread notifications.
    #[serde(default)]
    unread: bool,
}

/// `GET /api/v1/notifications/me`: newest first.
#[tracing::instrument(skip(pool, user), fields(user_id = %user.id))]
pub async fn list(
    user: AuthUser,
    query: web::Query<ListQuery>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse> {
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    }
    .resolve()?;
    let (items, total) = store::list_for_user(&pool, user.id, page, query.unread).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, page, total)))
}

/// `POST /api/v1/notifications/{id}/read`: only the recipient may.
#[tracing::instrument(skip(pool, user), fields(user_id = %user.id))]
pub async fn mark_read(
    user: AuthUser,
    path: web::Path<NotificationId>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse> {
    let id = path.into_inner();
    // Someone else's notification is "not found", not "forbidden": its id tells nothing.
    let item = store::mark_read(&pool, id, user.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no notification {id} for you")))?;
    Ok(HttpResponse::Ok().json(item))
}
