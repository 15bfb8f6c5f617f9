//! Notification templates, kept as files in `files/` (one `.txt` and one
//! `.html` per kind) and embedded at build time, so a deployed binary cannot
//! miss one and a wording change is a reviewed file change.
//!
//! The plain-text file starts with a `Subject: ...` line and a blank line.
//! Placeholders are `{{name}}`; every placeholder must have a value (a typo in
//! a template is an error, not a blank in a customer's mail). Values are
//! HTML-escaped in the HTML part.

use std::collections::BTreeMap;
use std::fmt;

/// The kinds of notification Evently sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    BookingConfirmed,
    BookingCancelled,
    WaitlistOffer,
    EventUpdated,
    EventCancelled,
}

impl Template {
    pub const ALL: [Template; 5] = [
        Template::BookingConfirmed,
        Template::BookingCancelled,
        Template::WaitlistOffer,
        Template::EventUpdated,
        Template::EventCancelled,
    ];

    /// The stable name stored with each notification (`booking_confirmed`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Template::BookingConfirmed => "booking_confirmed",
            Template::BookingCancelled => "booking_cancelled",
            Template::WaitlistOffer => "waitlist_offer",
            Template::EventUpdated => "event_updated",
            Template::EventCancelled => "event_cancelled",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    fn sources(self) -> (&'static str, &'static str) {
        match self {
            Template::BookingConfirmed => (
                include_str!("../files/booking_confirmed.txt"),
                include_str!("../files/booking_confirmed.html"),
            ),
            Template::BookingCancelled => (
                include_str!("../files/booking_cancelled.txt"),
                include_str!("../files/booking_cancelled.html"),
            ),
            Template::WaitlistOffer => (
                include_str!("../files/waitlist_offer.txt"),
                include_str!("../files/waitlist_offer.html"),
            ),
            Template::EventUpdated => (
                include_str!("../files/event_updated.txt"),
                include_str!("../files/event_updated.html"),
            ),
            Template::EventCancelled => (
                include_str!("../files/event_cancelled.txt"),
                include_str!("../files/event_cancelled.html"),
            ),
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Placeholder values by name.
pub type Vars = BTreeMap<String, String>;

/// A rendered notification: subject line, plain-text body and HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template} has no value for {{{{{placeholder}}}}}")]
    MissingValue {
        template: &'static str,
        placeholder: String,
    },
    #[error("template {template} has an unclosed placeholder")]
    Unclosed { template: &'static str },
    #[error("template {0} does not start with a `Subject:` line")]
    NoSubject(&'static str),
}

/// Render `template` with `vars`.
pub fn render(template: Template, vars: &Vars) -> Result<Rendered, TemplateError> {
    let (text_source, html_source) = template.sources();
    let (subject_line, body) = text_source
        .split_once('\n')
        .ok_or(TemplateError::NoSubject(template.name()))?;
    let subject_source = subject_line
        .strip_prefix("Subject:")
        .ok_or(TemplateError::NoSubject(template.name()))?
        .trim();
    let body = body.trim_start_matches(['\r', '\n']);
    Ok(Rendered {
        subject: fill(template, subject_source, vars, |v| {
            // A header value must stay on one line.
            v.replace(['\r', '\n'], " ")
        })?,
        text: fill(template, body, vars, str::to_string)?,
        html: fill(template, html_source, vars, escape_html)?,
    })
}

fn fill(
    template: Template,
    source: &str,
    vars: &Vars,
    encode: impl Fn(&str) -> String,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(source.len() + 256);
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed {
            template: template.name(),
        })?;
        let key = after[..end].trim();
        let value = vars.get(key).ok_or_else(|| TemplateError::MissingValue {
            template: template.name(),
            placeholder: key.to_string(),
        })?;
        out.push_str(&encode(value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escape text for an HTML element body or a quoted attribute.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The placeholders a template uses (for callers' tests and docs).
pub fn placeholders(template: Template) -> Vec<String> {
    let (text, html) = template.sources();
    let mut names = Vec::new();
    for source in [text, html] {
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let key = after[..end].trim().to_string();
            if !names.contains(&key) {
                names.push(key);
            }
            rest = &after[end + 2..];
        }
    }
    names
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all_vars(template: Template) -> Vars {
        placeholders(template)
            .into_iter()
            .map(|k| {
                let v = format!("<{k}> & co");
                (k, v)
            })
            .collect()
    }

    #[test]
    fn every_template_renders_subject_text_and_html() {
        for template in Template::ALL {
            let rendered = render(template, &all_vars(template)).unwrap();
            assert!(!rendered.subject.is_empty(), "{template}");
            assert!(!rendered.subject.contains("{{"), "{template}");
            assert!(!rendered.text.contains("{{"), "{template}");
            assert!(!rendered.html.contains("{{"), "{template}");
            assert!(!rendered.text.starts_with("Subject:"), "{template}");
            assert!(
                rendered.html.contains("&lt;name&gt; &amp; co"),
                "{template}"
            );
            assert!(rendered.text.contains("<name> & co"), "{template}");
            assert_eq!(Template::from_name(template.name()), Some(template));
        }
    }

    #[test]
    fn a_missing_value_is_an_error_naming_it() {
        let mut vars = all_vars(Template::BookingConfirmed);
        vars.remove("reference");
        assert_eq!(
            render(Template::BookingConfirmed, &vars),
            Err(TemplateError::MissingValue {
                template: "booking_confirmed",
                placeholder: "reference".into()
            })
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let mut vars = all_vars(Template::EventCancelled);
        vars.insert("event_title".into(), "Evil\r\nBcc: x@y".into());
        let rendered = render(Template::EventCancelled, &vars).unwrap();
        assert!(!rendered.subject.contains('\n'));
    }
}
