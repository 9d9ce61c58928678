//! End-to-end tests of the cluster simulator: small scenarios built in code, run through
//! `spotter_simulator::run`, checked through the report (summary, events, violations).

mod support;

use std::time::Duration;

use spotter_report::EventKind;
use spotter_simulator::Options;
use spotter_simulator::scenario::{Fault, FaultKind, MarketSettings, ReplicaCurve};
use support::*;

/// How long EC2 warns before reclaiming a Spot instance.
const WARNING: f64 = 120.0;
/// Pods still on an interrupted node this long before the deadline are deleted.
const FORCE_BEFORE_DEADLINE: f64 = 20.0;
/// The provisioner's longest batching window.
const BATCH_MAX: f64 = 10.0;

#[test]
fn same_scenario_and_seed_give_identical_reports_and_another_seed_differs() {
    let mut scenario = base_scenario("determinism", hours(4));
    // The realistic market: shortages and interruptions drawn from the seed.
    scenario.market = MarketSettings::default();
    scenario.deployments = vec![deployment(
        worker("web"),
        ReplicaCurve::Steps(vec![
            (Duration::ZERO, 12),
            (hours(1), 40),
            (minutes(150), 20),
        ]),
    )];

    let first = run(&scenario);
    let second = run(&scenario);
    assert!(first.summary.launches > 0, "{}", describe(&first));
    assert_eq!(
        first.to_json(),
        second.to_json(),
        "same scenario and seed, byte-identical JSON"
    );

    let other = run_with(
        &scenario,
        &Options {
            seed: Some(scenario.seed + 1),
            ..Options::default()
        },
    );
    assert_eq!(other.seed, scenario.seed + 1);
    assert_ne!(first.to_json(), other.to_json());
    // Not only the seed field: what happened differs (launch and registration times at least).
    let mut other_as_first = other.clone();
    other_as_first.seed = first.seed;
    assert_ne!(
        first.to_json(),
        other_as_first.to_json(),
        "another seed should change more than the report's seed"
    );
}

#[test]
fn spot_outage_falls_back_to_on_demand_within_a_batch_and_returns_to_spot() {
    let outage = hours(2);
    let mut scenario = base_scenario("ice-fallback", minutes(210));
    scenario.faults = vec![Fault {
        at: Duration::ZERO,
        kind: FaultKind::SpotOutage {
            zone: None,
            instance_type: None,
            duration: outage,
        },
    }];
    // 12 workers from the start; 40 half an hour after the outage, which needs new nodes.
    scenario.deployments = vec![deployment(
        worker("batch-workers"),
        ReplicaCurve::Steps(vec![(Duration::ZERO, 12), (minutes(150), 40)]),
    )];
    let report = run(&scenario);
    let context = describe(&report);
    let outage_end = outage.as_secs_f64();

    assert_clean(&report);
    assert!(
        report.summary.fallbacks > 0,
        "fallbacks expected\n{context}"
    );
    let fallback_pool = report
        .node_pools
        .iter()
        .find(|pool| pool.name == FALLBACK_POOL)
        .expect("batch-fallback in the report");
    assert!(fallback_pool.fallbacks > 0, "{context}");

    let first_ice = events_of(&report, EventKind::Ice)
        .first()
        .map(|event| event.time_seconds)
        .expect("an ice event during the outage");
    let first_fallback_launch = report
        .events
        .iter()
        .find(|event| {
            matches!(event.kind, EventKind::Fallback | EventKind::Launch)
                && in_pool(event, FALLBACK_POOL)
        })
        .map(|event| event.time_seconds)
        .expect("a launch on batch-fallback");
    assert!(
        first_fallback_launch >= first_ice && first_fallback_launch <= first_ice + BATCH_MAX,
        "first fallback launch at {first_fallback_launch}s, first ICE at {first_ice}s\n{context}"
    );

    let launches = events_of(&report, EventKind::Launch);
    for launch in launches
        .iter()
        .filter(|event| event.time_seconds < outage_end)
    {
        assert!(
            in_pool(launch, FALLBACK_POOL) && launch.detail.starts_with("on-demand"),
            "during the Spot outage every launch is an on-demand fallback: {launch:?}\n{context}"
        );
    }
    let after: Vec<_> = launches
        .iter()
        .filter(|event| event.time_seconds >= outage_end)
        .collect();
    assert!(!after.is_empty(), "launches after the outage\n{context}");
    for launch in after {
        assert!(
            in_pool(launch, SPOT_POOL) && launch.detail.starts_with("spot"),
            "after the outage launches go to Spot again: {launch:?}\n{context}"
        );
    }
    assert!(
        events_of(&report, EventKind::Ice)
            .iter()
            .all(|event| event.time_seconds < outage_end),
        "no ICE once the outage is over in a calm market\n{context}"
    );

    let pending = &report.summary.pending_seconds;
    assert!(
        pending.p99 < 300.0,
        "pods run: pending p99 {}s should be well under 10 minutes\n{context}",
        pending.p99
    );
}

/// Interruptions that happened early enough for their whole 2-minute warning to fit in the run:
/// (time, node).
fn complete_interruptions(report: &spotter_simulator::Report) -> Vec<(f64, String)> {
    let end = report.duration_hours * 3600.0;
    events_of(report, EventKind::Interruption)
        .into_iter()
        .filter(|event| event.time_seconds + WARNING < end)
        .map(|event| {
            (
                event.time_seconds,
                event.node.clone().expect("an interruption names its node"),
            )
        })
        .collect()
}

/// When the instance of `node` was terminated, the first time at or after `since`.
fn terminated_at(report: &spotter_simulator::Report, node: &str, since: f64) -> Option<f64> {
    events_of(report, EventKind::Terminate)
        .into_iter()
        .find(|event| event.node.as_deref() == Some(node) && event.time_seconds >= since)
        .map(|event| event.time_seconds)
}

/// A constant Deployment of five workers, one per node, on Spot nodes each interrupted an hour
/// after launch, for 3.5 hours. Five, not more: within one solve every new NodeClaim counts
/// against `batch`'s `cpu: 1000` limit at its largest candidate (192 vCPUs), as Karpenter's
/// `subtractMax` does, so a sixth new node would go on-demand to `batch-fallback`.
fn interrupted_every_hour(name: &str) -> spotter_simulator::Scenario {
    let mut scenario = base_scenario(name, minutes(210));
    scenario
        .market
        .pool_overrides
        .push(interrupt_every_spot_node_after(hours(1)));
    scenario.deployments = vec![deployment(
        lone_worker("critical"),
        ReplicaCurve::Constant(5),
    )];
    scenario
}

#[test]
fn spot_interruptions_are_replaced_before_the_deadline_without_losing_pods() {
    let report = run(&interrupted_every_hour("interruptions"));
    let context = describe(&report);
    assert_clean(&report);
    assert!(report.summary.interruptions > 0, "{context}");
    assert!(report.summary.pods_disrupted > 0, "{context}");

    let interruptions = complete_interruptions(&report);
    assert!(interruptions.len() >= 5, "{context}");
    // Match every interruption with its own replacement launch within the warning.
    let launches: Vec<(f64, String)> = events_of(&report, EventKind::Launch)
        .into_iter()
        .map(|event| (event.time_seconds, event.node.clone().unwrap_or_default()))
        .collect();
    let mut used = vec![false; launches.len()];
    for (time, node) in &interruptions {
        let replacement = launches.iter().enumerate().position(|(index, launch)| {
            !used[index] && launch.0 > *time && launch.0 < time + WARNING && launch.1 != *node
        });
        let Some(index) = replacement else {
            panic!(
                "no replacement launch within 2 minutes of interruption of {node} at {time}s\n{context}"
            );
        };
        used[index] = true;
        let terminated = terminated_at(&report, node, *time)
            .unwrap_or_else(|| panic!("{node} interrupted at {time}s never terminated\n{context}"));
        assert!(
            terminated <= time + WARNING,
            "{node} terminated at {terminated}s, after its deadline\n{context}"
        );
        // The replacement is launched before the interrupted node's pods leave it, and so
        // before the node is terminated.
        assert!(
            launches[index].0 <= terminated,
            "{node} terminated at {terminated}s before its replacement launched at {}s\n{context}",
            launches[index].0
        );
    }
}

#[test]
fn a_zero_max_unavailable_budget_holds_pods_until_the_forced_deletion() {
    // With the budget: the covered pod (alone on its node) stays until 20 s before the
    // deadline, so the node, which is terminated only once it has no pod left, is terminated
    // no earlier than interruption + 100 s.
    let mut guarded = interrupted_every_hour("pdb-max-unavailable-0");
    guarded.pod_disruption_budgets = vec![max_unavailable("critical", 0)];
    let report = run(&guarded);
    let context = describe(&report);
    assert_clean(&report);
    let interruptions = complete_interruptions(&report);
    assert!(interruptions.len() >= 5, "{context}");
    for (time, node) in &interruptions {
        let force_at = time + WARNING - FORCE_BEFORE_DEADLINE;
        let terminated = terminated_at(&report, node, *time)
            .unwrap_or_else(|| panic!("{node} interrupted at {time}s never terminated\n{context}"));
        assert!(
            terminated >= force_at && terminated <= time + WARNING,
            "{node} interrupted at {time}s was emptied at {terminated}s: its covered pod left \
             before the forced deletion at {force_at}s\n{context}"
        );
    }
    // Every covered pod on an interrupted node left through the forced deletion, once.
    assert_eq!(
        report.summary.pods_disrupted, report.summary.interruptions,
        "{context}"
    );

    // The same run without the budget evicts at once: the check above can tell.
    let unguarded = run(&interrupted_every_hour("pdb-none"));
    let early = complete_interruptions(&unguarded)
        .iter()
        .filter(|(time, node)| {
            terminated_at(&unguarded, node, *time)
                .is_some_and(|terminated| terminated < time + WARNING - FORCE_BEFORE_DEADLINE)
        })
        .count();
    assert!(
        early > 0,
        "without a budget pods are evicted before the forced deletion\n{}",
        describe(&unguarded)
    );
}

#[test]
fn the_invariants_catch_a_dropped_pod() {
    let fault_at = minutes(30);
    let mut scenario = base_scenario("dropped-pod", hours(1));
    scenario.deployments = vec![deployment(worker("web"), ReplicaCurve::Constant(4))];
    scenario.faults = vec![Fault {
        at: fault_at,
        kind: FaultKind::TestOnlyDropPod,
    }];
    let report = run(&scenario);
    let context = describe(&report);
    assert!(report.summary.invariant_violations >= 1, "{context}");
    assert!(report.summary.pods_lost >= 1, "{context}");
    assert!(
        report.invariant_violations.iter().any(|violation| {
            violation.invariant == "no pod lost" && violation.time_seconds >= fault_at.as_secs_f64()
        }),
        "a \"no pod lost\" violation at or after {}s\n{context}",
        fault_at.as_secs()
    );
    assert!(
        events_of(&report, EventKind::Fault)
            .iter()
            .any(|event| event.detail.contains("dropped")),
        "{context}"
    );
}

#[test]
fn the_default_scenario_over_two_days_is_clean_spot_heavy_and_cheap() {
    let scenario = spotter_simulator::Scenario::builtin_default();
    let report = run_with(
        &scenario,
        &Options {
            duration: Some(Duration::from_secs(2 * 86_400)),
            ..Options::default()
        },
    );
    let summary = &report.summary;
    let context = format!(
        "summary: {summary:#?}\nviolations: {:#?}",
        report.invariant_violations
    );
    assert_eq!(report.duration_hours, 48.0);
    assert_eq!(summary.invariant_violations, 0, "{context}");
    assert_eq!(summary.pods_lost, 0, "{context}");
    assert!(summary.spot_share_of_node_hours > 0.8, "{context}");
    assert!(summary.savings_pct > 50.0, "{context}");
}
