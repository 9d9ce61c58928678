//! `dashboards/spotter.json` is a Grafana dashboard that imports anywhere: its data source is a
//! template variable, every panel has a place on the grid and PromQL targets, panels do not
//! overlap, and every metric its queries name is one Spotter serves. (Whether the queries
//! return data is `prometheus.rs`'s job.)

mod support;

use std::collections::BTreeSet;

use support::{dashboard, expressions, panels};

#[test]
fn the_dashboard_is_grafana_json_with_a_data_source_variable() {
    let dashboard = dashboard();
    assert!(
        dashboard["schemaVersion"]
            .as_u64()
            .is_some_and(|version| version >= 30),
        "schemaVersion: {}",
        dashboard["schemaVersion"]
    );
    assert_eq!(dashboard["uid"], "spotter");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|variable| variable["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    let node_pool = variable("nodepool");
    assert_eq!(node_pool["type"], "query");
    assert_eq!(node_pool["includeAll"], true);
    assert_eq!(node_pool["datasource"]["uid"], "${datasource}");
    assert!(
        node_pool["definition"]
            .as_str()
            .is_some_and(|definition| definition.starts_with("label_values(")),
        "{node_pool}"
    );
}

#[test]
fn every_panel_has_a_place_a_data_source_and_queries() {
    let dashboard = dashboard();
    let mut ids = BTreeSet::new();
    let mut cells: Vec<(String, [u64; 4])> = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a numeric id")),
            "id of {title}"
        );
        let grid = &panel["gridPos"];
        let place: Vec<u64> = ["x", "y", "w", "h"]
            .iter()
            .map(|key| {
                grid[*key]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{title}: gridPos.{key}"))
            })
            .collect();
        let place = [place[0], place[1], place[2], place[3]];
        assert!(
            place[2] > 0 && place[3] > 0 && place[0] + place[2] <= 24,
            "{title}: {grid}"
        );
        for (other, [x, y, w, h]) in &cells {
            let apart = place[0] + place[2] <= *x
                || x + w <= place[0]
                || place[1] + place[3] <= *y
                || y + h <= place[1];
            assert!(apart, "{title} overlaps {other}");
        }
        cells.push((title.to_string(), place));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        let mut references = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|expr| !expr.trim().is_empty()),
                "{title}: {target}"
            );
            assert!(
                references.insert(target["refId"].to_string()),
                "{title}: refIds"
            );
        }
    }
}

#[test]
fn the_queries_name_only_metrics_spotter_serves_and_use_every_spotter_metric() {
    let descriptions =
        spotter_metrics::describe::descriptions().expect("the metrics describe themselves");
    let mut served = BTreeSet::new();
    for description in &descriptions {
        served.insert(description.name.clone());
        if matches!(description.kind.as_str(), "histogram" | "summary") {
            for suffix in ["_sum", "_count", "_bucket"] {
                served.insert(format!("{}{suffix}", description.name));
            }
        }
    }
    let dashboard = dashboard();
    let mut used = BTreeSet::new();
    for (title, expr) in expressions(&dashboard) {
        for name in metric_names(&expr) {
            assert!(
                served.contains(&name),
                "{title}: {name} is not a metric Spotter serves"
            );
            used.insert(name);
        }
    }
    for description in descriptions
        .iter()
        .filter(|description| description.name.starts_with("spotter_"))
    {
        assert!(
            used.contains(&description.name),
            "no panel shows {}",
            description.name
        );
    }
    for wanted in [
        "karpenter_nodes_allocatable",
        "karpenter_interruption_received_messages_total",
        "karpenter_pods_state",
        "karpenter_pods_startup_duration_seconds",
        "karpenter_nodepools_usage",
        "karpenter_nodepools_limit",
        "karpenter_cloudprovider_errors_total",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}");
    }
}

/// The `karpenter_` and `spotter_` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    for character in expr.chars().chain(std::iter::once(' ')) {
        if character == '"' {
            in_string = !in_string;
        }
        if !in_string && (character.is_ascii_alphanumeric() || character == '_') {
            current.push(character);
            continue;
        }
        if current.starts_with("karpenter_") || current.starts_with("spotter_") {
            names.push(current.clone());
        }
        current.clear();
    }
    names
}
