//! Issue 13, disruption as Karpenter does it, measured on the scenarios in
//! `examples/scenarios/`: a spread-out workload scaled down is consolidated, a NodePool change
//! and each EC2NodeClass change (AMI, static field, security groups) drift the nodes made
//! before and they are replaced, `expireAfter` expires every node; under both
//! presets, with no invariant violated (no PodDisruptionBudget overrun, no pod lost).

mod support;

use spotter_report::EventKind;
use spotter_simulator::{Policy, Report};
use support::{assert_clean, describe, example_scenario, under};

fn disrupted(report: &Report, reason: &str) -> u64 {
    report.summary.disruptions.get(reason).copied().unwrap_or(0)
}

#[test]
fn each_method_disrupts_in_its_scenario_under_both_presets() {
    // (scenario, reason, at least, reasons that must not appear)
    let cases: [(&str, &str, u64, &[&str]); 4] = [
        (
            "scale-down.yaml",
            "underutilized",
            1,
            &["drifted", "expired"],
        ),
        ("drift.yaml", "drifted", 10, &["expired"]),
        ("node-class-drift.yaml", "drifted", 15, &["expired"]),
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

/// Each of the three EC2NodeClass changes of `node-class-drift.yaml` drifts the nodes launched
/// before it: the AMI and security group changes by what the cloud sees of the instances, the
/// tag by the static hash the NodeClaims recorded; and nothing drifts before the first.
#[test]
fn each_node_class_change_drifts_the_nodes_launched_before_it() {
    const HOUR: f64 = 3600.0;
    for policy in Policy::ALL {
        let report = under(&example_scenario("node-class-drift.yaml"), policy);
        assert_clean(&report);
        let changes: Vec<(f64, &str)> = report
            .events
            .iter()
            .filter(|event| event.detail.starts_with("EC2NodeClass default applied"))
            .map(|event| (event.time_seconds, event.detail.as_str()))
            .collect();
        assert_eq!(
            changes.iter().map(|(time, _)| *time).collect::<Vec<_>>(),
            vec![2.0 * HOUR, 6.0 * HOUR, 9.0 * HOUR],
            "{policy}: {changes:?}"
        );
        // The cloud's check sees the AMI and security group changes, not the tag.
        assert!(
            !changes[0].1.contains("(0 instances"),
            "{policy}: {changes:?}"
        );
        assert!(
            changes[1].1.contains("(0 instances"),
            "{policy}: {changes:?}"
        );
        assert!(
            !changes[2].1.contains("(0 instances"),
            "{policy}: {changes:?}"
        );
        let terminations = |from: f64, to: f64| {
            report
                .events
                .iter()
                .filter(|event| {
                    event.kind == EventKind::Terminate && (from..to).contains(&event.time_seconds)
                })
                .count()
        };
        assert_eq!(terminations(0.0, 2.0 * HOUR), 0, "{policy}");
        for (from, to) in [(2.0, 6.0), (6.0, 9.0), (9.0, 12.0)] {
            assert!(
                terminations(from * HOUR, to * HOUR) >= 5,
                "{policy}: the nodes launched before {from}h were not replaced\n{}",
                describe(&report)
            );
        }
    }
}
