//! Issue "Spot fallback done right", measured on the scenarios in `examples/scenarios/`: each
//! test runs a scenario file as `spotter simulate` would, under Spotter's policy and (where the
//! point is a comparison) under the Karpenter preset, and checks what the issue promises.

mod support;

use std::time::Duration;

use spotter_report::EventKind;
use spotter_simulator::{Policy, Report, Scenario};
use support::{assert_clean, describe, example_scenario, under};

/// The time of the first fault (every scenario here has its outage first).
fn first_fault(report: &Report) -> f64 {
    report
        .events
        .iter()
        .find(|event| event.kind == EventKind::Fault)
        .map(|event| event.time_seconds)
        .expect("the scenario injects a fault")
}

#[test]
fn spot_outage_falls_back_within_a_batching_window_and_returns_within_15_minutes() {
    let scenario = example_scenario("spot-outage.yaml");
    let report = under(&scenario, Policy::Spotter);
    assert_clean(&report);
    let summary = &report.summary;
    assert!(summary.fallbacks > 0, "the outage forces fallbacks");
    let to_fallback = summary.time_to_fallback_seconds;
    assert!(to_fallback.count > 0, "pods were left pending by ICE");
    assert!(
        to_fallback.max <= 10.0,
        "fallback launch requested within one batching window of the ICE answer: {to_fallback:?}"
    );
    let to_return = summary.time_to_return_seconds;
    assert!(summary.returns_to_spot > 0 && to_return.count == summary.returns_to_spot);
    assert!(
        to_return.max <= 900.0,
        "every fallback node replaced by Spot and removed within 15 minutes: {to_return:?}"
    );
    // No fallback node outlives the outage by more than 15 minutes, whatever removed it.
    let outage_end = first_fault(&report) + 2.0 * 3600.0;
    let fallback_nodes: Vec<&str> = report
        .events
        .iter()
        .filter(|event| event.kind == EventKind::Fallback)
        .filter_map(|event| event.node.as_deref())
        .collect();
    for node in fallback_nodes {
        let removed = report.events.iter().find(|event| {
            event.kind == EventKind::Terminate && event.node.as_deref() == Some(node)
        });
        let removed_at = removed.map_or(f64::INFINITY, |event| event.time_seconds);
        assert!(
            removed_at <= outage_end + 900.0,
            "fallback node {node} still there 15 min after Spot came back\n{}",
            describe(&report)
        );
    }
}

#[test]
fn flapping_capacity_does_not_make_a_node_pool_flap() {
    let report = under(&example_scenario("flapping.yaml"), Policy::Spotter);
    assert_clean(&report);
    assert!(report.summary.fallbacks > 0, "the gaps force fallbacks");
    // Per NodePool: once it returned to Spot and then fell back again, its next return comes
    // at least an hour after the one before.
    let hour = 3600.0;
    let pools: std::collections::BTreeSet<&str> = report
        .events
        .iter()
        .filter(|event| event.kind == EventKind::Fallback)
        .filter_map(|event| event.node_pool.as_deref())
        .collect();
    for pool in pools {
        let drains: Vec<f64> = report
            .events
            .iter()
            .filter(|event| {
                event.kind == EventKind::ReturnToSpot
                    && event.node_pool.as_deref() == Some(pool)
                    && event.detail.contains("draining")
            })
            .map(|event| event.time_seconds)
            .collect();
        let fallbacks = report.events.iter().filter(|event| {
            event.kind == EventKind::Fallback && event.node_pool.as_deref() == Some(pool)
        });
        for fallback in fallbacks {
            let at = fallback.time_seconds;
            let before = drains.iter().rev().find(|drain| **drain < at);
            let after = drains.iter().find(|drain| **drain > at);
            if let (Some(before), Some(after)) = (before, after)
                && at - before < hour
            {
                assert!(
                    after - before >= hour,
                    "{pool} returned at {before} s, fell back at {at} s and returned again at {after} s\n{}",
                    describe(&report)
                );
            }
        }
    }
}

#[test]
fn a_hot_pool_interrupts_spotter_at_most_half_as_often_as_karpenter() {
    let scenario = example_scenario("hot-pool.yaml");
    let spotter = under(&scenario, Policy::Spotter);
    let karpenter = under(&scenario, Policy::Karpenter);
    assert_clean(&spotter);
    assert_clean(&karpenter);
    let per_day =
        |report: &Report| report.summary.interruptions as f64 / (report.duration_hours / 24.0);
    assert!(
        per_day(&karpenter) > 10.0,
        "the hot pool interrupts the Karpenter preset often: {} a day",
        per_day(&karpenter)
    );
    assert!(
        per_day(&spotter) * 2.0 <= per_day(&karpenter),
        "Spotter {} a day, Karpenter {} a day",
        per_day(&spotter),
        per_day(&karpenter)
    );
    assert!(
        spotter
            .events
            .iter()
            .any(|event| event.kind == EventKind::Avoid
                && event.detail.contains("c7i-flex.large:ap-northeast-2a")),
        "the hot pool is avoided, and the report says so"
    );
}

#[test]
fn the_default_scenario_gives_spotter_more_spot_and_less_cost_than_karpenter() {
    let scenario = Scenario::builtin_default();
    let spotter = under(&scenario, Policy::Spotter);
    let karpenter = under(&scenario, Policy::Karpenter);
    assert_clean(&spotter);
    assert_clean(&karpenter);
    assert_eq!(spotter.policy, "spotter");
    assert_eq!(karpenter.policy, "karpenter");
    assert!(
        spotter.summary.spot_share_of_node_hours > karpenter.summary.spot_share_of_node_hours,
        "Spot share: Spotter {} vs Karpenter {}",
        spotter.summary.spot_share_of_node_hours,
        karpenter.summary.spot_share_of_node_hours
    );
    assert!(
        spotter.summary.cost_usd < karpenter.summary.cost_usd,
        "cost: Spotter {} vs Karpenter {}",
        spotter.summary.cost_usd,
        karpenter.summary.cost_usd
    );
    // The preset returns only through consolidation; Spotter's return to Spot is quicker.
    assert!(
        spotter.summary.time_to_return_seconds.p50 < karpenter.summary.time_to_return_seconds.p50,
        "time to return p50: Spotter {:?} vs Karpenter {:?}",
        spotter.summary.time_to_return_seconds,
        karpenter.summary.time_to_return_seconds
    );
    assert!(spotter.summary.fallback_node_hours < karpenter.summary.fallback_node_hours);
}

#[test]
fn pods_are_not_left_pending_for_a_ttl_when_another_offering_has_capacity() {
    // One zone's Spot is out: the pods that wanted it must run within a couple of minutes
    // (launch and registration), not wait out the 3-minute cache entry.
    let mut scenario = example_scenario("spot-outage.yaml");
    scenario.duration = Duration::from_secs(36 * 3600);
    for fault in &mut scenario.faults {
        if let spotter_simulator::scenario::FaultKind::SpotOutage { zone, .. } = &mut fault.kind {
            *zone = Some("ap-northeast-2a".to_string());
        }
    }
    let report = under(&scenario, Policy::Spotter);
    assert_clean(&report);
    let pending = &report.summary.pending_seconds;
    assert!(
        pending.max < 180.0,
        "no pod waits a whole TTL: {pending:?}\n{}",
        describe(&report)
    );
}
