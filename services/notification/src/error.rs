//! The notification service's one error type, rendered as problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common_types::FieldError;
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    InvalidQuery { field: String, message: String },
    #[error("{0}")]
    NotDead(String),
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

impl From<common_types::page::PageError> for Error {
    fn from(error: common_types::page::PageError) -> Self {
        let field = match error {
            common_types::page::PageError::Page => "page",
            common_types::page::PageError::PerPage { .. } => "per_page",
        };
        Error::InvalidQuery {
            field: field.into(),
            message: error.to_string(),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            Error::NotDead(_) => StatusCode::CONFLICT,
            Error::Auth(e) => e.status_code(),
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::NotFound(what) => problem_response(problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                what.clone(),
            )),
            Error::InvalidQuery { field, message } => {
                let mut body = problem(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "Invalid query parameters",
                    self.to_string(),
                );
                body.errors
                    .push(FieldError::new(field.clone(), message.clone()));
                problem_response(body)
            }
            Error::NotDead(detail) => problem_response(problem(
                StatusCode::CONFLICT,
                "notification-not-dead",
                "Only dead notifications can be replayed",
                detail.clone(),
            )),
            Error::Auth(e) => e.error_response(),
            Error::Unexpected(e) => internal_error(e.as_ref()),
        }
    }
}
