//! Issue 15, "Honest reports": what a run reports about pods that never ran, the savings
//! baseline under a comparison, the Spot share of the node-hours that could be Spot and the
//! pending time interruptions cost, each on a small scenario built in code.

mod support;

use std::time::Duration;

use spotter_core::builders::pod;
use spotter_core::labels;
use spotter_core::requirements::Operator;
use spotter_simulator::scenario::{Fault, FaultKind, ReplicaCurve};
use spotter_simulator::{Options, Policy, compare};
use support::*;

/// Two hours of four workers that run, and three that no instance type can hold (500 vCPUs
/// each), so they stay pending for the whole run.
fn some_pods_never_run(name: &str) -> spotter_simulator::Scenario {
    let mut scenario = base_scenario(name, hours(2));
    let giant = pod("giant")
        .cpu("500")
        .memory("1Gi")
        .label("app", "giant")
        .require(labels::NODE_POOL, Operator::In, &[SPOT_POOL, FALLBACK_POOL])
        .build();
    scenario.deployments = vec![
        deployment(worker("web"), ReplicaCurve::Constant(4)),
        deployment(giant, ReplicaCurve::Constant(3)),
    ];
    scenario
}

/// Guards item 5: pods that never start are counted (pending at the end, pending pod-hours,
/// never scheduled with the provisioner's reason), their wait is in the pending percentiles,
/// and waiting beyond the scenario's threshold makes the run not OK; a longer threshold
/// accepts the same run, and a run whose pods all start is OK.
#[test]
fn pods_that_never_run_are_reported_and_fail_the_run_beyond_the_threshold() {
    let scenario = some_pods_never_run("never-run");
    assert_eq!(scenario.pending_threshold, minutes(15), "the default");
    let report = run(&scenario);
    let context = describe(&report);
    let summary = &report.summary;
    assert_eq!(summary.invariant_violations, 0, "{context}");
    assert_eq!(summary.pods_pending_at_end, 3, "{context}");
    assert_eq!(summary.pods_never_scheduled, 3, "{context}");
    assert_eq!(summary.pods_over_pending_threshold, 3, "{context}");
    assert!(report.pods_waited_too_long());
    assert_eq!(summary.pending_threshold_seconds, 900.0);
    assert!(
        (6.0..=6.3).contains(&summary.pending_pod_hours),
        "three pods pending for two hours, four for a few minutes: {}",
        summary.pending_pod_hours
    );
    assert!(
        summary.pending_seconds.max >= 7100.0,
        "the pods that never ran count in the percentiles: {:?}",
        summary.pending_seconds
    );
    let reasons: Vec<(&String, &u64)> = summary.pods_never_scheduled_reasons.iter().collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(*reasons[0].1, 3);
    assert!(
        !reasons[0].0.is_empty() && reasons[0].0 != "never placed by the provisioner",
        "the provisioner's reason: {reasons:?}"
    );
    assert!(
        report
            .terminal_summary()
            .lines()
            .next()
            .is_some_and(|headline| headline.contains("PENDING FAILED: 3 pods waited over 15m")),
        "{}",
        report.terminal_summary()
    );

    let mut patient = scenario.clone();
    patient.pending_threshold = hours(3);
    let report = run(&patient);
    assert_eq!(report.summary.pods_never_scheduled, 3);
    assert_eq!(report.summary.pods_over_pending_threshold, 0);
    assert!(!report.pods_waited_too_long());

    let mut fine = scenario;
    fine.deployments.truncate(1);
    let report = run(&fine);
    assert_eq!(
        report.summary.pods_pending_at_end,
        0,
        "{}",
        describe(&report)
    );
    assert_eq!(report.summary.pods_never_scheduled, 0);
    assert!(!report.pods_waited_too_long());
}

/// Guards item 6: under a comparison both policies are measured against the same
/// all-on-demand baseline (it depends on the scenario only), so equal costs would mean equal
/// savings.
#[test]
fn both_policies_of_a_comparison_share_one_baseline() {
    let mut scenario = base_scenario("one-baseline", hours(12));
    scenario.deployments = vec![deployment(
        worker("web"),
        ReplicaCurve::Steps(vec![(Duration::ZERO, 20), (hours(3), 60), (hours(8), 10)]),
    )];
    scenario.faults = vec![Fault {
        at: hours(4),
        kind: FaultKind::SpotOutage {
            zone: None,
            instance_type: None,
            duration: hours(2),
        },
    }];
    let comparison = compare(&scenario, &Options::default(), &Policy::ALL, &mut |_| {})
        .expect("the comparison runs");
    let baselines: Vec<f64> = comparison
        .policies
        .values()
        .map(|report| report.summary.on_demand_baseline_cost_usd)
        .collect();
    assert_eq!(baselines.len(), 2);
    assert!(baselines[0] > 0.0, "{baselines:?}");
    assert_eq!(baselines[0], baselines[1], "one baseline per scenario");
    let series: Vec<&Vec<f64>> = comparison
        .policies
        .values()
        .map(|report| &report.series.on_demand_baseline_per_hour)
        .collect();
    assert_eq!(series[0], series[1], "the baseline's series too");
}

/// Guards item 10: a node that holds a pod pinned to on-demand is not Spot-eligible, so the
/// Spot share of eligible node-hours is 100% when every other node is on Spot, whatever the
/// pinned pod's node-hours weigh in the plain Spot share.
#[test]
fn spot_share_of_eligible_node_hours_leaves_out_nodes_pinned_to_on_demand() {
    let mut scenario = base_scenario("eligible", hours(6));
    let pinned = pod("pinned")
        .cpu("750m")
        .memory("1536Mi")
        .label("app", "pinned")
        .require(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])
        .build();
    scenario.deployments = vec![
        deployment(lone_worker("spread"), ReplicaCurve::Constant(3)),
        deployment(pinned, ReplicaCurve::Constant(1)),
    ];
    let report = run(&scenario);
    let context = describe(&report);
    let summary = &report.summary;
    assert!(summary.node_hours.on_demand > 0.0, "{context}");
    assert!(summary.spot_share_of_node_hours < 0.9, "{context}");
    assert_eq!(summary.spot_share_of_eligible_node_hours, 1.0, "{context}");
}

/// Guards item 10: interruption impact is the pending time of the pods that replace those
/// evicted from interrupted nodes, and only theirs. Spot nodes interrupted every hour, pods
/// evicted at the warning (no budget holds them): each replacement waits for its new node,
/// and the sum is measured; the same cluster without interruptions has waits at its start
/// but no interruption impact.
#[test]
fn interruption_pending_pod_seconds_measure_the_waits_interruptions_cause() {
    let mut calm = base_scenario("not-interrupted", minutes(210));
    calm.deployments = vec![deployment(
        lone_worker("critical"),
        ReplicaCurve::Constant(5),
    )];
    let report = run(&calm);
    let context = describe(&report);
    assert!(report.summary.pending_seconds.max > 0.0, "{context}");
    assert_eq!(report.summary.interruptions, 0, "{context}");
    assert_eq!(
        report.summary.interruption_pending_pod_seconds, 0.0,
        "{context}"
    );

    let mut interrupted = calm;
    interrupted
        .market
        .pool_overrides
        .push(interrupt_every_spot_node_after(hours(1)));
    let report = run(&interrupted);
    let context = describe(&report);
    let summary = &report.summary;
    assert!(summary.pods_disrupted > 0, "{context}");
    assert!(summary.interruption_pending_pod_seconds > 0.0, "{context}");
    assert!(
        summary.interruption_pending_pod_seconds
            <= summary.pods_disrupted as f64 * summary.pending_seconds.max,
        "each displaced pod waited at most the longest wait: {context}"
    );
}

/// Guards item 4: a fallback node whose pods a PodDisruptionBudget (`maxUnavailable: 0`)
/// keeps gets no Spot replacement that would run empty beside it: Spotter's run costs what the
/// Karpenter preset's does (before: $19.29 against $15.52, 22 Spot node-hours of idle
/// replacements).
#[test]
fn a_fallback_node_a_budget_blocks_gets_no_idle_spot_replacement() {
    let scenario = example_scenario("return-blocked-by-pdb.yaml");
    let spotter = under(&scenario, Policy::Spotter);
    let karpenter = under(&scenario, Policy::Karpenter);
    let context = describe(&spotter);
    assert_eq!(spotter.summary.invariant_violations, 0, "{context}");
    assert!(spotter.summary.fallbacks > 0, "{context}");
    assert!(
        spotter.summary.node_hours.spot <= karpenter.summary.node_hours.spot + 0.5,
        "no idle Spot replacement: {context}"
    );
    assert!(
        spotter.summary.cost_usd <= karpenter.summary.cost_usd + 0.01,
        "Spotter {} vs Karpenter {}: {context}",
        spotter.summary.cost_usd,
        karpenter.summary.cost_usd
    );
}

/// Guards item 7: after a 10-hour region-wide outage with every Spot node interrupted, every
/// fallback node removed once Spot is back has its time to return, no event says Spot was
/// never seen back, and the Karpenter preset's on-demand hours after Spot's return count.
#[test]
fn returns_after_a_long_region_wide_outage_are_measured() {
    let scenario = example_scenario("spot-outage-long.yaml");
    for policy in Policy::ALL {
        let report = under(&scenario, policy);
        let context = describe(&report);
        let summary = &report.summary;
        assert_eq!(summary.invariant_violations, 0, "{context}");
        assert!(summary.returns_to_spot > 0, "{context}");
        assert_eq!(
            summary.time_to_return_seconds.count, summary.returns_to_spot,
            "{context}"
        );
        assert!(summary.fallback_node_hours > 0.0, "{context}");
        let never_seen = report
            .events
            .iter()
            .filter(|event| event.detail.contains("never seen back"))
            .count();
        assert_eq!(never_seen, 0, "{context}");
    }
}

/// Guards item 8: during the 10-hour outage Spotter's probes back off (before: 379 refused
/// Spot replacements, one event line each, every 5 minutes) and the refusals are told in one
/// event.
#[test]
fn a_long_outage_is_probed_less_often_and_its_refusals_told_in_one_line() {
    let scenario = example_scenario("spot-outage-long.yaml");
    let report = under(&scenario, Policy::Spotter);
    let context = describe(&report);
    let returns: Vec<&str> = report
        .events
        .iter()
        .filter(|event| event.kind == spotter_report::EventKind::ReturnToSpot)
        .map(|event| event.detail.as_str())
        .collect();
    assert!(returns.len() <= 40, "{} lines: {returns:#?}", returns.len());
    let refused: Vec<u64> = returns
        .iter()
        .filter(|detail| detail.contains("refused each time"))
        .filter_map(|detail| {
            detail
                .strip_prefix("Spot replacement requested ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(!refused.is_empty(), "{returns:#?}\n{context}");
    let total: u64 = refused.iter().sum();
    assert!(
        (1..=200).contains(&total),
        "refused replacements over the outage: {total}\n{context}"
    );
    let times: Vec<f64> = report
        .events
        .iter()
        .map(|event| event.time_seconds)
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "events in time order"
    );
}
