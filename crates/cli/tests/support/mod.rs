//! Shared by the dashboard tests: the committed Grafana dashboard, its panels' PromQL, and the
//! template-variable values a Prometheus query needs instead of Grafana's.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `dashboards/spotter.json`.
pub fn dashboard_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/spotter.json")
}

/// The dashboard, parsed.
pub fn dashboard() -> Value {
    let path = dashboard_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Every panel, those nested in collapsed rows included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"]
        .as_array()
        .map(|panels| panels.iter().rev().collect())
        .unwrap_or_default();
    while let Some(panel) = stack.pop() {
        found.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            stack.extend(nested.iter().rev());
        }
    }
    found
}

/// Every target's `expr`, with its panel's title.
pub fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |target| {
                    target["expr"]
                        .as_str()
                        .map(|expr| (title.clone(), expr.to_string()))
                })
        })
        .collect()
}

/// `expr` with Grafana's variables replaced as Grafana would for "All" selections and a
/// 1-second scrape interval: `$nodepool` and the other label variables by `.*`,
/// `$__rate_interval` by `1m`.
pub fn substitute(expr: &str) -> String {
    let mut text = expr
        .replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s");
    for variable in ["nodepool", "zone", "instance_type", "arch", "capacity_type"] {
        text = text
            .replace(&format!("${{{variable}}}"), ".*")
            .replace(&format!("${variable}"), ".*");
    }
    text
}
