//! Termination, finalizer-style: a NodeClaim being deleted gets its node tainted
//! `karpenter.sh/disrupted:NoSchedule` and cordoned, its pods evicted as their
//! PodDisruptionBudgets allow (on an interrupted node, each only once its replacement capacity
//! is launched), the pods still there deleted shortly before an interruption
//! deadline (or after the pool's `terminationGracePeriod`), then its instance terminated, then
//! the claim and node removed.

use std::collections::BTreeMap;
use std::time::Duration;

use spotter_core::taints::{DISRUPTED_TAINT_KEY, Effect, Taint};

use crate::action::Action;
use crate::settings::Settings;
use crate::state::{ClusterState, LaunchState};

/// Decides the termination actions; returns when to look again for a deadline.
pub fn reconcile(
    state: &ClusterState,
    now: Duration,
    settings: &Settings,
) -> (Vec<Action>, Option<Duration>) {
    let mut actions = Vec::new();
    let mut wake_at: Option<Duration> = None;
    // Disruptions each budget still allows in this pass, computed on first use.
    let mut allowances: BTreeMap<usize, u32> = BTreeMap::new();
    for claim in state.node_claims.values() {
        let Some(deletion) = &claim.deletion else {
            continue;
        };
        if deletion.instance_terminated || !matches!(claim.launch, LaunchState::Launched { .. }) {
            actions.push(Action::RemoveNodeClaim {
                node_claim: claim.name.clone(),
            });
            continue;
        }
        let Some(node_name) = &claim.node else {
            if !deletion.instance_terminating {
                actions.push(Action::TerminateInstance {
                    node_claim: claim.name.clone(),
                });
            }
            continue;
        };
        let Some(node) = state.nodes.get(node_name) else {
            continue;
        };
        if !node
            .taints
            .iter()
            .any(|taint| taint.key == DISRUPTED_TAINT_KEY)
        {
            actions.push(Action::TaintNode {
                node: node.name.clone(),
                taint: Taint::new(DISRUPTED_TAINT_KEY, "", Effect::NoSchedule),
            });
        }
        if !node.unschedulable {
            actions.push(Action::CordonNode {
                node: node.name.clone(),
            });
        }
        let grace_ends = state
            .node_pool(&claim.node_pool)
            .and_then(|pool| pool.termination_grace_period)
            .map(|grace| deletion.requested_at + grace);
        let grace_over = grace_ends.is_some_and(|grace_ends| now >= grace_ends);
        let force_at = deletion
            .deadline
            .map(|deadline| deadline.saturating_sub(settings.force_delete_before_deadline));
        let forced = grace_over || force_at.is_some_and(|force_at| now >= force_at);
        let mut remaining = 0;
        for (key, pod) in state.workload_pods_on(&node.name) {
            remaining += 1;
            if forced {
                actions.push(Action::DeletePod {
                    pod: key.clone(),
                    reason: if grace_over {
                        "terminationGracePeriod elapsed".to_string()
                    } else {
                        "the instance is about to be reclaimed".to_string()
                    },
                });
                continue;
            }
            // A node with a deadline (a Spot interruption) keeps each pod until capacity for it
            // is on its way: the replacement is launched before the pod is evicted.
            if deletion.deadline.is_some() && !replacement_on_its_way(state, pod) {
                continue;
            }
            let covering: Vec<usize> = state
                .pod_disruption_budgets
                .iter()
                .enumerate()
                .filter(|(_, budget)| budget.covers(&pod.pod))
                .map(|(index, _)| index)
                .collect();
            let allowed = covering.iter().all(|&index| {
                *allowances.entry(index).or_insert_with(|| {
                    state.pod_disruption_budgets[index]
                        .allowed_disruptions(healthy_pods(state, index))
                }) > 0
            });
            if allowed {
                for index in &covering {
                    if let Some(left) = allowances.get_mut(index) {
                        *left -= 1;
                    }
                }
                actions.push(Action::EvictPod { pod: key.clone() });
            }
        }
        // Look again when pods left would be deleted: before the deadline or when the
        // terminationGracePeriod ends.
        for time in [force_at, grace_ends]
            .into_iter()
            .flatten()
            .filter(|time| *time > now && remaining > 0)
        {
            wake_at = Some(wake_at.map_or(time, |current| current.min(time)));
        }
        if remaining == 0 && !deletion.instance_terminating {
            actions.push(Action::TerminateInstance {
                node_claim: claim.name.clone(),
            });
        }
    }
    (actions, wake_at)
}

/// Pods a budget covers that are bound to a Ready node.
pub(crate) fn healthy_pods(state: &ClusterState, budget: usize) -> u32 {
    let budget = &state.pod_disruption_budgets[budget];
    state
        .pods
        .values()
        .filter(|pod| {
            budget.covers(&pod.pod)
                && pod
                    .node
                    .as_ref()
                    .and_then(|node| state.nodes.get(node))
                    .is_some_and(|node| node.ready)
        })
        .count() as u32
}

/// Whether the provisioner planned the pod onto a node that exists or a NodeClaim that has
/// launched.
fn replacement_on_its_way(state: &ClusterState, pod: &crate::state::PodState) -> bool {
    pod.nominated
        .as_ref()
        .and_then(|claim| state.node_claims.get(claim))
        .is_some_and(|claim| {
            claim.deletion.is_none()
                && (claim.node.is_some() || matches!(claim.launch, LaunchState::Launched { .. }))
        })
}
