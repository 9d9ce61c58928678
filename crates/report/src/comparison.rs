//! A `Comparison` (one scenario run under several policies with the same seed) as JSON, as
//! side-by-side figures (one row per metric: a column per policy, then the difference of the
//! first policy from each other one) and as text for a terminal. Policies are shown in the
//! order of [`POLICY_ORDER`] (Spotter first), so the difference reads "what Spotter
//! changes". Its HTML page is `comparison_html`.

use crate::format::{self, printable};
use crate::terminal::{align_right, new_table, push_table};
use crate::{Comparison, Report, Spread, Summary};

/// The policy presets' names in display order, Spotter first: the order of the controllers'
/// `Policy::ALL` (the simulator's tests check that the two agree; the report does not depend
/// on the controllers).
pub const POLICY_ORDER: [&str; 2] = ["spotter", "karpenter"];

impl Comparison {
    /// The comparison as pretty-printed JSON with a trailing newline, under the same rules
    /// as [`Report::to_json`]: deterministic, each policy's full report under
    /// `policies.<name>`, sorted by name.
    pub fn to_json(&self) -> String {
        crate::model::pretty_json(self)
    }

    /// The policies and their reports in display order: the presets in the order of
    /// [`POLICY_ORDER`] (Spotter first), then any other name alphabetically.
    pub fn policies_in_order(&self) -> Vec<(&str, &Report)> {
        let mut policies: Vec<(&str, &Report)> = self
            .policies
            .iter()
            .map(|(name, report)| (name.as_str(), report))
            .collect();
        let rank = |name: &str| {
            POLICY_ORDER
                .iter()
                .position(|policy| *policy == name)
                .unwrap_or(POLICY_ORDER.len())
        };
        // Stable: names outside the presets keep the map's alphabetical order.
        policies.sort_by_key(|(name, _)| rank(name));
        policies
    }

    /// A summary for a person at a terminal: what was compared, a headline line per policy,
    /// the side-by-side table, then each policy's NodePools and invariant violations.
    pub fn terminal_summary(&self) -> String {
        let policies = self.policies_in_order();
        let names: Vec<String> = policies.iter().map(|(name, _)| printable(name)).collect();
        let mut text = format!(
            "{} ({}, seed {}, {}): {} side by side\n",
            printable(&self.scenario),
            printable(&self.region),
            self.seed,
            format::compact_duration(self.duration_hours * 3600.0),
            if names.is_empty() {
                "no policies".to_owned()
            } else {
                names.join(" and ")
            },
        );
        for (name, report) in &policies {
            text.push_str(&format!(
                "{}: {}\n",
                printable(name),
                report.headline_figures()
            ));
        }
        let figures = self.side_by_side();
        let mut table = new_table(figures.header.iter().map(|title| printable(title)));
        for row in &figures.rows {
            table.add_row(row.iter().map(|cell| printable(cell)).collect::<Vec<_>>());
        }
        align_right(&mut table, 1..figures.header.len());
        push_table(&mut text, "Side by side", &table);
        for (name, report) in &policies {
            let name = printable(name);
            push_table(
                &mut text,
                &format!("NodePools, {name}"),
                &report.node_pool_table(),
            );
        }
        for (name, report) in &policies {
            report.push_violations(
                &mut text,
                &format!("Invariant violations, {}", printable(name)),
            );
        }
        text
    }

    /// The side-by-side figures, unescaped: the header (`Metric`, each policy, then
    /// `first − other` for each other policy) and one row per metric.
    pub(super) fn side_by_side(&self) -> SideBySide {
        let policies = self.policies_in_order();
        let mut header = vec!["Metric".to_owned()];
        header.extend(policies.iter().map(|(name, _)| (*name).to_owned()));
        if let Some(((first, _), others)) = policies.split_first() {
            header.extend(others.iter().map(|(other, _)| format!("{first} − {other}")));
        }
        let rows = METRICS
            .iter()
            .map(|metric| {
                let values: Vec<Option<f64>> = policies
                    .iter()
                    .map(|(_, report)| (metric.value)(&report.summary))
                    .collect();
                let mut row = vec![metric.name.to_owned()];
                row.extend(values.iter().map(|value| match value {
                    Some(value) => metric.measure.value(*value),
                    None => format::NO_SAMPLE.to_owned(),
                }));
                if let Some((first, others)) = values.split_first() {
                    row.extend(others.iter().map(|other| match (first, other) {
                        (Some(first), Some(other)) => metric.measure.difference(first - other),
                        _ => format::NO_SAMPLE.to_owned(),
                    }));
                }
                row
            })
            .collect();
        SideBySide { header, rows }
    }
}

/// The side-by-side figures of a comparison, as text cells.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SideBySide {
    /// `Metric`, the policies, then the differences.
    pub header: Vec<String>,
    /// One row per metric, cells in the header's order.
    pub rows: Vec<Vec<String>>,
}

/// How a metric's values and differences are written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// A fraction (0..1) shown as a percentage; differences in percentage points.
    Share,
    /// A percentage (0..100); differences in percentage points.
    Percent,
    /// US dollars.
    Usd,
    /// Node-hours, one decimal.
    Hours,
    /// A count.
    Count,
    /// Seconds, one decimal.
    Seconds,
}

/// One row of the side-by-side figures: its name, how it is written, and its value in a
/// run's summary (`None` when its sample is empty).
#[derive(Debug, Clone, Copy)]
struct Metric {
    name: &'static str,
    measure: Measure,
    value: fn(&Summary) -> Option<f64>,
}

/// The side-by-side metrics, in row order.
const METRICS: [Metric; 27] = [
    metric("Spot share of node-hours", Measure::Share, |summary| {
        Some(summary.spot_share_of_node_hours)
    }),
    metric(
        "Spot share of eligible node-hours",
        Measure::Share,
        |summary| Some(summary.spot_share_of_eligible_node_hours),
    ),
    metric("Node-hours, Spot", Measure::Hours, |summary| {
        Some(summary.node_hours.spot)
    }),
    metric("Node-hours, on-demand", Measure::Hours, |summary| {
        Some(summary.node_hours.on_demand)
    }),
    metric("Cost", Measure::Usd, |summary| Some(summary.cost_usd)),
    metric("All-on-demand baseline", Measure::Usd, |summary| {
        Some(summary.on_demand_baseline_cost_usd)
    }),
    metric("Savings", Measure::Percent, |summary| {
        Some(summary.savings_pct)
    }),
    metric("Fallbacks", Measure::Count, |summary| {
        Some(summary.fallbacks as f64)
    }),
    metric("Time to fallback p50", Measure::Seconds, |summary| {
        median(summary.time_to_fallback_seconds)
    }),
    metric("Time to fallback max", Measure::Seconds, |summary| {
        largest(summary.time_to_fallback_seconds)
    }),
    metric("Returns to Spot", Measure::Count, |summary| {
        Some(summary.returns_to_spot as f64)
    }),
    metric("Time to return p50", Measure::Seconds, |summary| {
        median(summary.time_to_return_seconds)
    }),
    metric("Time to return max", Measure::Seconds, |summary| {
        largest(summary.time_to_return_seconds)
    }),
    metric("Fallback node-hours", Measure::Hours, |summary| {
        Some(summary.fallback_node_hours)
    }),
    metric("Interruptions", Measure::Count, |summary| {
        Some(summary.interruptions as f64)
    }),
    metric("ICE events", Measure::Count, |summary| {
        Some(summary.ice_events as f64)
    }),
    metric("Launches", Measure::Count, |summary| {
        Some(summary.launches as f64)
    }),
    metric("Pods disrupted", Measure::Count, |summary| {
        Some(summary.pods_disrupted as f64)
    }),
    metric("Pods lost", Measure::Count, |summary| {
        Some(summary.pods_lost as f64)
    }),
    metric("Pending p50", Measure::Seconds, |summary| {
        Some(summary.pending_seconds.p50)
    }),
    metric("Pending p99", Measure::Seconds, |summary| {
        Some(summary.pending_seconds.p99)
    }),
    metric("Pods pending at the end", Measure::Count, |summary| {
        Some(summary.pods_pending_at_end as f64)
    }),
    metric("Pending pod-hours", Measure::Hours, |summary| {
        Some(summary.pending_pod_hours)
    }),
    metric("Pods never scheduled", Measure::Count, |summary| {
        Some(summary.pods_never_scheduled as f64)
    }),
    metric(
        "Pods over the pending threshold",
        Measure::Count,
        |summary| Some(summary.pods_over_pending_threshold as f64),
    ),
    metric(
        "Interruption pending pod-seconds",
        Measure::Seconds,
        |summary| Some(summary.interruption_pending_pod_seconds),
    ),
    metric("Invariant violations", Measure::Count, |summary| {
        Some(summary.invariant_violations as f64)
    }),
];

/// A metric (for the table above).
const fn metric(
    name: &'static str,
    measure: Measure,
    value: fn(&Summary) -> Option<f64>,
) -> Metric {
    Metric {
        name,
        measure,
        value,
    }
}

impl Measure {
    /// A value, written for a person.
    fn value(self, value: f64) -> String {
        match self {
            Measure::Share => format::fraction_as_percent(value),
            Measure::Percent => format::percent(value),
            Measure::Usd => format::usd(value),
            Measure::Hours => format::number(value, 1),
            Measure::Count => format::number(value, 0),
            Measure::Seconds => format::seconds(value),
        }
    }

    /// A difference of two values, signed.
    fn difference(self, difference: f64) -> String {
        match self {
            Measure::Share => format::signed(difference * 100.0, format::percentage_points),
            Measure::Percent => format::signed(difference, format::percentage_points),
            Measure::Usd => format::signed(difference, format::usd),
            Measure::Hours => format::signed(difference, |value| format::number(value, 1)),
            Measure::Count => format::signed(difference, |value| format::number(value, 0)),
            Measure::Seconds => format::signed(difference, format::seconds),
        }
    }
}

/// The median of a sample, if it has any value.
fn median(spread: Spread) -> Option<f64> {
    (spread.count > 0).then_some(spread.p50)
}

/// The largest value of a sample, if it has any.
fn largest(spread: Spread) -> Option<f64> {
    (spread.count > 0).then_some(spread.max)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;
    use crate::samples::{empty_report, sample_comparison, table_row};

    #[test]
    fn side_by_side_has_a_column_per_policy_and_the_differences() {
        let figures = sample_comparison().side_by_side();
        assert_eq!(
            figures.header,
            ["Metric", "spotter", "karpenter", "spotter − karpenter"]
        );
        let cases = [
            ("Spot share of node-hours", "90.0%", "75.0%", "+15.0 pp"),
            ("Cost", "$1,000.00", "$1,250.50", "-$250.50"),
            ("Savings", "66.7%", "58.2%", "+8.5 pp"),
            ("Fallbacks", "4", "6", "-2"),
            ("Time to fallback p50", "1.0 s", "2.0 s", "-1.0 s"),
            ("Time to fallback max", "4.0 s", "9.0 s", "-5.0 s"),
            ("Returns to Spot", "3", "0", "+3"),
            ("Time to return p50", "420.0 s", "—", "—"),
            ("Time to return max", "610.0 s", "—", "—"),
            ("Fallback node-hours", "2.5", "40.0", "-37.5"),
            ("Interruptions", "3", "7", "-4"),
            ("Pods lost", "0", "0", "0"),
            ("Invariant violations", "1", "0", "+1"),
        ];
        for (metric, spotter, karpenter, difference) in cases {
            let row = figures
                .rows
                .iter()
                .find(|row| row[0] == metric)
                .unwrap_or_else(|| panic!("no row {metric:?}"));
            assert_eq!(row, &[metric, spotter, karpenter, difference], "{metric}");
        }
        for metric in [
            "Node-hours, Spot",
            "Node-hours, on-demand",
            "All-on-demand baseline",
            "ICE events",
            "Pods disrupted",
            "Pending p50",
            "Pending p99",
        ] {
            assert!(
                figures.rows.iter().any(|row| row[0] == metric),
                "no row {metric:?}"
            );
        }
        assert!(figures.rows.iter().all(|row| row.len() == 4));
    }

    #[test]
    fn side_by_side_shapes() {
        let mut one = sample_comparison();
        one.policies.remove("karpenter");
        let mut three = sample_comparison();
        three.policies.insert("aardvark".to_owned(), empty_report());
        let none = Comparison {
            policies: BTreeMap::new(),
            ..sample_comparison()
        };
        let cases: [(&str, Comparison, &[&str]); 3] = [
            ("one policy, no difference", one, &["Metric", "spotter"]),
            (
                "presets first, then by name",
                three,
                &[
                    "Metric",
                    "spotter",
                    "karpenter",
                    "aardvark",
                    "spotter − karpenter",
                    "spotter − aardvark",
                ],
            ),
            ("no policies", none, &["Metric"]),
        ];
        for (name, comparison, header) in cases {
            let figures = comparison.side_by_side();
            assert_eq!(figures.header, header, "{name}");
            assert_eq!(figures.rows.len(), METRICS.len(), "{name}");
            assert!(
                figures.rows.iter().all(|row| row.len() == header.len()),
                "{name}"
            );
        }
    }

    #[test]
    fn side_by_side_dashes_every_cell_of_an_empty_sample() {
        let mut comparison = sample_comparison();
        comparison
            .policies
            .insert("aardvark".to_owned(), empty_report());
        let figures = comparison.side_by_side();
        let time_to_return = figures
            .rows
            .iter()
            .find(|row| row[0] == "Time to return p50")
            .expect("a row for the time to return");
        // spotter, karpenter (empty), aardvark (empty), then both differences.
        assert_eq!(time_to_return[1..], ["420.0 s", "—", "—", "—", "—"]);
    }

    #[test]
    fn terminal_summary_compares_side_by_side() {
        let mut comparison = sample_comparison();
        let text = comparison.terminal_summary();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "diurnal-with-ice (us-east-1, seed 42, 2d): spotter and karpenter side by side"
        );
        assert!(
            lines[1].starts_with("spotter: Spot share 90.0% of node-hours, cost $1,000.00")
                && lines[1].ends_with("invariants FAILED (1 violation)"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("karpenter: Spot share 75.0% of node-hours, cost $1,250.50")
                && lines[2].ends_with("invariants OK"),
            "{}",
            lines[2]
        );
        assert_eq!(
            table_row(&text, "Metric"),
            ["Metric", "spotter", "karpenter", "spotter − karpenter"]
        );
        assert_eq!(
            table_row(&text, "Cost"),
            ["Cost", "$1,000.00", "$1,250.50", "-$250.50"]
        );
        assert_eq!(
            table_row(&text, "Time to return max"),
            ["Time to return max", "610.0 s", "—", "—"]
        );
        for needle in [
            "Side by side\n",
            "NodePools, spotter\n",
            "NodePools, karpenter\n",
            "Invariant violations, spotter (1)\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?}:\n{text}");
        }
        assert!(!text.contains("Invariant violations, karpenter"));

        let mut evil = empty_report();
        evil.policy = "evil\u{1b}[2J".to_owned();
        comparison.policies.insert(evil.policy.clone(), evil);
        comparison.scenario = "scenario\u{1b}[31m".to_owned();
        let text = comparison.terminal_summary();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("spotter − evil\u{fffd}[2J"));
    }

    #[test]
    fn terminal_summary_without_policies() {
        let comparison = Comparison {
            policies: BTreeMap::new(),
            ..sample_comparison()
        };
        let text = comparison.terminal_summary();
        assert!(text.starts_with("diurnal-with-ice (us-east-1, seed 42, 2d): no policies"));
        assert_eq!(table_row(&text, "Cost"), ["Cost"]);
    }

    #[test]
    fn json_holds_every_policy_under_policies() {
        let comparison = sample_comparison();
        let json = comparison.to_json();
        assert!(json.ends_with("}\n"));
        assert_eq!(json, sample_comparison().to_json(), "deterministic");
        let parsed: Comparison = serde_json::from_str(&json).expect("parses as a comparison");
        assert_eq!(parsed, comparison);

        let value: Value = serde_json::from_str(&json).expect("parses as JSON");
        for key in ["scenario", "region", "seed", "durationHours", "policies"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        let policies: Vec<&String> = value["policies"]
            .as_object()
            .expect("policies is an object")
            .keys()
            .collect();
        assert_eq!(policies, ["karpenter", "spotter"]);
        let cases = [
            ("/policies/spotter/policy", Value::from("spotter")),
            ("/policies/karpenter/policy", Value::from("karpenter")),
            ("/policies/spotter/seed", value["seed"].clone()),
            ("/policies/karpenter/seed", value["seed"].clone()),
            ("/policies/spotter/summary/returnsToSpot", Value::from(3)),
            ("/policies/karpenter/summary/returnsToSpot", Value::from(0)),
            (
                "/policies/spotter/summary/fallbackNodeHours",
                Value::from(2.5),
            ),
            (
                "/policies/karpenter/summary/fallbackNodeHours",
                Value::from(40.0),
            ),
            (
                "/policies/spotter/summary/timeToFallbackSeconds/p50",
                Value::from(1.0),
            ),
            (
                "/policies/karpenter/summary/timeToFallbackSeconds/max",
                Value::from(9.0),
            ),
            (
                "/policies/spotter/summary/timeToReturnSeconds/count",
                Value::from(3),
            ),
            (
                "/policies/karpenter/summary/timeToReturnSeconds/count",
                Value::from(0),
            ),
            (
                "/policies/spotter/nodePools/0/returnsToSpot",
                Value::from(3),
            ),
            (
                "/policies/spotter/nodePools/0/fallbackNodeHours",
                Value::from(2.5),
            ),
        ];
        for (pointer, expected) in cases {
            assert_eq!(value.pointer(pointer), Some(&expected), "{pointer}");
        }
    }

    #[test]
    fn policies_in_order_put_the_presets_first() {
        let mut comparison = sample_comparison();
        for name in ["zeta", "alpha"] {
            comparison.policies.insert(name.to_owned(), empty_report());
        }
        let names: Vec<&str> = comparison
            .policies_in_order()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["spotter", "karpenter", "alpha", "zeta"]);
    }
}
