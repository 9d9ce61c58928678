//! Spotter's deterministic fault soak (`spotter soak`): random scenarios drawn from a seed
//! (NodePools, workloads, a market, faults and NodePool edits: [`generator`]), each run in
//! the simulator under both presets with every invariant checked all through ([`runner`]),
//! each failing case shrunk to a smaller one that still fails ([`shrink`]) and replayable
//! from its seed and index ([`replay_command`]) or from its scenario file
//! ([`GeneratedScenario::to_yaml`]). Pure: no file, clock or async; `jobs` threads at most.

pub mod generator;
pub mod runner;
pub mod shrink;

pub use generator::{GeneratedScenario, GeneratorError, generate};
pub use runner::{Failure, Finding, SoakError, SoakOptions, SoakSummary, plan, run_case, soak};

/// The command that runs scenario `index` of the soak seeded with `seed` again.
pub fn replay_command(seed: u64, index: u64) -> String {
    format!("spotter soak --seed {seed} --scenario {index}")
}

/// The file name a failing scenario is written under.
pub fn file_name(scenario: &GeneratedScenario) -> String {
    format!("{}.yaml", scenario.name())
}
