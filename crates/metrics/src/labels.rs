//! The label sets of the metric families, named as Karpenter names them. Node metrics carry
//! every well-known node label (`spotter_core::labels::WELL_KNOWN`) in snake case without its
//! domain (`karpenter.k8s.aws/instance-cpu` becomes `instance_cpu`), as Karpenter's do; the
//! other families have fixed label sets. An example label set of each family (`Default`, or
//! [`WellKnownLabels::placeholder_values`]) is how the generated documentation learns the label names from an
//! encoding.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The well-known node labels and their metric label names, computed once.
#[derive(Clone, Debug)]
pub(crate) struct WellKnownLabels {
    keys: Arc<[&'static str]>,
    names: Arc<[String]>,
}

/// `karpenter_nodes_created_total`, `karpenter_nodes_terminated_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodeEventLabels {
    pub nodepool: String,
    pub zone: String,
}

/// `karpenter_nodeclaims_created_total` (Karpenter v1.0's set: `capacity_type` is known at
/// creation because the provisioner pins it).
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodeClaimCreatedLabels {
    pub reason: String,
    pub nodepool: String,
    pub capacity_type: String,
}

/// `karpenter_nodeclaims_terminated_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodeClaimTerminatedLabels {
    pub nodepool: String,
    pub capacity_type: String,
    pub zone: String,
}

/// `karpenter_nodeclaims_disrupted_total` (Karpenter v1.0's set).
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodeClaimDisruptedLabels {
    pub reason: String,
    pub nodepool: String,
    pub capacity_type: String,
}

/// `karpenter_nodepools_usage`, `karpenter_nodepools_limit`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodePoolResourceLabels {
    pub nodepool: String,
    pub resource_type: String,
}

/// `karpenter_nodepools_allowed_disruptions`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodePoolReasonLabels {
    pub nodepool: String,
    pub reason: String,
}

/// `karpenter_scheduler_scheduling_duration_seconds`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct ControllerLabels {
    pub controller: String,
}

/// `karpenter_interruption_received_messages_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct MessageLabels {
    pub message_type: String,
}

/// `spotter_interruption_notices_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NoticeLabels {
    pub message_type: String,
    pub source: String,
}

/// `karpenter_cloudprovider_errors_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct CloudErrorLabels {
    pub controller: String,
    pub method: String,
    pub provider: String,
    pub error: String,
}

/// `spotter_fallback_total`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct FallbackLabels {
    pub nodepool: String,
    pub from_capacity_type: String,
    pub to_capacity_type: String,
    pub reason: String,
}

/// Spotter's per-NodePool families.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct NodePoolLabels {
    pub nodepool: String,
}

/// `spotter_cloudprovider_on_demand_prices_embedded`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct ReasonLabels {
    pub reason: String,
}

/// `spotter_unavailable_offerings`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct CapacityTypeLabels {
    pub capacity_type: String,
}

/// `level` of `spotter_avoided_offerings`: `offering`, `family` (an instance family in a
/// zone) or `zone`.
#[derive(
    Clone, Debug, Default, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
)]
pub(crate) struct AvoidLevelLabels {
    pub level: String,
}

impl WellKnownLabels {
    /// Every well-known label of `spotter_core::labels::WELL_KNOWN`.
    pub fn new() -> Self {
        let keys: Arc<[&'static str]> = spotter_core::labels::WELL_KNOWN.into();
        let names = keys.iter().map(|key| metric_label_name(key)).collect();
        Self { keys, names }
    }

    /// The metric label names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A placeholder value for every label (for the generated documentation).
    pub fn placeholder_values(&self) -> Arc<[String]> {
        self.keys.iter().map(|_| "example".to_string()).collect()
    }

    /// A node's values of the well-known labels, in order (empty when the node lacks one).
    pub fn values_of(&self, node_labels: &BTreeMap<String, String>) -> Arc<[String]> {
        self.keys
            .iter()
            .map(|key| node_labels.get(*key).cloned().unwrap_or_default())
            .collect()
    }
}

/// Karpenter's metric label for a node label: the part after the domain, snake case.
pub(crate) fn metric_label_name(key: &str) -> String {
    key.rsplit('/')
        .next()
        .unwrap_or(key)
        .replace(['-', '.'], "_")
}

/// Karpenter's `resource_type` value for a resource name (`ephemeral-storage` becomes
/// `ephemeral_storage`, `nvidia.com/gpu` becomes `nvidia_com_gpu`).
pub(crate) fn resource_type(name: &str) -> String {
    name.replace(['-', '.', '/'], "_").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_labels_become_karpenters_metric_label_names() {
        let cases = [
            ("karpenter.sh/nodepool", "nodepool"),
            ("karpenter.sh/capacity-type", "capacity_type"),
            ("topology.kubernetes.io/zone", "zone"),
            ("node.kubernetes.io/instance-type", "instance_type"),
            ("kubernetes.io/arch", "arch"),
            ("karpenter.k8s.aws/instance-cpu", "instance_cpu"),
            ("topology.k8s.aws/zone-id", "zone_id"),
        ];
        for (key, expected) in cases {
            assert_eq!(metric_label_name(key), expected, "{key}");
        }
    }

    #[test]
    fn well_known_label_names_are_distinct_and_valid() {
        let labels = WellKnownLabels::new();
        let mut seen = std::collections::BTreeSet::new();
        for name in labels.names.iter() {
            assert!(seen.insert(name.clone()), "duplicate label name {name}");
            assert!(
                name.chars().all(|character| character.is_ascii_lowercase()
                    || character.is_ascii_digit()
                    || character == '_'),
                "{name} is not a valid Prometheus label name"
            );
            assert!(!["node_name", "resource_type", "managed"].contains(&name.as_str()));
        }
    }

    #[test]
    fn resource_names_become_karpenters_resource_types() {
        let cases = [
            ("cpu", "cpu"),
            ("memory", "memory"),
            ("ephemeral-storage", "ephemeral_storage"),
            ("nvidia.com/gpu", "nvidia_com_gpu"),
        ];
        for (name, expected) in cases {
            assert_eq!(resource_type(name), expected, "{name}");
        }
    }
}
