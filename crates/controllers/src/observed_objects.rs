//! The transitions for the objects a long-running driver watches besides pods and nodes:
//! NodePools and DaemonSets that are applied, changed or deleted while Spotter runs,
//! PodDisruptionBudgets, and the NodeClaims a (re)started controller finds in the API. The
//! simulator knows these objects from its scenario; the kube driver learns them from watches,
//! and reports each change here, never by editing [`ClusterState`] itself.

use std::time::Duration;

use spotter_core::node_pool::NodePool;
use spotter_core::pod::Pod;

use crate::Action;
use crate::Outcome;
use crate::pod_disruption_budget::PodDisruptionBudget;
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason, NodeClaim};
use crate::transitions::Applied;

impl ClusterState {
    /// A NodePool was created or changed: the new version replaces the pool of the same name
    /// (its nodes may now have drifted, see [`crate::drift`]). Returns whether the state changed.
    pub fn node_pool_applied(&mut self, node_pool: NodePool) -> bool {
        match self
            .node_pools
            .iter_mut()
            .find(|existing| existing.name == node_pool.name)
        {
            Some(existing) if *existing == node_pool => return false,
            Some(existing) => *existing = node_pool,
            None => {
                self.node_pools.push(node_pool);
                self.node_pools
                    .sort_by(|left, right| left.name.cmp(&right.name));
            }
        }
        self.capacity_generation += 1;
        true
    }

    /// A NodePool was deleted. Its NodeClaims stay until they are deleted (Karpenter's
    /// owner references delete them through the garbage collector).
    pub fn node_pool_deleted(&mut self, name: &str) -> bool {
        let before = self.node_pools.len();
        self.node_pools.retain(|pool| pool.name != name);
        let changed = self.node_pools.len() != before;
        if changed {
            self.capacity_generation += 1;
        }
        changed
    }

    /// A node class was created or changed: `static_hash` is the hash of its static fields
    /// now (its NodeClaims made before may now have drifted, see [`crate::drift`]). Returns
    /// whether the state changed.
    pub fn node_class_applied(&mut self, name: &str, static_hash: String) -> bool {
        if self.node_class_hashes.get(name) == Some(&static_hash) {
            return false;
        }
        self.node_class_hashes.insert(name.to_string(), static_hash);
        true
    }

    /// A node class was deleted: its NodeClaims are no longer compared with it.
    pub fn node_class_deleted(&mut self, name: &str) -> bool {
        self.node_class_hashes.remove(name).is_some()
    }

    /// The DaemonSets' pods (one per DaemonSet, from its template) changed.
    pub fn daemon_set_pods_changed(&mut self, pods: Vec<Pod>) -> bool {
        if self.daemon_set_pods == pods {
            return false;
        }
        self.daemon_set_pods = pods;
        self.capacity_generation += 1;
        true
    }

    /// A PodDisruptionBudget was created or changed (found by namespace and name).
    pub fn pod_disruption_budget_applied(&mut self, budget: PodDisruptionBudget) -> bool {
        match self
            .pod_disruption_budgets
            .iter_mut()
            .find(|existing| existing.namespace == budget.namespace && existing.name == budget.name)
        {
            Some(existing) if *existing == budget => false,
            Some(existing) => {
                *existing = budget;
                true
            }
            None => {
                self.pod_disruption_budgets.push(budget);
                true
            }
        }
    }

    /// A PodDisruptionBudget was deleted.
    pub fn pod_disruption_budget_deleted(&mut self, namespace: &str, name: &str) -> bool {
        let before = self.pod_disruption_budgets.len();
        self.pod_disruption_budgets
            .retain(|budget| !(budget.namespace == namespace && budget.name == name));
        self.pod_disruption_budgets.len() != before
    }

    /// A NodeClaim found in the API that the state does not hold (a restarted controller
    /// rebuilding its state): it is taken as it is, with its launch, deletion, fallback and
    /// return-to-Spot records read from the object. Its node, if any, registers afterwards
    /// through [`ClusterState::node_registered`]. Returns whether it was new.
    pub fn node_claim_found(&mut self, node_claim: NodeClaim) -> bool {
        if self.node_claims.contains_key(&node_claim.name) {
            return false;
        }
        self.node_claims.insert(node_claim.name.clone(), node_claim);
        self.capacity_generation += 1;
        true
    }

    /// Someone deleted a NodeClaim or its Node (its deletion timestamp is set, Spotter's
    /// finalizer holds it): it is drained and terminated like a disruption, with no deadline.
    pub fn node_claim_deletion_requested(
        &mut self,
        node_claim: &str,
        now: Duration,
        settings: &Settings,
    ) -> Applied {
        let already = self
            .node_claims
            .get(node_claim)
            .is_none_or(|claim| claim.deletion.is_some());
        if already {
            return Applied::default();
        }
        self.apply(
            &Action::DeleteNodeClaim {
                node_claim: node_claim.to_string(),
                reason: DisruptionReason::Deleted,
                deadline: None,
            },
            Outcome::Done,
            now,
            settings,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::builders::node_pool;

    #[test]
    fn applying_the_same_node_pool_twice_changes_nothing_the_second_time() {
        let mut state = ClusterState::default();
        let pool = node_pool("batch").build();
        assert!(state.node_pool_applied(pool.clone()));
        let generation = state.capacity_generation;
        assert!(!state.node_pool_applied(pool));
        assert_eq!(state.capacity_generation, generation);
        assert!(state.node_pool_deleted("batch"));
        assert!(!state.node_pool_deleted("batch"));
        assert!(state.node_pools.is_empty());
    }

    #[test]
    fn a_deletion_request_for_a_claim_being_deleted_already_changes_nothing() {
        let mut state = ClusterState::default();
        let settings = Settings::default();
        let claim = NodeClaim {
            name: "batch-abcde".to_string(),
            node_pool: "batch".to_string(),
            requirements: Default::default(),
            instance_types: Vec::new(),
            created_at: Duration::ZERO,
            launch: crate::state::LaunchState::NotLaunched,
            node: None,
            initialized: false,
            deletion: None,
            fallback: false,
            replaces: None,
            node_pool_hash: None,
            node_class_hash: None,
        };
        assert!(state.node_claim_found(claim.clone()));
        assert!(!state.node_claim_found(claim));
        let now = Duration::from_secs(5);
        assert!(
            state
                .node_claim_deletion_requested("batch-abcde", now, &settings)
                .changed
        );
        let deletion = state.node_claims["batch-abcde"].deletion.clone();
        assert_eq!(
            deletion.map(|deletion| deletion.reason),
            Some(DisruptionReason::Deleted)
        );
        assert!(
            !state
                .node_claim_deletion_requested("batch-abcde", now, &settings)
                .changed
        );
        assert!(
            !state
                .node_claim_deletion_requested("unknown", now, &settings)
                .changed
        );
    }
}
