//! Emptiness: a node with no pods but DaemonSet pods, and none planned onto it, is removed once
//! it has been empty for its NodePool's `consolidateAfter` (never when that is `Never`), as many
//! at a time as the pool's disruption budgets allow. A Spot replacement waiting for the
//! fallback node it returns to Spot is not empty; a node annotated `karpenter.sh/do-not-disrupt`
//! is kept.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::action::Action;
use crate::disruption::DisruptionMethod;
use crate::disruption_budgets::{BudgetReason, DisruptionPass};
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason};

/// Emptiness as a disruption method.
#[derive(Debug, Default)]
pub struct Emptiness;

impl DisruptionMethod for Emptiness {
    fn disrupt(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        _settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        disrupt(pass, state, now)
    }
}

/// Decides which empty nodes to remove, alone in a disruption pass; returns when the next one
/// becomes eligible.
pub fn reconcile(state: &ClusterState, now: Duration) -> (Vec<Action>, Option<Duration>) {
    disrupt(&mut DisruptionPass::new(state, now), state, now)
}

/// Decides which empty nodes to remove within the pass's budgets.
fn disrupt(
    pass: &mut DisruptionPass,
    state: &ClusterState,
    now: Duration,
) -> (Vec<Action>, Option<Duration>) {
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
    for claim in state.node_claims.values() {
        if claim.deletion.is_some() || !claim.initialized {
            continue;
        }
        let Some(node) = claim.node.as_ref().and_then(|node| state.nodes.get(node)) else {
            continue;
        };
        if nominated.contains(claim.name.as_str())
            || pass.is_taken(&claim.name)
            || node.workload_pods() > 0
            || node.do_not_disrupt
            || state.reserved_for(claim).is_some()
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
    if candidates.is_empty() {
        return (actions, wake_at);
    }
    for (pool_name, mut empty) in candidates {
        let Some(pool) = state.node_pool(pool_name) else {
            continue;
        };
        let room = pass.room(pool, BudgetReason::Empty) as usize;
        empty.sort();
        for (_, claim) in empty.into_iter().take(room) {
            if !pass.take(pool_name, claim) {
                continue;
            }
            actions.push(Action::DeleteNodeClaim {
                node_claim: claim.to_string(),
                reason: DisruptionReason::Empty,
                deadline: None,
            });
        }
    }
    (actions, wake_at)
}
