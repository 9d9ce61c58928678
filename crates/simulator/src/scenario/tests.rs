//! Tests of the scenario module: the example scenarios, the built-in default, replica curves,
//! and the table of errors (each naming the file, the line and the field path).

use std::path::{Path, PathBuf};
use std::time::Duration;

use spotter_core::pod::WhenUnsatisfiable;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios")
}

#[test]
fn every_example_scenario_parses() {
    let Ok(entries) = std::fs::read_dir(examples_dir()) else {
        panic!("examples/scenarios must exist");
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in &paths {
        match Scenario::load(path) {
            Ok(scenario) => {
                assert!(!scenario.node_pools.is_empty(), "{}", path.display());
                assert!(
                    !scenario.deployments.is_empty() || !scenario.jobs.is_empty(),
                    "{}",
                    path.display()
                );
                assert!(scenario.warnings.is_empty(), "{:?}", scenario.warnings);
            }
            Err(error) => panic!("{error}"),
        }
    }
}

#[test]
fn the_builtin_default_is_the_seed_cluster() {
    let scenario = Scenario::builtin_default();
    assert_eq!(scenario.name, "seed-diurnal");
    assert_eq!(scenario.region, "ap-northeast-2");
    assert_eq!(scenario.duration, 14 * 24 * HOUR);
    assert_eq!(scenario.seed, 1);
    let pools: Vec<(&str, i32)> = scenario
        .node_pools
        .iter()
        .map(|pool| (pool.name.as_str(), pool.weight))
        .collect();
    assert_eq!(pools, [("batch", 100), ("batch-fallback", 10)]);
    assert_eq!(scenario.deployments.len(), 1);
    let deployment = &scenario.deployments[0];
    assert_eq!(
        (deployment.namespace.as_str(), deployment.name.as_str()),
        ("default", "batch-workers")
    );
    assert!(matches!(
        deployment.replicas,
        ReplicaCurve::Diurnal {
            min: 40,
            max: 320,
            ..
        }
    ));
    assert_eq!(deployment.template.requests.cpu_millicores, 750);
    assert_eq!(deployment.template.required_node_affinity.len(), 1);
    assert_eq!(
        deployment.template.topology_spread[0].when_unsatisfiable,
        WhenUnsatisfiable::ScheduleAnyway
    );
    assert_eq!(scenario.daemon_set_pods.len(), 1);
    assert_eq!(scenario.pod_disruption_budgets.len(), 1);
    let budget = &scenario.pod_disruption_budgets[0];
    assert_eq!(
        budget.budget,
        DisruptionBudget::MaxUnavailable(IntOrPercent::Percent(10))
    );
    assert!(budget.selector.matches(&deployment.template.labels));
    assert!(scenario.jobs.is_empty());
    // Two Spot shortages: the whole region on day 4, one zone on day 10.
    let outages: Vec<(Duration, Option<&str>)> = scenario
        .faults
        .iter()
        .filter_map(|fault| match &fault.kind {
            FaultKind::SpotOutage { zone, .. } => Some((fault.at, zone.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(
        outages,
        [
            (Duration::from_secs((3 * 24 + 10) * 3600), None),
            (
                Duration::from_secs((9 * 24 + 9) * 3600),
                Some("ap-northeast-2a")
            ),
        ]
    );
    assert_eq!(scenario.market, MarketSettings::default());
    assert_eq!(scenario.timing, Timing::default());
    assert_eq!(scenario.pending_threshold, 15 * Duration::from_secs(60));
    assert!(scenario.warnings.is_empty(), "{:?}", scenario.warnings);
}

#[test]
fn examples_have_the_documented_shape() {
    let load = |name: &str| match Scenario::load(&examples_dir().join(name)) {
        Ok(scenario) => scenario,
        Err(error) => panic!("{error}"),
    };
    let large = load("large-30d.yaml");
    assert_eq!(large.region, "us-east-1");
    assert_eq!(large.duration, 30 * 24 * HOUR);
    let peak_cpu: u64 = large
        .deployments
        .iter()
        .map(|deployment| {
            let peak = match &deployment.replicas {
                ReplicaCurve::Constant(count) => *count,
                ReplicaCurve::Diurnal { max, .. } => *max,
                ReplicaCurve::Steps(steps) => steps.iter().map(|step| step.1).max().unwrap_or(0),
            };
            u64::from(peak) * deployment.template.requests.cpu_millicores as u64
        })
        .sum();
    // About 500 nodes of 16 vCPUs.
    assert!((6_000_000..9_000_000).contains(&peak_cpu), "{peak_cpu}");

    let outage = load("spot-outage-zone.yaml");
    assert_eq!(outage.duration, 48 * HOUR);
    assert!(matches!(
        &outage.faults[..],
        [Fault { at, kind: FaultKind::SpotOutage { zone: Some(_), instance_type: None, duration } }]
            if *at == 34 * HOUR && *duration == 2 * HOUR
    ));

    let batch = load("batch-jobs.yaml");
    assert_eq!(batch.duration, 7 * 24 * HOUR);
    assert!(batch.jobs.len() >= 2 && batch.deployments.len() == 1);
    for job in &batch.jobs {
        assert!((20..=50).contains(&job.parallelism), "{}", job.name);
        assert!(!job.arrivals.is_empty());
    }

    let storm = load("interruption-storm.yaml");
    assert_eq!(storm.duration, 72 * HOUR);
    assert!(storm.market.interruption_scale > 1.0);
    assert!(storm.faults.iter().any(|fault| matches!(
        fault.kind,
        FaultKind::InterruptSpotNodes { fraction, .. } if fraction == 0.3
    ) && fault.at == 38 * HOUR));
}

/// Each fault kind written in a file is read into its typed value.
#[test]
fn every_fault_kind_is_read() {
    let minute = Duration::from_secs(60);
    let cases = [
        (
            "{at: 1h, cloudApiErrors: {duration: 30m, throttled: 0.5, serverErrors: 0.25, unknownOutcome: 0.1}}",
            FaultKind::CloudApiErrors {
                duration: 30 * minute,
                throttled: 0.5,
                server_errors: 0.25,
                unknown_outcome: 0.1,
            },
        ),
        (
            "{at: 1h, cloudApiErrors: {duration: 30m}}",
            FaultKind::CloudApiErrors {
                duration: 30 * minute,
                throttled: 0.0,
                server_errors: 0.0,
                unknown_outcome: 0.0,
            },
        ),
        (
            "{at: 1h, unregisteredNodes: {duration: 2h, fraction: 0.3}}",
            FaultKind::UnregisteredNodes {
                duration: 2 * HOUR,
                fraction: 0.3,
            },
        ),
        (
            "{at: 1h, interruptionDelivery: {duration: 2h, duplicate: 1, late: 0.5, delay: 45s}}",
            FaultKind::InterruptionDelivery {
                duration: 2 * HOUR,
                duplicate: 1.0,
                late: 0.5,
                delay: Duration::from_secs(45),
            },
        ),
        (
            "{at: 1h, watchEvents: {duration: 1h, lost: 0.5, duplicated: 0.25, relist: 5m}}",
            FaultKind::WatchEvents {
                duration: HOUR,
                lost: 0.5,
                duplicated: 0.25,
                relist: 5 * minute,
            },
        ),
        (
            "{at: 1h, deleteNodePool: {name: batch-fallback}}",
            FaultKind::DeleteNodePool {
                name: "batch-fallback".to_string(),
            },
        ),
    ];
    for (entry, kind) in cases {
        let text = format!("{BASE}faults:\n  - {entry}\n");
        let scenario = Scenario::parse("t.yaml", &text, &examples_dir())
            .unwrap_or_else(|error| panic!("{entry}: {error}"));
        assert_eq!(scenario.faults, vec![Fault { at: HOUR, kind }], "{entry}");
    }
}

#[test]
fn replica_curves_give_counts_over_time() {
    let constant = ReplicaCurve::Constant(7);
    assert_eq!(constant.replicas_at(Duration::ZERO), 7);
    assert_eq!(constant.replicas_at(100 * HOUR), 7);

    let diurnal = ReplicaCurve::Diurnal {
        min: 30,
        max: 300,
        peak_hour: 14.0,
    };
    let cases = [
        (14 * HOUR, 300),
        (2 * HOUR, 30),
        (38 * HOUR, 300),
        (26 * HOUR, 30),
        (8 * HOUR, 165),
        (20 * HOUR, 165),
    ];
    for (at, expected) in cases {
        assert_eq!(diurnal.replicas_at(at), expected, "{at:?}");
    }
    for minute in (0..24 * 60).step_by(7) {
        let count = diurnal.replicas_at(Duration::from_secs(minute * 60));
        assert!((30..=300).contains(&count), "{minute}: {count}");
    }
    let wrapping = ReplicaCurve::Diurnal {
        min: 0,
        max: 10,
        peak_hour: 2.0,
    };
    assert_eq!(wrapping.replicas_at(2 * HOUR), 10);
    assert_eq!(wrapping.replicas_at(14 * HOUR), 0);

    let steps = ReplicaCurve::Steps(vec![(HOUR, 10), (3 * HOUR, 50), (5 * HOUR, 0)]);
    let cases = [
        (Duration::ZERO, 0),
        (HOUR - Duration::from_secs(1), 0),
        (HOUR, 10),
        (2 * HOUR, 10),
        (3 * HOUR, 50),
        (6 * HOUR, 0),
    ];
    for (at, expected) in cases {
        assert_eq!(steps.replicas_at(at), expected, "{at:?}");
    }
}

#[test]
fn change_times_say_when_to_re_evaluate() {
    assert_eq!(
        ReplicaCurve::Constant(3).change_times(10 * HOUR),
        [Duration::ZERO]
    );
    let diurnal = ReplicaCurve::Diurnal {
        min: 1,
        max: 2,
        peak_hour: 0.0,
    };
    let times = diurnal.change_times(HOUR);
    assert_eq!(times.len(), 12);
    assert_eq!(times[1], Duration::from_secs(300));
    assert_eq!(times[11], Duration::from_secs(55 * 60));
    assert_eq!(diurnal.change_times(14 * 24 * HOUR).len(), 14 * 24 * 12);
    assert_eq!(
        diurnal.change_times(Duration::MAX).len(),
        (MAX_DURATION.as_secs() / 300) as usize
    );
    let steps = ReplicaCurve::Steps(vec![(Duration::ZERO, 4), (2 * HOUR, 8), (20 * HOUR, 1)]);
    assert_eq!(steps.change_times(10 * HOUR), [Duration::ZERO, 2 * HOUR]);
}

/// The start of most error cases: four lines, so the case's own text starts on line 5.
const BASE: &str = "name: t
region: ap-northeast-2
duration: 2d
manifests: [../seed/nodepools.yaml, ../seed/ec2nodeclass.yaml]
";

/// A Deployment on lines 5 to 14; its `replicas` go on line 15.
const WEB: &str = "workloads:
  - deployment:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 500m}}}]}
";

/// One error case: the scenario text (appended to [`BASE`] unless it starts with `name:` or `#`),
/// the line, the field path (`None` for YAML syntax errors) and more expected substrings.
struct Case {
    text: String,
    line: usize,
    field: Option<&'static str>,
    expected: &'static [&'static str],
}

fn case(
    text: &str,
    line: usize,
    field: Option<&'static str>,
    expected: &'static [&'static str],
) -> Case {
    let text = if text.starts_with("name:") || text.starts_with('#') {
        text.to_string()
    } else {
        format!("{BASE}{text}")
    };
    Case {
        text,
        line,
        field,
        expected,
    }
}

#[test]
fn errors_name_the_file_the_line_and_the_field() {
    let cases = [
        case(
            "colour: blue\n",
            5,
            Some("colour"),
            &["unknown field `colour`"],
        ),
        case(
            "market:\n  spotIceMeanInterval: 1h\n  iceTypo: 2\n",
            7,
            Some("market.iceTypo"),
            &["unknown field `iceTypo`"],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2 days\n",
            3,
            Some("duration"),
            &["\"2 days\" is not a duration"],
        ),
        case(
            "faults:\n  - {at: 5, spotOutage: {duration: 1h}}\n",
            6,
            Some("faults[0].at"),
            &["5 has no unit"],
        ),
        case(
            "name: t\nregion: mars-1\nduration: 2d\n",
            2,
            Some("region"),
            &["unknown region \"mars-1\"", "ap-northeast-2", "us-east-1"],
        ),
        case(
            "name: t\nduration: 2d\n",
            1,
            Some("region"),
            &["missing field `region`"],
        ),
        case("seed: lots\n", 5, Some("seed"), &["invalid type"]),
        case(
            "pendingThreshold: 0s\n",
            5,
            Some("pendingThreshold"),
            &["must be more than 0", "default 15m"],
        ),
        case(
            "pendingThreshold: 15\n",
            5,
            Some("pendingThreshold"),
            &["15 has no unit"],
        ),
        case(
            &format!("{WEB}    replicas: {{diurnal: {{min: 50, max: 10, peakHour: 14}}}}\n"),
            15,
            Some("workloads[0].replicas.diurnal.min"),
            &["min (50) is more than max (10)"],
        ),
        case(
            &format!("{WEB}    replicas:\n      diurnal: {{min: 1, max: 2, peakHour: 24}}\n"),
            16,
            Some("workloads[0].replicas.diurnal.peakHour"),
            &["hour of the day"],
        ),
        case(
            &format!("{WEB}    replicas:\n      diurnal: {{min: 1, maximum: 2, peakHour: 3}}\n"),
            16,
            Some("workloads[0].replicas.diurnal.maximum"),
            &["unknown field `maximum`"],
        ),
        case(
            &format!(
                "{WEB}    replicas:\n      steps:\n        - {{at: 2h, replicas: 5}}\n        - {{at: 1h, replicas: 9}}\n"
            ),
            18,
            Some("workloads[0].replicas.steps[1].at"),
            &["must increase", "1h", "2h"],
        ),
        case(
            &format!("{WEB}    replicas: -3\n"),
            15,
            Some("workloads[0].replicas"),
            &["must not be negative"],
        ),
        case(
            &format!("{WEB}    every: 1h\n"),
            15,
            Some("workloads[0].every"),
            &["only a job"],
        ),
        case(
            "workloads:\n  - {replicas: 3}\n",
            6,
            Some("workloads[0]"),
            &["needs a deployment", "or a job"],
        ),
        case(
            "workloads:\n  - job: {apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {template: {spec: {containers: []}}}}\n    every: 1h\n",
            6,
            Some("workloads[0].runTime"),
            &["missing"],
        ),
        case(
            "workloads:\n  - job: {apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {template: {spec: {containers: []}}}}\n    at: [1h, 3d]\n    runTime: 1h\n",
            7,
            Some("workloads[0].at[1]"),
            &["not before the end of the scenario (2d)"],
        ),
        case(
            "faults:\n  - {at: 3d, spotOutage: {duration: 1h}}\n",
            6,
            Some("faults[0].at"),
            &["3d is past the end of the scenario (2d)"],
        ),
        case(
            "faults:\n  - at: 1d\n    interruptSpotNodes:\n      fraction: 1.5\n",
            8,
            Some("faults[0].interruptSpotNodes.fraction"),
            &["between 0 and 1", "1.5"],
        ),
        case(
            "faults:\n  - at: 1d\n    spotOutage: {zone: ap-northeast-2z, duration: 1h}\n",
            7,
            Some("faults[0].spotOutage.zone"),
            &["unknown zone \"ap-northeast-2z\"", "ap-northeast-2a"],
        ),
        case(
            "faults:\n  - {at: 1d}\n",
            6,
            Some("faults[0]"),
            &[
                "exactly one of spotOutage, onDemandOutage, interruptSpotNodes, controllerRestart, cloudApiErrors, unregisteredNodes, interruptionDelivery, watchEvents and deleteNodePool",
            ],
        ),
        case(
            "faults:\n  - at: 1d\n    cloudApiErrors: {duration: 1h, throttled: 2}\n",
            7,
            Some("faults[0].cloudApiErrors.throttled"),
            &["between 0 and 1", "launch calls"],
        ),
        case(
            "faults:\n  - at: 1d\n    unregisteredNodes: {duration: 0, fraction: 0.5}\n",
            7,
            Some("faults[0].unregisteredNodes.duration"),
            &["must be more than 0"],
        ),
        case(
            "faults:\n  - at: 1d\n    interruptionDelivery: {duration: 1h, late: -1, delay: 30s}\n",
            7,
            Some("faults[0].interruptionDelivery.late"),
            &["between 0 and 1"],
        ),
        case(
            "faults:\n  - at: 1d\n    deleteNodePool: {name: nope}\n",
            7,
            Some("faults[0].deleteNodePool.name"),
            &["no NodePool \"nope\"", "batch"],
        ),
        case(
            "market:\n  pools:\n    - {instanceType: m99.huge, iceMeanInterval: 1h}\n",
            7,
            Some("market.pools[0].instanceType"),
            &["\"m99.huge\" is not offered in ap-northeast-2"],
        ),
        case(
            "market:\n  pools:\n    - {capacityType: on-demand, interruptionInterval: 20m}\n",
            7,
            Some("market.pools[0].interruptionInterval"),
            &["only Spot capacity"],
        ),
        case(
            "market:\n  pools:\n    - {capacityType: spot, interruptionUntil: 12h}\n",
            7,
            Some("market.pools[0].interruptionUntil"),
            &["bounds interruptionInterval"],
        ),
        case(
            "market: {interruptionScale: -1}\n",
            5,
            Some("market.interruptionScale"),
            &["at least 0"],
        ),
        case(
            "timing: {launchSeconds: [60, 20]}\n",
            5,
            Some("timing.launchSeconds"),
            &["reversed"],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2d\nmanifests:\n  - ../seed/nodepools.yaml\n  - ../seed/nope.yaml\n",
            6,
            Some("manifests[1]"),
            &[
                "\"../seed/nope.yaml\" does not exist",
                "resolved to",
                "nope.yaml",
            ],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2d\nmanifests: [../seed/deployment.yaml]\n",
            4,
            Some("manifests[0]"),
            &["deployment.yaml:", "Deployments go under workloads"],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2d\n",
            1,
            Some("nodePools"),
            &["no NodePool"],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2d\nnodePools:\n  - apiVersion: karpenter.sh/v1\n    kind: NodePool\n    metadata: {name: spot}\n    spec:\n      weight: 500\n      template:\n        spec:\n          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n",
            9,
            Some("nodePools[0].spec.weight"),
            &["NodePool \"spot\"", "between 1 and 100"],
        ),
        case(
            "name: t\nregion: ap-northeast-2\nduration: 2d\nnodePools:\n  - apiVersion: karpenter.sh/v1\n    kind: NodePool\n    metadata: {name: spot}\n    spec:\n      template:\n        spec:\n          nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n          requirments: []\n",
            12,
            Some("nodePools[0].spec.template.spec.requirments"),
            &["unknown field `requirments`"],
        ),
        case(
            "nodePools:\n  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: x}}\n",
            6,
            Some("nodePools[0].kind"),
            &["expected an inline NodePool", "\"Deployment\""],
        ),
        case(
            &WEB.replace("cpu: 500m", "cpu: lots"),
            14,
            Some("workloads[0].deployment.spec.template.spec.containers[0].resources.requests.cpu"),
            &["Deployment \"web\""],
        ),
        case(
            &WEB.replace("metadata: {name: web}", "metadata: {namespace: x}"),
            9,
            Some("workloads[0].deployment.metadata.name"),
            &["missing"],
        ),
        case(
            &format!("{WEB}{}", WEB.replace("workloads:\n", "")),
            18,
            Some("workloads[1].deployment.metadata.name"),
            &["Deployment default/web is defined twice"],
        ),
        case(
            "podDisruptionBudgets:\n  - apiVersion: policy/v1\n    kind: PodDisruptionBudget\n    metadata: {name: p}\n    spec:\n      selector: {matchLabels: {app: web}}\n      maxUnavailable: 110%\n",
            11,
            Some("podDisruptionBudgets[0].spec.maxUnavailable"),
            &["PodDisruptionBudget \"p\"", "percentage"],
        ),
        case(
            "podDisruptionBudgets:\n  - apiVersion: policy/v1\n    kind: PodDisruptionBudget\n    metadata: {name: p}\n    spec: {maxUnavailable: 1}\n",
            9,
            Some("podDisruptionBudgets[0].spec.selector"),
            &["missing"],
        ),
        case(
            "changes:\n  - at: 1h\n",
            6,
            Some("changes[0]"),
            &["missing: set nodePool", "or ec2NodeClass"],
        ),
        case(
            "changes:\n  - at: 1h\n    nodePool: {}\n    ec2NodeClass: {}\n",
            6,
            Some("changes[0]"),
            &["not both"],
        ),
        case(
            "changes:\n  - at: 1h\n    ec2NodeClass: {apiVersion: karpenter.k8s.aws/v1, kind: EC2NodeClass, metadata: {name: default}, spec: {amiSelectorTerms: [{alias: al2023@latest}], subnetSelectorTerms: [{id: subnet-1}], securityGroupSelectorTerms: [{id: sg-1}]}}\n",
            7,
            Some("changes[0].ec2NodeClass.spec.role"),
            &["set role (or instanceProfile)"],
        ),
        case("workloads: [\n", 6, None, &["failed to parse YAML"]),
        case(
            "workloads:\n  - job: {apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {template: {spec: {containers: []}}}}\n    every: 999999999999999d\n    runTime: 1h\n",
            7,
            Some("workloads[0].every"),
            &["not a duration"],
        ),
        case(
            "workloads:\n  - job: {apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {template: {spec: {containers: []}}}}\n    every: 1s\n    runTime: 1h\n",
            7,
            Some("workloads[0].every"),
            &["more than 100000 arrivals"],
        ),
        case(
            "name: t\n--- \nregion: x\n",
            2,
            None,
            &["single YAML document"],
        ),
        case(
            "# a comment\n- just\n- a list\n",
            2,
            Some("(top level)"),
            &["expected a mapping"],
        ),
    ];
    for case in cases {
        let result = Scenario::parse("case.yaml", &case.text, &examples_dir());
        let Err(error) = result else {
            panic!("expected an error for:\n{}", case.text);
        };
        let message = error.to_string();
        let context = format!("{message}\n--- for ---\n{}", case.text);
        assert_eq!(error.file(), "case.yaml", "{context}");
        assert!(
            message.starts_with(&format!("case.yaml:{}: ", case.line)),
            "line {} expected: {context}",
            case.line
        );
        assert_eq!(error.line(), Some(case.line), "{context}");
        if let Some(field) = case.field {
            assert!(
                message.contains(&format!("field {field}: ")),
                "field {field} expected: {context}"
            );
        }
        for expected in case.expected {
            assert!(
                message.contains(expected),
                "{expected:?} expected: {context}"
            );
        }
    }
}

#[test]
fn a_missing_scenario_file_is_named() {
    let path = examples_dir().join("does-not-exist.yaml");
    let Err(error) = Scenario::load(&path) else {
        panic!("a missing file must fail");
    };
    assert!(matches!(error, ScenarioError::Read { .. }));
    assert!(error.to_string().contains("does-not-exist.yaml"), "{error}");
}

#[test]
fn jobs_arrive_periodically_or_at_given_times() {
    let text = format!(
        "{BASE}workloads:
  - job:
      apiVersion: batch/v1
      kind: Job
      metadata: {{name: etl, namespace: data}}
      spec:
        parallelism: 30
        completions: 20
        template:
          spec: {{containers: [{{name: c, image: x, resources: {{requests: {{cpu: '1'}}}}}}]}}
    every: 12h
    start: 30m
    runTime: 45m
  - job:
      apiVersion: batch/v1
      kind: Job
      metadata: {{name: report}}
      spec:
        parallelism: 5
        template:
          spec: {{containers: [{{name: c, image: x}}]}}
    at: [1h, 1d12h]
    runTime: 10m
"
    );
    let scenario = match Scenario::parse("jobs.yaml", &text, &examples_dir()) {
        Ok(scenario) => scenario,
        Err(error) => panic!("{error}"),
    };
    let [etl, report] = &scenario.jobs[..] else {
        panic!("two jobs expected");
    };
    assert_eq!((etl.namespace.as_str(), etl.parallelism), ("data", 20));
    assert_eq!(
        etl.arrivals,
        [
            Duration::from_secs(1800),
            Duration::from_secs(1800) + 12 * HOUR,
            Duration::from_secs(1800) + 24 * HOUR,
            Duration::from_secs(1800) + 36 * HOUR,
        ]
    );
    assert_eq!(etl.run_time, Duration::from_secs(45 * 60));
    assert_eq!(report.arrivals, [HOUR, 36 * HOUR]);
    assert_eq!(report.parallelism, 5);
    assert_eq!(scenario.name, "t");
}

#[test]
fn no_input_makes_the_reader_panic() {
    // Every prefix of the default scenario (cut at each line's end and middle) gives a
    // scenario or an error, never a panic.
    let text = DEFAULT_SCENARIO_YAML;
    let mut cut = 0;
    for line in text.split_inclusive('\n') {
        for end in [cut + line.len() / 2, cut + line.len()] {
            if let Some(prefix) = text.get(..end) {
                let _ = Scenario::parse("cut.yaml", prefix, &examples_dir());
            }
        }
        cut += line.len();
    }
    let huge_period = format!(
        "{BASE}workloads:\n  - job: {{apiVersion: batch/v1, kind: Job, metadata: {{name: j}}, spec: {{template: {{spec: {{containers: []}}}}}}}}\n    every: 99999999999999d\n    runTime: 1h\n"
    );
    match Scenario::parse("huge.yaml", &huge_period, &examples_dir()) {
        Ok(scenario) => assert_eq!(scenario.jobs[0].arrivals, [Duration::ZERO]),
        Err(error) => panic!("{error}"),
    }
    for text in [
        "",
        "~",
        "[]",
        "- 1",
        "42",
        "name: [",
        "region: 3\nduration: {}",
        "\t",
    ] {
        assert!(
            Scenario::parse("odd.yaml", text, &examples_dir()).is_err(),
            "{text:?}"
        );
    }
}
