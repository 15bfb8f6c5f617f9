//! `application/problem+json` responses (RFC 9457).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use common_types::ProblemDetails;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Render a problem, stamping the current request id into it.
pub fn problem_response(mut problem: ProblemDetails) -> HttpResponse {
    if problem.request_id.is_none() {
        problem.request_id = crate::current_request_id();
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(CONTENT_TYPE)
        .json(problem)
}

/// Shorthand: a problem with a status, a stable slug, a title and a detail.
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: impl Into<String>,
) -> ProblemDetails {
    ProblemDetails::new(status.as_u16(), slug, title).with_detail(detail)
}

/// The 500 answer: logs the whole cause chain, tells the caller nothing internal.
pub fn internal_error(error: &(dyn std::error::Error + 'static)) -> HttpResponse {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error.cause_chain = %chain, "request failed");
    problem_response(problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal server error",
        "Something went wrong on our side; the request id identifies it in our logs.",
    ))
}
