//! Scenarios: preparation, the timed phase, the read-back check.

pub mod engine;
pub mod flash_sale;
pub mod multi_event;
pub mod setup;
pub mod verify;

use crate::report::RunSummary;
use std::path::Path;

/// Write a JSON document next to the human report.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Whether every event passed its invariant check.
pub fn all_ok(summaries: &[RunSummary]) -> bool {
    summaries.iter().all(RunSummary::passed)
}
