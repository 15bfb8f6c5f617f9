//! Register, login, refresh, logout, me.

use super::{client_address, AuthState};
use crate::domain::{Credentials, LoginBody, LogoutBody, NewUser, RefreshBody, RegisterBody};
use crate::error::{Error, Result};
use crate::store;
use crate::tokens::{hash_refresh_token, new_refresh_token};
use actix_web::{web, HttpRequest, HttpResponse};
use common_types::messages::user::UserEvent;
use common_types::{topics, Envelope, MessageType, UserId};
use secrecy::SecretString;
use service_http::auth::bearer_token;
use service_http::{AuthUser, JwtVerifier};

#[tracing::instrument(skip(state, body), fields(user_id = tracing::field::Empty))]
pub async fn register(
    state: web::Data<AuthState>,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse> {
    let new_user = NewUser::try_from(body.into_inner()).map_err(Error::Invalid)?;
    let hash = state
        .hasher
        .hash(SecretString::from(new_user.password.expose().to_string()))
        .await?;
    let id = UserId::new();
    tracing::Span::current().record("user_id", tracing::field::display(id));

    let mut tx = state.pool.begin().await?;
    let user = store::insert_user(
        &mut tx,
        id,
        new_user.email.as_str(),
        new_user.name.as_str(),
        new_user.role,
        &hash,
    )
    .await?;
    announce_registration(&mut tx, &user).await?;
    tx.commit().await?;
    state.outbox.notify();

    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
    })))
}

/// `UserRegistered` into the outbox, in the transaction that creates the user.
pub(crate) async fn announce_registration(
    conn: &mut sqlx::PgConnection,
    user: &store::User,
) -> Result<()> {
    let event = UserEvent::UserRegistered {
        user_id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role,
    };
    let envelope = Envelope::new(event);
    let payload = serde_json::to_value(&envelope).map_err(anyhow::Error::from)?;
    store::enqueue(
        conn,
        envelope.id,
        topics::USER_EVENTS,
        &user.id.to_string(),
        envelope.payload.message_type(),
        &payload,
        service_http::current_request_id().as_deref(),
    )
    .await
}

#[tracing::instrument(skip(state, req, body))]
pub async fn login(
    state: web::Data<AuthState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse> {
    let credentials = Credentials::from(body.into_inner());
    let account_key = format!("account:{}", credentials.email);
    let address_key = format!(
        "address:{}",
        client_address(&req, state.trust_forwarded_for)
    );
    // Checked before the password, and the same for unknown accounts, so a
    // 429 says nothing about whether the account exists.
    if let Some(seconds) =
        store::locked_for(&state.pool, &[account_key.clone(), address_key.clone()]).await?
    {
        state.metrics.login("throttled");
        return Err(Error::Throttled(seconds.ceil().max(1.0) as u64));
    }

    let found = store::user_by_email(&state.pool, &credentials.email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = state.hasher.verify(hash, credentials.password).await?;
    let Some(user) = user.filter(|_| matches) else {
        let throttle = &state.throttle;
        let window = throttle.window_secs as f64;
        let lockout = throttle.lockout_secs as f64;
        store::record_failure(
            &state.pool,
            &account_key,
            throttle.account_max_failures,
            window,
            lockout,
        )
        .await?;
        store::record_failure(
            &state.pool,
            &address_key,
            throttle.address_max_failures,
            window,
            lockout,
        )
        .await?;
        state.metrics.login("invalid_credentials");
        tracing::info!("login failed");
        return Err(Error::InvalidCredentials);
    };
    store::clear_failures(&state.pool, &account_key).await?;

    let refresh = new_refresh_token();
    let mut conn = state.pool.acquire().await?;
    store::insert_refresh_token(
        &mut conn,
        user.id,
        uuid::Uuid::now_v7(),
        &refresh.hash,
        state.tokens.refresh_ttl_secs,
    )
    .await?;
    state.metrics.login("success");
    tracing::info!(user_id = %user.id, "login succeeded");
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(state.tokens.pair(user.id, user.role, refresh)?))
}

#[tracing::instrument(skip(state, body))]
pub async fn refresh(
    state: web::Data<AuthState>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse> {
    let presented = hash_refresh_token(body.refresh_token.trim());
    let mut tx = state.pool.begin().await?;
    let Some(stored) = store::lock_refresh_token(&mut tx, &presented).await? else {
        return Err(Error::InvalidRefreshToken);
    };
    if stored.used || stored.revoked {
        // A used token presented again means two parties hold the family
        // (theft or a replay): end every session in it.
        let revoked = store::revoke_family(&mut tx, stored.family).await?;
        tx.commit().await?;
        if stored.used {
            state.metrics.refresh_reuse();
            tracing::warn!(user_id = %stored.user, family = %stored.family, revoked, "refresh token reuse detected; family revoked");
        }
        return Err(Error::InvalidRefreshToken);
    }
    if stored.expired {
        return Err(Error::InvalidRefreshToken);
    }
    let user = store::user_by_id(&state.pool, stored.user)
        .await?
        .ok_or(Error::InvalidRefreshToken)?;
    store::mark_refresh_token_used(&mut tx, stored.id).await?;
    let next = new_refresh_token();
    store::insert_refresh_token(
        &mut tx,
        user.id,
        stored.family,
        &next.hash,
        state.tokens.refresh_ttl_secs,
    )
    .await?;
    tx.commit().await?;
    // The current role, so a role granted since login shows up here.
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(state.tokens.pair(user.id, user.role, next)?))
}

/// With `{refresh_token}`: ends that session (its token family). Without a
/// body but with a valid access token: ends every session of the caller.
/// Access tokens already issued stay valid until they expire (15 minutes).
#[tracing::instrument(skip(state, req, verifier, body))]
pub async fn logout(
    state: web::Data<AuthState>,
    verifier: web::Data<JwtVerifier>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let parsed: LogoutBody = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Error::Invalid(vec![common_types::FieldError::new(
                "refresh_token",
                format!("body must be {{\"refresh_token\": \"...\"}}: {e}"),
            )])
        })?
    };
    if let Some(token) = parsed.refresh_token {
        let mut tx = state.pool.begin().await?;
        if let Some(stored) =
            store::lock_refresh_token(&mut tx, &hash_refresh_token(token.trim())).await?
        {
            store::revoke_family(&mut tx, stored.family).await?;
        }
        tx.commit().await?;
        return Ok(HttpResponse::NoContent().finish());
    }
    let token = bearer_token(&req).ok_or(service_http::auth::AuthError::Missing)?;
    let claims = verifier.verify(token).await?;
    store::revoke_all_for_user(&state.pool, claims.sub).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn me(state: web::Data<AuthState>, user: AuthUser) -> Result<HttpResponse> {
    let found = store::user_by_id(&state.pool, user.id)
        .await?
        .ok_or_else(|| Error::NotFound("this account no longer exists".into()))?;
    Ok(HttpResponse::Ok().json(found))
}
