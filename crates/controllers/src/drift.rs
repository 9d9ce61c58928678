//! Drift detection, as Karpenter v1 decides it: a NodeClaim has drifted when the hash of its
//! NodePool's template recorded at its creation (`karpenter.sh/nodepool-hash`, hash version
//! [`NODE_POOL_HASH_VERSION`]) differs from the pool's hash now, or when its node's labels no
//! longer satisfy the pool's requirements. The hash covers the template's labels,
//! annotations, taints, startup taints, node class, `expireAfter` and
//! `terminationGracePeriod`; requirements are checked on their own, and `weight`, `limits`
//! and `disruption.*` never cause drift. Last, as Karpenter asks its cloud provider after
//! both checks, a claim whose instance no longer matches its node class (AMI, subnet or
//! security groups: [`NodeClassDrift`]) has drifted too; the driver asks the cloud for that
//! now and then and records the answers in [`ClusterState::node_class_drift`].
//!
//! Drifted nodes are replaced by the [`crate::consolidation`] method of scope
//! [`crate::consolidation::Scope::Drift`], within the pools' `Drifted` budgets.

use std::fmt::Write;

use spotter_cloud::NodeClassDrift;
use spotter_core::node_pool::NodePool;

use crate::state::{ClusterState, NodeClaim};

/// The NodeClaim annotation with its NodePool's template hash.
pub const NODE_POOL_HASH_ANNOTATION: &str = "karpenter.sh/nodepool-hash";
/// The annotation with the version of the hash; a claim of another version is not compared.
pub const NODE_POOL_HASH_VERSION_ANNOTATION: &str = "karpenter.sh/nodepool-hash-version";
/// The hash version Spotter writes (Karpenter v1's is `v3`; the hash functions differ, so a
/// claim hashed by Karpenter is re-hashed rather than compared).
pub const NODE_POOL_HASH_VERSION: &str = "spotter-v1";

/// Why a NodeClaim drifted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Its NodePool's template changed since it was created.
    NodePoolTemplate,
    /// Its node's labels no longer satisfy its NodePool's requirements.
    Requirements,
    /// Its instance no longer matches its node class.
    NodeClass(NodeClassDrift),
}

impl Drift {
    /// The reason of the NodeClaim's `Drifted` condition, as Karpenter writes it.
    pub fn reason(self) -> &'static str {
        match self {
            Drift::NodePoolTemplate => "NodePoolDrifted",
            Drift::Requirements => "RequirementsDrifted",
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
    format!("{:016x}", fnv1a(canonical.as_bytes()))
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
    state
        .node_class_drift
        .get(&claim.name)
        .map(|drift| Drift::NodeClass(*drift))
}

/// FNV-1a, 64 bits: stable across builds and platforms, as a persisted hash must be.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
