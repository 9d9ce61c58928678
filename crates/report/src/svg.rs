//! Hand-written SVG charts for the HTML report: a time axis shared by every chart, value
//! charts (lines, areas, stacked areas drawn as steps, one step per sample or per bucket of
//! samples so a long run stays a few hundred points wide; each series with its own sample
//! times, so one chart can hold the series of several runs) and the event timeline (one lane
//! per event kind, events in the same pixel column merged into one tick). Every number
//! written is finite and every string is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::format::{self, escape_html};

/// The time domain `[0, end]` of every chart, in seconds since the start.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimeAxis {
    end: f64,
}

/// What a value axis measures, which decides its tick labels and title.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Unit {
    /// A count of nodes.
    Nodes,
    /// A count of pods.
    Pods,
    /// A count of avoided offerings, families or zones.
    Avoided,
    /// A percentage, always 0–100.
    Percent,
    /// US dollars per hour.
    UsdPerHour,
}

/// How a bucket of consecutive samples becomes one plotted value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Aggregate {
    /// The mean, for levels (nodes, cost, share).
    Mean,
    /// The maximum, for spikes that must stay visible (pending pods).
    Max,
}

/// One series of a value chart.
#[derive(Debug, Clone)]
pub(super) struct Layer<'a> {
    /// Its legend label.
    pub label: String,
    /// Its CSS colour.
    pub color: &'static str,
    /// Its sample times, in seconds.
    pub times: &'a [f64],
    /// Its values, indexed like `times`.
    pub values: Vec<f64>,
    /// Whether to fill the area under it.
    pub fill: bool,
    /// Whether to dash its line.
    pub dashed: bool,
}

/// A chart of values over time.
#[derive(Debug, Clone)]
pub(super) struct ValueChart<'a> {
    /// The accessible title (`<title>` of the `<svg>`).
    pub title: &'a str,
    /// What the values measure.
    pub unit: Unit,
    /// The sampling interval, in seconds: how long the last sample lasts.
    pub interval_seconds: f64,
    /// The series, drawn in order.
    pub layers: Vec<Layer<'a>>,
    /// Whether the layers stack (each drawn on top of the previous ones); stacked layers are
    /// added sample by sample, so they should share their times.
    pub stacked: bool,
    /// How buckets of samples are reduced.
    pub aggregate: Aggregate,
}

/// One lane of the event timeline.
#[derive(Debug, Clone)]
pub(super) struct Lane {
    /// Its label, left of the lane.
    pub label: &'static str,
    /// Its CSS colour.
    pub color: &'static str,
    /// Its events.
    pub marks: Vec<Mark>,
}

/// One event on a timeline lane.
#[derive(Debug, Clone)]
pub(super) struct Mark {
    /// When, in seconds.
    pub time_seconds: f64,
    /// When, for people (`3:12:00`, `9d 11:55:01`).
    pub time: String,
    /// What happened, unescaped.
    pub text: String,
}

impl TimeAxis {
    /// The axis covering `[0, end]` for the latest finite time among `times`; an hour when
    /// there is none.
    pub(super) fn covering(times: impl IntoIterator<Item = f64>) -> Self {
        let end = times
            .into_iter()
            .filter(|time| time.is_finite())
            .fold(0.0_f64, f64::max);
        Self {
            end: if end > 0.0 { end } else { 3600.0 },
        }
    }

    /// The horizontal position of `seconds`, clamped to the plot.
    fn x(self, seconds: f64) -> f64 {
        LEFT + self.clamp(seconds) / self.end * PLOT_WIDTH
    }

    /// `seconds` clamped to the domain; 0 when not finite.
    fn clamp(self, seconds: f64) -> f64 {
        if seconds.is_finite() {
            seconds.clamp(0.0, self.end)
        } else {
            0.0
        }
    }

    /// The tick positions: a round step giving at most eight intervals.
    fn ticks(self) -> Vec<f64> {
        const STEPS: [f64; 20] = [
            1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
            7200.0, 10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0, 604_800.0,
        ];
        let step = STEPS
            .into_iter()
            .find(|step| self.end / step <= 8.0)
            .unwrap_or_else(|| (self.end / 8.0 / 604_800.0).ceil() * 604_800.0);
        let count = (self.end / step + 1e-9).floor() as usize;
        (0..=count).map(|index| index as f64 * step).collect()
    }
}

impl Unit {
    /// The axis title.
    fn title(self) -> &'static str {
        match self {
            Unit::Nodes => "nodes",
            Unit::Pods => "pods",
            Unit::Avoided => "avoided",
            Unit::Percent => "percent",
            Unit::UsdPerHour => "USD per hour",
        }
    }

    /// A tick label for `value` on an axis stepping by `step`.
    fn tick_label(self, value: f64, step: f64) -> String {
        let places = if step >= 1.0 {
            0
        } else {
            (-step.log10()).ceil().clamp(0.0, 6.0) as usize
        };
        match self {
            Unit::Nodes | Unit::Pods | Unit::Avoided => format::number(value, places),
            Unit::Percent => format!("{}%", format::number(value, places)),
            Unit::UsdPerHour => format!("${}", format::number(value, places.max(2))),
        }
    }
}

/// The `<svg>` of a value chart.
pub(super) fn value_chart(chart: &ValueChart<'_>, axis: TimeAxis) -> String {
    let own_samples = |layer: &Layer<'_>| layer.times.len().min(layer.values.len());
    let common_samples = chart.layers.iter().map(own_samples).min().unwrap_or(0);
    // Stacked layers are plotted at their cumulative height, over their common samples.
    let mut plotted: Vec<Vec<f64>> = Vec::with_capacity(chart.layers.len());
    for layer in &chart.layers {
        let samples = if chart.stacked {
            common_samples
        } else {
            own_samples(layer)
        };
        let values = layer.values[..samples].iter().copied().map(finite_or_zero);
        let values: Vec<f64> = match (chart.stacked, plotted.last()) {
            (true, Some(below)) => values
                .zip(below)
                .map(|(value, base)| value + base)
                .collect(),
            _ => values.collect(),
        };
        plotted.push(values);
    }
    let bucketed: Vec<Vec<Bucket>> = chart
        .layers
        .iter()
        .zip(&plotted)
        .map(|(layer, values)| {
            let times = &layer.times[..values.len()];
            buckets(times, values, chart.interval_seconds, chart.aggregate, axis)
        })
        .collect();
    let scale = match chart.unit {
        Unit::Percent => ValueScale {
            top: 100.0,
            step: 20.0,
        },
        unit => {
            let max = bucketed
                .iter()
                .flatten()
                .map(|bucket| bucket.value)
                .fold(0.0, f64::max);
            ValueScale::nice(
                max,
                matches!(unit, Unit::Nodes | Unit::Pods | Unit::Avoided),
            )
        }
    };
    let height = CHART_HEIGHT;
    let plot = Plot {
        axis,
        scale,
        bottom: height - BOTTOM,
    };

    let mut svg = open_svg(chart.title, height);
    value_grid(&mut svg, &plot, chart.unit);
    time_grid(&mut svg, axis, TOP, plot.bottom);
    if plotted.iter().all(Vec::is_empty) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" class="muted">no samples</text>"#,
            coordinate(LEFT + PLOT_WIDTH / 2.0),
            coordinate((TOP + plot.bottom) / 2.0),
        );
    }
    for (index, (layer, buckets)) in chart.layers.iter().zip(&bucketed).enumerate() {
        let top = step_vertices(buckets, &plot);
        if top.is_empty() {
            continue;
        }
        if layer.fill {
            let below: Vec<(f64, f64)> = match (chart.stacked, index.checked_sub(1)) {
                (true, Some(previous)) => {
                    let mut below = step_vertices(&bucketed[previous], &plot);
                    below.reverse();
                    below
                }
                _ => {
                    let (first, last) = (top[0].0, top[top.len() - 1].0);
                    vec![(last, plot.bottom), (first, plot.bottom)]
                }
            };
            let ring: Vec<(f64, f64)> = top.iter().copied().chain(below).collect();
            let _ = write!(
                svg,
                r#"<polygon points="{}" fill="{}" fill-opacity="0.35" stroke="none"/>"#,
                points(&ring),
                layer.color,
            );
        }
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"{}/>"#,
            points(&top),
            layer.color,
            if layer.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
        );
    }
    let legend: Vec<(&str, &str, bool)> = chart
        .layers
        .iter()
        .map(|layer| (layer.label.as_str(), layer.color, layer.dashed))
        .collect();
    write_legend(&mut svg, &legend);
    svg.push_str("</svg>");
    svg
}

/// The `<svg>` of the event timeline: one lane per entry of `lanes`, one tick per
/// `TICK_COLUMN`-pixel column holding events, each with a `<title>` tooltip; so a lane has
/// at most a few hundred ticks however many events it holds.
pub(super) fn timeline(title: &str, lanes: &[Lane], axis: TimeAxis) -> String {
    let height = TIMELINE_TOP + LANE_HEIGHT * lanes.len() as f64 + BOTTOM;
    let bottom = height - BOTTOM;
    let mut svg = open_svg(title, height);
    time_grid(&mut svg, axis, TIMELINE_TOP, bottom);
    for (index, lane) in lanes.iter().enumerate() {
        let lane_top = TIMELINE_TOP + LANE_HEIGHT * index as f64;
        let middle = lane_top + LANE_HEIGHT / 2.0;
        let _ = write!(
            svg,
            r#"<line x1="{left}" y1="{middle}" x2="{right}" y2="{middle}" class="lane"/><text x="{label_x}" y="{name_y}" text-anchor="end" class="lane-name">{name}</text><text x="{label_x}" y="{count_y}" text-anchor="end" class="muted small">{count}</text>"#,
            left = coordinate(LEFT),
            right = coordinate(LEFT + PLOT_WIDTH),
            middle = coordinate(middle),
            label_x = coordinate(LEFT - 8.0),
            name_y = coordinate(middle - 1.0),
            count_y = coordinate(middle + 11.0),
            name = escape_html(lane.label),
            count = format::count(lane.marks.len() as u64),
        );
        let mut columns: BTreeMap<i64, Vec<&Mark>> = BTreeMap::new();
        for mark in &lane.marks {
            let column = ((axis.x(mark.time_seconds) - LEFT) / TICK_COLUMN).round() as i64;
            columns.entry(column).or_default().push(mark);
        }
        for (column, mut marks) in columns {
            let x = coordinate(LEFT + column as f64 * TICK_COLUMN);
            marks.sort_by(|left, right| left.time_seconds.total_cmp(&right.time_seconds));
            let _ = write!(
                svg,
                r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{}" stroke-width="2"><title>{}</title></line>"#,
                coordinate(lane_top + 5.0),
                coordinate(lane_top + LANE_HEIGHT - 5.0),
                lane.color,
                escape_html(&tooltip(&marks)),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The most buckets a series is drawn with: about one per pixel column.
const MAX_BUCKETS: usize = 600;
/// The width, in pixels, of the columns whose events share one timeline tick.
const TICK_COLUMN: f64 = 2.0;
/// The most events listed in a merged tick's tooltip.
const TOOLTIP_EVENTS: usize = 3;
/// The most characters of one event's text in a tooltip.
const TOOLTIP_CHARS: usize = 120;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 36.0;
/// Room above a value chart's plot for its legend and axis title.
const TOP: f64 = 36.0;
/// Room above the timeline's first lane.
const TIMELINE_TOP: f64 = 8.0;
const BOTTOM: f64 = 44.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const CHART_HEIGHT: f64 = 280.0;
const LANE_HEIGHT: f64 = 32.0;

/// A value axis from 0 to `top`, ticked every `step`.
#[derive(Debug, Clone, Copy)]
struct ValueScale {
    top: f64,
    step: f64,
}

impl ValueScale {
    /// A round scale reaching at least `max` in about five steps; whole steps for counts.
    fn nice(max: f64, whole: bool) -> Self {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let raw = max / 5.0;
        let magnitude = 10_f64.powf(raw.log10().floor());
        let multipliers: &[f64] = if whole {
            &[1.0, 2.0, 5.0, 10.0]
        } else {
            &[1.0, 2.0, 2.5, 5.0, 10.0]
        };
        let step = multipliers
            .iter()
            .map(|multiplier| multiplier * magnitude)
            .find(|step| *step >= raw * (1.0 - 1e-9))
            .unwrap_or(10.0 * magnitude);
        let step = if whole { step.round().max(1.0) } else { step };
        let top = (max / step - 1e-9).ceil().max(1.0) * step;
        Self { top, step }
    }

    /// The tick values, 0 to `top`.
    fn ticks(self) -> Vec<f64> {
        let count = (self.top / self.step).round() as usize;
        (0..=count).map(|index| index as f64 * self.step).collect()
    }
}

/// Where a value chart draws.
#[derive(Debug, Clone, Copy)]
struct Plot {
    axis: TimeAxis,
    scale: ValueScale,
    bottom: f64,
}

impl Plot {
    /// The vertical position of `value`, clamped to the plot.
    fn y(&self, value: f64) -> f64 {
        let fraction = (finite_or_zero(value) / self.scale.top).clamp(0.0, 1.0);
        self.bottom - fraction * (self.bottom - TOP)
    }
}

/// Consecutive samples drawn as one step from `start` to `end` at `value`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: f64,
    end: f64,
    value: f64,
}

/// `values` at `times` reduced to at most `MAX_BUCKETS` steps; each lasts until the next
/// starts, the last for one interval (within the axis).
fn buckets(
    times: &[f64],
    values: &[f64],
    interval: f64,
    aggregate: Aggregate,
    axis: TimeAxis,
) -> Vec<Bucket> {
    let samples = times.len().min(values.len());
    if samples == 0 {
        return Vec::new();
    }
    let size = samples.div_ceil(MAX_BUCKETS);
    let last_time = axis.clamp(times[samples - 1]);
    let interval = if interval.is_finite() && interval > 0.0 {
        interval
    } else {
        0.0
    };
    let last_end = axis.clamp(last_time + interval).max(last_time);
    (0..samples)
        .step_by(size)
        .map(|start| {
            let next = start + size;
            let chunk = &values[start..next.min(samples)];
            let value = match aggregate {
                Aggregate::Mean => chunk.iter().sum::<f64>() / chunk.len() as f64,
                Aggregate::Max => chunk.iter().copied().fold(0.0, f64::max),
            };
            Bucket {
                start: axis.clamp(times[start]),
                end: if next < samples {
                    axis.clamp(times[next])
                } else {
                    last_end
                },
                value: finite_or_zero(value),
            }
        })
        .collect()
}

/// The corners of a step line through `buckets`.
fn step_vertices(buckets: &[Bucket], plot: &Plot) -> Vec<(f64, f64)> {
    buckets
        .iter()
        .flat_map(|bucket| {
            let y = plot.y(bucket.value);
            [(plot.axis.x(bucket.start), y), (plot.axis.x(bucket.end), y)]
        })
        .collect()
}

/// An SVG `points` list, dropping repeated points and the middle of straight runs.
fn points(vertices: &[(f64, f64)]) -> String {
    let mut kept: Vec<(String, String)> = Vec::with_capacity(vertices.len());
    for &(x, y) in vertices {
        let point = (coordinate(x), coordinate(y));
        if kept.last() == Some(&point) {
            continue;
        }
        if let [.., before, last] = kept.as_slice()
            && ((before.0 == last.0 && last.0 == point.0)
                || (before.1 == last.1 && last.1 == point.1))
        {
            kept.pop();
        }
        kept.push(point);
    }
    kept.iter()
        .map(|(x, y)| format!("{x},{y}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The opening `<svg>` with its accessible `<title>`.
fn open_svg(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" class="chart"><title>{title}</title>"#,
        width = coordinate(WIDTH),
        height = coordinate(height),
        title = escape_html(title),
    )
}

/// Horizontal grid lines, value tick labels and the value axis title.
fn value_grid(svg: &mut String, plot: &Plot, unit: Unit) {
    for value in plot.scale.ticks() {
        let y = coordinate(plot.y(value));
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" class="grid"/><text x="{}" y="{y}" dy="4" text-anchor="end" class="tick">{}</text>"#,
            coordinate(LEFT),
            coordinate(LEFT + PLOT_WIDTH),
            coordinate(LEFT - 8.0),
            escape_html(&unit.tick_label(value, plot.scale.step)),
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end" class="axis-title">{}</text>"#,
        coordinate(LEFT - 8.0),
        coordinate(TOP - 14.0),
        unit.title(),
    );
}

/// Vertical tick marks, time labels, the time axis line and its title.
fn time_grid(svg: &mut String, axis: TimeAxis, top: f64, bottom: f64) {
    for seconds in axis.ticks() {
        let x = coordinate(axis.x(seconds));
        let _ = write!(
            svg,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" class="grid faint"/><line x1="{x}" y1="{}" x2="{x}" y2="{}" class="axis"/><text x="{x}" y="{}" text-anchor="middle" class="tick">{}</text>"#,
            coordinate(top),
            coordinate(bottom),
            coordinate(bottom),
            coordinate(bottom + 5.0),
            coordinate(bottom + 18.0),
            escape_html(&format::compact_duration(seconds)),
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{bottom}" x2="{}" y2="{bottom}" class="axis"/><text x="{}" y="{}" text-anchor="middle" class="axis-title">time since start</text>"#,
        coordinate(LEFT),
        coordinate(LEFT + PLOT_WIDTH),
        coordinate(LEFT + PLOT_WIDTH / 2.0),
        coordinate(bottom + 36.0),
        bottom = coordinate(bottom),
    );
}

/// The legend, in a row above the plot: a swatch and a label per entry.
fn write_legend(svg: &mut String, entries: &[(&str, &str, bool)]) {
    let mut x = LEFT;
    let y = TOP - 18.0;
    for &(label, color, dashed) in entries {
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{color}" stroke-width="4"{}/><text x="{}" y="{}" class="legend">{}</text>"#,
            coordinate(x),
            coordinate(y),
            coordinate(x + 18.0),
            coordinate(y),
            if dashed {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            },
            coordinate(x + 24.0),
            coordinate(y + 4.0),
            escape_html(label),
        );
        x += 24.0 + 7.0 * label.chars().count() as f64 + 20.0;
    }
}

/// The tooltip of a tick: the event, or how many it merges with the first few listed.
fn tooltip(marks: &[&Mark]) -> String {
    let line = |mark: &Mark| {
        format!(
            "{} · {}",
            mark.time,
            format::truncate(&mark.text, TOOLTIP_CHARS)
        )
    };
    match marks {
        [] => String::new(),
        [mark] => line(mark),
        [first, .., last] => {
            let mut text = format!("{} events, {} to {}", marks.len(), first.time, last.time);
            for mark in marks.iter().take(TOOLTIP_EVENTS) {
                text.push('\n');
                text.push_str(&line(mark));
            }
            if marks.len() > TOOLTIP_EVENTS {
                let _ = write!(
                    text,
                    "\n… and {} more",
                    format::count((marks.len() - TOOLTIP_EVENTS) as u64)
                );
            }
            text
        }
    }
}

/// A coordinate with one decimal; 0 when not finite.
fn coordinate(value: f64) -> String {
    format!("{:.1}", finite_or_zero(value))
}

fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_svg_value_scales_are_round() {
        let cases = [
            (0.0, true, 1.0, 1.0),
            (f64::NAN, false, 1.0, 0.2),
            (1.0, true, 1.0, 1.0),
            (41.0, true, 50.0, 10.0),
            (7.3, false, 8.0, 2.0),
            (12.0, false, 12.5, 2.5),
            (3.2, true, 4.0, 1.0),
        ];
        for (max, whole, top, step) in cases {
            let scale = ValueScale::nice(max, whole);
            assert!(
                (scale.top - top).abs() < 1e-9 && (scale.step - step).abs() < 1e-9,
                "{max}: {scale:?}"
            );
        }
    }

    #[test]
    fn report_svg_time_ticks_fit() {
        let cases = [
            (0.0, 3600.0, 600.0),
            (259_200.0, 259_200.0, 43_200.0),
            (30.0, 30.0, 5.0),
        ];
        for (end, expected_end, step) in cases {
            let axis = TimeAxis::covering([end]);
            assert_eq!(axis.end, expected_end);
            let ticks = axis.ticks();
            assert_eq!(ticks[1] - ticks[0], step);
            assert!(ticks.len() <= 9);
        }
    }

    #[test]
    fn report_svg_buckets_bound_points() {
        let times: Vec<f64> = (0..10_000).map(|index| f64::from(index) * 60.0).collect();
        let values: Vec<f64> = (0..10_000).map(|index| f64::from(index % 7)).collect();
        let axis = TimeAxis::covering(times.iter().copied());
        let buckets = buckets(&times, &values, 60.0, Aggregate::Max, axis);
        assert!(buckets.len() <= MAX_BUCKETS);
        // Every full bucket spans a whole cycle of 7, so its peak is 6.
        assert!(
            buckets[..buckets.len() - 1]
                .iter()
                .all(|bucket| bucket.value == 6.0)
        );
        let single = super::buckets(
            &[0.0],
            &[3.0],
            60.0,
            Aggregate::Mean,
            TimeAxis::covering([0.0]),
        );
        assert_eq!(
            (single[0].start, single[0].end, single[0].value),
            (0.0, 60.0, 3.0)
        );
    }

    #[test]
    fn report_svg_points_drop_straight_runs() {
        let vertices = [
            (0.0, 5.0),
            (1.0, 5.0),
            (1.0, 5.0),
            (2.0, 5.0),
            (2.0, 3.0),
            (2.0, 1.0),
        ];
        assert_eq!(points(&vertices), "0.0,5.0 2.0,5.0 2.0,1.0");
    }
}
