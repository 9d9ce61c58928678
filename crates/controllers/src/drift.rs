//! Drift detection, as Karpenter v1 decides it: a NodeClaim has drifted when the hash of its
//! NodePool's template recorded at its creation (`karpenter.sh/nodepool-hash`, hash version
//! [`NODE_POOL_HASH_VERSION`]) differs from the pool's hash now, or when its node's labels no
//! longer satisfy the pool's requirements. The hash covers the template's labels,
//! annotations, taints, startup taints, node class, `expireAfter` and
//! `terminationGracePeriod`; requirements are checked on their own, and `weight`, `limits`
//! and `disruption.*` never cause drift. Then, as Karpenter's AWS provider checks its node
//! class: first the hash of the node class's static fields recorded at the claim's creation
//! (`karpenter.k8s.aws/ec2nodeclass-hash`, see `spotter_api::node_class_version`) against the
//! class's hash now ([`ClusterState::node_class_hashes`]), then whether its instance still
//! matches what the class's selectors resolve to (AMI, subnet or security groups:
//! [`NodeClassDrift`]), which the driver asks the cloud now and then and records in
//! [`ClusterState::node_class_drift`].
//!
//! Drifted nodes are replaced by the [`crate::consolidation`] method of scope
//! [`crate::consolidation::Scope::Drift`], within the pools' `Drifted` budgets.

use std::fmt::Write;

use spotter_cloud::NodeClassDrift;
use spotter_core::node_pool::NodePool;
use spotter_core::stable_hash;

use crate::state::{ClusterState, NodeClaim};

/// The NodeClaim annotation with its NodePool's template hash.
pub const NODE_POOL_HASH_ANNOTATION: &str = "karpenter.sh/nodepool-hash";
/// The annotation with the version of the hash; a claim of another version is not compared.
pub const NODE_POOL_HASH_VERSION_ANNOTATION: &str = "karpenter.sh/nodepool-hash-version";
/// The hash version Spotter writes (Karpenter v1's is `v3`; the hash functions differ, so a
/// claim hashed by Karpenter is re-hashed rather than compared).
pub const NODE_POOL_HASH_VERSION: &str = "spotter-v1";
/// The NodeClaim annotation with the hash of its node class's static fields.
pub const NODE_CLASS_HASH_ANNOTATION: &str = "karpenter.k8s.aws/ec2nodeclass-hash";
/// The annotation with the version of that hash; a claim of another version is not compared.
pub const NODE_CLASS_HASH_VERSION_ANNOTATION: &str = "karpenter.k8s.aws/ec2nodeclass-hash-version";
/// The node class hash version Spotter writes (Karpenter's hash function is another, so a
/// claim Karpenter made is not compared).
pub const NODE_CLASS_HASH_VERSION: &str = "spotter-v1";

/// Why a NodeClaim drifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Its NodePool's template changed since it was created.
    NodePoolTemplate,
    /// Its node's labels no longer satisfy its NodePool's requirements.
    Requirements,
    /// A static field of its node class (user data, tags, role, kubelet settings, block
    /// devices, ...) changed since it was created.
    NodeClassStatic,
    /// Its instance no longer matches what its node class's selectors resolve to.
    NodeClass(NodeClassDrift),
}

impl Drift {
    /// The reason of the NodeClaim's `Drifted` condition, as Karpenter writes it.
    pub fn reason(self) -> &'static str {
        match self {
            Drift::NodePoolTemplate => "NodePoolDrifted",
            Drift::Requirements => "RequirementsDrifted",
            Drift::NodeClassStatic => "NodeClassDrift",
            Drift::NodeClass(drift) => drift.reason(),
        }
    }
}

/// The hash of a NodePool's template, as a NodeClaim records it (16 hex digits).
pub fn node_pool_hash(pool: &NodePool) -> String {
    let mut canonical = String::new();
    for (key, value) in &pool.labels {
        let _ = write!(canonical, "label {key}={value};");
    }
    for (key, value) in &pool.annotations {
        let _ = write!(canonical, "annotation {key}={value};");
    }
    for taint in &pool.taints {
        let _ = write!(
            canonical,
            "taint {}={}:{:?};",
            taint.key, taint.value, taint.effect
        );
    }
    for taint in &pool.startup_taints {
        let _ = write!(
            canonical,
            "startup {}={}:{:?};",
            taint.key, taint.value, taint.effect
        );
    }
    let _ = write!(
        canonical,
        "class {};expire {:?};grace {:?}",
        pool.node_class, pool.expire_after, pool.termination_grace_period
    );
    stable_hash::fnv1a_hex(canonical.as_bytes())
}

/// Whether, and why, the NodeClaim has drifted from its NodePool (`None` when the pool is
/// gone: such a claim is not drifted but orphaned).
pub fn drifted(state: &ClusterState, claim: &NodeClaim) -> Option<Drift> {
    let pool = state.node_pool(&claim.node_pool)?;
    if claim
        .node_pool_hash
        .as_ref()
        .is_some_and(|hash| *hash != node_pool_hash(pool))
    {
        return Some(Drift::NodePoolTemplate);
    }
    let node = claim.node.as_ref().and_then(|node| state.nodes.get(node))?;
    let unsatisfied = pool.requirements.iter().any(|(key, requirement)| {
        node.labels
            .get(key)
            .is_some_and(|value| !requirement.has(value))
    });
    if unsatisfied {
        return Some(Drift::Requirements);
    }
    if claim.node_class_hash.as_ref().is_some_and(|hash| {
        state
            .node_class_hashes
            .get(&pool.node_class)
            .is_some_and(|current| current != hash)
    }) {
        return Some(Drift::NodeClassStatic);
    }
    state
        .node_class_drift
        .get(&claim.name)
        .map(|drift| Drift::NodeClass(*drift))
}
