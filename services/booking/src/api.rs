//! What every booking handler shares: the state, producing a command and
//! waiting for its outcome, turning outcomes into answers, and running a
//! POST under its `Idempotency-Key`.

use crate::configuration::BookingSettings;
use crate::domain::{BookingStatus, HoldStatus};
use crate::error::{Error, Result};
use crate::payment::PaymentProvider;
use crate::replies::Replies;
use crate::store::idempotency::{self, Answer, Begin};
use crate::store::queries::{self, BookingSummary, HoldView, Refund, RefundState};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use common_types::messages::booking::{BookingCommand, BookingOutcome};
use common_types::{topics, BookingId, Envelope, EventId, HoldId, RequestId, UserId};
use kafka_bus::Producer;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub struct AppState {
    pub pool: PgPool,
    pub producer: Producer,
    pub replies: Replies,
    pub payments: Arc<dyn PaymentProvider>,
    pub settings: BookingSettings,
    pub internal_token: SecretString,
}

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

impl AppState {
    /// Produce `command` and wait (briefly) for its outcome. `None`: not
    /// decided within the wait; the caller answers 202 and the client polls.
    #[tracing::instrument(skip(self, command), fields(request_id = %request_id, command = %command_type(&command)))]
    pub async fn dispatch(
        &self,
        request_id: RequestId,
        command: BookingCommand,
    ) -> Result<Option<BookingOutcome>> {
        let key = command.event_id().to_string();
        let receiver = self.replies.register(request_id);
        let envelope = Envelope::with_id(request_id.0, command);
        let http_id = service_http::current_request_id();
        let started = std::time::Instant::now();
        if let Err(e) = self
            .producer
            .publish(topics::BOOKING_CREATE, &key, &envelope, http_id.as_deref())
            .await
        {
            self.replies.forget(request_id);
            tracing::error!(error = %e, "producing a booking command failed");
            return Err(Error::Unavailable(
                "the booking queue is not reachable; nothing was changed, try again".into(),
            ));
        }
        let produced = started.elapsed();
        let wait = Duration::from_millis(self.settings.reply_timeout_ms);
        match tokio::time::timeout(wait, receiver).await {
            Ok(Ok(outcome)) => {
                tracing::debug!(
                    produce_ms = produced.as_millis() as u64,
                    total_ms = started.elapsed().as_millis() as u64,
                    "command answered"
                );
                Ok(Some(outcome))
            }
            _ => {
                self.replies.forget(request_id);
                // The reply may have raced the timeout: the database knows.
                Ok(queries::command_result(&self.pool, request_id)
                    .await?
                    .and_then(|stored| serde_json::from_value(stored.outcome).ok()))
            }
        }
    }
}

fn command_type(command: &BookingCommand) -> &'static str {
    use common_types::MessageType;
    command.message_type()
}

pub fn render(answer: &Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    if status.is_client_error() || status.is_server_error() {
        response.content_type(service_http::problem::CONTENT_TYPE);
    }
    response.json(&answer.body)
}

pub fn ok(status: StatusCode, body: Value) -> Answer {
    Answer {
        status: status.as_u16(),
        body,
    }
}

/// A command not decided within the HTTP wait.
#[derive(Debug, Serialize)]
struct PendingBody {
    request_id: RequestId,
    status: &'static str,
    status_url: String,
}

/// 202: decided later; poll the status URL.
pub fn pending(request_id: RequestId) -> Answer {
    ok(
        StatusCode::ACCEPTED,
        json!(PendingBody {
            request_id,
            status: "pending",
            status_url: format!("/api/v1/bookings/requests/{request_id}"),
        }),
    )
}

#[derive(Debug, Serialize)]
struct ReleasedBody {
    hold_id: HoldId,
    status: HoldStatus,
}

/// A cancellation decided after the HTTP wait, as the poll reports it.
#[derive(Debug, Serialize)]
struct CancelledBody<'a> {
    id: BookingId,
    reference: &'a str,
    event_id: EventId,
    status: BookingStatus,
    refund: Refund,
}

/// The hold a `HoldPlaced` outcome made, in the shape `GET /holds/{id}` reads back.
pub fn placed_hold(outcome: &BookingOutcome) -> Option<HoldView> {
    match outcome {
        BookingOutcome::HoldPlaced {
            hold_id,
            event_id,
            user_id,
            seats,
            section_id,
            quantity,
            total_price,
            currency,
            expires_at,
            waitlist_entry_id,
            ..
        } => Some(HoldView {
            hold_id: *hold_id,
            event_id: *event_id,
            user_id: *user_id,
            seats: seats.clone(),
            section_id: *section_id,
            quantity: *quantity,
            total_price: *total_price,
            currency: *currency,
            expires_at: *expires_at,
            status: HoldStatus::Active,
            waitlist_entry_id: *waitlist_entry_id,
        }),
        _ => None,
    }
}

pub fn hold_body(outcome: &BookingOutcome) -> Value {
    match placed_hold(outcome) {
        Some(hold) => json!(hold),
        None => json!(outcome),
    }
}

/// The booking a `BookingConfirmed` outcome made.
pub fn confirmed_booking(outcome: &BookingOutcome) -> Option<BookingSummary> {
    match outcome {
        BookingOutcome::BookingConfirmed {
            booking_id,
            reference,
            hold_id,
            event_id,
            user_id,
            seats,
            section_id,
            quantity,
            total_price,
            currency,
            ..
        } => Some(BookingSummary {
            id: *booking_id,
            reference: reference.clone(),
            hold_id: *hold_id,
            event_id: *event_id,
            user_id: *user_id,
            seats: seats.clone(),
            section_id: *section_id,
            quantity: *quantity,
            total_price: *total_price,
            currency: *currency,
            status: BookingStatus::Confirmed,
        }),
        _ => None,
    }
}

pub fn booking_body(outcome: &BookingOutcome) -> Value {
    match confirmed_booking(outcome) {
        Some(booking) => json!(booking),
        None => json!(outcome),
    }
}

/// The refusal in an outcome, if it is one.
pub fn refusal(outcome: &BookingOutcome) -> Option<Error> {
    match outcome {
        BookingOutcome::HoldRejected {
            reason,
            detail,
            unavailable_seats,
            ..
        } => Some(Error::Rejected {
            reason: *reason,
            detail: detail.clone(),
            unavailable: unavailable_seats.clone(),
        }),
        BookingOutcome::BookingRejected { reason, detail, .. }
        | BookingOutcome::CommandFailed { reason, detail, .. } => {
            Some(Error::rejected(*reason, detail.clone()))
        }
        _ => None,
    }
}

/// The answer a decided command gets (the POST's, or the poll's).
pub fn answer_for(outcome: &BookingOutcome) -> Answer {
    if let Some(problem) = refusal(outcome).and_then(|e| e.problem()) {
        return problem_answer(problem);
    }
    match outcome {
        BookingOutcome::HoldPlaced { .. } => ok(StatusCode::CREATED, hold_body(outcome)),
        BookingOutcome::BookingConfirmed { .. } => ok(StatusCode::CREATED, booking_body(outcome)),
        BookingOutcome::HoldReleased { hold_id, .. } => ok(
            StatusCode::OK,
            json!(ReleasedBody {
                hold_id: *hold_id,
                status: HoldStatus::Released,
            }),
        ),
        BookingOutcome::BookingCancelled {
            booking_id,
            reference,
            event_id,
            refund_amount,
            currency,
            ..
        } => ok(
            StatusCode::OK,
            json!(CancelledBody {
                id: *booking_id,
                reference,
                event_id: *event_id,
                status: BookingStatus::Cancelled,
                refund: Refund {
                    amount: *refund_amount,
                    currency: *currency,
                    status: RefundState::Pending,
                },
            }),
        ),
        other => ok(StatusCode::OK, json!(other)),
    }
}

pub fn problem_answer(mut problem: common_types::ProblemDetails) -> Answer {
    if problem.request_id.is_none() {
        problem.request_id = service_http::current_request_id();
    }
    Answer {
        status: problem.status,
        body: serde_json::to_value(&problem).unwrap_or(Value::Null),
    }
}

/// The caller's `Idempotency-Key`, if sent (and sane).
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= idempotency::MAX_KEY_LEN)
        .ok_or_else(|| {
            Error::field(
                IDEMPOTENCY_HEADER,
                "1 to 255 visible ASCII characters, e.g. a UUID",
            )
        })?;
    Ok(Some(key.to_string()))
}

/// Lets a handler record its command id under the key before producing it.
pub struct Idem<'a> {
    pool: &'a PgPool,
    user: UserId,
    key: Option<&'a str>,
}

impl Idem<'_> {
    pub async fn attach(&self, request_id: RequestId) -> Result<()> {
        match self.key {
            Some(key) => idempotency::attach(self.pool, self.user, key, request_id).await,
            None => Ok(()),
        }
    }
}

/// Run `work` at most once per (caller, key): repeats get the stored answer.
pub async fn idempotent<'a, F, Fut>(
    state: &'a AppState,
    user: UserId,
    key: Option<&'a str>,
    route: &str,
    request: &Value,
    work: F,
) -> Result<HttpResponse>
where
    F: FnOnce(Idem<'a>) -> Fut,
    Fut: Future<Output = Result<Answer>>,
{
    let idem = Idem {
        pool: &state.pool,
        user,
        key,
    };
    let Some(key) = key else {
        return match work(idem).await {
            Ok(answer) => Ok(render(&answer)),
            Err(e) => Err(e),
        };
    };
    match idempotency::begin(&state.pool, user, key, route, request).await? {
        Begin::Fresh => {}
        Begin::Replay(answer) => return Ok(render(&answer)),
        Begin::InFlight(Some(request_id)) => {
            return match queries::command_result(&state.pool, request_id).await? {
                Some(stored) => match serde_json::from_value::<BookingOutcome>(stored.outcome) {
                    Ok(outcome) => Ok(render(&answer_for(&outcome))),
                    Err(_) => Ok(render(&pending(request_id))),
                },
                None => Ok(render(&pending(request_id))),
            };
        }
        Begin::InFlight(None) => return Err(Error::RequestInProgress),
    }
    let answer = match work(idem).await {
        Ok(answer) => answer,
        Err(e) => match e.problem() {
            Some(problem) => problem_answer(problem),
            None => {
                // Forget the key: a retry should run again.
                let forget = Answer {
                    status: 500,
                    body: Value::Null,
                };
                if let Err(e2) = idempotency::finish(&state.pool, user, key, &forget).await {
                    tracing::warn!(error = %e2, "could not release an idempotency key");
                }
                return Err(e);
            }
        },
    };
    idempotency::finish(&state.pool, user, key, &answer).await?;
    Ok(render(&answer))
}
