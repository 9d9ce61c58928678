//! Issue 13, disruption as Karpenter does it, measured on the scenarios in
//! `examples/scenarios/`: a spread-out workload scaled down is consolidated, a NodePool change
//! drifts the nodes it made and they are replaced, `expireAfter` expires every node; under both
//! presets, with no invariant violated (no PodDisruptionBudget overrun, no pod lost).

mod support;

use spotter_simulator::{Policy, Report};
use support::{assert_clean, describe, example_scenario, under};

fn disrupted(report: &Report, reason: &str) -> u64 {
    report.summary.disruptions.get(reason).copied().unwrap_or(0)
}

#[test]
fn each_method_disrupts_in_its_scenario_under_both_presets() {
    // (scenario, reason, at least, reasons that must not appear)
    let cases: [(&str, &str, u64, &[&str]); 3] = [
        (
            "scale-down.yaml",
            "underutilized",
            1,
            &["drifted", "expired"],
        ),
        ("drift.yaml", "drifted", 10, &["expired"]),
        ("expiry.yaml", "expired", 24, &["drifted"]),
    ];
    for (file, reason, at_least, absent) in cases {
        let scenario = example_scenario(file);
        for policy in Policy::ALL {
            let report = under(&scenario, policy);
            assert_clean(&report);
            let count = disrupted(&report, reason);
            assert!(
                count >= at_least,
                "{file} under {policy}: {count} {reason} disruptions, expected at least \
                 {at_least}\n{}",
                describe(&report)
            );
            for other in absent {
                assert_eq!(
                    disrupted(&report, other),
                    0,
                    "{file} under {policy}: no {other} disruption expected\n{}",
                    describe(&report)
                );
            }
        }
    }
}

/// Consolidation makes the scaled-down cluster cheaper than emptiness alone would: after the
/// scale-down, fewer nodes run than at the peak.
#[test]
fn a_scaled_down_workload_ends_on_fewer_nodes() {
    let report = under(&example_scenario("scale-down.yaml"), Policy::Karpenter);
    let series = &report.series;
    let nodes: Vec<u32> = series
        .spot_nodes
        .iter()
        .zip(&series.on_demand_nodes)
        .map(|(spot, on_demand)| spot + on_demand)
        .collect();
    let peak = nodes.iter().copied().max().unwrap_or(0);
    let last = nodes.last().copied().unwrap_or(0);
    // 60 pods of 0.75 vCPU fit on 6 8-vCPU nodes; 240 needed 24.
    assert!(
        last * 3 <= peak,
        "expected at most a third of the peak's {peak} nodes at the end, got {last}\n{}",
        describe(&report)
    );
}
