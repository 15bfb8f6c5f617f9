//! `smtp-catcher --listen 127.0.0.1:2525 --dir PATH [--reject fail]`: the
//! local stack's mail catcher. Every accepted mail becomes one `.eml` file.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "smtp-catcher",
    about = "A tiny SMTP server that writes each mail it gets into a folder"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2525", env = "SMTP_CATCHER_LISTEN")]
    listen: String,
    /// Folder that receives one `.eml` file per mail (created when missing).
    #[arg(long, env = "SMTP_CATCHER_DIR")]
    dir: PathBuf,
    /// Refuse recipients containing this text with 550 (repeatable), to try failures.
    #[arg(long)]
    reject: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let catcher = smtp_catcher::Catcher::start(
        &cli.listen,
        smtp_catcher::Config {
            dir: Some(cli.dir.clone()),
            reject: cli.reject,
        },
    )
    .await?;
    println!(
        "smtp-catcher listening on {} (mails go to {})",
        catcher.url(),
        cli.dir.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
