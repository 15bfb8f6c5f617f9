//! After the timed phase: read the layouts and every user's bookings back
//! through the API and check the invariants per event.

use crate::api::{Api, Booking};
use crate::invariants::{self, InvariantReport, SectionState, SoldBooking};
use crate::scenario::engine::Target;
use crate::scenario::setup::{with_retries, User};
use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use std::sync::Arc;

/// One report per target, in the targets' order.
pub async fn verify(
    api: &Api,
    organizer_token: &str,
    targets: &[Arc<Target>],
    users: &[User],
    concurrency: usize,
) -> anyhow::Result<Vec<InvariantReport>> {
    eprintln!(
        "checking invariants: {} layout(s) and {} users' bookings",
        targets.len(),
        users.len()
    );
    let bookings: Vec<Booking> = futures::stream::iter(users)
        .map(|user| async move {
            with_retries("read a user's bookings", || async {
                match api.my_bookings(&user.token()).await {
                    Err(e) if e.status() == Some(401) => {
                        user.reauthenticate(api).await?;
                        api.my_bookings(&user.token()).await
                    }
                    other => other,
                }
            })
            .await
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<Vec<Booking>>>()
        .await
        .context("reading the users' bookings back")?
        .into_iter()
        .flatten()
        .collect();

    let mut reports = Vec::with_capacity(targets.len());
    for target in targets {
        let event = target.on_sale.event_id;
        let layout = with_retries("read the layout", || {
            api.venue_layout(Some(organizer_token), event)
        })
        .await
        .with_context(|| format!("reading the layout of {}", target.on_sale.name))?;
        let sections = SectionState::from_layout(&layout);
        let sold = SoldBooking::confirmed_of(event, &bookings);
        reports.push(invariants::check(&sections, &sold, &target.acknowledged()));
    }
    Ok(reports)
}
