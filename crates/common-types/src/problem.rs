//! RFC 9457 problem details: the body of every error response.

use serde::{Deserialize, Serialize};

/// The `type` URIs are stable identifiers clients may branch on.
pub const PROBLEM_BASE: &str = "https://evently.dev/problems/";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Which fields were wrong, for 400/422 answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (e.g. `unavailable_seats`), flattened into the body.
    #[serde(default, flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ProblemDetails {
    /// `slug` becomes the stable `type`, e.g. `seats-unavailable`.
    pub fn new(status: u16, slug: &str, title: impl Into<String>) -> Self {
        Self {
            problem_type: format!("{PROBLEM_BASE}{slug}"),
            title: title.into(),
            status,
            detail: None,
            instance: None,
            request_id: None,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_string(), value);
        self
    }

    /// The slug of `type`, e.g. `seats-unavailable`.
    pub fn slug(&self) -> &str {
        self.problem_type
            .strip_prefix(PROBLEM_BASE)
            .unwrap_or(&self.problem_type)
    }
}
