//! Command-line interface.

use crate::api::SectionKind;
use crate::scenario::engine::{Mode, Shape};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "load-simulator",
    version,
    about = "Flash-sale load simulations against the Evently gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One event with M seats and N fans racing for them until it sells out.
    FlashSale(FlashSaleArgs),
    /// Several events at once: one hot (sells out), warm ones, a cold one.
    MultiEvent(MultiEventArgs),
    /// Produce → consume through the broker with the services' client settings.
    BrokerRoundtrip(BrokerArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Reserved,
    General,
}

impl From<Kind> for SectionKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Reserved => Self::Reserved,
            Kind::General => Self::General,
        }
    }
}

/// Options shared by the scenarios that go through the gateway.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Gateway base URL.
    #[arg(long, env = "EVENTLY_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,

    /// Reserved seats (holds name seat ids) or general admission (holds ask for a quantity).
    #[arg(long, value_enum, default_value_t = Kind::Reserved)]
    pub section_kind: Kind,

    /// Closed loop: this many purchases in flight at all times [default: 256].
    #[arg(long, conflicts_with = "rate")]
    pub concurrency: Option<usize>,

    /// Open loop: start this many purchases per second, whatever the answers do.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Open loop: at most this many purchases in flight (time spent waiting counts as
    /// latency); each may hold a connection, so keep it under the open-files limit.
    #[arg(long, default_value_t = 2_000)]
    pub max_in_flight: usize,

    /// Hard end of the timed phase, in seconds.
    #[arg(long, default_value_t = 120)]
    pub duration: u64,

    /// Seats (or places) per hold.
    #[arg(long, default_value_t = 1)]
    pub tickets_per_hold: u64,

    /// Write a JSON summary to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Seats per row of the generated reserved sections.
    #[arg(long, default_value_t = 100)]
    pub seats_per_row: u32,

    /// Parallel registrations/logins while preparing users (not timed).
    #[arg(long, default_value_t = 64)]
    pub prepare_concurrency: usize,

    /// How long to wait for the booking service to show a published event's seats.
    #[arg(long, default_value_t = 60)]
    pub inventory_timeout: u64,

    /// Stop the run once this many requests failed unexpectedly (5xx, no answer, odd 4xx).
    #[arg(long, default_value_t = 1_000)]
    pub max_errors: u64,

    /// Refresh the shared seat map on a conflict when it is older than this (ms).
    #[arg(long, default_value_t = 1_000)]
    pub refresh_ms: u64,

    /// Skip the read-back invariant check (it reads every user's bookings).
    #[arg(long)]
    pub no_verify: bool,
}

impl LoadArgs {
    pub fn mode(&self) -> Mode {
        match self.rate {
            Some(rate) => Mode::Open {
                rate,
                max_in_flight: self.max_in_flight,
            },
            None => Mode::Closed {
                concurrency: self.concurrency.unwrap_or(256),
            },
        }
    }

    pub fn shape(&self) -> Shape {
        Shape {
            mode: self.mode(),
            duration: Duration::from_secs(self.duration),
            tickets_per_hold: self.tickets_per_hold.max(1),
            max_errors: self.max_errors,
            refresh_every: Duration::from_millis(self.refresh_ms),
        }
    }

    /// Connections worth keeping open to the gateway.
    pub fn pool_size(&self) -> usize {
        match self.mode() {
            Mode::Closed { concurrency } => concurrency.max(self.prepare_concurrency),
            Mode::Open { max_in_flight, .. } => max_in_flight.min(1024),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FlashSaleArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Simulated fans (registered and logged in before the timed phase).
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,

    /// Seats (or general-admission places) on sale.
    #[arg(long, default_value_t = 5_000)]
    pub seats: u64,
}

#[derive(Debug, Clone, Args)]
pub struct MultiEventArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Simulated fans, spread over the events by the shares below.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,

    /// Seats of the hot event (its demand far exceeds them).
    #[arg(long, default_value_t = 2_000)]
    pub hot_seats: u64,

    /// Share of the fans who want the hot event.
    #[arg(long, default_value_t = 0.6)]
    pub hot_share: f64,

    /// Number of warm events (they share what is left of the fans).
    #[arg(long, default_value_t = 2)]
    pub warm_events: u32,

    /// Seats of each warm event.
    #[arg(long, default_value_t = 3_000)]
    pub warm_seats: u64,

    /// Seats of the cold event.
    #[arg(long, default_value_t = 1_000)]
    pub cold_seats: u64,

    /// Share of the fans who want the cold event.
    #[arg(long, default_value_t = 0.05)]
    pub cold_share: f64,
}

#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Bootstrap servers (IPv4: the local broker does not listen on ::1).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Messages to send.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,

    /// Produce requests awaiting their acknowledgement at once.
    #[arg(long, default_value_t = 1_000)]
    pub in_flight: usize,

    /// Payload size in bytes (a booking command is a few hundred).
    #[arg(long, default_value_t = 400)]
    pub payload_bytes: usize,

    /// Partitions of the scratch topic (the services default to 12).
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,

    /// Producer linger in ms [default: the services' setting].
    #[arg(long)]
    pub linger_ms: Option<u32>,

    /// Give up waiting for messages to come back after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,

    /// Write a JSON summary to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
