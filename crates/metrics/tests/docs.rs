//! Checks that the committed `docs/metrics.md` is exactly what the generator makes from the
//! metric families, so that adding or changing a metric without regenerating it fails.

// Reads the committed file it compares against.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

#[test]
fn committed_metrics_docs_match_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    let generated = spotter_metrics::describe::markdown().expect("the metrics describe themselves");
    if generated != committed {
        let first_difference = generated
            .lines()
            .zip(committed.lines())
            .position(|(fresh, old)| fresh != old)
            .map_or_else(
                || "one file is a prefix of the other".to_string(),
                |index| format!("first difference at line {}", index + 1),
            );
        panic!(
            "docs/metrics.md is stale ({first_difference}). Regenerate it with:\n    \
             cargo run -p spotter-metrics --bin generate-metrics-docs"
        );
    }
}

#[test]
fn every_family_is_documented_with_a_type_and_help() {
    let descriptions =
        spotter_metrics::describe::descriptions().expect("the metrics describe themselves");
    let names: Vec<&str> = descriptions
        .iter()
        .map(|description| description.name.as_str())
        .collect();
    for expected in [
        "karpenter_nodes_allocatable",
        "karpenter_nodes_total_pod_requests",
        "karpenter_nodes_total_daemon_requests",
        "karpenter_nodes_created_total",
        "karpenter_nodes_terminated_total",
        "karpenter_nodeclaims_created_total",
        "karpenter_nodeclaims_terminated_total",
        "karpenter_nodeclaims_disrupted_total",
        "karpenter_nodepools_usage",
        "karpenter_nodepools_limit",
        "karpenter_nodepools_allowed_disruptions",
        "karpenter_pods_state",
        "karpenter_pods_startup_duration_seconds",
        "karpenter_scheduler_scheduling_duration_seconds",
        "karpenter_interruption_received_messages_total",
        "karpenter_interruption_deleted_messages_total",
        "karpenter_interruption_message_queue_duration_seconds",
        "spotter_interruption_malformed_messages_total",
        "spotter_interruption_notices_total",
        "karpenter_cloudprovider_instance_type_offering_available",
        "karpenter_cloudprovider_instance_type_offering_price_estimate",
        "karpenter_cloudprovider_errors_total",
        "spotter_fallback_total",
        "spotter_return_to_spot_total",
        "spotter_fallback_nodes",
        "spotter_spot_ratio",
        "spotter_estimated_savings_usd_per_hour",
        "spotter_unavailable_offerings",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is missing from {names:?}"
        );
    }
    for description in &descriptions {
        assert!(
            ["counter", "gauge", "histogram", "summary"].contains(&description.kind.as_str()),
            "{}: type {:?}",
            description.name,
            description.kind
        );
        assert!(
            description.help.len() > 10
                && description.help.ends_with('.')
                && !description.help.ends_with(".."),
            "{}: help {:?}",
            description.name,
            description.help
        );
    }
    let labels_of = |name: &str| {
        descriptions
            .iter()
            .find(|description| description.name == name)
            .map(|description| description.labels.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        labels_of("spotter_fallback_total"),
        [
            "nodepool",
            "from_capacity_type",
            "to_capacity_type",
            "reason"
        ]
    );
    assert_eq!(
        labels_of("karpenter_pods_startup_duration_seconds"),
        Vec::<String>::new()
    );
    assert_eq!(
        labels_of("karpenter_scheduler_scheduling_duration_seconds"),
        ["controller"]
    );
    assert_eq!(
        labels_of("karpenter_interruption_received_messages_total"),
        ["message_type"]
    );
    assert_eq!(
        labels_of("spotter_interruption_notices_total"),
        ["message_type", "source"]
    );
    assert_eq!(
        labels_of("karpenter_interruption_message_queue_duration_seconds"),
        Vec::<String>::new()
    );
    let node_labels = labels_of("karpenter_nodes_allocatable");
    for label in [
        "node_name",
        "resource_type",
        "nodepool",
        "capacity_type",
        "zone",
        "instance_type",
        "arch",
    ] {
        assert!(
            node_labels.iter().any(|found| found == label),
            "{label} not in {node_labels:?}"
        );
    }
}
