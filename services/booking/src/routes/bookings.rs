//! Confirm, list, show, cancel bookings; poll a request.

use crate::api::{self, AppState};
use crate::domain::reference;
use crate::domain::{BookingStatus, HoldStatus};
use crate::error::{Error, Result};
use crate::payment::{Authorization, PaymentError};
use crate::store::idempotency::Answer;
use crate::store::queries::{self, BookingView, HoldView, NewPayment};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use common_types::messages::booking::{BookingCommand, BookingOutcome, RejectReason};
use common_types::{BookingId, HoldId, Page, PageQuery, RequestId};
use serde::Deserialize;
use serde_json::Value;
use service_http::AuthUser;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Deserialize)]
struct ConfirmBody {
    hold_id: HoldId,
    payment: PaymentBody,
}

#[derive(Debug, Deserialize)]
struct PaymentBody {
    method: String,
    card_number: String,
}

#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub hold_id: HoldId,
    pub card_number: String,
}

impl TryFrom<Value> for ConfirmRequest {
    type Error = Error;
    fn try_from(value: Value) -> Result<Self> {
        let body: ConfirmBody =
            serde_json::from_value(value).map_err(|e| Error::field("body", e.to_string()))?;
        if body.payment.method != "card" {
            return Err(Error::field("payment.method", "only \"card\" is accepted"));
        }
        let digits: String = body
            .payment
            .card_number
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !crate::payment::luhn_valid(&digits) {
            return Err(Error::field(
                "payment.card_number",
                "not a valid card number (12 to 19 digits with a valid check digit)",
            ));
        }
        Ok(Self {
            hold_id: body.hold_id,
            card_number: digits,
        })
    }
}

/// The body as stored under an Idempotency-Key: never a card number.
fn redacted(mut body: Value) -> Value {
    if let Some(card) = body
        .get_mut("payment")
        .and_then(|p| p.get_mut("card_number"))
    {
        let digest = Sha256::digest(card.as_str().unwrap_or("").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        *card = Value::String(format!("sha256:{hex}"));
    }
    body
}

#[tracing::instrument(skip(state, req, body, user), fields(user_id = %user.id))]
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let key = api::idempotency_key(&req)?;
    let raw = body.into_inner();
    let request = ConfirmRequest::try_from(raw.clone())?;
    let stored = redacted(raw);
    let state = state.get_ref();
    api::idempotent(
        state,
        user.id,
        key.as_deref(),
        "POST /bookings/confirm",
        &stored,
        |idem| async move {
            let hold = payable_hold(state, &user, request.hold_id).await?;
            let request_id = RequestId::new();
            idem.attach(request_id).await?;
            let payment = NewPayment {
                payment_id: format!("pay_{}", request_id.0.simple()),
                request_id,
                hold_id: hold.hold_id,
                user_id: user.id,
                amount: hold.total_price,
                currency: hold.currency,
            };
            authorize(state, &payment, &request.card_number).await?;
            queries::record_authorization(&state.pool, &payment).await?;
            let command = BookingCommand::ConfirmHold {
                request_id,
                event_id: hold.event_id,
                hold_id: hold.hold_id,
                user_id: user.id,
                payment_id: payment.payment_id.clone(),
                amount: payment.amount,
                currency: payment.currency,
            };
            let outcome = state.dispatch(request_id, command).await?;
            answer_confirmation(state, request_id, &payment.payment_id, outcome).await
        },
    )
    .await
}

/// The caller's hold, if it is still there to pay for: refuse before charging anything.
async fn payable_hold(state: &AppState, user: &AuthUser, hold_id: HoldId) -> Result<HoldView> {
    let hold = queries::hold(&state.pool, hold_id)
        .await?
        .ok_or_else(|| Error::NotFound("unknown-hold", "no such hold".into()))?;
    if hold.user_id != user.id {
        return Err(Error::rejected(
            RejectReason::NotHoldOwner,
            "this hold belongs to someone else",
        ));
    }
    let what = match hold.status {
        HoldStatus::Active if hold.expires_at > Utc::now() => return Ok(hold),
        HoldStatus::Active => "expired",
        ended => ended.as_str(),
    };
    Err(Error::rejected(
        RejectReason::HoldExpired,
        format!("the hold is {what}; nothing was charged"),
    ))
}

/// Outside the ordered processor: a slow provider never stalls a partition.
async fn authorize(state: &AppState, payment: &NewPayment, card_number: &str) -> Result<()> {
    let authorization = state.payments.authorize(Authorization {
        payment_id: payment.payment_id.clone(),
        amount: payment.amount,
        currency: payment.currency.to_string(),
        card_number: card_number.to_string(),
    });
    let timeout = Duration::from_millis(state.settings.payment_timeout_ms);
    match tokio::time::timeout(timeout, authorization).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(PaymentError::Declined)) => Err(Error::PaymentDeclined),
        Ok(Err(PaymentError::InvalidCard)) => Err(Error::field(
            "payment.card_number",
            "the provider rejected this card number",
        )),
        Ok(Err(e)) => Err(Error::Unexpected(e.into())),
        Err(_) => {
            // It may have gone through at the provider after all: void it.
            let payments = state.payments.clone();
            let id = payment.payment_id.clone();
            tokio::spawn(async move {
                let _ = payments.void(&id).await;
            });
            Err(Error::PaymentTimeout)
        }
    }
}

async fn answer_confirmation(
    state: &AppState,
    request_id: RequestId,
    payment_id: &str,
    outcome: Option<BookingOutcome>,
) -> Result<Answer> {
    match outcome {
        Some(outcome @ BookingOutcome::BookingConfirmed { .. }) => Ok(api::answer_for(&outcome)),
        Some(BookingOutcome::BookingRejected { reason, detail, .. }) => {
            // Never a charge without seats: give the money back now (the
            // refund sweeper retries if the provider is down).
            match state.payments.void(payment_id).await {
                Ok(()) => queries::settle_refund(&state.pool, payment_id).await?,
                Err(e) => {
                    tracing::warn!(error = %e, %payment_id, "void failed; the sweeper retries")
                }
            }
            Err(Error::rejected(
                reason,
                format!("{detail}; your payment was voided"),
            ))
        }
        Some(other) => Err(api::refusal(&other)
            .unwrap_or_else(|| Error::Unexpected(anyhow::anyhow!("unexpected outcome {other:?}")))),
        None => Ok(api::pending(request_id)),
    }
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse> {
    let page = query
        .into_inner()
        .resolve()
        .map_err(|e| Error::field("per_page", e.to_string()))?;
    let (items, total) = queries::bookings_of(&state.pool, user.id, page).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, page, total)))
}

fn may_see(user: &AuthUser, booking: &BookingView) -> bool {
    user.is_admin() || booking.summary.user_id == user.id || booking.organizer_id == user.id
}

async fn load_visible(state: &AppState, user: &AuthUser, raw: &str) -> Result<BookingView> {
    // A booking is found by its id or by its reference.
    let booking = match raw.parse::<BookingId>() {
        Ok(id) => queries::booking(&state.pool, id).await?,
        Err(_) if reference::is_reference(raw) => {
            let id: Option<uuid::Uuid> =
                sqlx::query_scalar("SELECT booking_id FROM bookings WHERE reference = $1")
                    .bind(raw)
                    .fetch_optional(&state.pool)
                    .await?;
            match id {
                Some(id) => queries::booking(&state.pool, BookingId(id)).await?,
                None => None,
            }
        }
        Err(_) => {
            return Err(Error::field(
                "id",
                "a booking id (UUID) or reference like EVT-7K2M9Q",
            ))
        }
    };
    let booking =
        booking.ok_or_else(|| Error::NotFound("unknown-booking", "no such booking".into()))?;
    if !may_see(user, &booking) {
        return Err(Error::Forbidden(
            "only the booking's owner, the event's organizer or an admin may see it".into(),
        ));
    }
    Ok(booking)
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn show(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let booking = load_visible(&state, &user, &path).await?;
    Ok(HttpResponse::Ok().json(booking))
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let booking = load_visible(&state, &user, &path).await?;
    if booking.summary.status != BookingStatus::Confirmed {
        return Err(Error::rejected(
            RejectReason::AlreadyCancelled,
            format!("the booking is already {}", booking.summary.status),
        ));
    }
    let request_id = RequestId::new();
    let command = BookingCommand::CancelBooking {
        request_id,
        event_id: booking.summary.event_id,
        booking_id: booking.summary.id,
        actor_id: user.id,
        actor_role: user.role,
    };
    match state.dispatch(request_id, command).await? {
        Some(BookingOutcome::BookingCancelled { .. }) => {
            let view = queries::booking(&state.pool, booking.summary.id)
                .await?
                .ok_or_else(|| Error::NotFound("unknown-booking", "no such booking".into()))?;
            Ok(HttpResponse::Ok().json(view))
        }
        Some(outcome) => Err(api::refusal(&outcome).unwrap_or_else(|| {
            Error::Unexpected(anyhow::anyhow!("unexpected outcome {outcome:?}"))
        })),
        None => Ok(api::render(&api::pending(request_id))),
    }
}

/// `GET /api/v1/bookings/requests/{id}`: the answer of a command that was not
/// decided within the HTTP wait (202), once it is.
#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn request_status(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<RequestId>,
) -> Result<HttpResponse> {
    let request_id = path.into_inner();
    match queries::command_result(&state.pool, request_id).await? {
        Some(stored) => {
            if !stored.sent_by(user.id) && !user.is_admin() {
                return Err(Error::NotFound(
                    "unknown-request",
                    "no such request of yours".into(),
                ));
            }
            let outcome: BookingOutcome =
                serde_json::from_value(stored.outcome).map_err(|e| Error::Unexpected(e.into()))?;
            Ok(api::render(&api::answer_for(&outcome)))
        }
        None => Ok(api::render(&api::pending(request_id))),
    }
}
