//! Extractor configs whose errors are problem+json naming what is wrong,
//! instead of actix's plain-text defaults.

use crate::problem::{problem, problem_response};
use actix_web::error::{InternalError, JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let (status, slug, title) = match &err {
                JsonPayloadError::Deserialize(e) if e.is_data() => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    "The request body has invalid fields",
                ),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The request body is too large",
                ),
                JsonPayloadError::ContentType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Send the body as application/json",
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "malformed-json",
                    "The request body is not valid JSON",
                ),
            };
            let detail = err.to_string();
            InternalError::from_response(
                err,
                problem_response(problem(status, slug, title, detail)),
            )
            .into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        let detail = err.to_string();
        InternalError::from_response(
            err,
            problem_response(problem(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "Invalid query parameters",
                detail,
            )),
        )
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        let detail = err.to_string();
        InternalError::from_response(
            err,
            problem_response(problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "No such resource",
                detail,
            )),
        )
        .into()
    })
}
