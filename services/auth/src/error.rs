//! The auth service's one error type, rendered as problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
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
            Error::NotFound(_) => StatusCode::NOT_FOUND,
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
            Error::Auth(e) => e.error_response(),
            Error::Unexpected(e) => internal_error(e.as_ref()),
        }
    }
}
