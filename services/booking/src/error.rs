//! The booking service's one error type, rendered as problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common_types::messages::booking::RejectReason;
use common_types::{FieldError, ProblemDetails, SeatId};
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: which fields and why (422).
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    #[error("{1}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    /// The processor refused the command.
    #[error("{detail}")]
    Rejected {
        reason: RejectReason,
        detail: String,
        unavailable: Vec<SeatId>,
    },
    #[error("the card was declined")]
    PaymentDeclined,
    #[error("the payment provider did not answer in time")]
    PaymentTimeout,
    #[error("the same Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being processed")]
    RequestInProgress,
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Auth(#[from] service_http::auth::AuthError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            // Overload, not a bug: tell the client to come back (503) quickly.
            sqlx::Error::PoolTimedOut => Error::Unavailable(
                "the booking service is overloaded right now; retry in a moment".into(),
            ),
            other => Error::Unexpected(other.into()),
        }
    }
}

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    pub fn rejected(reason: RejectReason, detail: impl Into<String>) -> Self {
        Error::Rejected {
            reason,
            detail: detail.into(),
            unavailable: Vec::new(),
        }
    }

    /// The problem body, for errors that are answers (4xx) and so may be
    /// stored as the answer to an idempotent request.
    pub fn problem(&self) -> Option<ProblemDetails> {
        Some(match self {
            Error::Validation(errors) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                "some fields are missing or invalid",
            )
            .with_errors(errors.clone()),
            Error::NotFound(slug, detail) => {
                problem(StatusCode::NOT_FOUND, slug, "Not found", detail.clone())
            }
            Error::Forbidden(detail) => problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
                detail.clone(),
            ),
            Error::Rejected {
                reason,
                detail,
                unavailable,
            } => {
                let (status, title) = rejection_status(*reason);
                let mut p = problem(status, reason.as_str(), title, detail.clone());
                if !unavailable.is_empty() {
                    p = p.with_extension(
                        "unavailable_seats",
                        serde_json::Value::from(
                            unavailable
                                .iter()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>(),
                        ),
                    );
                }
                p
            }
            Error::PaymentDeclined => problem(
                StatusCode::PAYMENT_REQUIRED,
                "payment-declined",
                "Payment declined",
                "the card was declined; the hold is still yours until it expires",
            ),
            Error::PaymentTimeout => problem(
                StatusCode::GATEWAY_TIMEOUT,
                "payment-timeout",
                "Payment timed out",
                "the payment provider did not answer in time; nothing was charged, try again",
            ),
            Error::IdempotencyMismatch => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request body",
            ),
            Error::RequestInProgress => problem(
                StatusCode::CONFLICT,
                "request-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            ),
            Error::Unavailable(detail) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                detail.clone(),
            ),
            Error::Auth(_) | Error::Unexpected(_) => return None,
        })
    }
}

/// How each refusal of the processor is answered over HTTP.
pub fn rejection_status(reason: RejectReason) -> (StatusCode, &'static str) {
    use RejectReason::*;
    match reason {
        SeatsUnavailable => (StatusCode::CONFLICT, "Seats unavailable"),
        SoldOut => (StatusCode::CONFLICT, "Sold out"),
        UnknownEvent => (StatusCode::NOT_FOUND, "Unknown event"),
        UnknownSeat => (StatusCode::UNPROCESSABLE_ENTITY, "Unknown seat"),
        UnknownSection => (StatusCode::UNPROCESSABLE_ENTITY, "Unknown section"),
        InvalidSelection => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid selection"),
        NotOnSale => (StatusCode::CONFLICT, "Not on sale"),
        EventCancelled => (StatusCode::CONFLICT, "Event cancelled"),
        TicketLimit => (StatusCode::UNPROCESSABLE_ENTITY, "Ticket limit reached"),
        UnknownHold => (StatusCode::NOT_FOUND, "Unknown hold"),
        NotHoldOwner => (StatusCode::FORBIDDEN, "Not yours"),
        HoldExpired => (StatusCode::GONE, "Hold expired"),
        AmountMismatch => (StatusCode::CONFLICT, "Amount mismatch"),
        UnknownBooking => (StatusCode::NOT_FOUND, "Unknown booking"),
        AlreadyCancelled => (StatusCode::CONFLICT, "Already cancelled"),
        EventStarted => (StatusCode::CONFLICT, "Event started"),
        NotParked => (StatusCode::CONFLICT, "Not parked for the waitlist"),
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Auth(e) => e.status_code(),
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            other => other
                .problem()
                .and_then(|p| StatusCode::from_u16(p.status).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Auth(e) => e.error_response(),
            Error::Unexpected(e) => internal_error(e.as_ref()),
            other => match other.problem() {
                Some(p) => problem_response(p),
                None => HttpResponse::InternalServerError().finish(),
            },
        }
    }
}
