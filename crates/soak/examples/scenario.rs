//! One soak scenario: `cargo run -p spotter-soak --example scenario -- SEED INDEX` prints its
//! YAML, then each policy's violations.

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
