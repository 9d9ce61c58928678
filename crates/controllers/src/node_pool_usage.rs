//! What a NodePool's instances hold: the summed capacity of its NodeClaims' instances that
//! exist (launched and not terminated yet, deleting ones included, as Karpenter counts them
//! for `status.resources` and limits), and how many there are. The metrics'
//! `karpenter_nodepools_usage` and the kube driver's NodePool `status.resources` both read it,
//! and every controller that plans new capacity (the provisioner, consolidation, drift and
//! rebalance replacements, return to Spot) counts it against the pools' limits
//! ([`limits_usage`]): a new node is launched while the others still run, whether they are
//! full, being deleted or about to be replaced.

use std::collections::BTreeMap;

use spotter_cloud::Instance;
use spotter_core::node_pool::NodePool;
use spotter_core::resources::Resources;
use spotter_core::solver::PoolUsage;

use crate::state::{ClusterState, NodeClaim};

/// A NodePool's instances in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePoolUsage {
    /// The instances' capacity, summed.
    pub resources: Resources,
    /// How many instances.
    pub nodes: i64,
}

/// The usage of the NodePool named `node_pool` (an instance whose type the catalog no longer
/// has counts as a node without capacity).
pub fn node_pool_usage(state: &ClusterState, node_pool: &str) -> NodePoolUsage {
    let mut usage = NodePoolUsage::default();
    for claim in state
        .node_claims
        .values()
        .filter(|claim| claim.node_pool == node_pool)
    {
        let Some(instance) = running_instance(claim) else {
            continue;
        };
        usage.nodes += 1;
        if let Some(instance_type) = state.instance_type(&instance.offering.instance_type) {
            usage.resources.add(&instance_type.capacity);
        }
    }
    usage
}

/// What each of `node_pools` holds against its limits, by pool name, for the solver.
pub fn limits_usage(state: &ClusterState, node_pools: &[NodePool]) -> BTreeMap<String, PoolUsage> {
    node_pools
        .iter()
        .map(|pool| {
            let usage = node_pool_usage(state, &pool.name);
            (
                pool.name.clone(),
                PoolUsage {
                    resources: usage.resources,
                    nodes: usage.nodes,
                },
            )
        })
        .collect()
}

/// A NodeClaim's instance while it exists: launched and not terminated yet.
pub fn running_instance(claim: &NodeClaim) -> Option<&Instance> {
    claim.instance().filter(|_| {
        !claim
            .deletion
            .as_ref()
            .is_some_and(|deletion| deletion.instance_terminated)
    })
}
