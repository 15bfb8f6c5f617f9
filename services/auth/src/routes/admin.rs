//! Admin-only user management.

use super::AuthState;
use crate::domain::RoleBody;
use crate::error::{Error, Result};
use crate::store;
use actix_web::{web, HttpResponse};
use common_types::{Role, UserId};
use service_http::AuthUser;

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
