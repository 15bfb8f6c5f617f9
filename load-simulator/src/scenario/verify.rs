//! After the timed phase: read the layouts and every user's bookings back
//! through the API and check the invariants per event.

use crate::api::{Api, Booking};
use crate::invariants::{self, InvariantReport, SectionState, SoldBooking};
use crate::scenario::engine::Target;
use crate::scenario::setup::User;
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
            let token = user.token();
            match api.my_bookings(&token).await {
                Err(e) if e.status() == Some(401) => {
                    user.reauthenticate(api).await?;
                    api.my_bookings(&user.token()).await
                }
                other => other,
            }
        })
        .buffer_unordered(concurrency.max(1))
        .map_ok(futures::stream::iter)
        .map_ok(|s| s.map(Ok::<_, crate::api::ApiError>))
        .try_flatten()
        .try_collect()
        .await
        .context("reading the users' bookings back")?;

    let mut reports = Vec::with_capacity(targets.len());
    for target in targets {
        let event = target.on_sale.event_id;
        let layout = api
            .venue_layout(Some(organizer_token), event)
            .await
            .with_context(|| format!("reading the layout of {}", target.on_sale.name))?;
        let sections = SectionState::from_layout(&layout);
        let sold = SoldBooking::confirmed_of(event, &bookings);
        reports.push(invariants::check(&sections, &sold, &target.acknowledged()));
    }
    Ok(reports)
}
