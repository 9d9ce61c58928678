//! The report of one simulator run, as plain data whose JSON field names are a contract
//! (`--output json`, report.json, golden files, dashboards): `Report` and its parts, the
//! `Comparison` of runs under several policies, and `to_json` for both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything one simulator run reports: identification, headline figures, per-NodePool
/// breakdown, invariant violations, notable events and the sampled time series.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The scenario's name, as written by its author.
    pub scenario: String,
    /// The AWS region the simulated market is priced in.
    pub region: String,
    /// The policy preset that drove the run (`"spotter"` or `"karpenter"`).
    pub policy: String,
    /// The seed of the run's random number generator.
    pub seed: u64,
    /// How long the run lasted, in simulated hours.
    pub duration_hours: f64,
    /// The headline figures.
    pub summary: Summary,
    /// The figures of each NodePool.
    pub node_pools: Vec<NodePoolSummary>,
    /// Every invariant violation, in time order.
    pub invariant_violations: Vec<Violation>,
    /// The notable events of the run, in time order.
    pub events: Vec<Event>,
    /// The sampled time series.
    pub series: Series,
}

/// The headline figures of a run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The fraction (0..1) of node-hours that ran on Spot capacity.
    pub spot_share_of_node_hours: f64,
    /// The fraction (0..1) of Spot-eligible node-hours that ran on Spot: only nodes of
    /// NodePools that allow Spot whose pods could all have run on Spot count (a node that
    /// held a pod pinned to on-demand does not).
    #[serde(default)]
    pub spot_share_of_eligible_node_hours: f64,
    /// Node-hours by capacity type.
    pub node_hours: NodeHours,
    /// How many launches fell back from Spot to on-demand.
    pub fallbacks: u64,
    /// How many Spot interruptions the market delivered.
    pub interruptions: u64,
    /// How many launches failed with insufficient capacity (ICE).
    pub ice_events: u64,
    /// How many pods were evicted and rescheduled.
    pub pods_disrupted: u64,
    /// How many pods were lost (killed without a successful reschedule).
    pub pods_lost: u64,
    /// How many invariant violations the run recorded.
    pub invariant_violations: u64,
    /// What the run's nodes cost, in USD.
    pub cost_usd: f64,
    /// What the scenario's workload costs all on-demand, in USD: the same for every policy
    /// (see the README's "Savings baseline").
    pub on_demand_baseline_cost_usd: f64,
    /// The saving against the all-on-demand baseline, in percent (0..100).
    pub savings_pct: f64,
    /// How long pods stayed pending, in seconds: pods that started, and pods still pending at
    /// the end (their wait so far).
    pub pending_seconds: Percentiles,
    /// Pods still pending when the run ended (DaemonSet pods aside).
    #[serde(default)]
    pub pods_pending_at_end: u64,
    /// Pod-hours spent pending, by every pod: those that started, those removed while
    /// pending and those still pending at the end.
    #[serde(default)]
    pub pending_pod_hours: f64,
    /// Pods that never ran: still pending at the end, or removed (scaled down) while pending.
    #[serde(default)]
    pub pods_never_scheduled: u64,
    /// Why the pods that never ran did not: the provisioner's last reason for each, counted.
    #[serde(default)]
    pub pods_never_scheduled_reasons: BTreeMap<String, u64>,
    /// The scenario's pending threshold, in seconds: a pod that waits longer makes the run not
    /// OK.
    #[serde(default)]
    pub pending_threshold_seconds: f64,
    /// Pods that waited longer than the pending threshold (whether they ran in the end or
    /// not).
    #[serde(default)]
    pub pods_over_pending_threshold: u64,
    /// Pod-seconds pods spent pending because their node was interrupted: the waits of the
    /// pods that replaced those evicted from (or lost with) an interrupted Spot node. The goal
    /// is 0: the replacement node is Ready before the eviction.
    #[serde(default)]
    pub interruption_pending_pod_seconds: f64,
    /// How many nodes were launched.
    pub launches: u64,
    /// How many nodes were terminated.
    pub terminations: u64,
    /// How many pods were created.
    pub pods_created: u64,
    /// The most nodes running at once.
    pub peak_nodes: u64,
    /// How many fallback nodes were removed by Spotter's return to Spot or by consolidation
    /// (a cheaper Spot replacement, or their pods moved to other nodes).
    pub returns_to_spot: u64,
    /// On-demand node-hours that fallback nodes ran while Spot capacity compatible with them
    /// was available again.
    pub fallback_node_hours: f64,
    /// Seconds from an insufficient-capacity answer to the launch request of the on-demand
    /// fallback for the pods it left pending.
    pub time_to_fallback_seconds: Spread,
    /// Seconds from compatible Spot capacity being available again to the fallback node's
    /// removal, for the fallback nodes returned to Spot.
    pub time_to_return_seconds: Spread,
    /// NodeClaims disrupted, by Karpenter's reason label (`empty`, `underutilized`,
    /// `drifted`, `expired`, `spot_interrupted`, `return_to_spot`, ...); reasons that never
    /// happened are left out.
    #[serde(default)]
    pub disruptions: BTreeMap<String, u64>,
}

/// The median and the largest value of a sample (zeros when it is empty).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// The median (nearest rank).
    pub p50: f64,
    /// The largest value.
    pub max: f64,
    /// How many values the sample has.
    pub count: u64,
}

/// Node-hours by capacity type.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeHours {
    /// Node-hours on Spot capacity.
    pub spot: f64,
    /// Node-hours on on-demand capacity.
    #[serde(rename = "on-demand")]
    pub on_demand: f64,
}

/// Nearest-rank percentiles of a sample.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The largest value.
    pub max: f64,
}

/// The figures of one NodePool.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolSummary {
    /// The NodePool's name.
    pub name: String,
    /// Its node-hours by capacity type.
    pub node_hours: NodeHours,
    /// What its nodes cost, in USD.
    pub cost_usd: f64,
    /// How many of its nodes were launched.
    pub launches: u64,
    /// How many of its launches fell back from Spot to on-demand.
    pub fallbacks: u64,
    /// How many of its Spot nodes were interrupted.
    pub interruptions: u64,
    /// How many of its fallback nodes were replaced by Spot and removed.
    pub returns_to_spot: u64,
    /// On-demand node-hours its fallback nodes ran while compatible Spot was available again.
    pub fallback_node_hours: f64,
}

/// Runs of one scenario under several policies, side by side.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// The AWS region.
    pub region: String,
    /// The seed every run used.
    pub seed: u64,
    /// How long each run lasted, in simulated hours.
    pub duration_hours: f64,
    /// Each policy's report, by policy name.
    pub policies: BTreeMap<String, Report>,
}

/// One invariant violation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// When it happened, as an ISO 8601 duration since the start (`PT3H12M`).
    pub time: String,
    /// When it happened, in seconds since the start.
    pub time_seconds: f64,
    /// The invariant that failed.
    pub invariant: String,
    /// The event that was being handled when it failed.
    pub event: String,
    /// What exactly was wrong.
    pub detail: String,
}

/// One notable event of the run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// When it happened, as an ISO 8601 duration since the start (`PT3H12M`).
    pub time: String,
    /// When it happened, in seconds since the start.
    pub time_seconds: f64,
    /// What happened.
    pub kind: EventKind,
    /// The NodePool it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_pool: Option<String>,
    /// The node it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    /// A human-readable description.
    pub detail: String,
}

/// The kinds of notable events.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A node was launched.
    Launch,
    /// A launch failed with insufficient capacity.
    Ice,
    /// A launch fell back from Spot to on-demand.
    Fallback,
    /// A Spot node was interrupted.
    Interruption,
    /// A node was terminated.
    Terminate,
    /// A node was drained.
    Drain,
    /// A scenario fault was injected.
    Fault,
    /// An invariant was violated.
    Violation,
    /// A fallback node's return to Spot: its Spot replacement requested, or the node removed.
    ReturnToSpot,
    /// An offering, an instance family in a zone or a zone interrupted too often is avoided
    /// for a while.
    Avoid,
}

/// The run's time series, sampled every `interval_seconds`; every vector is indexed like
/// `time_seconds`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The sampling interval, in seconds.
    pub interval_seconds: f64,
    /// The sample times, in seconds since the start.
    pub time_seconds: Vec<f64>,
    /// Spot nodes running at each sample.
    pub spot_nodes: Vec<u32>,
    /// On-demand nodes running at each sample.
    pub on_demand_nodes: Vec<u32>,
    /// The fraction (0..1) of running nodes on Spot at each sample.
    pub spot_share: Vec<f64>,
    /// What the running nodes cost per hour at each sample, in USD.
    pub cost_per_hour: Vec<f64>,
    /// The all-on-demand baseline per hour at each sample (the scenario's workload on
    /// on-demand capacity alone, the same for every policy), in USD.
    pub on_demand_baseline_per_hour: Vec<f64>,
    /// Pods pending at each sample.
    pub pending_pods: Vec<u32>,
    /// Nodes running at each sample, by NodePool name.
    pub nodes_by_node_pool: BTreeMap<String, Vec<u32>>,
    /// Offerings kept out of launches for their interruptions at each sample (empty in
    /// reports written before it was recorded).
    #[serde(default)]
    pub avoided_offerings: Vec<u32>,
    /// Instance families avoided in a zone for their interruptions at each sample.
    #[serde(default)]
    pub avoided_families: Vec<u32>,
    /// Zones avoided (for Spot) for their interruptions at each sample.
    #[serde(default)]
    pub avoided_zones: Vec<u32>,
}

impl EventKind {
    /// The kind's name as it appears in JSON (`"interruption"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Launch => "launch",
            EventKind::Ice => "ice",
            EventKind::Fallback => "fallback",
            EventKind::Interruption => "interruption",
            EventKind::Terminate => "terminate",
            EventKind::Drain => "drain",
            EventKind::Fault => "fault",
            EventKind::Violation => "violation",
            EventKind::ReturnToSpot => "return-to-spot",
            EventKind::Avoid => "avoid",
        }
    }

    /// Whether the kind is listed among the notable events and drawn on the timeline: ICE,
    /// fallbacks, interruptions, faults, returns to Spot and avoided offerings (violations
    /// have their own list, launches, terminations and drains are too many).
    pub fn is_notable(self) -> bool {
        match self {
            EventKind::Ice
            | EventKind::Fallback
            | EventKind::Interruption
            | EventKind::Fault
            | EventKind::ReturnToSpot
            | EventKind::Avoid => true,
            EventKind::Launch | EventKind::Terminate | EventKind::Drain | EventKind::Violation => {
                false
            }
        }
    }
}

impl Report {
    /// Whether some pod waited for a node longer than the scenario's pending threshold (the
    /// run is then not OK, and `spotter simulate` exits with its own code).
    pub fn pods_waited_too_long(&self) -> bool {
        self.summary.pods_over_pending_threshold > 0
    }

    /// The report as pretty-printed JSON with a trailing newline. Deterministic: fields in
    /// declaration order, series maps sorted by key. Non-finite numbers become `null`
    /// (serde_json's rule), so a report should carry only finite ones.
    pub fn to_json(&self) -> String {
        pretty_json(self)
    }
}

/// `value` as pretty-printed JSON with a trailing newline.
pub(crate) fn pretty_json(value: &impl Serialize) -> String {
    let mut json = serde_json::to_string_pretty(value)
        .expect("a report serialises: plain structs, string-keyed maps");
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{empty_report, sample_report};

    #[test]
    fn json_uses_the_contract_names() {
        let json = sample_report(2, 300.0).to_json();
        let names = [
            "scenario",
            "region",
            "policy",
            "seed",
            "durationHours",
            "summary",
            "spotShareOfNodeHours",
            "nodeHours",
            "spot",
            "on-demand",
            "fallbacks",
            "interruptions",
            "iceEvents",
            "podsDisrupted",
            "podsLost",
            "invariantViolations",
            "costUsd",
            "onDemandBaselineCostUsd",
            "savingsPct",
            "pendingSeconds",
            "p50",
            "p99",
            "max",
            "launches",
            "terminations",
            "podsCreated",
            "peakNodes",
            "returnsToSpot",
            "fallbackNodeHours",
            "timeToFallbackSeconds",
            "timeToReturnSeconds",
            "count",
            "spotShareOfEligibleNodeHours",
            "podsPendingAtEnd",
            "pendingPodHours",
            "podsNeverScheduled",
            "podsNeverScheduledReasons",
            "pendingThresholdSeconds",
            "podsOverPendingThreshold",
            "interruptionPendingPodSeconds",
            "nodePools",
            "name",
            "events",
            "time",
            "timeSeconds",
            "kind",
            "nodePool",
            "node",
            "detail",
            "invariant",
            "event",
            "series",
            "intervalSeconds",
            "spotNodes",
            "onDemandNodes",
            "spotShare",
            "costPerHour",
            "onDemandBaselinePerHour",
            "pendingPods",
            "nodesByNodePool",
        ];
        for name in names {
            assert!(json.contains(&format!("\"{name}\":")), "missing {name:?}");
        }
        assert!(json.contains("\"kind\": \"interruption\""));
        assert!(json.ends_with("}\n"));
        assert_eq!(json, sample_report(2, 300.0).to_json(), "deterministic");
    }

    #[test]
    fn json_omits_absent_node_pool_and_node() {
        let mut report = sample_report(1, 3600.0);
        report.events = vec![Event {
            time: "PT1M".to_owned(),
            time_seconds: 60.0,
            kind: EventKind::Fault,
            node_pool: None,
            node: None,
            detail: "market-wide ICE".to_owned(),
        }];
        let json = report.to_json();
        assert!(!json.contains("\"nodePool\":"));
        assert!(!json.contains("\"node\":"));
        let parsed: Report = serde_json::from_str(&json).expect("parses");
        assert_eq!(parsed, report);
    }

    #[test]
    fn json_round_trips() {
        for report in [sample_report(3, 300.0), empty_report()] {
            let parsed: Report = serde_json::from_str(&report.to_json()).expect("parses");
            assert_eq!(parsed, report);
        }
    }
}
