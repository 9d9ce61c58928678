//! Helpers for the simulator's end-to-end tests: small scenarios built in code from the
//! built-in default one (its NodePools `batch` — Spot, weight 100 — and `batch-fallback` —
//! on-demand, weight 10 — and its DaemonSet), and queries over a run's report.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::time::Duration;

use spotter_core::builders::{pod, selector};
use spotter_core::labels;
use spotter_core::pod::Pod;
use spotter_core::requirements::Operator;
use spotter_report::{Event, EventKind};
use spotter_simulator::scenario::{
    DeploymentWorkload, DisruptionBudget, IntOrPercent, MarketSettings, PodDisruptionBudget,
    PoolOverride, ReplicaCurve,
};
use spotter_simulator::{Options, Report, Scenario};

/// The Spot NodePool of the default scenario.
pub const SPOT_POOL: &str = "batch";
/// The on-demand NodePool of the default scenario.
pub const FALLBACK_POOL: &str = "batch-fallback";

/// `minutes` minutes.
pub fn minutes(minutes: u64) -> Duration {
    Duration::from_secs(minutes * 60)
}

/// `hours` hours.
pub fn hours(hours: u64) -> Duration {
    Duration::from_secs(hours * 3600)
}

/// The default scenario's NodePools, DaemonSet and region, with no workload, no budget, no
/// fault, a calm market (no shortage, no interruption), the given duration and seed 7.
pub fn base_scenario(name: &str, duration: Duration) -> Scenario {
    let mut scenario = Scenario::builtin_default();
    scenario.name = name.to_string();
    scenario.duration = duration;
    scenario.seed = 7;
    scenario.deployments.clear();
    scenario.jobs.clear();
    scenario.pod_disruption_budgets.clear();
    scenario.faults.clear();
    scenario.market = calm_market();
    let pools: Vec<&str> = scenario
        .node_pools
        .iter()
        .map(|pool| pool.name.as_str())
        .collect();
    assert_eq!(
        pools,
        [SPOT_POOL, FALLBACK_POOL],
        "the default scenario's NodePools"
    );
    scenario
}

/// No capacity shortage and no interruption unless a fault or an override says so.
pub fn calm_market() -> MarketSettings {
    MarketSettings {
        spot_ice_mean_interval: Duration::ZERO,
        spot_ice_mean_duration: Duration::ZERO,
        interruption_scale: 0.0,
        pool_overrides: Vec::new(),
    }
}

/// Every Spot pool interrupts each of its nodes exactly `interval` after launch.
pub fn interrupt_every_spot_node_after(interval: Duration) -> PoolOverride {
    PoolOverride {
        instance_type: None,
        zone: None,
        capacity_type: Some(spotter_core::offering::CapacityType::Spot),
        ice_mean_interval: None,
        ice_mean_duration: None,
        interruption_scale: None,
        interruption_interval: Some(interval),
        interruption_until: None,
    }
}

/// A batch worker like the default scenario's (750m, 1536Mi), labelled `app=<name>`, that
/// must run on `batch` or `batch-fallback`.
pub fn worker(name: &str) -> Pod {
    pod(name)
        .cpu("750m")
        .memory("1536Mi")
        .label("app", name)
        .require(labels::NODE_POOL, Operator::In, &[SPOT_POOL, FALLBACK_POOL])
        .build()
}

/// A worker that wants a node of its own (required anti-affinity to its own app on the
/// hostname), so that every node runs exactly one of them.
pub fn lone_worker(name: &str) -> Pod {
    pod(name)
        .cpu("750m")
        .memory("1536Mi")
        .label("app", name)
        .require(labels::NODE_POOL, Operator::In, &[SPOT_POOL, FALLBACK_POOL])
        .anti_affinity(labels::HOSTNAME, &[("app", name)])
        .build()
}

/// A Deployment in namespace `default` running `template`.
pub fn deployment(template: Pod, replicas: ReplicaCurve) -> DeploymentWorkload {
    DeploymentWorkload {
        name: template.name.clone(),
        namespace: template.namespace.clone(),
        template,
        replicas,
    }
}

/// A PodDisruptionBudget `maxUnavailable: <count>` over `app=<app>` in namespace `default`.
pub fn max_unavailable(app: &str, count: u32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        name: app.to_string(),
        namespace: "default".to_string(),
        selector: selector(&[("app", app)]),
        budget: DisruptionBudget::MaxUnavailable(IntOrPercent::Count(count)),
    }
}

/// Runs a scenario with the default options.
/// A scenario of `examples/scenarios/`.
pub fn example_scenario(file: &str) -> Scenario {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|error| panic!("{file} loads: {error}"))
}

/// A scenario run under `policy`, with the other options at their defaults.
pub fn under(scenario: &Scenario, policy: spotter_simulator::Policy) -> Report {
    run_with(
        scenario,
        &Options {
            policy,
            ..Options::default()
        },
    )
}

pub fn run(scenario: &Scenario) -> Report {
    run_with(scenario, &Options::default())
}

/// Runs a scenario.
pub fn run_with(scenario: &Scenario, options: &Options) -> Report {
    spotter_simulator::run(scenario, options, &mut |_| {}).expect("the scenario's region exists")
}

/// The events of a kind, in time order.
pub fn events_of(report: &Report, kind: EventKind) -> Vec<&Event> {
    report
        .events
        .iter()
        .filter(|event| event.kind == kind)
        .collect()
}

/// Whether an event concerns a NodePool.
pub fn in_pool(event: &Event, pool: &str) -> bool {
    event.node_pool.as_deref() == Some(pool)
}

/// The summary, the violations and the events, for assertion messages.
pub fn describe(report: &Report) -> String {
    let events: Vec<String> = report
        .events
        .iter()
        .map(|event| {
            format!(
                "{:>8.0}s {:<12} {:<15} {:<22} {}",
                event.time_seconds,
                format!("{:?}", event.kind),
                event.node_pool.as_deref().unwrap_or("-"),
                event.node.as_deref().unwrap_or("-"),
                event.detail
            )
        })
        .collect();
    format!(
        "summary: {:#?}\nviolations: {:#?}\nevents ({}):\n{}",
        report.summary,
        report.invariant_violations,
        events.len(),
        events.join("\n")
    )
}

/// Asserts the run kept every invariant and lost no pod.
pub fn assert_clean(report: &Report) {
    assert_eq!(
        report.summary.invariant_violations,
        0,
        "no invariant violation expected\n{}",
        describe(report)
    );
    assert!(
        report.invariant_violations.is_empty(),
        "no violation listed expected\n{}",
        describe(report)
    );
    assert_eq!(
        report.summary.pods_lost,
        0,
        "no pod lost expected\n{}",
        describe(report)
    );
}
