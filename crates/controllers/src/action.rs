//! The decisions controllers return. A driver applies them in order; a test compares them.

use std::time::Duration;

use spotter_cloud::{OfferingKey, OfferingRequest};
use spotter_core::requirements::Requirements;
use spotter_core::taints::Taint;
use spotter_core::unavailable_offerings::{AvoidLevel, UnavailableReason};

use crate::state::{DisruptionReason, ReturnToSpotRecord};

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create a NodeClaim for these pods (which become nominated to it).
    CreateNodeClaim(NodeClaimRequest),
    /// Record that the provisioner planned a pod onto an existing or in-flight NodeClaim.
    Nominate {
        /// The pod.
        pod: String,
        /// The NodeClaim.
        node_claim: String,
    },
    /// Launch the NodeClaim's instance through the CloudProvider.
    LaunchNodeClaim {
        /// The NodeClaim.
        node_claim: String,
        /// The offerings to try, in order (the first with capacity wins).
        offerings: Vec<OfferingRequest>,
    },
    /// Put an offering in the unavailable-offerings cache or, with `wider`, avoid its family
    /// in its zone or its whole zone for its capacity type (softer: taken last).
    MarkUnavailable {
        /// The offering (for `wider`: the one whose interruption decided it).
        offering: OfferingKey,
        /// Until when.
        until: Duration,
        /// Why.
        reason: UnavailableReason,
        /// `None`: the offering only.
        wider: Option<AvoidLevel>,
    },
    /// Start deleting a NodeClaim: its node is tainted, cordoned and drained, then its instance
    /// terminated.
    DeleteNodeClaim {
        /// The NodeClaim.
        node_claim: String,
        /// Why.
        reason: DisruptionReason,
        /// When the instance goes away regardless, if known.
        deadline: Option<Duration>,
    },
    /// Forget a NodeClaim (and its node) whose instance never existed or is gone.
    RemoveNodeClaim {
        /// The NodeClaim.
        node_claim: String,
    },
    /// Add a taint to a node.
    TaintNode {
        /// The node.
        node: String,
        /// The taint.
        taint: Taint,
    },
    /// Cordon a node.
    CordonNode {
        /// The node.
        node: String,
    },
    /// Evict a pod through the eviction API (its PodDisruptionBudgets allowed it).
    EvictPod {
        /// The pod.
        pod: String,
    },
    /// Delete a pod outright, PodDisruptionBudgets notwithstanding.
    DeletePod {
        /// The pod.
        pod: String,
        /// Why.
        reason: String,
    },
    /// Terminate a NodeClaim's instance.
    TerminateInstance {
        /// The NodeClaim.
        node_claim: String,
    },
    /// Write a NodePool's return-to-Spot history (on the NodePool, as `spotter.dev/`
    /// annotations, so that the hysteresis survives a restart).
    RecordReturnToSpot {
        /// The NodePool.
        node_pool: String,
        /// Its history now.
        record: ReturnToSpotRecord,
    },
    /// A pod the provisioner cannot place, and why.
    PodUnschedulable {
        /// The pod.
        pod: String,
        /// Why.
        reason: String,
    },
}

/// A NodeClaim to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeClaimRequest {
    /// Its name.
    pub name: String,
    /// Its NodePool.
    pub node_pool: String,
    /// What the node must satisfy.
    pub requirements: Requirements,
    /// Candidate instance types, cheapest first.
    pub instance_types: Vec<String>,
    /// The pods it is for.
    pub pods: Vec<String>,
    /// Whether it is on-demand capacity standing in for unavailable Spot.
    pub fallback: bool,
    /// The fallback NodeClaim it is the Spot replacement for (its pods stay where they are
    /// until it is initialized).
    pub replaces: Option<String>,
}
