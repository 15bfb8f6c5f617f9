//! Operators: dead notifications and their replay. Admins only.

use crate::error::{Error, Result};
use crate::store::{self, Replay};
use actix_web::{web, HttpResponse};
use common_types::{NotificationId, Page, PageQuery};
use service_http::AuthUser;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;

/// `GET /api/v1/admin/notifications/dead`: newest dead first.
#[tracing::instrument(skip(pool, user), fields(user_id = %user.id))]
pub async fn list_dead(
    user: AuthUser,
    query: web::Query<PageQuery>,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse> {
    user.require_admin()?;
    let page = query.into_inner().resolve()?;
    let (items, total) = store::list_dead(&pool, page).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, page, total)))
}

/// `POST /api/v1/admin/notifications/{id}/replay`: back to `pending` with a
/// fresh set of attempts; 202 because the send happens in the background.
#[tracing::instrument(skip(pool, user, new_work), fields(user_id = %user.id))]
pub async fn replay(
    user: AuthUser,
    path: web::Path<NotificationId>,
    pool: web::Data<PgPool>,
    new_work: web::Data<Arc<Notify>>,
) -> Result<HttpResponse> {
    user.require_admin()?;
    let id = path.into_inner();
    match store::replay(&pool, id).await? {
        Replay::Replayed(record) => {
            tracing::info!(notification_id = %id, "replaying a dead notification");
            new_work.notify_one();
            Ok(HttpResponse::Accepted().json(record))
        }
        Replay::NotDead(status) => Err(Error::NotDead(format!(
            "notification {id} is {}, not dead",
            serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ))),
        Replay::NotFound => Err(Error::NotFound(format!("no notification {id}"))),
    }
}
