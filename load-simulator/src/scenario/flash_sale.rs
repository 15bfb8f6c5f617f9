//! `flash-sale`: one event, M seats, N fans, until it sells out.

use crate::api::{Api, SectionKind};
use crate::cli::{FlashSaleArgs, LoadArgs};
use crate::report::{self, JsonSummary, RunSummary};
use crate::scenario::engine::{check_gateway, Engine, Intents, Target};
use crate::scenario::setup::{self, EventSpec, User};
use crate::scenario::{verify, write_json};
use crate::stats::new_histogram;
use std::sync::Arc;
use std::time::Duration;

pub async fn run(args: &FlashSaleArgs) -> anyhow::Result<RunSummary> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(args.seats > 0, "--seats must be at least 1");
    let load = &args.load;
    let kind = SectionKind::from(load.section_kind);
    let api = Api::new(&load.gateway, load.pool_size())?;
    check_gateway(&api).await?;

    let run_id = setup::new_run_id();
    eprintln!(
        "run {run_id}: an organizer, a venue and a published event with {} {kind} seats",
        args.seats
    );
    let organizer = setup::organizer(&api, &run_id).await?;
    let spec = EventSpec {
        name: "flash-sale".into(),
        kind,
        seats: args.seats,
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
    eprintln!("event {} on sale", on_sale.event_id);
    let users =
        Arc::new(setup::prepare_users(&api, &run_id, args.users, load.prepare_concurrency).await?);

    let target = Arc::new(Target::new(on_sale, args.users, &new_histogram()?));
    let summaries = timed_phase(
        &api,
        load,
        &organizer,
        users,
        vec![target],
        Intents::Cyclic {
            users: usize::try_from(args.users)?,
        },
    )
    .await?;
    let summary = summaries
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the run produced no summary"))?;

    print!("{}", report::render(&summary));
    println!(
        "\n{}\n{}",
        report::TABLE_HEADER,
        report::table_row(&summary)
    );
    if let Some(path) = &load.json {
        write_json(path, &JsonSummary::from(&summary))?;
    }
    Ok(summary)
}

/// Run the engine over `targets`, then read back and check the invariants.
pub(crate) async fn timed_phase(
    api: &Api,
    load: &LoadArgs,
    organizer: &str,
    users: Arc<Vec<User>>,
    targets: Vec<Arc<Target>>,
    intents: Intents,
) -> anyhow::Result<Vec<RunSummary>> {
    let mode = load.mode();
    eprintln!("timed phase: {mode}, at most {} s", load.duration);
    let engine = Arc::new(Engine::new(
        api.clone(),
        Arc::clone(&users),
        targets.clone(),
        load.shape(),
    ));
    let elapsed = engine.run(Arc::new(intents)).await;
    if let Some(reason) = engine.stop_reason() {
        eprintln!("stopped before selling out: {reason}");
    }
    let mut summaries: Vec<RunSummary> =
        targets.iter().map(|t| t.summary(&mode, elapsed)).collect();
    if !load.no_verify {
        // A failed read-back must not lose the figures: report it and fail the run.
        match verify::verify(api, organizer, &targets, &users, load.prepare_concurrency).await {
            Ok(reports) => {
                for (summary, report) in summaries.iter_mut().zip(reports) {
                    summary.invariants = report;
                    summary.verified = true;
                }
            }
            Err(e) => {
                for summary in &mut summaries {
                    summary.verify_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    Ok(summaries)
}
