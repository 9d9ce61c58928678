//! The simulation report: what one simulator run produced, as plain data whose JSON field
//! names are a contract (`--output json`, golden files, dashboards), plus the helpers that
//! build it (`iso8601_duration`, `percentiles`, `spread`). The renderers live beside it:
//! `terminal` (tables for a person), `html` (one self-contained page with SVG charts drawn
//! by `svg`), and `format` (number formatting both share). A `Comparison` (runs of one
//! scenario under several policies) renders through `comparison` (JSON, the side-by-side
//! figures and the terminal text) and `comparison_html` (its page).

mod comparison;
mod comparison_html;
mod format;
mod html;
mod svg;
mod terminal;

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
    /// What the same node-hours would have cost all on-demand, in USD.
    pub on_demand_baseline_cost_usd: f64,
    /// The saving against the all-on-demand baseline, in percent (0..100).
    pub savings_pct: f64,
    /// How long pods stayed pending, in seconds.
    pub pending_seconds: Percentiles,
    /// How many nodes were launched.
    pub launches: u64,
    /// How many nodes were terminated.
    pub terminations: u64,
    /// How many pods were created.
    pub pods_created: u64,
    /// The most nodes running at once.
    pub peak_nodes: u64,
    /// How many fallback nodes were replaced by Spot and removed.
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
    /// An offering interrupted too often is avoided for a while.
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
    /// What the running nodes would cost per hour all on-demand, in USD.
    pub on_demand_baseline_per_hour: Vec<f64>,
    /// Pods pending at each sample.
    pub pending_pods: Vec<u32>,
    /// Nodes running at each sample, by NodePool name.
    pub nodes_by_node_pool: BTreeMap<String, Vec<u32>>,
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
    /// The report as pretty-printed JSON with a trailing newline. Deterministic: fields in
    /// declaration order, series maps sorted by key. Non-finite numbers become `null`
    /// (serde_json's rule), so a report should carry only finite ones.
    pub fn to_json(&self) -> String {
        pretty_json(self)
    }
}

/// `value` as pretty-printed JSON with a trailing newline.
fn pretty_json(value: &impl Serialize) -> String {
    let mut json = serde_json::to_string_pretty(value)
        .expect("a report serialises: plain structs, string-keyed maps");
    json.push('\n');
    json
}

/// `seconds` as an ISO 8601 duration in whole seconds (rounded down), hours unbounded:
/// `PT0S`, `PT45S`, `PT3H12M`, `PT76H5M3S`. Zero parts are omitted; negative or non-finite
/// input gives `PT0S`.
pub fn iso8601_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 1.0 {
        return "PT0S".to_owned();
    }
    let total = seconds.floor() as u64;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let mut duration = "PT".to_owned();
    for (value, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
        if value > 0 {
            duration.push_str(&value.to_string());
            duration.push(unit);
        }
    }
    duration
}

/// The nearest-rank median and the largest of `values`, which it sorts in place; NaN values
/// are ignored.
pub fn spread(values: &mut [f64]) -> Spread {
    let count = values.iter().filter(|value| !value.is_nan()).count() as u64;
    let Percentiles { p50, max, .. } = percentiles(values);
    Spread { p50, max, count }
}

/// Nearest-rank p50, p99 and max of `values`, which it sorts in place (IEEE total order).
/// NaN values are ignored; all zeros when nothing is left.
pub fn percentiles(values: &mut [f64]) -> Percentiles {
    values.sort_by(f64::total_cmp);
    // Total order puts negative NaN first and positive NaN last.
    let start = values.iter().position(|value| !value.is_nan());
    let end = values.iter().rposition(|value| !value.is_nan());
    let (Some(start), Some(end)) = (start, end) else {
        return Percentiles {
            p50: 0.0,
            p99: 0.0,
            max: 0.0,
        };
    };
    let sorted = &values[start..=end];
    let nearest_rank = |percent: f64| {
        let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    Percentiles {
        p50: nearest_rank(50.0),
        p99: nearest_rank(99.0),
        max: sorted[sorted.len() - 1],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn iso8601_duration_formats_whole_seconds() {
        let cases = [
            (0.0, "PT0S"),
            (0.9, "PT0S"),
            (-5.0, "PT0S"),
            (f64::NAN, "PT0S"),
            (f64::INFINITY, "PT0S"),
            (45.0, "PT45S"),
            (45.99, "PT45S"),
            (60.0, "PT1M"),
            (3600.0, "PT1H"),
            (3.0 * 3600.0 + 12.0 * 60.0, "PT3H12M"),
            (3600.0 + 1.0, "PT1H1S"),
            (76.0 * 3600.0 + 5.0 * 60.0 + 3.0, "PT76H5M3S"),
            (90_061.0, "PT25H1M1S"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(iso8601_duration(seconds), expected, "{seconds} s");
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let mut reversed_thousand: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        reversed_thousand.push(f64::NAN);
        let cases = [
            ("empty", vec![], (0.0, 0.0, 0.0)),
            ("only NaN", vec![f64::NAN], (0.0, 0.0, 0.0)),
            ("one", vec![7.5], (7.5, 7.5, 7.5)),
            ("two", vec![3.0, 1.0], (1.0, 3.0, 3.0)),
            ("four", vec![4.0, 1.0, 3.0, 2.0], (2.0, 4.0, 4.0)),
            ("hundred", hundred, (50.0, 99.0, 100.0)),
            (
                "thousand, unsorted, NaN",
                reversed_thousand,
                (500.0, 990.0, 1000.0),
            ),
        ];
        for (name, mut values, (p50, p99, max)) in cases {
            assert_eq!(
                percentiles(&mut values),
                Percentiles { p50, p99, max },
                "{name}"
            );
        }
    }

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

    /// The cells of the first table row (header rows too) whose first cell is `first`.
    pub(crate) fn table_row(text: &str, first: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with('│'))
            .map(|line| {
                line.split(['│', '┆'])
                    .map(str::trim)
                    .filter(|cell| !cell.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .find(|cells| cells.first().is_some_and(|cell| cell == first))
            .unwrap_or_else(|| panic!("no row {first:?}:\n{text}"))
    }

    /// Fails when `html` has an external reference, a script, or a non-finite number.
    pub(crate) fn assert_self_contained(html: &str) {
        let svg_namespace = "http://www.w3.org/2000/svg";
        let urls = html.matches("http://").count() + html.matches("https://").count();
        assert_eq!(
            urls,
            html.matches(svg_namespace).count(),
            "only the SVG namespace may be a URL"
        );
        for forbidden in [
            "<script", "<link", "@import", "url(", "NaN", "inf,", ",inf", "\"inf", "-inf", ">inf",
        ] {
            assert!(!html.contains(forbidden), "contains {forbidden:?}");
        }
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    }

    /// The sample run under both presets: Spotter's run is `sample_report`'s with round
    /// headline figures; Karpenter's has less Spot, costs more, falls back more and never
    /// returns to Spot (its time-to-return sample is empty).
    pub(crate) fn sample_comparison() -> Comparison {
        let mut spotter = sample_report(2, 600.0);
        let summary = &mut spotter.summary;
        summary.spot_share_of_node_hours = 0.9;
        summary.cost_usd = 1000.0;
        summary.on_demand_baseline_cost_usd = 3000.0;
        summary.savings_pct = 66.7;
        summary.fallbacks = 4;
        summary.interruptions = 3;
        summary.pods_lost = 0;
        let mut karpenter = sample_report(2, 600.0);
        karpenter.policy = "karpenter".to_owned();
        karpenter.invariant_violations.clear();
        karpenter.summary = Summary {
            spot_share_of_node_hours: 0.75,
            cost_usd: 1250.5,
            savings_pct: 58.2,
            fallbacks: 6,
            interruptions: 7,
            pods_lost: 0,
            invariant_violations: 0,
            returns_to_spot: 0,
            fallback_node_hours: 40.0,
            time_to_fallback_seconds: Spread {
                p50: 2.0,
                max: 9.0,
                count: 6,
            },
            time_to_return_seconds: Spread::default(),
            ..spotter.summary.clone()
        };
        let series = &mut karpenter.series;
        for (share, on_demand) in series
            .spot_share
            .iter_mut()
            .zip(&mut series.on_demand_nodes)
        {
            *share *= 0.8;
            *on_demand += 3;
        }
        Comparison {
            scenario: spotter.scenario.clone(),
            region: spotter.region.clone(),
            seed: spotter.seed,
            duration_hours: spotter.duration_hours,
            policies: BTreeMap::from([
                ("spotter".to_owned(), spotter),
                ("karpenter".to_owned(), karpenter),
            ]),
        }
    }

    /// A report with no samples, events or NodePools.
    pub(crate) fn empty_report() -> Report {
        Report {
            scenario: "empty".to_owned(),
            region: "us-east-1".to_owned(),
            policy: "spotter".to_owned(),
            seed: 0,
            duration_hours: 0.0,
            summary: Summary {
                spot_share_of_node_hours: 0.0,
                node_hours: NodeHours {
                    spot: 0.0,
                    on_demand: 0.0,
                },
                fallbacks: 0,
                interruptions: 0,
                ice_events: 0,
                pods_disrupted: 0,
                pods_lost: 0,
                invariant_violations: 0,
                cost_usd: 0.0,
                on_demand_baseline_cost_usd: 0.0,
                savings_pct: 0.0,
                pending_seconds: Percentiles {
                    p50: 0.0,
                    p99: 0.0,
                    max: 0.0,
                },
                launches: 0,
                terminations: 0,
                pods_created: 0,
                peak_nodes: 0,
                returns_to_spot: 0,
                fallback_node_hours: 0.0,
                time_to_fallback_seconds: Spread::default(),
                time_to_return_seconds: Spread::default(),
            },
            node_pools: vec![],
            invariant_violations: vec![],
            events: vec![],
            series: Series {
                interval_seconds: 60.0,
                time_seconds: vec![],
                spot_nodes: vec![],
                on_demand_nodes: vec![],
                spot_share: vec![],
                cost_per_hour: vec![],
                on_demand_baseline_per_hour: vec![],
                pending_pods: vec![],
                nodes_by_node_pool: BTreeMap::new(),
            },
        }
    }

    /// A plausible run of `days` days sampled every `interval_seconds`: a diurnal load on
    /// two NodePools, Spot-heavy, with ICE episodes that force fallbacks, a few
    /// interruptions, a fault and one invariant violation.
    pub(crate) fn sample_report(days: u32, interval_seconds: f64) -> Report {
        let duration_seconds = f64::from(days) * 86_400.0;
        let samples = (duration_seconds / interval_seconds) as usize + 1;
        let mut random = Lcg(42);
        let mut series = empty_report().series;
        series.interval_seconds = interval_seconds;
        let (spot_price, on_demand_price) = (0.062, 0.192);
        let mut pool_general = Vec::with_capacity(samples);
        let mut pool_batch = Vec::with_capacity(samples);
        let (mut spot_hours, mut on_demand_hours, mut cost, mut baseline) = (0.0, 0.0, 0.0, 0.0);
        for index in 0..samples {
            let time = index as f64 * interval_seconds;
            let day_phase = (time / 86_400.0 * std::f64::consts::TAU).sin();
            let total = (24.0 + 14.0 * day_phase + random.next() * 3.0).round() as u32;
            // An ICE episode every 19 hours for an hour shifts nodes to on-demand.
            let in_ice_episode = (time / 3600.0) as u64 % 19 == 7;
            let on_demand = if in_ice_episode {
                total / 2
            } else {
                2 + total / 12
            };
            let spot = total - on_demand.min(total);
            let batch = total / 3;
            series.time_seconds.push(time);
            series.spot_nodes.push(spot);
            series.on_demand_nodes.push(on_demand);
            series.spot_share.push(if total == 0 {
                0.0
            } else {
                f64::from(spot) / f64::from(total)
            });
            let cost_per_hour =
                f64::from(spot) * spot_price + f64::from(on_demand) * on_demand_price;
            let baseline_per_hour = f64::from(total) * on_demand_price;
            series.cost_per_hour.push(cost_per_hour);
            series.on_demand_baseline_per_hour.push(baseline_per_hour);
            let pending = if in_ice_episode {
                (random.next() * 30.0) as u32
            } else {
                (random.next() * 3.0) as u32
            };
            series.pending_pods.push(pending);
            pool_general.push(total - batch);
            pool_batch.push(batch);
            let hours = interval_seconds / 3600.0;
            spot_hours += f64::from(spot) * hours;
            on_demand_hours += f64::from(on_demand) * hours;
            cost += cost_per_hour * hours;
            baseline += baseline_per_hour * hours;
        }
        series
            .nodes_by_node_pool
            .insert("general".to_owned(), pool_general);
        series
            .nodes_by_node_pool
            .insert("batch".to_owned(), pool_batch);

        let mut events = Vec::new();
        let mut push = |time_seconds: f64, kind, node_pool: &str, node: &str, detail: String| {
            events.push(Event {
                time: iso8601_duration(time_seconds),
                time_seconds,
                kind,
                node_pool: Some(node_pool.to_owned()),
                node: Some(node.to_owned()),
                detail,
            });
        };
        let mut hour = 7;
        while f64::from(hour) * 3600.0 < duration_seconds {
            let time = f64::from(hour) * 3600.0;
            push(
                time,
                EventKind::Fault,
                "general",
                "-",
                "spot-ice c6i,m6i in us-east-1a".to_owned(),
            );
            push(
                time + 30.0,
                EventKind::Ice,
                "general",
                "general-abc12",
                "InsufficientInstanceCapacity c6i.xlarge us-east-1a".to_owned(),
            );
            push(
                time + 31.0,
                EventKind::Fallback,
                "general",
                "general-abc12",
                "spot → on-demand m6i.xlarge".to_owned(),
            );
            push(
                time + 1800.0,
                EventKind::Interruption,
                "batch",
                "batch-9f3k2",
                "2-minute warning, c6i.2xlarge us-east-1b".to_owned(),
            );
            push(
                time + 1850.0,
                EventKind::Avoid,
                "batch",
                "-",
                "c6i.2xlarge us-east-1b interrupted 3 times in 1h, avoided for 30m".to_owned(),
            );
            push(
                time + 3000.0,
                EventKind::ReturnToSpot,
                "general",
                "general-abc12",
                "Spot replacement general-x7k2p Initialized, fallback node removed".to_owned(),
            );
            push(
                time + 1900.0,
                EventKind::Launch,
                "batch",
                "batch-7a1b0",
                "spot c6i.2xlarge us-east-1c".to_owned(),
            );
            hour += 19;
        }
        events.sort_by(|left, right| left.time_seconds.total_cmp(&right.time_seconds));
        let count = |kind| events.iter().filter(|event| event.kind == kind).count() as u64;
        let violation_time = duration_seconds * 0.6;
        let invariant_violations = vec![Violation {
            time: iso8601_duration(violation_time),
            time_seconds: violation_time,
            invariant: "no-pod-lost".to_owned(),
            event: "interruption batch-9f3k2".to_owned(),
            detail: "pod default/worker-3 had no <replacement> & was lost".to_owned(),
        }];
        let mut pending: Vec<f64> = (0..500).map(|_| random.next() * 40.0).collect();
        Report {
            scenario: "diurnal-with-ice".to_owned(),
            region: "us-east-1".to_owned(),
            policy: "spotter".to_owned(),
            seed: 42,
            duration_hours: duration_seconds / 3600.0,
            summary: Summary {
                spot_share_of_node_hours: spot_hours / (spot_hours + on_demand_hours),
                node_hours: NodeHours {
                    spot: spot_hours,
                    on_demand: on_demand_hours,
                },
                fallbacks: count(EventKind::Fallback),
                interruptions: count(EventKind::Interruption),
                ice_events: count(EventKind::Ice),
                pods_disrupted: count(EventKind::Interruption) * 6,
                pods_lost: 1,
                invariant_violations: 1,
                cost_usd: cost,
                on_demand_baseline_cost_usd: baseline,
                savings_pct: (1.0 - cost / baseline) * 100.0,
                pending_seconds: percentiles(&mut pending),
                launches: 120,
                terminations: 110,
                pods_created: 900,
                peak_nodes: 41,
                returns_to_spot: 3,
                fallback_node_hours: 2.5,
                time_to_fallback_seconds: Spread {
                    p50: 1.0,
                    max: 4.0,
                    count: 4,
                },
                time_to_return_seconds: Spread {
                    p50: 420.0,
                    max: 610.0,
                    count: 3,
                },
            },
            node_pools: vec![
                NodePoolSummary {
                    name: "general".to_owned(),
                    node_hours: NodeHours {
                        spot: spot_hours * 0.66,
                        on_demand: on_demand_hours * 0.7,
                    },
                    cost_usd: cost * 0.68,
                    launches: 80,
                    fallbacks: count(EventKind::Fallback),
                    interruptions: 0,
                    returns_to_spot: 3,
                    fallback_node_hours: 2.5,
                },
                NodePoolSummary {
                    name: "batch".to_owned(),
                    node_hours: NodeHours {
                        spot: spot_hours * 0.34,
                        on_demand: on_demand_hours * 0.3,
                    },
                    cost_usd: cost * 0.32,
                    launches: 40,
                    fallbacks: 0,
                    interruptions: count(EventKind::Interruption),
                    returns_to_spot: 0,
                    fallback_node_hours: 0.0,
                },
            ],
            invariant_violations,
            events,
            series,
        }
    }

    /// A tiny deterministic generator in [0, 1).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}
