//! The cluster as the controllers see it: NodePools, instance types, NodeClaims, nodes, pods,
//! PodDisruptionBudgets, the unavailable-offerings cache and the interruption notices
//! received. A driver keeps it up to date (from a simulation or from kube-rs reflectors); the
//! controllers only read it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use spotter_cloud::{Instance, NodeClassDrift, OfferingKey};
use spotter_core::instance_type::InstanceType;
use spotter_core::interruption_history::InterruptionHistory;
use spotter_core::labels;
use spotter_core::node::Node;
use spotter_core::node_pool::NodePool;
use spotter_core::placement_scores::PlacementScores;
use spotter_core::pod::Pod;
use spotter_core::requirements::Requirements;
use spotter_core::resources::Resources;
use spotter_core::taints::Taint;
use spotter_core::unavailable_offerings::UnavailableOfferings;

use crate::pod_disruption_budget::PodDisruptionBudget;

/// Everything the controllers read.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// NodePools.
    pub node_pools: Vec<NodePool>,
    /// The region's instance types.
    pub instance_types: Arc<Vec<InstanceType>>,
    /// One pod per DaemonSet.
    pub daemon_set_pods: Vec<Pod>,
    /// NodeClaims by name.
    pub node_claims: BTreeMap<String, NodeClaim>,
    /// Nodes by name.
    pub nodes: BTreeMap<String, NodeState>,
    /// Pods by `namespace/name`, pending and bound. Add and remove them with
    /// [`ClusterState::insert_pod`] and [`ClusterState::remove_pod`], and call
    /// [`ClusterState::pod_bound`] when one gets a node, so that `pending` stays right.
    pub pods: BTreeMap<String, PodState>,
    /// The keys of the pods without a node: an index over `pods`, so that controllers find
    /// the pending pods without visiting every pod.
    pub pending: BTreeSet<String>,
    /// PodDisruptionBudgets.
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// Offerings known to have no capacity (or avoided), with their expiry and failure history.
    /// The driver records the cloud's insufficient-capacity answers and launch successes in it
    /// as they come (as Karpenter's cloud provider does); controllers add the rest by action.
    pub unavailable_offerings: UnavailableOfferings,
    /// The Spot interruptions received lately, with their offerings and NodePools (recorded
    /// by the driver with each notice).
    pub interruption_history: InterruptionHistory,
    /// The cloud's up-front Spot placement scores per zone, as the driver last observed them
    /// (empty: none known).
    pub placement_scores: PlacementScores,
    /// Interruption notices received (from the queue or a node agent), oldest first.
    pub interruption_notices: Vec<InterruptionNotice>,
    /// Each NodePool's return-to-Spot history (kept on the NodePool object as `spotter.dev/`
    /// annotations, so that the hysteresis survives a restart).
    pub return_to_spot: BTreeMap<String, ReturnToSpotRecord>,
    /// Bumped whenever capacity may have appeared (a node or NodeClaim went away, an
    /// unavailable offering expired, a NodePool changed), so that pods the solver could not
    /// place are tried again.
    pub capacity_generation: u64,
    /// When entries of the unavailable-offerings cache expire (the reconcile loop expires them
    /// and looks again then).
    pub unavailable_expiries: BTreeSet<Duration>,
    /// The NodePools that are not Ready (the driver found their node class missing or not
    /// ready). They keep their NodeClaims, which every disruption method still sees, but no
    /// NodeClaim is created from them, as Karpenter's provisioner ignores a NodePool that is
    /// not Ready. Set it with [`ClusterState::set_node_pools_not_ready`]; the simulator's
    /// pools are always ready.
    pub node_pools_not_ready: BTreeSet<String>,
    /// The NodeClaims whose instance no longer matches its node class, as the cloud last
    /// answered (see [`crate::drift`]); the driver replaces the whole map with each answer.
    pub node_class_drift: BTreeMap<String, NodeClassDrift>,
    /// Each node class's hash of its static fields now (see [`crate::drift`]), by name; the
    /// driver reports each class with [`ClusterState::node_class_applied`].
    pub node_class_hashes: BTreeMap<String, String>,
}

/// A NodePool's return-to-Spot history: what the hysteresis needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReturnToSpotRecord {
    /// When the pool last sent a probe (a Spot replacement while Spot was not proven back);
    /// annotation `spotter.dev/last-return-probe`.
    pub last_probe: Option<Duration>,
    /// When the pool last drained a fallback node for a return; annotation
    /// `spotter.dev/last-return-to-spot`.
    pub last_return: Option<Duration>,
}

/// A NodeClaim: a request for one node, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeClaim {
    /// The name (also the launch's idempotency token).
    pub name: String,
    /// The NodePool.
    pub node_pool: String,
    /// What the node must satisfy.
    pub requirements: Requirements,
    /// Candidate instance types, cheapest first.
    pub instance_types: Vec<String>,
    /// When it was created.
    pub created_at: Duration,
    /// Where its launch stands.
    pub launch: LaunchState,
    /// The node that registered for it.
    pub node: Option<String>,
    /// Whether its node is Ready with startup taints gone.
    pub initialized: bool,
    /// Set once the claim is being deleted.
    pub deletion: Option<Deletion>,
    /// Launched on-demand where the pods would have taken Spot.
    pub fallback: bool,
    /// The fallback NodeClaim this one is the Spot replacement for (a return to Spot).
    pub replaces: Option<String>,
    /// Its NodePool's template hash when it was created (Karpenter's
    /// `karpenter.sh/nodepool-hash` annotation, see [`crate::drift`]); `None` when unknown.
    pub node_pool_hash: Option<String>,
    /// Its node class's static hash when it was created (the
    /// `karpenter.k8s.aws/ec2nodeclass-hash` annotation, see [`crate::drift`]); `None` when
    /// unknown.
    pub node_class_hash: Option<String>,
}

/// The launch of a NodeClaim.
#[derive(Clone, Debug, PartialEq)]
pub enum LaunchState {
    /// Not attempted yet.
    NotLaunched,
    /// The cloud call is in flight (asked at `since`): it is not asked again while it lasts.
    Launching {
        /// When the launch was asked for.
        since: Duration,
    },
    /// The last attempt failed for a reason that may pass (throttling, a timeout, a
    /// permission the user may grant): tried again at `retry_at`, until the launch timeout.
    Retrying {
        /// When to try again.
        retry_at: Duration,
        /// Attempts so far.
        attempts: u32,
        /// The last error, for events and logs.
        error: String,
    },
    /// The cloud had no capacity for any of these offerings.
    InsufficientCapacity {
        /// The offerings that failed.
        offerings: Vec<OfferingKey>,
    },
    /// An instance exists.
    Launched {
        /// The instance.
        instance: Instance,
        /// Offerings that failed before this one succeeded.
        unavailable: Vec<OfferingKey>,
    },
}

/// Why and since when a NodeClaim is being deleted.
#[derive(Clone, Debug, PartialEq)]
pub struct Deletion {
    /// Why.
    pub reason: DisruptionReason,
    /// Since when.
    pub requested_at: Duration,
    /// When the instance goes away regardless (a Spot interruption's termination time).
    pub deadline: Option<Duration>,
    /// Whether the instance was asked to terminate.
    pub instance_terminating: bool,
    /// Whether the instance is gone.
    pub instance_terminated: bool,
}

/// Why a NodeClaim is deleted (Karpenter's `karpenter_nodeclaims_disrupted_total` reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisruptionReason {
    /// The node was empty for the pool's `consolidateAfter`.
    Empty,
    /// The launch answered insufficient capacity.
    InsufficientCapacity,
    /// The launch took too long.
    LaunchTimeout,
    /// The node did not register in time.
    RegistrationTimeout,
    /// EC2 is reclaiming the Spot instance.
    SpotInterrupted,
    /// The instance is stopping or terminated outside Spotter.
    InstanceStopped,
    /// AWS Health scheduled a change.
    ScheduledChange,
    /// EC2 recommended rebalancing the Spot instance, and it was replaced ahead of its
    /// interruption ([`crate::settings::Settings::rebalance_replacement`]).
    RebalanceRecommended,
    /// A fallback node replaced by Spot capacity once Spot was available again.
    ReturnToSpot,
    /// Consolidation: the node's pods fit on other nodes (deleted) or on one cheaper node
    /// (replaced).
    Underutilized,
    /// The node no longer matches its NodePool or node class (replaced).
    Drifted,
    /// The node outlived its NodePool's `expireAfter` (forceful, not budgeted).
    Expired,
    /// Someone deleted the NodeClaim or its Node (`kubectl delete`): Karpenter drains and
    /// terminates it like any other disruption.
    Deleted,
}

/// A node and the pods bound to it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeState {
    /// The name.
    pub name: String,
    /// The NodeClaim it registered for.
    pub node_claim: String,
    /// Labels.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable resources.
    pub allocatable: Resources,
    /// Cordoned.
    pub unschedulable: bool,
    /// Ready.
    pub ready: bool,
    /// Pods bound to it by `namespace/name`, DaemonSet pods included; change them with
    /// [`NodeState::bind`] and [`NodeState::unbind`].
    pub pods: BTreeMap<String, Arc<Pod>>,
    /// How many of `pods` are not DaemonSet pods.
    workload_pods: usize,
    /// The last time a pod was bound to or left the node.
    pub last_pod_event: Duration,
    /// Annotated `karpenter.sh/do-not-disrupt: "true"` (from its NodePool's template
    /// annotations, or by hand): no graceful disruption method takes it.
    pub do_not_disrupt: bool,
}

/// A pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodState {
    /// The pod.
    pub pod: Arc<Pod>,
    /// The node it is bound to.
    pub node: Option<String>,
    /// The NodeClaim the provisioner planned it onto.
    pub nominated: Option<String>,
    /// When it was created.
    pub created_at: Duration,
    /// Whether it belongs to a DaemonSet (never evicted, never provisioned for).
    pub daemon: bool,
    /// Set when its NodeClaim failed to launch: solve it again at once.
    pub retry_now: bool,
    /// Marked for deletion (evicted or deleted) while still on its node: it stays there until
    /// it is gone, but it is leaving, so the provisioner plans no capacity for it (Karpenter's
    /// `IsReschedulable` skips terminating pods too, except a StatefulSet's, whose successor
    /// is created only once it is gone; Spotter's pods do not record their owner's kind, so
    /// it treats those like the others); the pod its owner creates instead takes its place.
    /// Only the Kubernetes driver sets it (the simulator's evicted pods come back).
    pub terminating: bool,
}

/// An interruption notice about an instance.
#[derive(Clone, Debug, PartialEq)]
pub struct InterruptionNotice {
    /// The instance.
    pub instance_id: String,
    /// What EC2 announced.
    pub kind: NoticeKind,
    /// When it arrived.
    pub received_at: Duration,
}

/// The kinds of interruption notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoticeKind {
    /// EC2 Spot Instance Interruption Warning: the instance goes at `terminate_at`.
    SpotInterruption {
        /// When EC2 reclaims the instance.
        terminate_at: Duration,
    },
    /// EC2 Instance Rebalance Recommendation.
    RebalanceRecommendation,
    /// The instance is stopping, stopped, shutting down or terminated.
    StateChange,
    /// AWS Health scheduled change.
    ScheduledChange,
}

impl DisruptionReason {
    /// Every reason.
    pub const ALL: [DisruptionReason; 13] = [
        DisruptionReason::Empty,
        DisruptionReason::InsufficientCapacity,
        DisruptionReason::LaunchTimeout,
        DisruptionReason::RegistrationTimeout,
        DisruptionReason::SpotInterrupted,
        DisruptionReason::InstanceStopped,
        DisruptionReason::ScheduledChange,
        DisruptionReason::RebalanceRecommended,
        DisruptionReason::ReturnToSpot,
        DisruptionReason::Underutilized,
        DisruptionReason::Drifted,
        DisruptionReason::Expired,
        DisruptionReason::Deleted,
    ];

    /// The reason whose label value is `text` (see [`DisruptionReason::as_str`]).
    pub fn from_label(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }

    /// The label value Karpenter uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DisruptionReason::Empty => "empty",
            DisruptionReason::InsufficientCapacity => "insufficient_capacity",
            DisruptionReason::LaunchTimeout => "launch_timeout",
            DisruptionReason::RegistrationTimeout => "registration_timeout",
            DisruptionReason::SpotInterrupted => "spot_interrupted",
            DisruptionReason::InstanceStopped => "instance_stopped",
            DisruptionReason::ScheduledChange => "scheduled_change",
            DisruptionReason::RebalanceRecommended => "rebalance_recommended",
            DisruptionReason::ReturnToSpot => "return_to_spot",
            DisruptionReason::Underutilized => "underutilized",
            DisruptionReason::Drifted => "drifted",
            DisruptionReason::Expired => "expired",
            DisruptionReason::Deleted => "deleted",
        }
    }
}

impl NodeClaim {
    /// The instance, once launched.
    pub fn instance(&self) -> Option<&Instance> {
        match &self.launch {
            LaunchState::Launched { instance, .. } => Some(instance),
            _ => None,
        }
    }
}

impl NodeState {
    /// A node with no pods, not Ready, not cordoned.
    pub fn new(
        name: String,
        node_claim: String,
        labels: BTreeMap<String, String>,
        taints: Vec<Taint>,
        allocatable: Resources,
        now: Duration,
    ) -> Self {
        Self {
            name,
            node_claim,
            labels: Arc::new(labels),
            taints,
            allocatable,
            unschedulable: false,
            ready: false,
            pods: BTreeMap::new(),
            workload_pods: 0,
            last_pod_event: now,
            do_not_disrupt: false,
        }
    }

    /// Binds a pod.
    pub fn bind(&mut self, key: String, pod: Arc<Pod>, daemon: bool, now: Duration) {
        if self.pods.insert(key, pod).is_none() && !daemon {
            self.workload_pods += 1;
        }
        self.last_pod_event = now;
    }

    /// Unbinds a pod; returns whether it was bound.
    pub fn unbind(&mut self, key: &str, daemon: bool, now: Duration) -> bool {
        let removed = self.pods.remove(key).is_some();
        if removed && !daemon {
            self.workload_pods -= 1;
        }
        self.last_pod_event = now;
        removed
    }

    /// How many bound pods are not DaemonSet pods.
    pub fn workload_pods(&self) -> usize {
        self.workload_pods
    }

    /// The sum of the requests of the bound pods.
    pub fn requested(&self) -> Resources {
        let mut requested = Resources::new();
        for pod in self.pods.values() {
            requested.add(&pod.requests);
        }
        requested
    }
}

impl PodState {}

impl ClusterState {
    /// Adds (or replaces) a pod.
    pub fn insert_pod(&mut self, key: String, pod: PodState) {
        if pod.node.is_none() {
            self.pending.insert(key.clone());
        } else {
            self.pending.remove(&key);
        }
        self.pods.insert(key, pod);
    }

    /// Removes a pod.
    pub fn remove_pod(&mut self, key: &str) -> Option<PodState> {
        self.pending.remove(key);
        self.pods.remove(key)
    }

    /// Records that a pod was bound to a node (its `node` already set).
    pub fn pod_bound(&mut self, key: &str) {
        self.pending.remove(key);
    }

    /// The pods without a node.
    pub fn pending_pods(&self) -> impl Iterator<Item = (&String, &PodState)> {
        self.pending
            .iter()
            .filter_map(|key| self.pods.get_key_value(key))
    }

    /// The NodePools new NodeClaims may come from: all but those not Ready.
    pub fn launchable_node_pools(&self) -> Cow<'_, [NodePool]> {
        if self.node_pools_not_ready.is_empty() {
            return Cow::Borrowed(&self.node_pools);
        }
        Cow::Owned(
            self.node_pools
                .iter()
                .filter(|pool| !self.node_pools_not_ready.contains(&pool.name))
                .cloned()
                .collect(),
        )
    }

    /// Records which NodePools are not Ready; when a pool becomes ready again, the pods the
    /// solver could not place are tried again.
    pub fn set_node_pools_not_ready(&mut self, not_ready: BTreeSet<String>) {
        if not_ready != self.node_pools_not_ready {
            if self
                .node_pools_not_ready
                .iter()
                .any(|pool| !not_ready.contains(pool))
            {
                self.capacity_generation += 1;
            }
            self.node_pools_not_ready = not_ready;
        }
    }

    /// The NodePool with this name.
    pub fn node_pool(&self, name: &str) -> Option<&NodePool> {
        self.node_pools.iter().find(|pool| pool.name == name)
    }

    /// The instance type with this name (a binary search when `instance_types` is sorted by
    /// name, as the catalog's are).
    pub fn instance_type(&self, name: &str) -> Option<&InstanceType> {
        match self
            .instance_types
            .binary_search_by(|instance_type| instance_type.name.as_str().cmp(name))
        {
            Ok(index) => Some(&self.instance_types[index]),
            Err(_) => self
                .instance_types
                .iter()
                .find(|instance_type| instance_type.name == name),
        }
    }

    /// The labels the node of a launched NodeClaim gets: the claim's single-valued requirements
    /// (its NodePool's template labels and `karpenter.sh/nodepool` among them), its instance
    /// type's, the zone and capacity type it launched as, and `kubernetes.io/hostname`.
    pub fn node_labels(
        &self,
        claim: &NodeClaim,
        hostname: &str,
    ) -> Option<BTreeMap<String, String>> {
        let instance = claim.instance()?;
        let instance_type = self.instance_type(&instance.offering.instance_type)?;
        let mut labels: BTreeMap<String, String> = claim
            .requirements
            .single_values()
            .chain(instance_type.requirements.single_values())
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        labels.insert(labels::ZONE.to_string(), instance.offering.zone.clone());
        labels.insert(
            labels::CAPACITY_TYPE.to_string(),
            instance.offering.capacity_type.as_str().to_string(),
        );
        labels.insert(labels::HOSTNAME.to_string(), hostname.to_string());
        Some(labels)
    }

    /// Whether a fallback NodeClaim's pods may all be moved voluntarily (none is annotated
    /// `karpenter.sh/do-not-disrupt`).
    pub fn disruptable(&self, claim: &NodeClaim) -> bool {
        claim.node.as_deref().is_none_or(|node| {
            self.workload_pods_on(node)
                .all(|(_, pod)| !pod.pod.do_not_disrupt)
        })
    }

    /// The fallback NodeClaim a claim is holding its capacity for: a Spot replacement whose
    /// fallback claim still exists, is not being deleted and may be moved. Such a replacement
    /// takes no other pods and is not empty in the disruption controllers' eyes.
    pub fn reserved_for<'a>(&'a self, claim: &NodeClaim) -> Option<&'a NodeClaim> {
        let fallback = self.node_claims.get(claim.replaces.as_deref()?)?;
        (fallback.deletion.is_none() && self.disruptable(fallback)).then_some(fallback)
    }

    /// The NodeClaim of a node, if the node has one.
    pub fn claim_of_node(&self, node: &str) -> Option<&NodeClaim> {
        self.nodes
            .get(node)
            .and_then(|node| self.node_claims.get(&node.node_claim))
    }

    /// Whether the node's NodeClaim is being deleted.
    pub fn node_is_deleting(&self, node: &str) -> bool {
        self.claim_of_node(node)
            .is_some_and(|claim| claim.deletion.is_some())
    }

    /// The pods bound to a node that are not DaemonSet pods.
    pub fn workload_pods_on(&self, node: &str) -> impl Iterator<Item = (&String, &PodState)> {
        self.nodes
            .get(node)
            .into_iter()
            .flat_map(|node| node.pods.keys())
            .filter_map(|key| self.pods.get_key_value(key))
            .filter(|(_, pod)| !pod.daemon)
    }

    /// A node as the solver sees it, with `extra` pods (nominated ones) counted as bound.
    pub fn solver_node(&self, node: &NodeState, extra: impl Iterator<Item = Arc<Pod>>) -> Node {
        Node {
            name: node.name.clone(),
            labels: node.labels.clone(),
            taints: node.taints.clone(),
            allocatable: node.allocatable.clone(),
            unschedulable: node.unschedulable,
            pods: node.pods.values().cloned().chain(extra).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disruption_reason_is_listed_once_and_read_back_from_its_label() {
        for reason in DisruptionReason::ALL {
            // A new variant fails to compile here: list it in this match and in `ALL`.
            match reason {
                DisruptionReason::Empty
                | DisruptionReason::InsufficientCapacity
                | DisruptionReason::LaunchTimeout
                | DisruptionReason::RegistrationTimeout
                | DisruptionReason::SpotInterrupted
                | DisruptionReason::InstanceStopped
                | DisruptionReason::ScheduledChange
                | DisruptionReason::RebalanceRecommended
                | DisruptionReason::ReturnToSpot
                | DisruptionReason::Underutilized
                | DisruptionReason::Drifted
                | DisruptionReason::Expired
                | DisruptionReason::Deleted => {}
            }
            assert_eq!(DisruptionReason::from_label(reason.as_str()), Some(reason));
        }
        let labels: BTreeSet<&str> = DisruptionReason::ALL
            .iter()
            .map(|reason| reason.as_str())
            .collect();
        assert_eq!(labels.len(), DisruptionReason::ALL.len());
        assert_eq!(DisruptionReason::from_label("bored"), None);
    }
}
