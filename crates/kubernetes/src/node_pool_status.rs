//! A NodePool's `status` as Spotter writes it: `resources`, the capacity of the pool's
//! instances and their number (`nodes`, which `kubectl get nodepools` shows in its NODES
//! column, as Karpenter's does), and the conditions `ValidationSucceeded` (Spotter could read
//! the pool; `False` with the reader's error otherwise) and `Ready` (its summary). Karpenter
//! also writes `NodeClassReady` from the EC2NodeClass; the driver does not watch node classes,
//! so Spotter's `Ready` does not include it. The driver writes a status only when it changed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use spotter_controllers::node_pool_usage::NodePoolUsage;
use spotter_core::resources::NODES;

use crate::clock;
use crate::node_claim_object::resource_list;

/// The condition saying Spotter could read the NodePool.
pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";

/// What a NodePool's status says, compared with what was last written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePoolStatus {
    /// `status.resources`.
    pub resources: BTreeMap<String, String>,
    /// Why the NodePool cannot be read, if it cannot.
    pub invalid: Option<String>,
}

impl NodePoolStatus {
    /// The status of a NodePool Spotter reads, with its instances' usage.
    pub fn valid(usage: &NodePoolUsage) -> Self {
        let mut resources = resource_list(&usage.resources);
        resources.insert(NODES.to_string(), usage.nodes.to_string());
        Self {
            resources,
            invalid: None,
        }
    }

    /// The status of a NodePool Spotter cannot read (`error`), which has no instances of
    /// Spotter's.
    pub fn invalid(error: &str) -> Self {
        Self {
            resources: BTreeMap::from([(NODES.to_string(), "0".to_string())]),
            invalid: Some(error.to_string()),
        }
    }

    /// Whether `Ready` is true.
    pub fn ready(&self) -> bool {
        self.invalid.is_none()
    }

    /// The merge patch of `status`, the conditions' transition time being `ready_since` (when
    /// `Ready` last changed).
    pub fn patch(&self, ready_since: Duration) -> Value {
        let since = clock::rfc3339(ready_since);
        let condition = |type_: &str, reason: &str| {
            json!({
                "type": type_,
                "status": if self.ready() { "True" } else { "False" },
                "reason": reason,
                "message": self.invalid.clone().unwrap_or_default(),
                "lastTransitionTime": since,
            })
        };
        let (validation, ready) = if self.ready() {
            (VALIDATION_SUCCEEDED, "Ready")
        } else {
            ("ValidationFailed", "NotReady")
        };
        json!({
            "status": {
                "resources": self.resources,
                "conditions": [
                    condition(VALIDATION_SUCCEEDED, validation),
                    condition("Ready", ready),
                ],
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use spotter_core::resources::Resources;

    use super::*;

    #[test]
    fn resources_and_conditions_as_the_api_takes_them() {
        let mut capacity = Resources::new();
        capacity.cpu_millicores = 6500;
        capacity.memory_bytes = 16 * 1024 * 1024 * 1024;
        capacity.pods = 58;
        let cases = [
            (
                "two instances",
                NodePoolStatus::valid(&NodePoolUsage {
                    resources: capacity,
                    nodes: 2,
                }),
                json!({"cpu": "6500m", "memory": "17179869184", "pods": "58", "nodes": "2"}),
                "True",
                "",
            ),
            (
                "none",
                NodePoolStatus::valid(&NodePoolUsage::default()),
                json!({"nodes": "0"}),
                "True",
                "",
            ),
            (
                "unreadable",
                NodePoolStatus::invalid("spec.weight: 200 is above 100"),
                json!({"nodes": "0"}),
                "False",
                "spec.weight: 200 is above 100",
            ),
        ];
        for (name, status, resources, ready, message) in cases {
            let patch = status.patch(Duration::from_secs(1_700_000_000));
            let resources_written = &patch["status"]["resources"];
            for (key, value) in resources.as_object().into_iter().flatten() {
                assert_eq!(&resources_written[key], value, "{name}: {key}");
            }
            let conditions = patch["status"]["conditions"]
                .as_array()
                .expect("conditions");
            assert_eq!(conditions.len(), 2, "{name}");
            for condition in conditions {
                assert_eq!(condition["status"], ready, "{name}");
                assert_eq!(condition["message"], message, "{name}");
                assert_eq!(
                    condition["lastTransitionTime"], "2023-11-14T22:13:20Z",
                    "{name}"
                );
            }
            assert_eq!(conditions[1]["type"], "Ready", "{name}");
        }
    }
}
