//! The auth service's one error type, rendered as problem+json.

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use common_types::FieldError;
use service_http::problem::{internal_error, problem, problem_response};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("too many failed logins; try again in {0} seconds")]
    Throttled(u64),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
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

impl From<FieldError> for Error {
    fn from(error: FieldError) -> Self {
        Error::Invalid(vec![error])
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::EmailTaken | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::InvalidCredentials | Error::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            Error::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Auth(e) => e.status_code(),
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = self.to_string();
        match self {
            Error::Invalid(errors) => {
                let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                problem_response(
                    problem(
                        status,
                        "invalid-body",
                        "The request body has invalid fields",
                        format!("invalid: {}", names.join(", ")),
                    )
                    .with_errors(errors.clone()),
                )
            }
            Error::EmailTaken => problem_response(problem(
                status,
                "email-taken",
                "Email already registered",
                detail,
            )),
            Error::InvalidCredentials => {
                let mut response = problem_response(problem(
                    status,
                    "invalid-credentials",
                    "Wrong email or password",
                    detail,
                ));
                response.headers_mut().insert(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
                response
            }
            Error::InvalidRefreshToken => problem_response(problem(
                status,
                "invalid-refresh-token",
                "Invalid refresh token",
                detail,
            )),
            Error::Throttled(seconds) => {
                let mut response = problem_response(
                    problem(
                        status,
                        "too-many-login-attempts",
                        "Too many failed logins",
                        detail,
                    )
                    .with_extension("retry_after", (*seconds).into()),
                );
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(RETRY_AFTER, value);
                }
                response
            }
            Error::NotFound(_) => {
                problem_response(problem(status, "not-found", "Not found", detail))
            }
            Error::Conflict(_) => problem_response(problem(status, "conflict", "Conflict", detail)),
            Error::Auth(e) => e.error_response(),
            Error::Unexpected(e) => internal_error(e.as_ref()),
        }
    }
}
