//! The soak's runner: the scenarios of a soak (drawn until their days add up to the cluster-days
//! asked for, or the one scenario asked for), each run under both presets
//! ([`Policy::ALL`]) in the simulator with the invariants checked all through, on `jobs`
//! threads; the violations collected per scenario and policy, and each failing case shrunk.
//! The result does not depend on `jobs`: scenarios are drawn by index and sorted back.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use spotter_simulator::{Options, Policy};

use crate::generator::{self, GeneratedScenario, GeneratorError};
use crate::shrink;

/// What a soak runs.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// The soak's seed: every scenario is drawn from it and its index.
    pub seed: u64,
    /// Scenarios are drawn until their durations add up to this many days.
    pub cluster_days: u64,
    /// Only this scenario (a replay), whatever `cluster_days` says.
    pub scenario: Option<u64>,
    /// Threads running scenarios (at least 1).
    pub jobs: usize,
    /// Whether failing cases are shrunk.
    pub shrink: bool,
}

/// One invariant violation of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The invariant.
    pub invariant: String,
    /// When, in seconds from the start.
    pub time_seconds: f64,
    /// The event being handled.
    pub event: String,
    /// What was wrong.
    pub detail: String,
}

/// A scenario run under one policy that broke an invariant.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The scenario.
    pub scenario: GeneratedScenario,
    /// The policy it failed under.
    pub policy: Policy,
    /// Its violations.
    pub findings: Vec<Finding>,
    /// A smaller scenario that still breaks the first finding's invariant, if shrinking
    /// found one.
    pub shrunk: Option<GeneratedScenario>,
}

/// What a soak found.
#[derive(Clone, Debug, Default)]
pub struct SoakSummary {
    /// Simulated days of the scenarios run (each run under every policy).
    pub cluster_days: u64,
    /// Scenarios run.
    pub scenarios: u64,
    /// Simulation runs (scenarios × policies).
    pub runs: u64,
    /// Violations by invariant, over every run.
    pub violations: BTreeMap<String, u64>,
    /// The failing cases, by scenario index then policy.
    pub failures: Vec<Failure>,
}

/// Why a soak could not run.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// A generated scenario is not one the simulator reads (a generator bug).
    #[error(transparent)]
    Generator(#[from] GeneratorError),
    /// The simulation could not start.
    #[error("scenario {name}: {source}")]
    Simulation {
        /// The scenario.
        name: String,
        /// The simulator's error.
        source: spotter_simulator::SimulationError,
    },
}

/// A scenario's index and its failing runs.
type CaseOutcome = (usize, Result<Vec<Failure>, SoakError>);

/// The scenarios a soak runs.
pub fn plan(options: &SoakOptions) -> Vec<GeneratedScenario> {
    if let Some(index) = options.scenario {
        return vec![generator::generate(options.seed, index)];
    }
    let mut scenarios = Vec::new();
    let mut seconds = 0;
    let target = options.cluster_days.saturating_mul(86_400);
    let mut index = 0;
    while seconds < target {
        let scenario = generator::generate(options.seed, index);
        seconds += scenario.duration.as_secs();
        scenarios.push(scenario);
        index += 1;
    }
    scenarios
}

/// Runs one scenario under one policy; returns its violations.
pub fn run_policy(scenario: &GeneratedScenario, policy: Policy) -> Result<Vec<Finding>, SoakError> {
    let simulated = scenario.scenario()?;
    let options = Options {
        policy,
        ..Options::default()
    };
    let report = spotter_simulator::run(&simulated, &options, &mut |_| {}).map_err(|source| {
        SoakError::Simulation {
            name: scenario.name(),
            source,
        }
    })?;
    Ok(report
        .invariant_violations
        .iter()
        .map(|violation| Finding {
            invariant: violation.invariant.clone(),
            time_seconds: violation.time_seconds,
            event: violation.event.clone(),
            detail: violation.detail.clone(),
        })
        .collect())
}

/// Runs a soak; `done` is called after each scenario with the simulated time it covered.
pub fn soak(
    options: &SoakOptions,
    done: &(dyn Fn(Duration) + Sync),
) -> Result<SoakSummary, SoakError> {
    let scenarios = plan(options);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<CaseOutcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(scenario) = scenarios.get(index) else {
                        break;
                    };
                    let result = run_case(scenario, options.shrink);
                    done(scenario.duration);
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((index, result));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _)| *index);
    let mut summary = SoakSummary {
        cluster_days: scenarios
            .iter()
            .map(|scenario| scenario.duration.as_secs())
            .sum::<u64>()
            / 86_400,
        scenarios: scenarios.len() as u64,
        runs: (scenarios.len() * Policy::ALL.len()) as u64,
        ..SoakSummary::default()
    };
    for (_, result) in results {
        for failure in result? {
            for finding in &failure.findings {
                *summary
                    .violations
                    .entry(finding.invariant.clone())
                    .or_default() += 1;
            }
            summary.failures.push(failure);
        }
    }
    Ok(summary)
}

/// Runs one scenario under every policy; the failing runs, shrunk when `shrink` is set.
pub fn run_case(scenario: &GeneratedScenario, shrink: bool) -> Result<Vec<Failure>, SoakError> {
    let mut failures = Vec::new();
    for policy in Policy::ALL {
        let findings = run_policy(scenario, policy)?;
        if findings.is_empty() {
            continue;
        }
        let shrunk = if shrink {
            shrink::shrink(scenario, policy, &findings[0].invariant)?
        } else {
            None
        };
        failures.push(Failure {
            scenario: scenario.clone(),
            policy,
            findings,
            shrunk,
        });
    }
    Ok(failures)
}
