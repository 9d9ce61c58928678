//! The soak without the `spotter` binary (which pulls in the AWS SDK): for measuring in a
//! release build, `cargo run --release -p spotter-soak --example soak -- DAYS SEED JOBS`.
//! Prints each failure's replay command and the violations by invariant.

// An example is a binary: it reads its arguments (and the wall clock, for the time taken).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Instant;

use spotter_soak::{SoakOptions, replay_command, soak};

fn main() -> anyhow::Result<()> {
    let arguments: Vec<u64> = std::env::args()
        .skip(1)
        .map(|argument| argument.parse())
        .collect::<Result<_, _>>()?;
    let argument = |index: usize, default: u64| arguments.get(index).copied().unwrap_or(default);
    let options = SoakOptions {
        cluster_days: argument(0, 20),
        seed: argument(1, 1),
        jobs: usize::try_from(argument(2, 1))?,
        scenario: None,
        shrink: false,
    };
    let started = Instant::now();
    let summary = soak(&options, &|_| {})?;
    for failure in &summary.failures {
        println!(
            "{} under {}: {} violation(s), first: {} at {}s ({}: {})",
            replay_command(options.seed, failure.scenario.index),
            failure.policy.as_str(),
            failure.findings.len(),
            failure.findings[0].invariant,
            failure.findings[0].time_seconds,
            failure.findings[0].event,
            failure.findings[0].detail,
        );
    }
    println!(
        "{} cluster-days, {} scenarios, {} runs, violations {:?}, wall {:.1}s",
        summary.cluster_days,
        summary.scenarios,
        summary.runs,
        summary.violations,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
