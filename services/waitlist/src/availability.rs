//! Asks the booking service whether seats are on sale (joining a waitlist is
//! only for what is sold out).

use crate::error::Error;
use common_types::{EventId, SectionId};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone)]
pub struct Availability {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Debug, Deserialize)]
struct Body {
    available: u64,
    #[serde(default)]
    sections: Vec<Section>,
}

#[derive(Debug, Deserialize)]
struct Section {
    id: SectionId,
    available: u64,
}

impl Availability {
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// `Ok` when nothing the entry could want is on sale; otherwise the
    /// problem to answer with.
    #[tracing::instrument(skip(self))]
    pub async fn ensure_sold_out(
        &self,
        event_id: EventId,
        section_id: Option<SectionId>,
    ) -> Result<(), Error> {
        let url = format!("{}/api/v1/events/{event_id}/seats/available", self.base_url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::BookingUnavailable(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::UnknownEvent(event_id.to_string()));
        }
        let body: Body = response
            .error_for_status()
            .map_err(|e| Error::BookingUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| Error::BookingUnavailable(e.to_string()))?;
        match section_id {
            None if body.available > 0 => Err(Error::SeatsAvailable(format!(
                "{} seats of this event are on sale",
                body.available
            ))),
            None => Ok(()),
            Some(section_id) => match body.sections.iter().find(|s| s.id == section_id) {
                None => Err(Error::Invalid(vec![common_types::FieldError::new(
                    "preferences.section_id",
                    "the event has no such section",
                )])),
                Some(section) if section.available > 0 => Err(Error::SeatsAvailable(format!(
                    "{} seats of this section are on sale",
                    section.available
                ))),
                Some(_) => Ok(()),
            },
        }
    }
}
