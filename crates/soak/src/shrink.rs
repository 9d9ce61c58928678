//! Shrinking a failing case: smaller versions of the scenario (a fault, a NodePool edit or a
//! workload fewer, a day shorter) are run under the failing policy, and each one that still
//! breaks the same invariant is kept, until no smaller version does or the attempts run out.

use std::time::Duration;

use spotter_simulator::Policy;

use crate::generator::GeneratedScenario;
use crate::runner::{SoakError, run_policy};

/// The most simulation runs one shrink may take.
pub const MAX_ATTEMPTS: usize = 40;

/// A smaller scenario that still breaks `invariant` under `policy`, or `None` when no smaller
/// one was found.
pub fn shrink(
    scenario: &GeneratedScenario,
    policy: Policy,
    invariant: &str,
) -> Result<Option<GeneratedScenario>, SoakError> {
    let mut current = scenario.clone();
    let mut attempts = 0;
    let mut smaller = false;
    'search: loop {
        for candidate in candidates(&current) {
            if attempts >= MAX_ATTEMPTS {
                break 'search;
            }
            attempts += 1;
            // A candidate the reader refuses (a workload left without its pool) is skipped.
            let Ok(findings) = run_policy(&candidate, policy) else {
                continue;
            };
            if findings
                .iter()
                .any(|finding| finding.invariant == invariant)
            {
                current = candidate;
                smaller = true;
                continue 'search;
            }
        }
        break;
    }
    Ok(smaller.then_some(current))
}

/// The scenarios one step smaller than `scenario`: a day shorter, then each fault, NodePool
/// edit and workload left out in turn.
pub fn candidates(scenario: &GeneratedScenario) -> Vec<GeneratedScenario> {
    let mut candidates = Vec::new();
    let day = Duration::from_secs(86_400);
    if scenario.duration > day {
        let mut shorter = scenario.clone();
        shorter.duration -= day;
        let end = shorter.duration;
        shorter.faults.retain(|fault| fault.at < end);
        shorter.changes.retain(|change| {
            change
                .get("at")
                .and_then(|at| at.as_str())
                .and_then(|at| spotter_simulator::scenario::parse_duration(at).ok())
                .is_some_and(|at| at < end)
        });
        candidates.push(shorter);
    }
    for index in 0..scenario.faults.len() {
        let mut fewer = scenario.clone();
        fewer.faults.remove(index);
        candidates.push(fewer);
    }
    for index in 0..scenario.changes.len() {
        let mut fewer = scenario.clone();
        fewer.changes.remove(index);
        candidates.push(fewer);
    }
    if scenario.workloads.len() > 1 {
        for index in 0..scenario.workloads.len() {
            let mut fewer = scenario.clone();
            fewer.workloads.remove(index);
            candidates.push(fewer);
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::generate;

    #[test]
    fn every_candidate_is_one_part_smaller() {
        for index in 0..20 {
            let scenario = generate(5, index);
            let parts = |scenario: &GeneratedScenario| {
                scenario.faults.len()
                    + scenario.changes.len()
                    + scenario.workloads.len()
                    + scenario.duration.as_secs() as usize / 86_400
            };
            for candidate in candidates(&scenario) {
                assert!(
                    parts(&candidate) < parts(&scenario),
                    "scenario {index}: a candidate is not smaller"
                );
                assert!(
                    candidate
                        .faults
                        .iter()
                        .all(|fault| fault.at < candidate.duration),
                    "scenario {index}: a fault past the end"
                );
            }
        }
    }
}
