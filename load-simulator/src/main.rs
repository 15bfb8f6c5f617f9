//! `load-simulator`: flash-sale load against the gateway (see the load-simulator issue).

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "load-simulator",
    about = "Flash-sale load simulations against the Evently gateway"
)]
struct Cli {
    /// Gateway base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let health: serde_json::Value = reqwest::get(format!("{}/health", cli.gateway))
        .await?
        .json()
        .await?;
    println!("{}", serde_json::to_string_pretty(&health)?);
    Ok(())
}
