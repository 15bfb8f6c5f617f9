//! Domain types: what the service stores and reasons about, parsed from the
//! request DTOs before any logic runs (parse, don't validate).

pub mod event;
pub mod search;
pub mod text;
pub mod venue;

use common_types::FieldError;

/// Collects every wrong field of a request, so a client learns all of them at once.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, crate::error::Error> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(crate::error::Error::Validation(self.0))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A required text field: trimmed, non-empty, at most `max` characters.
pub fn text(problems: &mut Problems, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        problems.add(field, "must not be empty");
    } else if trimmed.chars().count() > max {
        problems.add(field, format!("must be at most {max} characters"));
    }
    trimmed.to_string()
}

/// An optional text field: blank means absent.
pub fn optional_text(
    problems: &mut Problems,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let trimmed = value.map(str::trim).filter(|v| !v.is_empty())?;
    if trimmed.chars().count() > max {
        problems.add(field, format!("must be at most {max} characters"));
    }
    Some(trimmed.to_string())
}
