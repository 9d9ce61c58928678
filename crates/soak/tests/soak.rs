//! The soak's own checks: generated scenarios are deterministic and survive a round trip
//! through a scenario file; and a short soak (20 cluster-days, in CI) breaks no invariant.

use spotter_simulator::Scenario;
use spotter_soak::{SoakOptions, generate, plan, replay_command, soak};

/// A generated scenario written to a file and read back with the simulator's loader is the
/// scenario the generator meant: the same as read from memory, its faults equal to the typed
/// ones drawn, its NodePools and workloads all there.
#[test]
fn generated_scenarios_round_trip_through_a_scenario_file() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    for index in 0..40 {
        let generated = generate(3, index);
        let in_memory = generated
            .scenario()
            .unwrap_or_else(|error| panic!("scenario {index}: {error}"));
        let path = folder.path().join(spotter_soak::file_name(&generated));
        let text = generated.to_yaml().expect("YAML");
        #[allow(clippy::disallowed_methods)] // a test writes its temporary file
        std::fs::write(&path, &text).expect("written");
        let loaded = Scenario::load(&path).unwrap_or_else(|error| panic!("{index}: {error}"));
        assert_eq!(
            format!("{loaded:?}"),
            format!("{in_memory:?}"),
            "scenario {index} read from its file"
        );
        assert_eq!(loaded.faults, generated.faults, "scenario {index}: faults");
        assert_eq!(loaded.name, generated.name());
        assert_eq!(loaded.seed, generated.seed);
        assert_eq!(loaded.duration, generated.duration);
        assert_eq!(loaded.node_pools.len(), generated.node_pools.len());
        assert_eq!(
            loaded.deployments.len() + loaded.jobs.len(),
            generated.workloads.len()
        );
        assert_eq!(
            loaded.pod_disruption_budgets.len(),
            generated
                .workloads
                .iter()
                .filter(|workload| workload.budget.is_some())
                .count()
        );
        assert_eq!(loaded.changes.len(), generated.changes.len());
        assert!(
            text.contains(&replay_command(3, index)),
            "the file says how to replay it"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_scenarios_and_another_seed_others() {
    for index in 0..10 {
        assert_eq!(generate(1, index), generate(1, index));
        assert_ne!(generate(1, index), generate(2, index));
    }
    let options = |cluster_days, scenario| SoakOptions {
        seed: 1,
        cluster_days,
        scenario,
        jobs: 1,
        shrink: false,
    };
    let days = |scenarios: &[spotter_soak::GeneratedScenario]| {
        scenarios
            .iter()
            .map(|scenario| scenario.duration.as_secs())
            .sum::<u64>()
            / 86_400
    };
    for cluster_days in [1, 10, 100] {
        let scenarios = plan(&options(cluster_days, None));
        assert!(days(&scenarios) >= cluster_days);
        assert!(days(&scenarios) < cluster_days + 3);
    }
    let replay = plan(&options(100, Some(7)));
    assert_eq!(replay, vec![generate(1, 7)]);
}

/// What a generated scenario holds, over many: every fault kind, both kinds of workload,
/// budgets, NodePool edits, taints and both regions occur.
#[test]
fn the_generator_covers_every_fault_kind_and_feature() {
    let scenarios: Vec<_> = (0..200).map(|index| generate(11, index)).collect();
    let yaml: Vec<String> = scenarios
        .iter()
        .map(|scenario| scenario.to_yaml().expect("YAML"))
        .collect();
    let features = [
        "spotOutage",
        "onDemandOutage",
        "interruptSpotNodes",
        "controllerRestart",
        "cloudApiErrors",
        "unregisteredNodes",
        "interruptionDelivery",
        "deleteNodePool",
        "watchEvents",
        "job:",
        "diurnal",
        "steps",
        "podAntiAffinity",
        "topologySpreadConstraints",
        "tolerations",
        "taints",
        "budgets",
        "PodDisruptionBudget",
        "spotter.dev/return-to-spot",
        "limits",
        "nodePool:",
        "ap-northeast-2",
        "us-east-1",
    ];
    for feature in features {
        let count = yaml.iter().filter(|text| text.contains(feature)).count();
        assert!(count >= 3, "{feature} in {count} of 200 scenarios");
    }
    for scenario in &scenarios {
        let days = scenario.duration.as_secs() / 86_400;
        assert!((1..=3).contains(&days), "{}", scenario.name());
    }
}

/// Violations of the CI soak that are known controller defects, each kept in
/// `crates/soak/regressions/` and guarded by `tests/regressions.rs` (scenario index, policy,
/// invariant). Remove an entry once its defect is fixed.
const KNOWN_DEFECTS: &[(u64, &str, &str)] = &[];

/// The CI soak: 20 cluster-days from seed 1 under both presets; any violation but the known
/// defects fails it, with each failing case's replay command and first violation.
#[test]
fn a_short_soak_breaks_no_invariant_but_the_known_defects() {
    let options = SoakOptions {
        seed: 1,
        cluster_days: 20,
        scenario: None,
        jobs: 2,
        shrink: false,
    };
    let summary = soak(&options, &|_| {}).expect("the soak runs");
    assert!(summary.cluster_days >= 20);
    assert_eq!(summary.runs, summary.scenarios * 2);
    let unexpected: Vec<String> = summary
        .failures
        .iter()
        .flat_map(|failure| {
            failure.findings.iter().filter_map(move |finding| {
                let known = KNOWN_DEFECTS.contains(&(
                    failure.scenario.index,
                    failure.policy.as_str(),
                    finding.invariant.as_str(),
                ));
                (!known).then(|| {
                    format!(
                        "{} ({}): {} at {}s: {}",
                        replay_command(options.seed, failure.scenario.index),
                        failure.policy.as_str(),
                        finding.invariant,
                        finding.time_seconds,
                        finding.detail
                    )
                })
            })
        })
        .collect();
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
