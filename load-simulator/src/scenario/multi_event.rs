//! `multi-event`: a hot event that sells out, warm ones, a cold one, all at
//! once, each fan wanting one of them; reported per event and in total.

use crate::api::{Api, SectionKind};
use crate::cli::MultiEventArgs;
use crate::invariants::InvariantReport;
use crate::report::{self, JsonSummary, OpSummary, RunSummary};
use crate::scenario::engine::{check_gateway, Intents, Target};
use crate::scenario::flash_sale::timed_phase;
use crate::scenario::setup::{self, EventSpec};
use crate::scenario::write_json;
use crate::stats::new_histogram;
use rand::seq::SliceRandom as _;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct MultiJson {
    events: Vec<JsonSummary>,
    total: JsonSummary,
}

/// How many fans want each event: hot, the warm ones, cold (sums to `users`).
pub fn demand_split(users: u64, hot_share: f64, cold_share: f64, warm_events: u32) -> Vec<u64> {
    let share = |s: f64| ((users as f64) * s.clamp(0.0, 1.0)).round() as u64;
    let hot = share(hot_share).min(users);
    let cold = share(cold_share).min(users - hot);
    let rest = users - hot - cold;
    let mut split = vec![hot];
    if warm_events == 0 {
        split[0] += rest;
    } else {
        let each = rest / u64::from(warm_events);
        let extra = rest % u64::from(warm_events);
        for i in 0..u64::from(warm_events) {
            split.push(each + u64::from(i < extra));
        }
    }
    split.push(cold);
    split
}

pub async fn run(args: &MultiEventArgs) -> anyhow::Result<Vec<RunSummary>> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    let load = &args.load;
    let kind = SectionKind::from(load.section_kind);
    let api = Api::new(&load.gateway, load.pool_size())?;
    check_gateway(&api).await?;

    let run_id = setup::new_run_id();
    let mut specs = vec![("hot".to_string(), args.hot_seats)];
    for i in 1..=args.warm_events {
        specs.push((format!("warm-{i}"), args.warm_seats));
    }
    specs.push(("cold".to_string(), args.cold_seats));
    let demand = demand_split(
        args.users,
        args.hot_share,
        args.cold_share,
        args.warm_events,
    );

    eprintln!("run {run_id}: {} events ({kind})", specs.len());
    let organizer = setup::organizer(&api, &run_id).await?;
    let empty = new_histogram()?;
    let mut targets = Vec::with_capacity(specs.len());
    for ((name, seats), wanted) in specs.iter().zip(&demand) {
        anyhow::ensure!(*seats > 0, "every event needs at least one seat ({name})");
        let spec = EventSpec {
            name: name.clone(),
            kind,
            seats: *seats,
            seats_per_row: load.seats_per_row,
            price_cents: 4_900,
        };
        let on_sale = setup::create_event(
            &api,
            &organizer,
            &run_id,
            &spec,
            Duration::from_secs(load.inventory_timeout),
        )
        .await?;
        eprintln!(
            "  {name}: event {} with {seats} seats, {wanted} fans",
            on_sale.event_id
        );
        targets.push(Arc::new(Target::new(on_sale, *wanted, &empty)));
    }
    let users =
        Arc::new(setup::prepare_users(&api, &run_id, args.users, load.prepare_concurrency).await?);

    // Fans 0.. are dealt to events by demand, then arrive in random order.
    let mut intents = Vec::with_capacity(usize::try_from(args.users)?);
    let mut user = 0usize;
    for (target, wanted) in demand.iter().enumerate() {
        for _ in 0..*wanted {
            intents.push((user, target));
            user += 1;
        }
    }
    intents.shuffle(&mut rand::thread_rng());

    let summaries = timed_phase(
        &api,
        load,
        &organizer,
        users,
        targets.clone(),
        Intents::Listed(intents),
    )
    .await?;
    let total = combined(&targets, &summaries);

    for summary in &summaries {
        print!("{}", report::render(summary));
    }
    println!("\n{}", report::TABLE_HEADER);
    for summary in summaries.iter().chain(std::iter::once(&total)) {
        println!("{}", report::table_row(summary));
    }
    if let Some(path) = &load.json {
        let doc = MultiJson {
            events: summaries.iter().map(JsonSummary::from).collect(),
            total: JsonSummary::from(&total),
        };
        write_json(path, &doc)?;
    }
    Ok(summaries)
}

/// All events together: merged histograms, summed counts.
fn combined(targets: &[Arc<Target>], summaries: &[RunSummary]) -> RunSummary {
    let elapsed = summaries.first().map(|s| s.elapsed_secs).unwrap_or(0.0);
    let merge = |pick: fn(&Target) -> &crate::stats::OpStats| {
        let mut histogram = None;
        let mut statuses = std::collections::BTreeMap::new();
        let mut ok = 0;
        let mut last = 0.0f64;
        for target in targets {
            let stats = pick(target);
            if let Some(h) = stats.histogram() {
                match &mut histogram {
                    None => histogram = Some(h),
                    Some(acc) => {
                        let _ = hdrhistogram::Histogram::add(acc, &h);
                    }
                }
            }
            for (status, n) in stats.statuses() {
                *statuses.entry(status).or_insert(0) += n;
            }
            ok += stats.ok();
            last = last.max(stats.last_ok().map(|d| d.as_secs_f64()).unwrap_or(0.0));
        }
        histogram
            .map(|h| OpSummary::new(&h, statuses, ok, last, elapsed))
            .unwrap_or_default()
    };
    let mut invariants = InvariantReport::default();
    for s in summaries {
        let i = &s.invariants;
        invariants.capacity += i.capacity;
        invariants.sold += i.sold;
        invariants.confirmed_bookings += i.confirmed_bookings;
        invariants.oversold += i.oversold;
        invariants.duplicates += i.duplicates;
        invariants
            .over_capacity
            .extend(i.over_capacity.iter().cloned());
        invariants.not_in_layout += i.not_in_layout;
        invariants.unknown_seats += i.unknown_seats;
        invariants.booked_without_booking += i.booked_without_booking;
        invariants.lost_confirmations += i.lost_confirmations;
    }
    RunSummary {
        name: "all events".into(),
        kind: summaries
            .first()
            .map(|s| s.kind.clone())
            .unwrap_or_default(),
        mode: summaries
            .first()
            .map(|s| s.mode.clone())
            .unwrap_or_default(),
        users: summaries.iter().map(|s| s.users).sum(),
        capacity: summaries.iter().map(|s| s.capacity).sum(),
        elapsed_secs: elapsed,
        hold: merge(|t| &t.hold),
        confirm: merge(|t| &t.confirm),
        availability_reads: summaries.iter().map(|s| s.availability_reads).sum(),
        confirmed: summaries.iter().map(|s| s.confirmed).sum(),
        sold_out_seconds: None,
        last_hold_seconds: None,
        invariants,
        verified: summaries.iter().all(|s| s.verified),
        verify_error: summaries.iter().find_map(|s| s.verify_error.clone()),
        failures: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn demand_adds_up_to_the_users() {
        let split = demand_split(10_000, 0.6, 0.05, 2);
        assert_eq!(split, vec![6_000, 1_750, 1_750, 500]);
        assert_eq!(demand_split(7, 0.5, 0.1, 3).iter().sum::<u64>(), 7);
        assert_eq!(demand_split(10, 0.5, 0.2, 0), vec![8, 2]);
    }
}
