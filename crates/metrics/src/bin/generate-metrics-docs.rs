//! Writes `docs/metrics.md` (or the file given as the only argument) from the metric families
//! of `spotter_metrics::Metrics`.

// A build tool: it takes a path argument and writes the generated file.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
        PathBuf::from,
    );
    let markdown = match spotter_metrics::describe::markdown() {
        Ok(markdown) => markdown,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::write(&path, markdown) {
        eprintln!("error: failed to write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}
