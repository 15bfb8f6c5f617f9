//! `POST /api/v1/seats/hold`, `GET|DELETE /api/v1/seats/hold/{hold_id}`.

use crate::api::{self, AppState};
use crate::domain::{HoldStatus, MAX_PER_REQUEST};
use crate::error::{Error, Result};
use crate::store::queries;
use actix_web::{web, HttpRequest, HttpResponse};
use common_types::messages::booking::{BookingCommand, BookingOutcome, RejectReason};
use common_types::{EventId, FieldError, HoldId, RequestId, SeatId, SectionId};
use serde::Deserialize;
use serde_json::Value;
use service_http::AuthUser;
use std::collections::HashSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    event_id: EventId,
    #[serde(default)]
    seat_ids: Option<Vec<String>>,
    #[serde(default)]
    section_id: Option<SectionId>,
    #[serde(default)]
    quantity: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Seats(Vec<SeatId>),
    General {
        section_id: SectionId,
        quantity: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HoldRequest {
    pub event_id: EventId,
    pub selection: Selection,
}

impl TryFrom<Value> for HoldRequest {
    type Error = Error;

    fn try_from(value: Value) -> Result<Self> {
        let body: HoldBody =
            serde_json::from_value(value).map_err(|e| Error::field("body", e.to_string()))?;
        let selection = match (body.seat_ids, body.section_id, body.quantity) {
            (Some(ids), None, None) => {
                let mut errors = Vec::new();
                let mut seen = HashSet::new();
                let mut seats = Vec::with_capacity(ids.len());
                for (i, raw) in ids.into_iter().enumerate() {
                    match SeatId::parse(raw) {
                        Ok(seat) if seen.insert(seat.clone()) => seats.push(seat),
                        Ok(seat) => errors.push(FieldError::new(
                            format!("seat_ids[{i}]"),
                            format!("{seat} is named twice"),
                        )),
                        Err(e) => errors.push(FieldError::new(format!("seat_ids[{i}]"), e.to_string())),
                    }
                }
                if seats.is_empty() && errors.is_empty() {
                    errors.push(FieldError::new("seat_ids", "name at least one seat"));
                }
                if seats.len() > MAX_PER_REQUEST as usize {
                    errors.push(FieldError::new(
                        "seat_ids",
                        format!("at most {MAX_PER_REQUEST} seats per hold"),
                    ));
                }
                if !errors.is_empty() {
                    return Err(Error::Validation(errors));
                }
                Selection::Seats(seats)
            }
            (None, Some(section_id), Some(quantity)) => {
                if quantity == 0 || quantity > MAX_PER_REQUEST {
                    return Err(Error::field(
                        "quantity",
                        format!("between 1 and {MAX_PER_REQUEST}"),
                    ));
                }
                Selection::General {
                    section_id,
                    quantity,
                }
            }
            (None, Some(_), None) => return Err(Error::field("quantity", "required with section_id")),
            (None, None, Some(_)) => return Err(Error::field("section_id", "required with quantity")),
            _ => {
                return Err(Error::field(
                    "seat_ids",
                    "send either seat_ids (reserved seating) or section_id and quantity (general admission)",
                ))
            }
        };
        Ok(Self {
            event_id: body.event_id,
            selection,
        })
    }
}

#[tracing::instrument(skip(state, req, body, user), fields(user_id = %user.id))]
pub async fn place(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let key = api::idempotency_key(&req)?;
    let raw = body.into_inner();
    let request = HoldRequest::try_from(raw.clone())?;
    let state = state.get_ref();
    api::idempotent(
        state,
        user.id,
        key.as_deref(),
        "POST /seats/hold",
        &raw,
        |idem| async move {
            let request_id = RequestId::new();
            idem.attach(request_id).await?;
            let ttl = Some(state.settings.hold_ttl_secs);
            let command = match request.selection {
                Selection::Seats(seat_ids) => BookingCommand::HoldSeats {
                    request_id,
                    event_id: request.event_id,
                    user_id: user.id,
                    seat_ids,
                    hold_ttl_secs: ttl,
                },
                Selection::General {
                    section_id,
                    quantity,
                } => BookingCommand::HoldQuantity {
                    request_id,
                    event_id: request.event_id,
                    user_id: user.id,
                    section_id,
                    quantity,
                    hold_ttl_secs: ttl,
                },
            };
            Ok(match state.dispatch(request_id, command).await? {
                Some(outcome) => {
                    if let Some(refusal) = api::refusal(&outcome) {
                        return Err(refusal);
                    }
                    api::answer_for(&outcome)
                }
                None => api::pending(request_id),
            })
        },
    )
    .await
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<HoldId>,
) -> Result<HttpResponse> {
    let hold = queries::hold(&state.pool, path.into_inner())
        .await?
        .ok_or_else(|| Error::NotFound("unknown-hold", "no such hold".into()))?;
    if hold.user_id != user.id && !user.is_admin() {
        return Err(Error::Forbidden("this hold belongs to someone else".into()));
    }
    Ok(HttpResponse::Ok().json(hold))
}

#[tracing::instrument(skip(state, user), fields(user_id = %user.id))]
pub async fn release(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<HoldId>,
) -> Result<HttpResponse> {
    let hold_id = path.into_inner();
    let hold = queries::hold(&state.pool, hold_id)
        .await?
        .ok_or_else(|| Error::NotFound("unknown-hold", "no such hold".into()))?;
    if hold.user_id != user.id && !user.is_admin() {
        return Err(Error::Forbidden("this hold belongs to someone else".into()));
    }
    if hold.status != HoldStatus::Active {
        return Err(Error::rejected(
            RejectReason::HoldExpired,
            format!("the hold is already {}", hold.status),
        ));
    }
    let request_id = RequestId::new();
    let command = BookingCommand::ReleaseHold {
        request_id,
        event_id: hold.event_id,
        hold_id,
        user_id: hold.user_id,
    };
    match state.dispatch(request_id, command).await? {
        Some(outcome @ BookingOutcome::HoldReleased { .. }) => {
            Ok(api::render(&api::answer_for(&outcome)))
        }
        Some(outcome) => Err(api::refusal(&outcome).unwrap_or_else(|| {
            Error::Unexpected(anyhow::anyhow!("unexpected outcome {outcome:?}"))
        })),
        None => Ok(api::render(&api::pending(request_id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hold_requests_parse_into_one_of_two_shapes() {
        let event = EventId::new();
        let section = SectionId::new();
        let seats = HoldRequest::try_from(json!({"event_id": event, "seat_ids": ["A-1", "A-2"]}));
        assert!(
            matches!(seats, Ok(HoldRequest { selection: Selection::Seats(ref s), .. }) if s.len() == 2)
        );
        let ga =
            HoldRequest::try_from(json!({"event_id": event, "section_id": section, "quantity": 2}));
        assert!(matches!(
            ga,
            Ok(HoldRequest {
                selection: Selection::General { quantity: 2, .. },
                ..
            })
        ));
        for bad in [
            json!({"event_id": event}),
            json!({"event_id": event, "seat_ids": []}),
            json!({"event_id": event, "seat_ids": ["A-1", "A-1"]}),
            json!({"event_id": event, "seat_ids": ["A 1"]}),
            json!({"event_id": event, "section_id": section, "quantity": 0}),
            json!({"event_id": event, "section_id": section}),
            json!({"event_id": event, "seat_ids": ["A-1"], "section_id": section, "quantity": 1}),
            json!({"event_id": "nope", "seat_ids": ["A-1"]}),
        ] {
            assert!(
                matches!(
                    HoldRequest::try_from(bad.clone()),
                    Err(Error::Validation(_))
                ),
                "{bad}"
            );
        }
    }
}
