//! Expiration, as Karpenter v1 does it: a NodeClaim older than its NodePool's `expireAfter`
//! is deleted, forcefully — no disruption budget and no `karpenter.sh/do-not-disrupt` holds it
//! back (termination still evicts through PodDisruptionBudgets until the pool's
//! `terminationGracePeriod`, if any, runs out). Its pods are provisioned for while it drains,
//! like any other deleted node's.

use std::time::Duration;

use crate::action::Action;
use crate::state::{ClusterState, DisruptionReason};

/// Deletes the NodeClaims that expired by `now`; returns when the next one expires.
pub fn reconcile(state: &ClusterState, now: Duration) -> (Vec<Action>, Option<Duration>) {
    let mut actions = Vec::new();
    let mut wake_at: Option<Duration> = None;
    for claim in state.node_claims.values() {
        if claim.deletion.is_some() {
            continue;
        }
        let Some(expire_after) = state
            .node_pool(&claim.node_pool)
            .and_then(|pool| pool.expire_after)
        else {
            continue;
        };
        let expires_at = claim.created_at.saturating_add(expire_after);
        if expires_at <= now {
            actions.push(Action::DeleteNodeClaim {
                node_claim: claim.name.clone(),
                reason: DisruptionReason::Expired,
                deadline: None,
            });
        } else {
            wake_at = Some(wake_at.map_or(expires_at, |current| current.min(expires_at)));
        }
    }
    (actions, wake_at)
}
