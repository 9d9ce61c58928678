//! The report as text for a terminal: a headline line, then tables (comfy-table) for the
//! summary, the NodePools, the invariant violations (if any) and the last notable events.
//! Strings from the scenario are stripped of control characters so they cannot drive the
//! terminal. The headline, the tables and their helpers serve the comparison's text too.

use comfy_table::{CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

use crate::format::{self, printable, truncate};
use crate::{Report, Spread};

impl Report {
    /// A summary for a person at a terminal: headline line, then tables.
    pub fn terminal_summary(&self) -> String {
        let mut text = format!(
            "{} ({}, policy {}, seed {}, {}): {}\n",
            printable(&self.scenario),
            printable(&self.region),
            printable(&self.policy),
            self.seed,
            format::compact_duration(self.duration_hours * 3600.0),
            self.headline_figures(),
        );
        push_table(&mut text, "Summary", &self.summary_table());
        push_table(&mut text, "NodePools", &self.node_pool_table());
        self.push_violations(&mut text, "Invariant violations");
        let notable = self.notable_event_table();
        if !notable.is_empty() {
            let title = format!(
                "Last {NOTABLE_EVENTS} notable events (ICE, fallback, interruption, fault, return to Spot, avoid)"
            );
            push_table(&mut text, &title, &notable);
        }
        text
    }

    /// The headline figures in one line: Spot share, cost against the baseline, savings and
    /// the invariant status.
    pub(super) fn headline_figures(&self) -> String {
        let summary = &self.summary;
        let violations = summary
            .invariant_violations
            .max(self.invariant_violations.len() as u64);
        let status = match (violations, self.pending_failure()) {
            (0, None) => "invariants OK".to_owned(),
            (0, Some(pending)) => format!("{pending}; no invariant violation"),
            (1, pending) => with_pending("invariants FAILED (1 violation)", pending),
            (many, pending) => with_pending(
                &format!("invariants FAILED ({} violations)", format::count(many)),
                pending,
            ),
        };
        format!(
            "Spot share {} of node-hours, cost {} vs {} all-on-demand (savings {}), {status}",
            format::fraction_as_percent(summary.spot_share_of_node_hours),
            format::usd(summary.cost_usd),
            format::usd(summary.on_demand_baseline_cost_usd),
            format::percent(summary.savings_pct),
        )
    }

    /// What the headline says when pods waited longer than the pending threshold:
    /// `PENDING FAILED: 26 pods waited over 15m (26 never scheduled)`; `None` when none did.
    pub(super) fn pending_failure(&self) -> Option<String> {
        let summary = &self.summary;
        if !self.pods_waited_too_long() {
            return None;
        }
        let pods = match summary.pods_over_pending_threshold {
            1 => "1 pod".to_owned(),
            many => format!("{} pods", format::count(many)),
        };
        Some(format!(
            "PENDING FAILED: {pods} waited over {} ({} never scheduled)",
            format::compact_duration(summary.pending_threshold_seconds),
            format::count(summary.pods_never_scheduled)
        ))
    }

    /// Appends the table of the first `MAX_VIOLATION_ROWS` invariant violations under
    /// `title` and their count, if there are any.
    pub(super) fn push_violations(&self, text: &mut String, title: &str) {
        if self.invariant_violations.is_empty() {
            return;
        }
        let title = format!(
            "{title} ({})",
            format::count(self.invariant_violations.len() as u64)
        );
        push_table(text, &title, &self.violation_table());
        if self.invariant_violations.len() > MAX_VIOLATION_ROWS {
            text.push_str(&format!(
                "… and {} more; the JSON report lists them all\n",
                format::count((self.invariant_violations.len() - MAX_VIOLATION_ROWS) as u64)
            ));
        }
    }

    /// Metric / value rows of the headline figures.
    fn summary_table(&self) -> Table {
        let summary = &self.summary;
        let pending = &summary.pending_seconds;
        let rows = [
            (
                "Spot share of node-hours",
                format::fraction_as_percent(summary.spot_share_of_node_hours),
            ),
            (
                "Spot share of eligible node-hours",
                format::fraction_as_percent(summary.spot_share_of_eligible_node_hours),
            ),
            (
                "Node-hours Spot / on-demand",
                format!(
                    "{} / {}",
                    format::number(summary.node_hours.spot, 1),
                    format::number(summary.node_hours.on_demand, 1)
                ),
            ),
            ("Cost", format::usd(summary.cost_usd)),
            (
                "All-on-demand baseline",
                format::usd(summary.on_demand_baseline_cost_usd),
            ),
            ("Savings", format::percent(summary.savings_pct)),
            ("Fallbacks", format::count(summary.fallbacks)),
            (
                "Time to fallback p50 / max",
                spread_pair(summary.time_to_fallback_seconds),
            ),
            ("Returns to Spot", format::count(summary.returns_to_spot)),
            (
                "Time to return p50 / max",
                spread_pair(summary.time_to_return_seconds),
            ),
            (
                "Fallback node-hours",
                format::number(summary.fallback_node_hours, 1),
            ),
            ("Interruptions", format::count(summary.interruptions)),
            (
                "Disruptions by reason",
                format::disruptions(&summary.disruptions),
            ),
            ("ICE events", format::count(summary.ice_events)),
            ("Pods disrupted", format::count(summary.pods_disrupted)),
            ("Pods lost", format::count(summary.pods_lost)),
            (
                "Pods pending at the end",
                format::count(summary.pods_pending_at_end),
            ),
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
                "Pods over the pending threshold",
                format!(
                    "{} (over {})",
                    format::count(summary.pods_over_pending_threshold),
                    format::compact_duration(summary.pending_threshold_seconds)
                ),
            ),
            (
                "Interruption pending pod-seconds",
                format::number(summary.interruption_pending_pod_seconds, 1),
            ),
            (
                "Pending p50 / p99 / max",
                format!(
                    "{} / {} / {}",
                    format::seconds(pending.p50),
                    format::seconds(pending.p99),
                    format::seconds(pending.max)
                ),
            ),
            (
                "Launches / terminations",
                format!(
                    "{} / {}",
                    format::count(summary.launches),
                    format::count(summary.terminations)
                ),
            ),
            ("Pods created", format::count(summary.pods_created)),
            ("Peak nodes", format::count(summary.peak_nodes)),
            (
                "Invariant violations",
                format::count(summary.invariant_violations),
            ),
        ];
        let mut table = new_table(["Metric", "Value"]);
        for (metric, value) in rows {
            table.add_row(vec![metric.to_owned(), value]);
        }
        align_right(&mut table, 1..2);
        table
    }

    /// One row per NodePool.
    pub(super) fn node_pool_table(&self) -> Table {
        let mut table = new_table([
            "NodePool",
            "Spot node-hours",
            "On-demand node-hours",
            "Cost",
            "Launches",
            "Fallbacks",
            "Interruptions",
            "Returns to Spot",
            "Fallback node-hours",
        ]);
        for node_pool in &self.node_pools {
            table.add_row(vec![
                printable(&node_pool.name),
                format::number(node_pool.node_hours.spot, 1),
                format::number(node_pool.node_hours.on_demand, 1),
                format::usd(node_pool.cost_usd),
                format::count(node_pool.launches),
                format::count(node_pool.fallbacks),
                format::count(node_pool.interruptions),
                format::count(node_pool.returns_to_spot),
                format::number(node_pool.fallback_node_hours, 1),
            ]);
        }
        align_right(&mut table, 1..9);
        table
    }

    /// The first `MAX_VIOLATION_ROWS` invariant violations.
    fn violation_table(&self) -> Table {
        let mut table = new_table(["Time", "Invariant", "Event", "Detail"]);
        for violation in self.invariant_violations.iter().take(MAX_VIOLATION_ROWS) {
            table.add_row(vec![
                crate::clock_duration(violation.time_seconds),
                printable(&violation.invariant),
                printable(&truncate(&violation.event, MAX_CELL_CHARS)),
                printable(&truncate(&violation.detail, MAX_CELL_CHARS)),
            ]);
        }
        table
    }

    /// The last `NOTABLE_EVENTS` notable events (`EventKind::is_notable`), oldest first.
    fn notable_event_table(&self) -> Table {
        let mut notable: Vec<_> = self
            .events
            .iter()
            .rev()
            .filter(|event| event.kind.is_notable())
            .take(NOTABLE_EVENTS)
            .collect();
        notable.reverse();
        let mut table = new_table(["Time", "Kind", "NodePool", "Node", "Detail"]);
        for event in notable {
            table.add_row(vec![
                crate::clock_duration(event.time_seconds),
                event.kind.as_str().to_owned(),
                printable(event.node_pool.as_deref().unwrap_or("")),
                printable(event.node.as_deref().unwrap_or("")),
                printable(&truncate(&event.detail, MAX_CELL_CHARS)),
            ]);
        }
        table
    }
}

/// How many notable events the summary lists.
const NOTABLE_EVENTS: usize = 10;
/// The most invariant violations the summary lists.
const MAX_VIOLATION_ROWS: usize = 50;
/// The most characters of a free-text cell.
const MAX_CELL_CHARS: usize = 100;

/// `status`, then the pending failure if there is one.
fn with_pending(status: &str, pending: Option<String>) -> String {
    match pending {
        Some(pending) => format!("{status}, {pending}"),
        None => status.to_owned(),
    }
}

/// A sample's median and largest value as `p50 / max`, or `—` when it is empty.
fn spread_pair(spread: Spread) -> String {
    if spread.count == 0 {
        return format::NO_SAMPLE.to_owned();
    }
    let (p50, max) = format::spread_seconds(spread);
    format!("{p50} / {max}")
}

/// An empty table with `header`, in the CLI's style.
pub(super) fn new_table<Header: ToString>(header: impl IntoIterator<Item = Header>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(
        header
            .into_iter()
            .map(|title| title.to_string())
            .collect::<Vec<_>>(),
    );
    table
}

/// Right-aligns the numeric `columns` of `table`.
pub(super) fn align_right(table: &mut Table, columns: std::ops::Range<usize>) {
    for column in columns {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Appends a blank line, `title`, and `table`.
pub(super) fn push_table(text: &mut String, title: &str, table: &Table) {
    text.push('\n');
    text.push_str(title);
    text.push('\n');
    text.push_str(&table.to_string());
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use crate::samples::{empty_report, sample_report, table_row};

    #[test]
    fn terminal_summary_shows_headline_figures() {
        let mut report = sample_report(3, 300.0);
        report.summary.spot_share_of_node_hours = 0.8734;
        report.summary.savings_pct = 62.51;
        report.summary.cost_usd = 1234.5;
        let text = report.terminal_summary();
        let first_line = text.lines().next().unwrap_or_default();
        for needle in [
            "diurnal-with-ice",
            "Spot share 87.3%",
            "savings 62.5%",
            "$1,234.50",
            "invariants FAILED (1 violation)",
        ] {
            assert!(
                first_line.contains(needle),
                "headline lacks {needle:?}: {first_line}"
            );
        }
        for needle in [
            "Summary",
            "Pending p50 / p99 / max",
            "NodePools",
            "general",
            "batch",
            "Invariant violations (1)",
            "no-pod-lost",
            "was lost",
            "Last 10 notable events",
            "interruption",
        ] {
            assert!(text.contains(needle), "missing {needle:?}:\n{text}");
        }
        let (_, notable) = text
            .split_once("Last 10 notable events")
            .unwrap_or_default();
        assert_eq!(
            notable
                .lines()
                .filter(|line| line.starts_with('│') && !line.contains("Time"))
                .count(),
            10
        );
        assert!(!notable.contains("launch"), "launches are not notable");
        for kind in ["return-to-spot", "avoid"] {
            assert!(notable.contains(kind), "{kind} is notable:\n{notable}");
        }
    }

    #[test]
    fn event_and_violation_times_read_as_days_and_a_clock() {
        let mut report = sample_report(1, 600.0);
        let long = 227.0 * 3600.0 + 55.0 * 60.0 + 1.0;
        for event in &mut report.events {
            event.time = crate::iso8601_duration(long);
            event.time_seconds = long;
        }
        report.invariant_violations[0].time = crate::iso8601_duration(long);
        report.invariant_violations[0].time_seconds = long;
        let text = report.terminal_summary();
        assert!(
            !text.contains("PT227H55M1S"),
            "ISO 8601 for people:\n{text}"
        );
        let (_, tables) = text
            .split_once("Invariant violations (")
            .unwrap_or_default();
        let rows = tables
            .lines()
            .filter(|line| line.starts_with('│') && !line.contains("Time"));
        for row in rows {
            assert!(row.contains("9d 11:55:01"), "row without the clock: {row}");
        }
    }

    /// Guards item 5 of issue 15: pods that waited beyond the threshold (here, never ran)
    /// make the headline not OK, and the summary lists them with their reasons.
    #[test]
    fn pods_waiting_beyond_the_threshold_fail_the_headline() {
        let mut report = empty_report();
        let ok = report.terminal_summary();
        assert!(
            ok.lines()
                .next()
                .unwrap_or_default()
                .ends_with("invariants OK")
        );
        report.summary.pods_pending_at_end = 26;
        report.summary.pods_never_scheduled = 26;
        report.summary.pods_never_scheduled_reasons =
            [("incompatible with every NodePool".to_owned(), 26)].into();
        report.summary.pending_pod_hours = 624.0;
        report.summary.pods_over_pending_threshold = 26;
        assert!(report.pods_waited_too_long());
        let text = report.terminal_summary();
        let headline = text.lines().next().unwrap_or_default();
        assert!(!headline.contains("OK"), "{headline}");
        assert!(
            headline.ends_with(
                "PENDING FAILED: 26 pods waited over 15m (26 never scheduled); no invariant violation"
            ),
            "{headline}"
        );
        let cases = [
            ("Pods pending at the end", "26"),
            ("Pending pod-hours", "624.0"),
            (
                "Pods never scheduled",
                "26 (incompatible with every NodePool: 26)",
            ),
            ("Pods over the pending threshold", "26 (over 15m)"),
        ];
        for (metric, value) in cases {
            assert_eq!(table_row(&text, metric), [metric, value], "{metric}");
        }
        report.summary.invariant_violations = 2;
        let headline = report.terminal_summary();
        assert!(
            headline
                .lines()
                .next()
                .unwrap_or_default()
                .contains("invariants FAILED (2 violations), PENDING FAILED: 26 pods"),
            "{headline}"
        );
    }

    #[test]
    fn terminal_summary_without_violations_or_events() {
        let mut report = empty_report();
        report.scenario = "evil\u{1b}[2Jname".to_owned();
        report.summary.spot_share_of_node_hours = f64::NAN;
        let text = report.terminal_summary();
        assert!(text.contains("invariants OK"));
        assert!(!text.contains("Invariant violations ("));
        assert!(!text.contains("notable events"));
        assert!(!text.contains('\u{1b}'));
        assert!(!text.contains("NaN"));
        assert!(text.contains("Spot share n/a"));
    }

    #[test]
    fn terminal_summary_shows_returns_to_spot_and_fallback_timing() {
        let sampled = sample_report(1, 600.0).terminal_summary();
        let empty = empty_report().terminal_summary();
        let cases = [
            (&sampled, "Returns to Spot", "3"),
            (&sampled, "Fallback node-hours", "2.5"),
            (&sampled, "Time to fallback p50 / max", "1.0 s / 4.0 s"),
            (&sampled, "Time to return p50 / max", "420.0 s / 610.0 s"),
            (&empty, "Returns to Spot", "0"),
            (&empty, "Time to fallback p50 / max", "—"),
            (&empty, "Time to return p50 / max", "—"),
            (
                &sampled,
                "Disruptions by reason",
                "empty 5, return_to_spot 3, spot_interrupted 3, underutilized 2",
            ),
            (&empty, "Disruptions by reason", "—"),
        ];
        for (text, metric, value) in cases {
            assert_eq!(table_row(text, metric), [metric, value], "{metric}");
        }
        let header = table_row(&sampled, "NodePool");
        assert_eq!(header[7..], ["Returns to Spot", "Fallback node-hours"]);
        assert_eq!(table_row(&sampled, "general")[7..], ["3", "2.5"]);
        assert_eq!(table_row(&sampled, "batch")[7..], ["0", "0.0"]);
    }
}
