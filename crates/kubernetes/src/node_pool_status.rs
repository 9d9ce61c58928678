//! A NodePool's `status` as Spotter writes it: `resources`, the capacity of the pool's
//! instances and their number (`nodes`, which `kubectl get nodepools` shows in its NODES
//! column, as Karpenter's does), and Karpenter's conditions: `ValidationSucceeded` (Spotter
//! could read the pool; `False` with the reader's error otherwise), `NodeClassReady` (its
//! EC2NodeClass exists and, with the AWS provider, says `Ready`) and `Ready` (both). The
//! driver writes a status only when it changed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use spotter_controllers::node_pool_usage::NodePoolUsage;
use spotter_core::resources::NODES;

use crate::clock;
use crate::node_claim_object::resource_list;

/// The condition saying Spotter could read the NodePool.
pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";
/// The condition saying the NodePool's node class is ready.
pub const NODE_CLASS_READY: &str = "NodeClassReady";

/// Where a NodePool's node class stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeClassReadiness {
    /// It exists and is ready (or the provider keeps no status on node classes).
    Ready,
    /// Its `Ready` condition is false (a selector matched nothing, ...).
    NotReady,
    /// It has no `Ready` condition yet.
    Unknown,
    /// No EC2NodeClass has the name the NodePool refers to.
    Missing,
}

/// What a NodePool's status says, compared with what was last written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePoolStatus {
    /// `status.resources`.
    pub resources: BTreeMap<String, String>,
    /// Why the NodePool cannot be read, if it cannot.
    pub invalid: Option<String>,
    /// Its node class.
    pub node_class: NodeClassReadiness,
}

impl NodePoolStatus {
    /// The status of a NodePool Spotter reads, with its instances' usage and its node class.
    pub fn valid(usage: &NodePoolUsage, node_class: NodeClassReadiness) -> Self {
        let mut resources = resource_list(&usage.resources);
        resources.insert(NODES.to_string(), usage.nodes.to_string());
        Self {
            resources,
            invalid: None,
            node_class,
        }
    }

    /// The status of a NodePool Spotter cannot read (`error`), which has no instances of
    /// Spotter's.
    pub fn invalid(error: &str) -> Self {
        Self {
            resources: BTreeMap::from([(NODES.to_string(), "0".to_string())]),
            invalid: Some(error.to_string()),
            node_class: NodeClassReadiness::Unknown,
        }
    }

    /// Whether `Ready` is true.
    pub fn ready(&self) -> bool {
        self.invalid.is_none() && self.node_class == NodeClassReadiness::Ready
    }

    /// The merge patch of `status`, the conditions' transition time being `ready_since` (when
    /// `Ready` last changed).
    pub fn patch(&self, ready_since: Duration) -> Value {
        let since = clock::rfc3339(ready_since);
        let condition = |type_: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
            })
        };
        let validation = match &self.invalid {
            None => condition(VALIDATION_SUCCEEDED, "True", VALIDATION_SUCCEEDED, ""),
            Some(error) => condition(VALIDATION_SUCCEEDED, "False", "ValidationFailed", error),
        };
        let node_class = match self.node_class {
            NodeClassReadiness::Ready => condition(NODE_CLASS_READY, "True", NODE_CLASS_READY, ""),
            NodeClassReadiness::NotReady => condition(
                NODE_CLASS_READY,
                "False",
                "NodeClassNotReady",
                "the EC2NodeClass is not Ready: see its conditions",
            ),
            NodeClassReadiness::Unknown => condition(
                NODE_CLASS_READY,
                "Unknown",
                "AwaitingReconciliation",
                "the EC2NodeClass has no Ready condition yet",
            ),
            NodeClassReadiness::Missing => condition(
                NODE_CLASS_READY,
                "False",
                "NodeClassNotFound",
                "no EC2NodeClass has the name spec.template.spec.nodeClassRef gives: create it or correct the reference",
            ),
        };
        let ready = if self.ready() {
            condition("Ready", "True", "Ready", "")
        } else {
            condition(
                "Ready",
                "False",
                "NotReady",
                "see ValidationSucceeded and NodeClassReady",
            )
        };
        json!({
            "status": {
                "resources": self.resources,
                "conditions": [validation, node_class, ready],
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use spotter_core::resources::Resources;

    use super::*;

    /// (type, status, reason) of each condition of a patch.
    fn conditions(patch: &Value) -> Vec<(String, String, String)> {
        patch["status"]["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .map(|condition| {
                let field = |key: &str| condition[key].as_str().unwrap_or_default().to_owned();
                (field("type"), field("status"), field("reason"))
            })
            .collect()
    }

    #[test]
    fn resources_and_conditions_as_the_api_takes_them() {
        let mut capacity = Resources::new();
        capacity.cpu_millicores = 6500;
        capacity.memory_bytes = 16 * 1024 * 1024 * 1024;
        capacity.pods = 58;
        let two = NodePoolUsage {
            resources: capacity,
            nodes: 2,
        };
        let none = NodePoolUsage::default();
        let cases = [
            (
                "two instances, class ready",
                NodePoolStatus::valid(&two, NodeClassReadiness::Ready),
                json!({"cpu": "6500m", "memory": "17179869184", "pods": "58", "nodes": "2"}),
                [
                    ("True", "ValidationSucceeded"),
                    ("True", "NodeClassReady"),
                    ("True", "Ready"),
                ],
            ),
            (
                "no class",
                NodePoolStatus::valid(&none, NodeClassReadiness::Missing),
                json!({"nodes": "0"}),
                [
                    ("True", "ValidationSucceeded"),
                    ("False", "NodeClassNotFound"),
                    ("False", "NotReady"),
                ],
            ),
            (
                "class not ready",
                NodePoolStatus::valid(&none, NodeClassReadiness::NotReady),
                json!({"nodes": "0"}),
                [
                    ("True", "ValidationSucceeded"),
                    ("False", "NodeClassNotReady"),
                    ("False", "NotReady"),
                ],
            ),
            (
                "class without status yet",
                NodePoolStatus::valid(&none, NodeClassReadiness::Unknown),
                json!({"nodes": "0"}),
                [
                    ("True", "ValidationSucceeded"),
                    ("Unknown", "AwaitingReconciliation"),
                    ("False", "NotReady"),
                ],
            ),
            (
                "unreadable",
                NodePoolStatus::invalid("spec.weight: 200 is above 100"),
                json!({"nodes": "0"}),
                [
                    ("False", "ValidationFailed"),
                    ("Unknown", "AwaitingReconciliation"),
                    ("False", "NotReady"),
                ],
            ),
        ];
        for (name, status, resources, expected) in cases {
            let patch = status.patch(Duration::from_secs(1_700_000_000));
            let written = &patch["status"]["resources"];
            for (key, value) in resources.as_object().into_iter().flatten() {
                assert_eq!(&written[key], value, "{name}: {key}");
            }
            let conditions = conditions(&patch);
            let types: Vec<&str> = conditions
                .iter()
                .map(|(type_, ..)| type_.as_str())
                .collect();
            assert_eq!(
                types,
                ["ValidationSucceeded", "NodeClassReady", "Ready"],
                "{name}"
            );
            for ((_, status, reason), (want_status, want_reason)) in conditions.iter().zip(expected)
            {
                assert_eq!(
                    (status.as_str(), reason.as_str()),
                    (want_status, want_reason),
                    "{name}"
                );
            }
            assert_eq!(
                patch["status"]["conditions"][0]["lastTransitionTime"], "2023-11-14T22:13:20Z",
                "{name}"
            );
        }
        assert_eq!(
            NodePoolStatus::invalid("bad").patch(Duration::ZERO)["status"]["conditions"][0]["message"],
            "bad"
        );
    }
}
