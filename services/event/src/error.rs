//! The event service's one error type, rendered as problem+json.

use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common_types::{FieldError, ProblemDetails};
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request parsed as JSON but some fields are wrong; each is named.
    #[error("invalid request: {}", describe(.0))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    /// The caller may not touch this resource (someone else's event or venue).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The resource is in a state that forbids the change (publishing twice,
    /// editing a cancelled event).
    #[error("{detail}")]
    InvalidTransition { detail: String },
    /// Someone else changed the resource between our read and our write, more
    /// times than we retry.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Auth(#[from] service_http::auth::AuthError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => {
                Error::Conflict("the resource was changed concurrently; retry".into())
            }
            StoreError::Backend(e) => Error::Unexpected(e),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::InvalidTransition { .. } | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Auth(e) => e.status_code(),
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Error::Validation(errors) => problem_response(
                ProblemDetails::new(
                    status.as_u16(),
                    "validation-failed",
                    "The request has invalid fields",
                )
                .with_detail(describe(errors))
                .with_errors(errors.clone()),
            ),
            Error::NotFound(what) => {
                problem_response(problem(status, "not-found", "Not found", what.clone()))
            }
            Error::Forbidden(why) => {
                problem_response(problem(status, "forbidden", "Not allowed", why.clone()))
            }
            Error::InvalidTransition { detail } => problem_response(problem(
                status,
                "invalid-transition",
                "The event cannot change that way in its current state",
                detail.clone(),
            )),
            Error::Conflict(detail) => problem_response(problem(
                status,
                "concurrent-modification",
                "Changed concurrently",
                detail.clone(),
            )),
            Error::Auth(e) => e.error_response(),
            Error::Unexpected(e) => internal_error(e.as_ref()),
        }
    }
}
