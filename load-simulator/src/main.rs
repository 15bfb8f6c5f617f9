//! `load-simulator`: see docs/load-simulator.md.

use clap::Parser as _;
use load_simulator::cli::{Cli, Command};
use load_simulator::scenario::{all_ok, flash_sale, multi_event};
use std::process::ExitCode;

/// Exit code when a run finished but its invariant check failed.
const INVARIANTS_FAILED: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::FlashSale(args) => flash_sale::run(args).await.map(|s| all_ok(&[s])),
        Command::MultiEvent(args) => multi_event::run(args).await.map(|s| all_ok(&s)),
        Command::BrokerRoundtrip(args) => load_simulator::broker::run(args).await.map(|_| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("invariant check FAILED");
            ExitCode::from(INVARIANTS_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
