//! NodePool disruption budgets as Karpenter counts them: a pool's nodes are its initialized
//! nodes whose instance is not terminating yet, and every one of them that is NotReady or being
//! deleted (for any reason) uses the budget. The disruption controllers (emptiness, return to
//! Spot) ask how many more nodes a pool may disrupt now for their reason.

use std::collections::BTreeMap;

use spotter_core::node_pool::NodePool;

use crate::state::ClusterState;

/// A pool's nodes as its budgets count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolDisruptions {
    /// Initialized nodes whose instance is not terminating.
    pub total: u32,
    /// Those of them NotReady or being deleted.
    pub disrupting: u32,
}

/// Every pool's counts, by pool name.
pub fn pool_disruptions(state: &ClusterState) -> BTreeMap<&str, PoolDisruptions> {
    let mut pools: BTreeMap<&str, PoolDisruptions> = BTreeMap::new();
    for claim in state.node_claims.values() {
        let instance_terminating = claim
            .deletion
            .as_ref()
            .is_some_and(|deletion| deletion.instance_terminating);
        if !claim.initialized || instance_terminating {
            continue;
        }
        let Some(node) = claim.node.as_ref().and_then(|node| state.nodes.get(node)) else {
            continue;
        };
        let entry = pools.entry(claim.node_pool.as_str()).or_default();
        entry.total += 1;
        if claim.deletion.is_some() || !node.ready {
            entry.disrupting += 1;
        }
    }
    pools
}

/// How many more of the pool's nodes may be disrupted now for `reason` (Karpenter's budget
/// reason names: `Empty`, `Underutilized`, `Drifted`): the most restrictive budget that covers
/// the reason, less the nodes already disrupting.
pub fn room(pool: &NodePool, reason: &str, counts: PoolDisruptions) -> u32 {
    let allowed = pool
        .disruption
        .budgets
        .iter()
        .filter(|budget| {
            budget.reasons.is_empty() || budget.reasons.iter().any(|covered| covered == reason)
        })
        .map(|budget| budget.nodes.allowed(counts.total))
        .min()
        .unwrap_or(u32::MAX);
    allowed.saturating_sub(counts.disrupting)
}
