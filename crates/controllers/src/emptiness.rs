//! Emptiness: a node with no pods but DaemonSet pods, and none planned onto it, is removed once
//! it has been empty for its NodePool's `consolidateAfter` (never when that is `Never`), as many
//! at a time as the pool's disruption budgets allow.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::action::Action;
use crate::state::{ClusterState, DisruptionReason};

/// Decides which empty nodes to remove; returns when the next one becomes eligible.
pub fn reconcile(state: &ClusterState, now: Duration) -> (Vec<Action>, Option<Duration>) {
    // Most of the time no node has been empty for long enough: find that out without a lookup
    // per NodeClaim, with the shortest consolidateAfter of any pool.
    let Some(shortest) = state
        .node_pools
        .iter()
        .filter_map(|pool| pool.disruption.consolidate_after)
        .min()
    else {
        return (Vec::new(), None);
    };
    let earliest = state
        .nodes
        .values()
        .filter(|node| node.ready && node.workload_pods() == 0)
        .map(|node| node.last_pod_event + shortest)
        .min();
    match earliest {
        None => return (Vec::new(), None),
        Some(earliest) if earliest > now => return (Vec::new(), Some(earliest)),
        Some(_) => {}
    }
    let mut actions = Vec::new();
    let mut wake_at: Option<Duration> = None;
    // Claims pods are planned onto: pending pods, and pods draining from nodes being deleted.
    let draining = state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_some())
        .filter_map(|claim| claim.node.as_ref().and_then(|node| state.nodes.get(node)))
        .flat_map(|node| node.pods.keys())
        .filter_map(|key| state.pods.get(key));
    let nominated: std::collections::BTreeSet<&str> = state
        .pending_pods()
        .map(|(_, pod)| pod)
        .chain(draining)
        .filter_map(|pod| pod.nominated.as_deref())
        .collect();
    let mut candidates: BTreeMap<&str, Vec<(Duration, &str)>> = BTreeMap::new();
    let mut totals: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for claim in state.node_claims.values() {
        let node = claim.node.as_ref().and_then(|node| state.nodes.get(node));
        // As Karpenter: budgets count a pool's initialized nodes whose instance is not
        // terminating yet, and every one of them NotReady or being deleted (for any reason)
        // uses the budget.
        let instance_terminating = claim
            .deletion
            .as_ref()
            .is_some_and(|deletion| deletion.instance_terminating);
        if let Some(node) = node.filter(|_| claim.initialized && !instance_terminating) {
            let entry = totals.entry(claim.node_pool.as_str()).or_default();
            entry.0 += 1;
            if claim.deletion.is_some() || !node.ready {
                entry.1 += 1;
            }
        }
        if claim.deletion.is_some() {
            continue;
        }
        let Some(node) = node else {
            continue;
        };
        if !claim.initialized || nominated.contains(claim.name.as_str()) || node.workload_pods() > 0
        {
            continue;
        }
        let Some(consolidate_after) = state
            .node_pool(&claim.node_pool)
            .and_then(|pool| pool.disruption.consolidate_after)
        else {
            continue;
        };
        let eligible_at = node.last_pod_event + consolidate_after;
        if eligible_at <= now {
            candidates
                .entry(claim.node_pool.as_str())
                .or_default()
                .push((node.last_pod_event, claim.name.as_str()));
        } else {
            wake_at = Some(wake_at.map_or(eligible_at, |current| current.min(eligible_at)));
        }
    }
    for (pool_name, mut empty) in candidates {
        let Some(pool) = state.node_pool(pool_name) else {
            continue;
        };
        let (total, disrupting) = totals.get(pool_name).copied().unwrap_or_default();
        let allowed = pool
            .disruption
            .budgets
            .iter()
            .filter(|budget| {
                budget.reasons.is_empty() || budget.reasons.iter().any(|reason| reason == "Empty")
            })
            .map(|budget| budget.nodes.allowed(total))
            .min()
            .unwrap_or(u32::MAX);
        let room = allowed.saturating_sub(disrupting) as usize;
        empty.sort();
        for (_, claim) in empty.into_iter().take(room) {
            actions.push(Action::DeleteNodeClaim {
                node_claim: claim.to_string(),
                reason: DisruptionReason::Empty,
                deadline: None,
            });
        }
    }
    (actions, wake_at)
}
