//! What a NodePool's instances hold: the summed capacity of its NodeClaims' instances that
//! exist (launched and not terminated yet, deleting ones included, as Karpenter counts them
//! for `status.resources` and limits), and how many there are. The metrics'
//! `karpenter_nodepools_usage` and the kube driver's NodePool `status.resources` both read it.

use spotter_cloud::Instance;
use spotter_core::resources::Resources;

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

/// A NodeClaim's instance while it exists: launched and not terminated yet.
pub fn running_instance(claim: &NodeClaim) -> Option<&Instance> {
    claim.instance().filter(|_| {
        !claim
            .deletion
            .as_ref()
            .is_some_and(|deletion| deletion.instance_terminated)
    })
}
