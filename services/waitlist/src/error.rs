//! The waitlist service's one error type, rendered as problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common_types::FieldError;
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("you are already on the waitlist of this event")]
    AlreadyWaiting,
    #[error("{0}")]
    SeatsAvailable(String),
    #[error("the event is not on sale: {0}")]
    UnknownEvent(String),
    #[error("cannot check availability with booking: {0}")]
    BookingUnavailable(String),
    #[error(transparent)]
    Auth(#[from] service_http::auth::AuthError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Unexpected(error.into())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotFound(_) | Error::UnknownEvent(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::AlreadyWaiting | Error::SeatsAvailable(_) => StatusCode::CONFLICT,
            Error::BookingUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Auth(e) => e.status_code(),
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = match self {
            Error::NotFound(what) => problem(status, "not-found", "Not found", what.clone()),
            Error::UnknownEvent(_) => problem(
                status,
                "event-not-found",
                "No such event on sale",
                self.to_string(),
            ),
            Error::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut body = problem(
                    status,
                    "invalid-body",
                    "The request body has invalid fields",
                    detail,
                );
                body.errors = errors.clone();
                body
            }
            Error::AlreadyWaiting => problem(
                status,
                "already-waiting",
                "Already on the waitlist",
                self.to_string(),
            ),
            Error::SeatsAvailable(detail) => problem(
                status,
                "seats-available",
                "Seats are available: buy them instead of waiting",
                detail.clone(),
            ),
            Error::BookingUnavailable(_) => problem(
                status,
                "booking-unavailable",
                "Cannot check seat availability right now",
                "The booking service did not answer; try again shortly.",
            ),
            Error::Auth(e) => return e.error_response(),
            Error::Unexpected(e) => return internal_error(e.as_ref()),
        };
        if let Error::BookingUnavailable(cause) = self {
            tracing::warn!(%cause, "availability check failed");
        }
        problem_response(body)
    }
}
