//! One soak scenario: `cargo run -p spotter-soak --example scenario -- SEED INDEX [SECONDS]`
//! prints its YAML, then each policy's violations; with SECONDS, also the events of each run
//! within 15 minutes of that time into it.

// An example is a binary: it reads its arguments (and the wall clock, for the time taken).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use spotter_simulator::Policy;
use spotter_soak::{generate, runner::run_policy};

fn main() -> anyhow::Result<()> {
    let arguments: Vec<u64> = std::env::args()
        .skip(1)
        .map(|argument| argument.parse())
        .collect::<Result<_, _>>()?;
    let scenario = generate(
        arguments.first().copied().unwrap_or(1),
        arguments.get(1).copied().unwrap_or(0),
    );
    println!("{}", scenario.to_yaml()?);
    if let Some(around) = arguments.get(2).map(|seconds| *seconds as f64) {
        let simulated = scenario.scenario()?;
        for policy in Policy::ALL {
            let options = spotter_simulator::Options {
                policy,
                ..Default::default()
            };
            let report = spotter_simulator::run(&simulated, &options, &mut |_| {})?;
            for event in report
                .events
                .iter()
                .filter(|event| (event.time_seconds - around).abs() <= 900.0)
            {
                println!(
                    "# {} {:>8.0}s {:?} {} {} {}",
                    policy.as_str(),
                    event.time_seconds,
                    event.kind,
                    event.node_pool.as_deref().unwrap_or("-"),
                    event.node.as_deref().unwrap_or("-"),
                    event.detail
                );
            }
        }
    }
    for policy in Policy::ALL {
        for finding in run_policy(&scenario, policy)? {
            println!(
                "# {}: {} at {}s: {}: {}",
                policy.as_str(),
                finding.invariant,
                finding.time_seconds,
                finding.event,
                finding.detail
            );
        }
    }
    Ok(())
}
