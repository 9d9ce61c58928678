//! The report as one self-contained HTML page that opens offline: inline `<style>`, no
//! script, no external URL, font or stylesheet. It holds the headline figures with a
//! red/green invariant status, the SVG charts (nodes by capacity type, nodes by NodePool,
//! Spot share, cost against the all-on-demand baseline, pending pods, event timeline) and
//! the tables (NodePools, invariant violations, events). Every string from the report is
//! escaped; the charts themselves are drawn by `svg`. The page frame, the timeline lanes and
//! the tables serve the comparison's page too.

use std::fmt::Write;

use crate::format::{self, escape_html};
use crate::svg::{self, Aggregate, Lane, Layer, Mark, TimeAxis, Unit, ValueChart};
use crate::{Event, EventKind, Report};

impl Report {
    /// The report as a self-contained HTML page (no script, no external resource).
    pub fn html(&self) -> String {
        let title = format!("Spotter simulation: {}", self.scenario);
        let mut page = open_page(&title);
        let _ = writeln!(
            page,
            r#"<p class="meta">Region <strong>{region}</strong> · policy <strong>{policy}</strong> · seed <strong>{seed}</strong> · {duration} simulated ({iso})</p>"#,
            region = escape_html(&self.region),
            policy = escape_html(&self.policy),
            seed = self.seed,
            duration = escape_html(&format::compact_duration(self.duration_hours * 3600.0)),
            iso = crate::iso8601_duration(self.duration_hours * 3600.0),
        );
        let (class, status) = self.invariant_status();
        let _ = writeln!(page, r#"<p class="status {class}">{status}</p>"#);
        self.write_figures(&mut page);
        self.write_charts(&mut page);
        self.write_node_pools(&mut page, "NodePools");
        self.write_violations(&mut page, "Invariant violations");
        self.write_events(&mut page, "Events");
        close_page(page)
    }

    /// The class (`ok`, `bad`) and text of the red/green banner: the invariants, and pods
    /// that waited longer than the pending threshold.
    pub(super) fn invariant_status(&self) -> (&'static str, String) {
        let violations = self
            .summary
            .invariant_violations
            .max(self.invariant_violations.len() as u64);
        let invariants = match violations {
            0 => None,
            1 => Some("✘ 1 invariant violation".to_owned()),
            many => Some(format!("✘ {} invariant violations", format::count(many))),
        };
        match (invariants, self.pending_failure()) {
            (None, None) => ("ok", "✔ All invariants held".to_owned()),
            (Some(invariants), None) => ("bad", invariants),
            (None, Some(pending)) => ("bad", format!("✘ {pending}")),
            (Some(invariants), Some(pending)) => ("bad", format!("{invariants} · ✘ {pending}")),
        }
    }

    /// The headline figures, then the secondary ones.
    fn write_figures(&self, page: &mut String) {
        let summary = &self.summary;
        let warn_if = |count: u64| if count > 0 { "figure warn" } else { "figure" };
        let bad_if = |count: u64| if count > 0 { "figure bad" } else { "figure ok" };
        let pending_note = format!(
            "waited over {}",
            format::compact_duration(summary.pending_threshold_seconds)
        );
        let headline = [
            (
                "Spot share",
                format::fraction_as_percent(summary.spot_share_of_node_hours),
                "of node-hours",
                "figure",
            ),
            (
                "Spot share, eligible",
                format::fraction_as_percent(summary.spot_share_of_eligible_node_hours),
                "of node-hours that could be Spot",
                "figure",
            ),
            (
                "Cost",
                format::usd(summary.cost_usd),
                "simulated nodes",
                "figure",
            ),
            (
                "All-on-demand baseline",
                format::usd(summary.on_demand_baseline_cost_usd),
                "same workload",
                "figure",
            ),
            (
                "Savings",
                format::percent(summary.savings_pct),
                "vs the baseline",
                "figure",
            ),
            (
                "Fallbacks",
                format::count(summary.fallbacks),
                "Spot → on-demand",
                warn_if(summary.fallbacks),
            ),
            (
                "Returns to Spot",
                format::count(summary.returns_to_spot),
                "fallback nodes replaced",
                "figure",
            ),
            (
                "Interruptions",
                format::count(summary.interruptions),
                "Spot reclaimed",
                warn_if(summary.interruptions),
            ),
            (
                "Disruptions",
                format::disruptions(&summary.disruptions),
                "NodeClaims by reason",
                "figure",
            ),
            (
                "ICE events",
                format::count(summary.ice_events),
                "insufficient capacity",
                warn_if(summary.ice_events),
            ),
            (
                "Pods lost",
                format::count(summary.pods_lost),
                "not rescheduled",
                bad_if(summary.pods_lost),
            ),
            (
                "Pods pending at the end",
                format::count(summary.pods_pending_at_end),
                "never placed or still waiting",
                bad_if(summary.pods_pending_at_end),
            ),
            (
                "Pods over the pending threshold",
                format::count(summary.pods_over_pending_threshold),
                pending_note.as_str(),
                bad_if(summary.pods_over_pending_threshold),
            ),
            (
                "Invariant violations",
                format::count(summary.invariant_violations),
                "must be zero",
                bad_if(summary.invariant_violations),
            ),
        ];
        let pending = &summary.pending_seconds;
        let (fallback_p50, fallback_max) = format::spread_seconds(summary.time_to_fallback_seconds);
        let (return_p50, return_max) = format::spread_seconds(summary.time_to_return_seconds);
        let details = [
            (
                "Node-hours, Spot",
                format::number(summary.node_hours.spot, 1),
            ),
            (
                "Node-hours, on-demand",
                format::number(summary.node_hours.on_demand, 1),
            ),
            (
                "Fallback node-hours",
                format::number(summary.fallback_node_hours, 1),
            ),
            ("Time to fallback p50", fallback_p50),
            ("Time to fallback max", fallback_max),
            ("Time to return p50", return_p50),
            ("Time to return max", return_max),
            ("Pods disrupted", format::count(summary.pods_disrupted)),
            ("Pods created", format::count(summary.pods_created)),
            (
                "Pending pod-hours",
                format::number(summary.pending_pod_hours, 1),
            ),
            (
                "Pods never scheduled",
                format::never_scheduled(
                    summary.pods_never_scheduled,
                    &summary.pods_never_scheduled_reasons,
                ),
            ),
            (
                "Interruption pending pod-seconds",
                format::number(summary.interruption_pending_pod_seconds, 1),
            ),
            ("Pending p50", format::seconds(pending.p50)),
            ("Pending p99", format::seconds(pending.p99)),
            ("Pending max", format::seconds(pending.max)),
            ("Launches", format::count(summary.launches)),
            ("Terminations", format::count(summary.terminations)),
            ("Peak nodes", format::count(summary.peak_nodes)),
        ];
        page.push_str("<section class=\"figures\">\n");
        for (label, value, note, class) in headline {
            let _ = writeln!(
                page,
                r#"<div class="{class}"><div class="label">{label}</div><div class="value">{}</div><div class="note">{note}</div></div>"#,
                escape_html(&value),
            );
        }
        page.push_str("</section>\n<section class=\"figures small-figures\">\n");
        for (label, value) in details {
            let _ = writeln!(
                page,
                r#"<div class="figure"><div class="label">{label}</div><div class="value">{}</div></div>"#,
                escape_html(&value),
            );
        }
        page.push_str("</section>\n");
    }

    /// Every chart, each under its heading.
    fn write_charts(&self, page: &mut String) {
        let series = &self.series;
        let axis = self.time_axis();
        let to_f64 = |values: &[u32]| values.iter().copied().map(f64::from).collect::<Vec<f64>>();
        let chart = |title: &'static str, unit, layers, stacked, aggregate| ValueChart {
            title,
            unit,
            interval_seconds: series.interval_seconds,
            layers,
            stacked,
            aggregate,
        };
        let layer = |label: &str, color, values, fill, dashed| Layer {
            label: label.to_owned(),
            color,
            times: &series.time_seconds,
            values,
            fill,
            dashed,
        };
        let mut sections = vec![(
            "Nodes by capacity type",
            "Running nodes, Spot stacked under on-demand.",
            svg::value_chart(
                &chart(
                    "Nodes by capacity type over time",
                    Unit::Nodes,
                    vec![
                        layer("Spot", SPOT_COLOR, to_f64(&series.spot_nodes), true, false),
                        layer(
                            "on-demand",
                            ON_DEMAND_COLOR,
                            to_f64(&series.on_demand_nodes),
                            true,
                            false,
                        ),
                    ],
                    true,
                    Aggregate::Mean,
                ),
                axis,
            ),
        )];
        if !series.nodes_by_node_pool.is_empty() {
            let layers = series
                .nodes_by_node_pool
                .iter()
                .zip(NODE_POOL_COLORS.iter().copied().cycle())
                .map(|((name, values), color)| layer(name, color, to_f64(values), false, false))
                .collect();
            sections.push((
                "Nodes by NodePool",
                "Running nodes of each NodePool.",
                svg::value_chart(
                    &chart(
                        "Nodes by NodePool over time",
                        Unit::Nodes,
                        layers,
                        false,
                        Aggregate::Mean,
                    ),
                    axis,
                ),
            ));
        }
        let share_percent = series
            .spot_share
            .iter()
            .map(|share| share * 100.0)
            .collect();
        let mut avoided_section = None;
        if !series.avoided_offerings.is_empty() {
            // Reports written before avoidance was sampled have no such series.
            avoided_section = Some((
                "Avoided for interruptions",
                "What Spotter avoids for its Spot interruptions: offerings kept out of launches, instance families in a zone and whole zones taken last (a soft zone spread leaves an avoided zone out meanwhile). The avoid lane below says when each began and why.",
                svg::value_chart(
                    &chart(
                        "Avoided offerings, families and zones over time",
                        Unit::Avoided,
                        vec![
                            layer(
                                "offerings",
                                AVOID_COLOR,
                                to_f64(&series.avoided_offerings),
                                false,
                                false,
                            ),
                            layer(
                                "families in a zone",
                                AVOIDED_FAMILY_COLOR,
                                to_f64(&series.avoided_families),
                                false,
                                false,
                            ),
                            layer(
                                "zones",
                                AVOIDED_ZONE_COLOR,
                                to_f64(&series.avoided_zones),
                                false,
                                true,
                            ),
                        ],
                        false,
                        Aggregate::Max,
                    ),
                    axis,
                ),
            ));
        }
        sections.extend([
            (
                "Spot share",
                "Share of running nodes on Spot capacity.",
                svg::value_chart(
                    &chart(
                        "Spot share of running nodes over time",
                        Unit::Percent,
                        vec![layer("Spot share", SPOT_COLOR, share_percent, false, false)],
                        false,
                        Aggregate::Mean,
                    ),
                    axis,
                ),
            ),
            (
                "Cost per hour",
                "What the running nodes cost per hour, against the same nodes all on-demand.",
                svg::value_chart(
                    &chart(
                        "Cost per hour versus the all-on-demand baseline",
                        Unit::UsdPerHour,
                        vec![
                            layer(
                                "cost",
                                COST_COLOR,
                                series.cost_per_hour.clone(),
                                false,
                                false,
                            ),
                            layer(
                                "all-on-demand baseline",
                                BASELINE_COLOR,
                                series.on_demand_baseline_per_hour.clone(),
                                false,
                                true,
                            ),
                        ],
                        false,
                        Aggregate::Mean,
                    ),
                    axis,
                ),
            ),
            (
                "Pending pods",
                "Pods waiting for a node (peak of each plotted step).",
                svg::value_chart(
                    &chart(
                        "Pending pods over time",
                        Unit::Pods,
                        vec![layer(
                            "pending pods",
                            PENDING_COLOR,
                            to_f64(&series.pending_pods),
                            true,
                            false,
                        )],
                        false,
                        Aggregate::Max,
                    ),
                    axis,
                ),
            ),
            (
                "Event timeline",
                TIMELINE_CAPTION,
                svg::timeline(TIMELINE_TITLE, &self.lanes(), axis),
            ),
        ]);
        if let Some(avoided) = avoided_section {
            // Just above the event timeline, whose avoid lane tells each avoidance.
            let timeline = sections.pop();
            sections.push(avoided);
            sections.extend(timeline);
        }
        for (heading, caption, chart_svg) in sections {
            write_chart_section(page, heading, caption, &chart_svg);
        }
    }

    /// The time axis: long enough for the run, every sample and every event.
    fn time_axis(&self) -> TimeAxis {
        TimeAxis::covering(self.times_to_cover())
    }

    /// The times a time axis must reach for this run: its end, its last sample, every event
    /// and every violation.
    pub(super) fn times_to_cover(&self) -> impl Iterator<Item = f64> + '_ {
        std::iter::once(self.duration_hours * 3600.0)
            .chain(self.series.time_seconds.last().copied())
            .chain(self.events.iter().map(|event| event.time_seconds))
            .chain(
                self.invariant_violations
                    .iter()
                    .map(|violation| violation.time_seconds),
            )
    }

    /// The timeline lanes, one per notable event kind and one for violations. The
    /// violation lane shows `invariant_violations`, or the violation events when that list
    /// is empty.
    pub(super) fn lanes(&self) -> Vec<Lane> {
        let lane_of = |kind: EventKind, label, color| Lane {
            label,
            color,
            marks: self
                .events
                .iter()
                .filter(|event| event.kind == kind)
                .map(|event| Mark {
                    time_seconds: event.time_seconds,
                    time: crate::clock_duration(event.time_seconds),
                    text: event_subject(event),
                })
                .collect(),
        };
        let mut violations = lane_of(EventKind::Violation, "violation", VIOLATION_COLOR);
        if !self.invariant_violations.is_empty() {
            violations.marks = self
                .invariant_violations
                .iter()
                .map(|violation| Mark {
                    time_seconds: violation.time_seconds,
                    time: crate::clock_duration(violation.time_seconds),
                    text: format!(
                        "{} during {}: {}",
                        violation.invariant, violation.event, violation.detail
                    ),
                })
                .collect();
        }
        vec![
            lane_of(EventKind::Ice, "ICE", ICE_COLOR),
            lane_of(EventKind::Fallback, "fallback", FALLBACK_COLOR),
            lane_of(EventKind::Interruption, "interruption", INTERRUPTION_COLOR),
            lane_of(EventKind::Fault, "fault", FAULT_COLOR),
            lane_of(
                EventKind::ReturnToSpot,
                "return to Spot",
                RETURN_TO_SPOT_COLOR,
            ),
            lane_of(EventKind::Avoid, "avoid", AVOID_COLOR),
            violations,
        ]
    }

    /// The per-NodePool table under `heading`.
    pub(super) fn write_node_pools(&self, page: &mut String, heading: &str) {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape_html(heading));
        if self.node_pools.is_empty() {
            page.push_str("<p class=\"muted\">No NodePools.</p>\n</section>\n");
            return;
        }
        page.push_str(
            "<table>\n<thead><tr><th>NodePool</th><th class=\"number\">Spot node-hours</th><th class=\"number\">on-demand node-hours</th><th class=\"number\">Spot share</th><th class=\"number\">Cost</th><th class=\"number\">Launches</th><th class=\"number\">Fallbacks</th><th class=\"number\">Interruptions</th><th class=\"number\">Returns to Spot</th><th class=\"number\">Fallback node-hours</th></tr></thead>\n<tbody>\n",
        );
        for node_pool in &self.node_pools {
            let hours = &node_pool.node_hours;
            let total = hours.spot + hours.on_demand;
            let share = if total > 0.0 {
                format::fraction_as_percent(hours.spot / total)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                page,
                r#"<tr><td>{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td><td class="number">{}</td></tr>"#,
                escape_html(&node_pool.name),
                format::number(hours.spot, 1),
                format::number(hours.on_demand, 1),
                share,
                format::usd(node_pool.cost_usd),
                format::count(node_pool.launches),
                format::count(node_pool.fallbacks),
                format::count(node_pool.interruptions),
                format::count(node_pool.returns_to_spot),
                format::number(node_pool.fallback_node_hours, 1),
            );
        }
        page.push_str("</tbody>\n</table>\n</section>\n");
    }

    /// The invariant violations table under `heading` (the first `MAX_TABLE_ROWS`, with a
    /// note), or a green line when there are none.
    pub(super) fn write_violations(&self, page: &mut String, heading: &str) {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape_html(heading));
        if self.invariant_violations.is_empty() {
            page.push_str("<p class=\"ok-text\">None: every invariant held.</p>\n</section>\n");
            return;
        }
        write_truncation_note(
            page,
            self.invariant_violations.len(),
            "invariant violations",
        );
        page.push_str(
            "<table class=\"violations\">\n<thead><tr><th>Time</th><th>Invariant</th><th>Event</th><th>Detail</th></tr></thead>\n<tbody>\n",
        );
        for violation in self.invariant_violations.iter().take(MAX_TABLE_ROWS) {
            let _ = writeln!(
                page,
                "<tr><td class=\"time\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(&crate::clock_duration(violation.time_seconds)),
                escape_html(&violation.invariant),
                escape_html(&violation.event),
                escape_html(&violation.detail),
            );
        }
        page.push_str("</tbody>\n</table>\n</section>\n");
    }

    /// The event table under `heading`: every event, or the first `MAX_TABLE_ROWS` with a
    /// note.
    pub(super) fn write_events(&self, page: &mut String, heading: &str) {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape_html(heading));
        if self.events.is_empty() {
            page.push_str("<p class=\"muted\">No events.</p>\n</section>\n");
            return;
        }
        write_truncation_note(page, self.events.len(), "events");
        page.push_str(
            "<table class=\"events\">\n<thead><tr><th>Time</th><th>Kind</th><th>NodePool</th><th>Node</th><th>Detail</th></tr></thead>\n<tbody>\n",
        );
        for event in self.events.iter().take(MAX_TABLE_ROWS) {
            let kind = event.kind.as_str();
            let _ = writeln!(
                page,
                "<tr><td class=\"time\">{}</td><td><span class=\"kind kind-{kind}\">{kind}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(&crate::clock_duration(event.time_seconds)),
                escape_html(event.node_pool.as_deref().unwrap_or("")),
                escape_html(event.node.as_deref().unwrap_or("")),
                escape_html(&event.detail),
            );
        }
        page.push_str("</tbody>\n</table>\n</section>\n");
    }
}

/// The opening of a page titled `title`, up to its `<h1>`: the head with the inline style.
pub(super) fn open_page(title: &str) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{title}</h1>
"#,
        title = escape_html(title),
    );
    page
}

/// `page` closed: the end of `<main>`, `<body>` and `<html>`.
pub(super) fn close_page(mut page: String) -> String {
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// Appends a chart section: `heading`, the chart's `<svg>` and `caption`.
pub(super) fn write_chart_section(page: &mut String, heading: &str, caption: &str, chart: &str) {
    let _ = writeln!(
        page,
        "<section class=\"chart-section\">\n<h2>{}</h2>\n{chart}\n<p class=\"caption\">{}</p>\n</section>",
        escape_html(heading),
        escape_html(caption),
    );
}

/// The accessible title of an event timeline.
pub(super) const TIMELINE_TITLE: &str =
    "Timeline of ICE, fallback, interruption, fault, return to Spot, avoid and violation events";
/// The caption under an event timeline.
pub(super) const TIMELINE_CAPTION: &str = "One tick per event; events within two pixels of each other share a tick. Hover a tick for its time and detail.";

/// The most rows of the event and violation tables.
const MAX_TABLE_ROWS: usize = 2000;

const SPOT_COLOR: &str = "#2a9d8f";
const ON_DEMAND_COLOR: &str = "#e76f51";
const COST_COLOR: &str = "#264653";
const BASELINE_COLOR: &str = "#8d99ae";
const PENDING_COLOR: &str = "#7b2cbf";
const ICE_COLOR: &str = "#e9a400";
const FALLBACK_COLOR: &str = "#f4722b";
const INTERRUPTION_COLOR: &str = "#d62828";
const FAULT_COLOR: &str = "#5a189a";
const VIOLATION_COLOR: &str = "#9d0208";
const RETURN_TO_SPOT_COLOR: &str = "#2d6a4f";
const AVOID_COLOR: &str = "#457b9d";
const AVOIDED_FAMILY_COLOR: &str = "#1d3557";
const AVOIDED_ZONE_COLOR: &str = "#a8dadc";
const NODE_POOL_COLORS: [&str; 8] = [
    "#1d3557", "#2a9d8f", "#e76f51", "#7b2cbf", "#e9a400", "#457b9d", "#6a994e", "#bc4749",
];

const STYLE: &str = r#"
:root { color-scheme: light; --ok: #1b7f3b; --bad: #c1121f; --warn: #b7791f; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; background: #f8fafc; color: #111827; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.meta, .muted, .caption, .note { color: var(--muted); }
.caption { margin: 4px 0 0; font-size: 12px; }
.status { display: inline-block; margin: 12px 0 8px; padding: 6px 14px; border-radius: 6px; font-weight: 600; color: #fff; }
.status.ok { background: var(--ok); }
.status.bad { background: var(--bad); }
.ok-text { color: var(--ok); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin-top: 12px; }
.figure { background: #fff; border: 1px solid var(--line); border-left: 4px solid #cbd5e1; border-radius: 6px; padding: 8px 12px; }
.figure.ok { border-left-color: var(--ok); }
.figure.bad { border-left-color: var(--bad); }
.figure.bad .value { color: var(--bad); }
.figure.warn { border-left-color: var(--warn); }
.figure .label { font-size: 12px; color: var(--muted); }
.figure .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .note { font-size: 11px; color: var(--muted); }
.small-figures .value { font-size: 16px; }
.chart-section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 12px; margin-top: 16px; }
.chart-section h2 { margin-top: 10px; }
svg.chart { display: block; height: auto; font-size: 11px; }
svg .grid { stroke: var(--line); }
svg .faint { stroke-dasharray: 2 4; }
svg .axis { stroke: #9ca3af; }
svg .lane { stroke: var(--line); stroke-width: 1; }
svg .tick { fill: #4b5563; }
svg .axis-title { fill: var(--muted); font-style: italic; }
svg .legend { fill: #111827; font-size: 12px; }
svg .lane-name { fill: #111827; font-size: 12px; font-weight: 600; }
svg .muted { fill: var(--muted); }
svg .small { font-size: 10px; }
table { width: 100%; border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
th { background: #f1f5f9; font-weight: 600; }
.number { text-align: right; font-variant-numeric: tabular-nums; }
.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.violations td { color: var(--bad); }
.kind { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; background: #e5e7eb; }
.kind-ice { background: #fdf0c4; }
.kind-fallback { background: #fde2d0; }
.kind-interruption, .kind-violation { background: #fbd5d5; }
.kind-fault { background: #e9d8fd; }
.kind-return-to-spot { background: #d8f3dc; }
.kind-avoid { background: #dbe7f3; }
.comparison td.difference { color: var(--muted); }
"#;

/// A note that a table of `total` `things` shows only the first `MAX_TABLE_ROWS`, if so.
fn write_truncation_note(page: &mut String, total: usize, things: &str) {
    if total > MAX_TABLE_ROWS {
        let _ = writeln!(
            page,
            r#"<p class="note">Showing the first {} of {} {things}; the JSON report lists them all.</p>"#,
            format::count(MAX_TABLE_ROWS as u64),
            format::count(total as u64),
        );
    }
}

/// What an event concerns and says: `general/general-abc12: detail`.
fn event_subject(event: &Event) -> String {
    match (&event.node_pool, &event.node) {
        (Some(node_pool), Some(node)) => format!("{node_pool}/{node}: {}", event.detail),
        (Some(subject), None) | (None, Some(subject)) => format!("{subject}: {}", event.detail),
        (None, None) => event.detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{assert_self_contained, empty_report, sample_report};
    use crate::{Violation, iso8601_duration};

    #[test]
    fn html_is_self_contained_with_charts() {
        let html = sample_report(3, 300.0).html();
        assert_self_contained(&html);
        assert!(html.matches("<svg").count() >= 5);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        for needle in [
            "<title>Nodes by capacity type over time</title>",
            "Spot share",
            "USD per hour",
            "1d 12h",
            "✘ 1 invariant violation",
            "no-pod-lost",
        ] {
            assert!(html.contains(needle), "missing {needle:?}");
        }
    }

    #[test]
    fn html_shows_returns_to_spot_and_fallback_timing() {
        let sampled = sample_report(1, 600.0).html();
        let empty = empty_report().html();
        let cases = [
            (&sampled, "Returns to Spot", "3"),
            (&sampled, "Fallback node-hours", "2.5"),
            (&sampled, "Time to fallback p50", "1.0 s"),
            (&sampled, "Time to fallback max", "4.0 s"),
            (&sampled, "Time to return p50", "420.0 s"),
            (&sampled, "Time to return max", "610.0 s"),
            (&empty, "Returns to Spot", "0"),
            (&empty, "Time to fallback p50", "—"),
            (&empty, "Time to return max", "—"),
            (
                &sampled,
                "Disruptions",
                "empty 5, return_to_spot 3, spot_interrupted 3, underutilized 2",
            ),
            (&empty, "Disruptions", "—"),
        ];
        for (html, label, value) in cases {
            let figure =
                format!(r#"<div class="label">{label}</div><div class="value">{value}</div>"#);
            assert!(html.contains(&figure), "missing {figure}");
        }
        for needle in [
            r#"class="lane-name">return to Spot</text>"#,
            r#"class="lane-name">avoid</text>"#,
            r#"<span class="kind kind-return-to-spot">return-to-spot</span>"#,
            r#"<span class="kind kind-avoid">avoid</span>"#,
            ".kind-return-to-spot {",
            ".kind-avoid {",
            r#"<th class="number">Returns to Spot</th><th class="number">Fallback node-hours</th>"#,
            r#"<td class="number">3</td><td class="number">2.5</td></tr>"#,
        ] {
            assert!(sampled.contains(needle), "missing {needle}");
        }
        // Each lane says how many events it holds: one return and one avoid in a day.
        for (lane, color) in [
            ("return to Spot", RETURN_TO_SPOT_COLOR),
            ("avoid", AVOID_COLOR),
        ] {
            let count = sampled
                .split_once(&format!(r#"class="lane-name">{lane}</text>"#))
                .and_then(|(_, rest)| rest.split_once(r#"class="muted small">"#))
                .and_then(|(_, rest)| rest.split_once('<'))
                .map(|(count, _)| count);
            assert_eq!(count, Some("1"), "{lane}");
            assert!(sampled.contains(&format!(r#"stroke="{color}" stroke-width="2"><title>"#)));
        }
    }

    #[test]
    fn html_charts_what_is_avoided_when_the_report_has_it() {
        // (report, whether the avoided chart is there)
        let cases = [
            ("sampled", sample_report(1, 600.0), true),
            (
                "written before avoidance was sampled",
                empty_report(),
                false,
            ),
        ];
        for (name, report, expected) in cases {
            let html = report.html();
            assert_eq!(
                html.contains("Avoided offerings, families and zones over time"),
                expected,
                "{name}"
            );
            if expected {
                for label in ["offerings", "families in a zone", "zones"] {
                    assert!(html.contains(label), "{name}: {label}");
                }
                let chart = html.find("Avoided for interruptions").unwrap_or(usize::MAX);
                let timeline = html.find("Event timeline").unwrap_or(0);
                assert!(
                    chart < timeline,
                    "{name}: the chart comes before the timeline"
                );
            }
        }
    }

    #[test]
    fn html_event_and_violation_times_read_as_days_and_a_clock() {
        let mut report = sample_report(1, 600.0);
        let long = 227.0 * 3600.0 + 55.0 * 60.0 + 1.0;
        report.events.truncate(1);
        report.events[0].time = iso8601_duration(long);
        report.events[0].time_seconds = long;
        report.invariant_violations[0].time = iso8601_duration(long);
        report.invariant_violations[0].time_seconds = long;
        let html = report.html();
        assert!(!html.contains("PT227H55M1S"), "ISO 8601 for people");
        assert_eq!(
            html.matches(r#"<td class="time">9d 11:55:01</td>"#).count(),
            2,
            "the event and the violation"
        );
    }

    /// Guards item 5 of issue 15 on the page: the banner is red when pods waited beyond the
    /// threshold, and the figures show them.
    #[test]
    fn html_banner_fails_when_pods_waited_beyond_the_threshold() {
        let mut report = empty_report();
        assert!(report.html().contains(r#"<p class="status ok">"#));
        report.summary.pods_pending_at_end = 3;
        report.summary.pods_never_scheduled = 3;
        report.summary.pods_over_pending_threshold = 4;
        let html = report.html();
        for needle in [
            r#"<p class="status bad">✘ PENDING FAILED: 4 pods waited over 15m (3 never scheduled)</p>"#,
            r#"<div class="figure bad"><div class="label">Pods pending at the end</div><div class="value">3</div>"#,
            r#"<div class="figure bad"><div class="label">Pods over the pending threshold</div><div class="value">4</div>"#,
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn html_escapes_report_strings() {
        let nasty = r#"<b>&"x"</b>"#;
        let mut report = sample_report(1, 600.0);
        report.scenario = nasty.to_owned();
        report.region = nasty.to_owned();
        report.node_pools[0].name = nasty.to_owned();
        report.events[0].detail = nasty.to_owned();
        report.events[0].node_pool = Some(nasty.to_owned());
        report.invariant_violations[0].detail = nasty.to_owned();
        report
            .series
            .nodes_by_node_pool
            .insert(nasty.to_owned(), vec![1; 10]);
        let html = report.html();
        assert!(!html.contains("<b>"), "unescaped markup");
        assert!(!html.contains("\"x\""), "unescaped quotes");
        assert!(html.contains("&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"));
        assert_self_contained(&html);
    }

    #[test]
    fn html_renders_degenerate_series() {
        let mut one_sample = empty_report();
        one_sample.series.time_seconds = vec![0.0];
        one_sample.series.spot_nodes = vec![3];
        one_sample.series.on_demand_nodes = vec![1];
        one_sample.series.spot_share = vec![0.75];
        one_sample.series.cost_per_hour = vec![0.4];
        one_sample.series.on_demand_baseline_per_hour = vec![0.8];
        one_sample.series.pending_pods = vec![2];
        let mut mismatched = one_sample.clone();
        mismatched.series.time_seconds = vec![0.0, 60.0, 120.0];
        mismatched.series.interval_seconds = 0.0;
        let mut non_finite = sample_report(1, 3600.0);
        non_finite.duration_hours = f64::NAN;
        non_finite.summary.spot_share_of_node_hours = f64::NAN;
        non_finite.summary.savings_pct = f64::INFINITY;
        non_finite.summary.cost_usd = f64::NEG_INFINITY;
        non_finite.series.spot_share[0] = f64::NAN;
        non_finite.series.cost_per_hour[1] = f64::INFINITY;
        non_finite.series.time_seconds[2] = f64::NAN;
        non_finite.series.interval_seconds = f64::NAN;
        non_finite.events[0].time_seconds = f64::NAN;
        non_finite.summary.pending_seconds.max = f64::NAN;
        for (name, report) in [
            ("empty", empty_report()),
            ("one sample", one_sample),
            ("mismatched", mismatched),
            ("non-finite", non_finite),
        ] {
            let html = report.html();
            assert_self_contained(&html);
            assert!(html.matches("<svg").count() >= 5, "{name}");
        }
    }

    #[test]
    fn html_stays_reasonable_with_many_events() {
        let mut report = sample_report(7, 60.0);
        let detail = "InsufficientInstanceCapacity for c6i.xlarge in us-east-1a, falling back";
        report.events = (0..20_000)
            .map(|index| {
                let time_seconds = f64::from(index) * 30.0;
                Event {
                    time: iso8601_duration(time_seconds),
                    time_seconds,
                    kind: [
                        EventKind::Ice,
                        EventKind::Fallback,
                        EventKind::Interruption,
                        EventKind::Fault,
                    ][index as usize % 4],
                    node_pool: Some("general".to_owned()),
                    node: Some(format!("general-{index}")),
                    detail: detail.to_owned(),
                }
            })
            .collect();
        report.invariant_violations = (0..3000)
            .map(|index| Violation {
                time: iso8601_duration(f64::from(index) * 200.0),
                time_seconds: f64::from(index) * 200.0,
                invariant: "pdb-respected".to_owned(),
                event: "drain".to_owned(),
                detail: detail.to_owned(),
            })
            .collect();
        let html = report.html();
        assert_self_contained(&html);
        assert!(html.contains("Showing the first 2,000 of 20,000 events"));
        assert!(html.contains("Showing the first 2,000 of 3,000 invariant violations"));
        assert!(
            html.contains(" events, 0:00:00 to "),
            "merged ticks say how many events they hold"
        );
        assert!(html.len() < 2 * 1024 * 1024, "{} bytes", html.len());
        // Timeline ticks are bounded by pixel columns, not by event counts.
        assert!(html.matches("stroke-width=\"2\"><title>").count() <= 5 * 500);
    }
}
