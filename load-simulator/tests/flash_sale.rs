//! The whole simulator against an in-memory fake of the API contract: a clean
//! sale passes its read-back check, a sale that sells a seat twice or a
//! general-admission section past capacity fails it. Plus the report math.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_gateway;

use clap::Parser as _;
use fake_gateway::Faults;
use load_simulator::cli::{Cli, Command, FlashSaleArgs, MultiEventArgs};
use load_simulator::report::{JsonSummary, OpSummary};
use load_simulator::scenario::{flash_sale, multi_event};
use load_simulator::stats::new_histogram;

fn flash_args(gateway: &str, extra: &[&str]) -> FlashSaleArgs {
    let mut argv = vec!["load-simulator", "flash-sale", "--gateway", gateway];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::FlashSale(args) => args,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_clean_reserved_sale_sells_every_seat_once() {
    let gateway = fake_gateway::start(Faults::default()).await;
    let dir = std::env::temp_dir().join(format!("loadsim-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("run.json");
    let args = flash_args(
        &gateway,
        &[
            "--users",
            "120",
            "--seats",
            "80",
            "--seats-per-row",
            "30",
            "--concurrency",
            "16",
            "--duration",
            "30",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let summary = flash_sale::run(&args).await.unwrap();
    assert_eq!(summary.confirmed, 80);
    assert!(summary.sold_out_seconds.is_some());
    assert!(summary.verified);
    assert!(summary.invariants.ok(), "{:?}", summary.invariants);
    assert_eq!(summary.invariants.confirmed_bookings, 80);
    assert_eq!(summary.hold.ok, 80);
    assert!(
        summary.hold.statuses.get(&202).copied().unwrap_or(0) > 0,
        "some holds went through the 202 + poll path"
    );

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "holds_per_sec",
        "hold_p50_ms",
        "hold_p90_ms",
        "hold_p99_ms",
        "hold_p999_ms",
        "confirms_per_sec",
        "confirm_p99_ms",
        "confirmed",
        "oversold",
        "duplicates",
        "errors_5xx",
        "sold_out_seconds",
    ] {
        assert!(written.get(key).is_some(), "--json lacks {key}: {written}");
    }
    assert_eq!(written["confirmed"], 80);
    assert_eq!(written["oversold"], 0);
    assert_eq!(written["duplicates"], 0);
}

#[tokio::test]
async fn an_open_loop_general_admission_sale_stops_at_capacity() {
    let gateway = fake_gateway::start(Faults::default()).await;
    let args = flash_args(
        &gateway,
        &[
            "--users",
            "50",
            "--seats",
            "40",
            "--section-kind",
            "general",
            "--rate",
            "2000",
            "--duration",
            "30",
        ],
    );
    let summary = flash_sale::run(&args).await.unwrap();
    assert_eq!(summary.confirmed, 40);
    assert!(summary.invariants.ok(), "{:?}", summary.invariants);
    assert!(summary.mode.starts_with("open loop"));
}

#[tokio::test]
async fn a_hold_whose_answer_was_lost_is_retried_with_its_key_not_doubled() {
    let gateway = fake_gateway::start(Faults {
        lose_hold_answers: true,
        ..Faults::default()
    })
    .await;
    let args = flash_args(
        &gateway,
        &[
            "--users",
            "80",
            "--seats",
            "50",
            "--concurrency",
            "8",
            "--duration",
            "30",
        ],
    );
    let summary = flash_sale::run(&args).await.unwrap();
    assert!(summary.hold.statuses.get(&503).copied().unwrap_or(0) > 0);
    // A new key on the retry would leave the first hold's seats held for ever.
    assert_eq!(summary.confirmed, 50, "{summary:?}");
    assert!(summary.invariants.ok(), "{:?}", summary.invariants);
}

#[tokio::test]
async fn a_seat_sold_twice_fails_the_check() {
    let gateway = fake_gateway::start(Faults {
        double_sell_first_seat: true,
        ..Faults::default()
    })
    .await;
    // Ten seats and many fans: A-1 is picked again and again after it is sold.
    let args = flash_args(
        &gateway,
        &[
            "--users",
            "60",
            "--seats",
            "10",
            "--concurrency",
            "8",
            "--duration",
            "3",
        ],
    );
    let summary = flash_sale::run(&args).await.unwrap();
    assert!(
        summary.invariants.duplicates > 0,
        "{:?}",
        summary.invariants
    );
    assert!(!summary.invariants.ok());
    assert!(!load_simulator::scenario::all_ok(&[summary]));
}

#[tokio::test]
async fn general_admission_over_capacity_fails_the_check() {
    let gateway = fake_gateway::start(Faults {
        ga_never_runs_out: true,
        ..Faults::default()
    })
    .await;
    let args = flash_args(
        &gateway,
        &[
            "--users",
            "30",
            "--seats",
            "5",
            "--section-kind",
            "general",
            "--concurrency",
            "4",
            "--duration",
            "1",
        ],
    );
    let summary = flash_sale::run(&args).await.unwrap();
    assert!(summary.confirmed > 5);
    assert!(summary.invariants.oversold > 0, "{:?}", summary.invariants);
    assert_eq!(summary.invariants.over_capacity.len(), 1);
    assert!(!summary.invariants.ok());
}

#[tokio::test]
async fn multi_event_reports_each_event_and_the_hot_one_sells_out() {
    let gateway = fake_gateway::start(Faults::default()).await;
    let argv = [
        "load-simulator",
        "multi-event",
        "--gateway",
        &gateway,
        "--users",
        "200",
        "--hot-seats",
        "40",
        "--warm-events",
        "2",
        "--warm-seats",
        "60",
        "--cold-seats",
        "50",
        "--concurrency",
        "16",
        "--duration",
        "30",
    ];
    let args: MultiEventArgs = match Cli::try_parse_from(argv).unwrap().command {
        Command::MultiEvent(args) => args,
        _ => unreachable!(),
    };
    let summaries = multi_event::run(&args).await.unwrap();
    let names: Vec<&str> = summaries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hot", "warm-1", "warm-2", "cold"]);
    let hot = &summaries[0];
    assert_eq!(hot.users, 120);
    assert_eq!(hot.confirmed, 40, "120 fans for 40 seats");
    assert!(hot.sold_out_seconds.is_some());
    // Warm: 35 fans each for 60 seats; cold: 10 fans for 50 seats.
    assert_eq!(summaries[1].confirmed, 35);
    assert_eq!(summaries[3].confirmed, 10);
    assert!(summaries[3].sold_out_seconds.is_none());
    assert!(summaries.iter().all(|s| s.invariants.ok()));
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_clear_error() {
    // Bind and drop a listener: nothing answers on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = flash_args(
        &format!("http://127.0.0.1:{port}"),
        &["--users", "1", "--seats", "1"],
    );
    let error = flash_sale::run(&args).await.unwrap_err().to_string();
    assert!(error.contains("cannot reach the gateway"), "{error}");
    assert!(error.contains("--gateway"), "{error}");
}

#[test]
fn histograms_become_the_json_figures() {
    let mut h = new_histogram().unwrap();
    // 1..=1000 ms, one request each.
    for ms in 1..=1000u64 {
        h.record(ms * 1000).unwrap();
    }
    let op = OpSummary::new(&h, [(201, 1000)].into(), 1000, 2.0, 4.0);
    assert_eq!(op.ok_per_sec, 500.0);
    assert_eq!(op.requests_per_sec, 250.0);
    let close = |a: f64, b: f64| (a - b).abs() <= b * 0.01;
    assert!(close(op.p50_ms, 500.0), "{}", op.p50_ms);
    assert!(close(op.p90_ms, 900.0), "{}", op.p90_ms);
    assert!(close(op.p99_ms, 990.0), "{}", op.p99_ms);
    assert!(close(op.p999_ms, 999.0), "{}", op.p999_ms);
    assert!(close(op.max_ms, 1000.0), "{}", op.max_ms);

    let summary = load_simulator::report::RunSummary {
        name: "t".into(),
        kind: "reserved".into(),
        mode: "closed loop, 1 concurrent".into(),
        users: 1,
        capacity: 1000,
        elapsed_secs: 4.0,
        hold: op.clone(),
        confirm: OpSummary::new(&h, [(201, 990), (503, 10)].into(), 990, 3.0, 4.0),
        availability_reads: 0,
        confirmed: 990,
        sold_out_seconds: Some(3.0),
        last_hold_seconds: Some(2.0),
        invariants: Default::default(),
        verified: true,
        verify_error: None,
        failures: vec![],
    };
    let json = JsonSummary::from(&summary);
    assert_eq!(json.holds_per_sec, 500.0);
    assert_eq!(json.confirms_per_sec, 330.0);
    assert_eq!(json.errors_5xx, 10);
    assert_eq!(json.confirmed, 990);
    assert_eq!(json.sold_out_seconds, Some(3.0));
    assert!(json.invariants_ok);
    let row = load_simulator::report::table_row(&summary);
    assert_eq!(row.matches('|').count(), 16, "{row}");
}

#[test]
fn closed_and_open_loop_are_exclusive() {
    let both = Cli::try_parse_from([
        "load-simulator",
        "flash-sale",
        "--concurrency",
        "8",
        "--rate",
        "100",
    ]);
    assert!(
        both.is_err(),
        "--concurrency and --rate together must be refused"
    );
    let open = flash_args("http://x", &["--rate", "100"]);
    assert!(matches!(
        open.load.mode(),
        load_simulator::scenario::engine::Mode::Open { .. }
    ));
    let closed = flash_args("http://x", &[]);
    assert!(matches!(
        closed.load.mode(),
        load_simulator::scenario::engine::Mode::Closed { concurrency: 256 }
    ));
}
