//! Pods as the solver sees them: identity and labels, effective resource requests, node
//! selection (nodeSelector, required and preferred node affinity), tolerations, topology spread
//! constraints, pod (anti-)affinity and host ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::label_selector::LabelSelector;
use crate::requirements::NodeSelectorRequirement;
use crate::resources::Resources;
use crate::taints::Toleration;

/// A pod to place, or one already running on a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels. Shared: the pods of one template have the same, and the Kubernetes driver
    /// hands them one map (change one pod's with `Arc::make_mut`).
    pub labels: Arc<BTreeMap<String, String>>,
    /// What the pod needs: the larger of its containers' sum and its largest init container,
    /// plus one `pods`.
    pub requests: Resources,
    /// Priority (higher first).
    pub priority: i32,
    /// `spec.nodeSelector` (shared as the labels are).
    pub node_selector: Arc<BTreeMap<String, String>>,
    /// Required node affinity: the terms are ORed, each term's expressions ANDed.
    pub required_node_affinity: Vec<Vec<NodeSelectorRequirement>>,
    /// Preferred node affinity terms.
    pub preferred_node_affinity: Vec<WeightedNodeSelectorTerm>,
    /// Tolerations (shared as the labels are).
    pub tolerations: Arc<Vec<crate::taints::Toleration>>,
    /// Topology spread constraints.
    pub topology_spread: Vec<TopologySpreadConstraint>,
    /// Pod affinity.
    pub pod_affinity: PodAffinityTerms,
    /// Pod anti-affinity.
    pub pod_anti_affinity: PodAffinityTerms,
    /// The host ports its containers (and init containers) bind: two pods whose host ports
    /// conflict never share a node.
    pub host_ports: Vec<HostPort>,
    /// Annotated `karpenter.sh/do-not-disrupt: "true"`: no voluntary disruption (emptiness,
    /// return to Spot) moves it; interruptions still do.
    pub do_not_disrupt: bool,
}

/// A port a container binds on its node (`ports[].hostPort`, with its protocol and host IP).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// The port on the node, 1–65535.
    pub port: u16,
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
    /// The host IP it binds; empty or `0.0.0.0` for every address.
    pub host_ip: String,
}

impl HostPort {
    /// A TCP port on every address.
    pub fn tcp(port: u16) -> Self {
        Self {
            port,
            protocol: "TCP".to_string(),
            host_ip: String::new(),
        }
    }

    /// Whether both cannot be bound on one node, as kube-scheduler's NodePorts filter decides:
    /// the same port and protocol, on the same IP or where either binds every address.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.binds_every_address()
                || other.binds_every_address()
                || self.host_ip == other.host_ip)
    }

    fn binds_every_address(&self) -> bool {
        self.host_ip.is_empty() || self.host_ip == "0.0.0.0"
    }
}

/// Whether some port of `left` conflicts with some port of `right`.
pub fn host_ports_conflict(left: &[HostPort], right: &[HostPort]) -> bool {
    left.iter()
        .any(|port| right.iter().any(|other| port.conflicts_with(other)))
}

/// The annotation that keeps voluntary disruption away from a pod (and its node).
pub const DO_NOT_DISRUPT_ANNOTATION: &str = "karpenter.sh/do-not-disrupt";

/// A preferred node-affinity term with its weight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WeightedNodeSelectorTerm {
    /// Weight, 1–100.
    pub weight: i32,
    /// The term's expressions, ANDed.
    pub expressions: Vec<NodeSelectorRequirement>,
}

/// What a topology spread constraint does when it cannot be met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum WhenUnsatisfiable {
    /// The pod stays pending.
    #[default]
    DoNotSchedule,
    /// A preference: relaxed when it cannot be met.
    ScheduleAnyway,
}

/// A topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopologySpreadConstraint {
    /// The largest allowed difference between the most and least loaded domains.
    pub max_skew: i32,
    /// The topology key (zone, hostname or capacity type).
    pub topology_key: String,
    /// Hard or soft.
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// The pods counted.
    pub label_selector: LabelSelector,
}

/// A pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodAffinityTerm {
    /// The pods the term is about.
    pub label_selector: LabelSelector,
    /// Their namespaces; empty means the pod's own namespace.
    pub namespaces: Vec<String>,
    /// The topology key (zone or hostname).
    pub topology_key: String,
}

/// Required and preferred (anti-)affinity terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodAffinityTerms {
    /// Terms that must hold.
    pub required: Vec<PodAffinityTerm>,
    /// Terms that should hold, with their weights.
    pub preferred: Vec<(i32, PodAffinityTerm)>,
}

impl Pod {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the pod tolerates `taint`.
    pub fn tolerates(&self, taint: &crate::taints::Taint) -> bool {
        self.tolerations
            .iter()
            .any(|toleration: &Toleration| toleration.tolerates(taint))
    }
}
