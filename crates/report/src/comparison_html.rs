//! A `Comparison` as one self-contained HTML page, in the frame and style of the single
//! report's page: a red/green invariant status per policy, the side-by-side figures, charts
//! with one series per policy (Spot share, on-demand nodes, cost per hour against each run's
//! all-on-demand baseline, pending pods) on one time axis, each policy's event timeline, and
//! each policy's NodePools, invariant violations and events. Every string is escaped.

use std::fmt::Write;

use crate::format::{self, escape_html};
use crate::html::{TIMELINE_CAPTION, TIMELINE_TITLE, close_page, open_page, write_chart_section};
use crate::svg::{self, Aggregate, Layer, TimeAxis, Unit, ValueChart};
use crate::{Comparison, Report, Series};

impl Comparison {
    /// The comparison as a self-contained HTML page (no script, no external resource).
    pub fn html(&self) -> String {
        let policies = self.policies_in_order();
        let title = format!("Spotter comparison: {}", self.scenario);
        let mut page = open_page(&title);
        let names: Vec<String> = policies
            .iter()
            .map(|(name, _)| format!("<strong>{}</strong>", escape_html(name)))
            .collect();
        let _ = writeln!(
            page,
            r#"<p class="meta">Region <strong>{region}</strong> · seed <strong>{seed}</strong> · {duration} simulated ({iso}) · policies {names}</p>"#,
            region = escape_html(&self.region),
            seed = self.seed,
            duration = escape_html(&format::compact_duration(self.duration_hours * 3600.0)),
            iso = crate::iso8601_duration(self.duration_hours * 3600.0),
            names = names.join(" and "),
        );
        for (name, report) in &policies {
            let (class, status) = report.invariant_status();
            let _ = writeln!(
                page,
                r#"<p class="status {class}">{}: {status}</p>"#,
                escape_html(name)
            );
        }
        self.write_side_by_side(&mut page);
        write_charts(&mut page, &policies);
        let axis = time_axis(&policies);
        for (name, report) in &policies {
            write_chart_section(
                &mut page,
                &format!("Event timeline, {name}"),
                TIMELINE_CAPTION,
                &svg::timeline(&format!("{TIMELINE_TITLE}, {name}"), &report.lanes(), axis),
            );
        }
        for (name, report) in &policies {
            report.write_node_pools(&mut page, &format!("NodePools, {name}"));
            report.write_violations(&mut page, &format!("Invariant violations, {name}"));
        }
        for (name, report) in &policies {
            report.write_events(&mut page, &format!("Events, {name}"));
        }
        close_page(page)
    }

    /// The side-by-side figures as a table.
    fn write_side_by_side(&self, page: &mut String) {
        let figures = self.side_by_side();
        let policy_count = self.policies.len();
        let class = |column: usize| match column {
            0 => "",
            column if column <= policy_count => r#" class="number""#,
            _ => r#" class="number difference""#,
        };
        page.push_str(
            "<section>\n<h2>Side by side</h2>\n<table class=\"comparison\">\n<thead><tr>",
        );
        for (column, title) in figures.header.iter().enumerate() {
            let _ = write!(page, "<th{}>{}</th>", class(column), escape_html(title));
        }
        page.push_str("</tr></thead>\n<tbody>\n");
        for row in &figures.rows {
            page.push_str("<tr>");
            for (column, cell) in row.iter().enumerate() {
                let _ = write!(page, "<td{}>{}</td>", class(column), escape_html(cell));
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</tbody>\n</table>\n</section>\n");
    }
}

/// The colours of the policies' series, in display order (then again from the start).
const POLICY_COLORS: [&str; 4] = ["#2a9d8f", "#e76f51", "#1d3557", "#7b2cbf"];

/// The charts, one series (or two, for cost and its baseline) per policy.
fn write_charts(page: &mut String, policies: &[(&str, &Report)]) {
    let axis = time_axis(policies);
    let colored = || policies.iter().zip(POLICY_COLORS.iter().copied().cycle());
    let chart = |title, unit, layers, aggregate| {
        svg::value_chart(
            &ValueChart {
                title,
                unit,
                interval_seconds: policies
                    .first()
                    .map_or(0.0, |(_, report)| report.series.interval_seconds),
                layers,
                stacked: false,
                aggregate,
            },
            axis,
        )
    };
    // One solid line per policy, labelled with its name.
    let lines = |values: fn(&Series) -> Vec<f64>| {
        colored()
            .map(|((name, report), color)| {
                layer(
                    (*name).to_owned(),
                    color,
                    report,
                    values(&report.series),
                    false,
                )
            })
            .collect()
    };
    let spot_share = lines(|series| {
        series
            .spot_share
            .iter()
            .map(|share| share * 100.0)
            .collect()
    });
    let on_demand = lines(|series| counts(&series.on_demand_nodes));
    let pending = lines(|series| counts(&series.pending_pods));
    let cost = colored()
        .flat_map(|((name, report), color)| {
            let series = &report.series;
            [
                layer(
                    format!("{name} cost"),
                    color,
                    report,
                    series.cost_per_hour.clone(),
                    false,
                ),
                layer(
                    format!("{name} all-on-demand baseline"),
                    color,
                    report,
                    series.on_demand_baseline_per_hour.clone(),
                    true,
                ),
            ]
        })
        .collect();
    let sections = [
        (
            "Spot share",
            "Share of running nodes on Spot capacity, one line per policy.",
            chart(
                "Spot share of running nodes over time, by policy",
                Unit::Percent,
                spot_share,
                Aggregate::Mean,
            ),
        ),
        (
            "On-demand nodes",
            "Running on-demand nodes, one line per policy.",
            chart(
                "On-demand nodes over time, by policy",
                Unit::Nodes,
                on_demand,
                Aggregate::Mean,
            ),
        ),
        (
            "Cost per hour",
            "What each policy's running nodes cost per hour (solid), against the same nodes all on-demand (dashed).",
            chart(
                "Cost per hour versus the all-on-demand baseline, by policy",
                Unit::UsdPerHour,
                cost,
                Aggregate::Mean,
            ),
        ),
        (
            "Pending pods",
            "Pods waiting for a node (peak of each plotted step), one line per policy.",
            chart(
                "Pending pods over time, by policy",
                Unit::Pods,
                pending,
                Aggregate::Max,
            ),
        ),
    ];
    for (heading, caption, chart_svg) in sections {
        write_chart_section(page, heading, caption, &chart_svg);
    }
}

/// A line of `report`'s values, labelled and coloured.
fn layer<'a>(
    label: String,
    color: &'static str,
    report: &'a Report,
    values: Vec<f64>,
    dashed: bool,
) -> Layer<'a> {
    Layer {
        label,
        color,
        times: &report.series.time_seconds,
        values,
        fill: false,
        dashed,
    }
}

/// Counts as plotted values.
fn counts(values: &[u32]) -> Vec<f64> {
    values.iter().copied().map(f64::from).collect()
}

/// One time axis for every run: long enough for each run, sample, event and violation.
fn time_axis(policies: &[(&str, &Report)]) -> TimeAxis {
    TimeAxis::covering(
        policies
            .iter()
            .flat_map(|(_, report)| report.times_to_cover()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::samples::{assert_self_contained, empty_report, sample_comparison};

    /// The chart section under the heading `heading`.
    fn section<'a>(html: &'a str, heading: &str) -> &'a str {
        html.split_once(&format!("<h2>{heading}</h2>"))
            .and_then(|(_, rest)| rest.split_once("</section>"))
            .map(|(section, _)| section)
            .unwrap_or_else(|| panic!("no section {heading:?}"))
    }

    #[test]
    fn html_draws_one_series_per_policy() {
        let html = sample_comparison().html();
        assert_self_contained(&html);
        // Four value charts and a timeline per policy.
        assert_eq!(html.matches("<svg").count(), 6);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        let cases = [
            ("Spot share", &["spotter", "karpenter"][..]),
            ("On-demand nodes", &["spotter", "karpenter"][..]),
            (
                "Cost per hour",
                &[
                    "spotter cost",
                    "spotter all-on-demand baseline",
                    "karpenter cost",
                    "karpenter all-on-demand baseline",
                ][..],
            ),
            ("Pending pods", &["spotter", "karpenter"][..]),
        ];
        for (heading, legend) in cases {
            let chart = section(&html, heading);
            assert_eq!(
                chart.matches("<polyline").count(),
                legend.len(),
                "{heading}"
            );
            for label in legend {
                assert!(
                    chart.contains(&format!(r#"class="legend">{label}</text>"#)),
                    "{heading} lacks {label:?}"
                );
            }
            let colors: Vec<&str> = POLICY_COLORS[..2].to_vec();
            for color in colors {
                assert!(chart.contains(&format!(r#"stroke="{color}""#)), "{heading}");
            }
        }
        assert_eq!(
            section(&html, "Cost per hour")
                .matches("stroke-dasharray=\"6 4\"")
                .count(),
            2
        );
        // The two Spot share lines differ: Karpenter's share is lower.
        let lines: Vec<&str> = section(&html, "Spot share")
            .split("<polyline points=\"")
            .skip(1)
            .collect();
        assert_ne!(lines[0].split('"').next(), lines[1].split('"').next());
    }

    #[test]
    fn html_shows_the_figures_side_by_side_and_each_policy() {
        let html = sample_comparison().html();
        for needle in [
            "<title>Spotter comparison: diurnal-with-ice</title>",
            "policies <strong>spotter</strong> and <strong>karpenter</strong>",
            r#"<p class="status bad">spotter: ✘ 1 invariant violation</p>"#,
            r#"<p class="status ok">karpenter: ✔ All invariants held</p>"#,
            r#"<th class="number">spotter</th><th class="number">karpenter</th><th class="number difference">spotter − karpenter</th>"#,
            r#"<tr><td>Cost</td><td class="number">$1,000.00</td><td class="number">$1,250.50</td><td class="number difference">-$250.50</td></tr>"#,
            r#"<tr><td>Time to return p50</td><td class="number">420.0 s</td><td class="number">—</td><td class="number difference">—</td></tr>"#,
            "<h2>Event timeline, spotter</h2>",
            "<h2>Event timeline, karpenter</h2>",
            "<h2>NodePools, spotter</h2>",
            "<h2>NodePools, karpenter</h2>",
            "<h2>Invariant violations, karpenter</h2>",
            "<h2>Events, spotter</h2>",
            "<h2>Events, karpenter</h2>",
            r#"class="lane-name">return to Spot</text>"#,
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        let spotter = html.find("<h2>Event timeline, spotter</h2>");
        let karpenter = html.find("<h2>Event timeline, karpenter</h2>");
        assert!(spotter < karpenter, "Spotter first");
    }

    #[test]
    fn html_escapes_comparison_strings() {
        let nasty = r#"<b>&"x"</b>"#;
        let mut comparison = sample_comparison();
        comparison.scenario = nasty.to_owned();
        comparison.region = nasty.to_owned();
        let mut report = empty_report();
        report.node_pools = sample_comparison().policies["spotter"].node_pools.clone();
        report.node_pools[0].name = nasty.to_owned();
        comparison.policies.insert(nasty.to_owned(), report);
        let html = comparison.html();
        assert!(!html.contains("<b>"), "unescaped markup");
        assert!(!html.contains("\"x\""), "unescaped quotes");
        assert!(html.contains("spotter − &lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"));
        assert!(html.contains("<h2>Event timeline, &lt;b&gt;"));
        assert_self_contained(&html);
    }

    #[test]
    fn html_renders_degenerate_comparisons() {
        let mut empty_runs = sample_comparison();
        for report in empty_runs.policies.values_mut() {
            let policy = report.policy.clone();
            *report = empty_report();
            report.policy = policy;
        }
        let no_policies = Comparison {
            policies: BTreeMap::new(),
            ..sample_comparison()
        };
        let mut non_finite = sample_comparison();
        non_finite.duration_hours = f64::NAN;
        if let Some(report) = non_finite.policies.get_mut("karpenter") {
            report.series.spot_share[0] = f64::NAN;
            report.series.cost_per_hour[1] = f64::INFINITY;
            report.summary.cost_usd = f64::INFINITY;
        }
        for (name, comparison, charts) in [
            ("empty runs", empty_runs, 6),
            ("no policies", no_policies, 4),
            ("non-finite", non_finite, 6),
        ] {
            let html = comparison.html();
            assert_self_contained(&html);
            assert_eq!(html.matches("<svg").count(), charts, "{name}");
        }
    }
}
