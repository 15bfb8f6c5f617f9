//! Admin-only user management.

use super::AuthState;
use crate::domain::RoleBody;
use crate::error::{Error, Result};
use crate::store;
use actix_web::{web, HttpResponse};
use common_types::{FieldError, Page, PageQuery, Role, UserId};
use serde::Deserialize;
use service_http::AuthUser;

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    /// Part of an email, matched case-insensitively.
    pub email: Option<String>,
    pub role: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Find users, e.g. the id of an account to grant a role to.
#[tracing::instrument(skip(state, caller), fields(caller = %caller.id))]
pub async fn list_users(
    state: web::Data<AuthState>,
    caller: AuthUser,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse> {
    caller.require_admin()?;
    let query = query.into_inner();
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    }
    .resolve()
    .map_err(|e| FieldError::new("per_page", e.to_string()))?;
    let role = query
        .role
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| FieldError::new("role", e.to_string()))
        })
        .transpose()?;
    let email = query
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let (items, total) =
        store::list_users(&state.pool, email, role, page.offset(), page.limit()).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        page: page.page,
        per_page: page.per_page,
        total: total.max(0) as u64,
    }))
}

#[tracing::instrument(skip(state, caller), fields(caller = %caller.id))]
pub async fn get_user(
    state: web::Data<AuthState>,
    caller: AuthUser,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse> {
    caller.require_admin()?;
    let user = store::user_by_id(&state.pool, UserId(path.into_inner()))
        .await?
        .ok_or_else(|| Error::NotFound("no such user".into()))?;
    Ok(HttpResponse::Ok().json(user))
}

/// Grant or take away a role. Takes effect on the user's next login or
/// refresh (at most one access-token lifetime later).
#[tracing::instrument(skip(state, caller, body), fields(caller = %caller.id))]
pub async fn set_role(
    state: web::Data<AuthState>,
    caller: AuthUser,
    path: web::Path<uuid::Uuid>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse> {
    caller.require_admin()?;
    let role = Role::try_from(body.into_inner())?;
    let target = UserId(path.into_inner());
    if target == caller.id && role != Role::Admin {
        // The last admin demoting themselves would lock everyone out of this endpoint.
        return Err(Error::Conflict(
            "admins cannot take away their own admin role".into(),
        ));
    }
    let user = store::set_role(&state.pool, target, role)
        .await?
        .ok_or_else(|| Error::NotFound("no such user".into()))?;
    tracing::info!(target = %target, role = %role, "role changed");
    Ok(HttpResponse::Ok().json(user))
}
