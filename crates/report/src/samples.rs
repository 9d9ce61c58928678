//! Sample reports and assertions shared by the renderers' tests: a plausible multi-day run,
//! an empty one, both presets side by side, and checks on tables and pages.

use std::collections::BTreeMap;

use crate::{
    Comparison, Event, EventKind, NodeHours, NodePoolSummary, Percentiles, Report, Series, Spread,
    Summary, Violation, iso8601_duration, percentiles,
};

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
            spot_share_of_eligible_node_hours: 0.0,
            pods_pending_at_end: 0,
            pending_pod_hours: 0.0,
            pods_never_scheduled: 0,
            pods_never_scheduled_reasons: BTreeMap::new(),
            pending_threshold_seconds: 900.0,
            pods_over_pending_threshold: 0,
            interruption_pending_pod_seconds: 0.0,
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
            disruptions: BTreeMap::new(),
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
            avoided_offerings: vec![],
            avoided_families: vec![],
            avoided_zones: vec![],
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
        let cost_per_hour = f64::from(spot) * spot_price + f64::from(on_demand) * on_demand_price;
        let baseline_per_hour = f64::from(total) * on_demand_price;
        series.cost_per_hour.push(cost_per_hour);
        series.on_demand_baseline_per_hour.push(baseline_per_hour);
        let pending = if in_ice_episode {
            (random.next() * 30.0) as u32
        } else {
            (random.next() * 3.0) as u32
        };
        series.pending_pods.push(pending);
        // After an ICE episode, an offering, then its family and its zone, are avoided.
        let hour_of_episode = (time / 3600.0) as u64 % 19;
        series
            .avoided_offerings
            .push(u32::from((7..12).contains(&hour_of_episode)));
        series
            .avoided_families
            .push(u32::from((8..11).contains(&hour_of_episode)));
        series.avoided_zones.push(u32::from(hour_of_episode == 9));
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
            spot_share_of_eligible_node_hours: 0.9,
            pods_pending_at_end: 0,
            pending_pod_hours: 3.25,
            pods_never_scheduled: 1,
            pods_never_scheduled_reasons: BTreeMap::from([("removed while pending".to_owned(), 1)]),
            pending_threshold_seconds: 900.0,
            pods_over_pending_threshold: 0,
            interruption_pending_pod_seconds: 12.5,
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
            disruptions: BTreeMap::from([
                ("empty".to_owned(), 5),
                ("return_to_spot".to_owned(), 3),
                ("spot_interrupted".to_owned(), 3),
                ("underutilized".to_owned(), 2),
            ]),
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
