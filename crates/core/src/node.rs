//! Existing nodes: capacity that is already there, which the solver fills before it plans any
//! new NodeClaim.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::labels;
use crate::pod::Pod;
use crate::resources::Resources;
use crate::taints::Taint;

/// A node in the cluster and the pods bound to it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// The node's name (its hostname domain for topology).
    pub name: String,
    /// Labels (zone, capacity type, NodePool, instance type, ...).
    /// Shared, as drivers hold the same labels for every solve.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable resources.
    pub allocatable: Resources,
    /// Whether the node is cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
    /// Pods bound to the node, DaemonSet pods included (shared, as drivers hold them too).
    pub pods: Vec<Arc<Pod>>,
}

impl Node {
    /// The sum of the requests of the pods bound to the node.
    pub fn requested(&self) -> Resources {
        let mut requested = Resources::new();
        for pod in &self.pods {
            requested.add(&pod.requests);
        }
        requested
    }

    /// The NodePool the node belongs to, from its `karpenter.sh/nodepool` label.
    pub fn node_pool(&self) -> Option<&str> {
        self.labels.get(labels::NODE_POOL).map(String::as_str)
    }
}
