//! The invariants checked all through a run: no pod lost (every pod that existed is running,
//! pending, completed or deleted by its owner), no NodePool over its limits, no instance
//! without a NodeClaim for longer than a grace period, no pod on a node when its instance
//! terminates, no eviction a PodDisruptionBudget did not allow. A violation is recorded with
//! the time and the event that caused it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spotter_cloud::Instance;
use spotter_controllers::ClusterState;
use spotter_controllers::state::PodState;
use spotter_core::resources::{self, Resources};

use crate::recorder::Recorder;

/// How long an instance may exist without a NodeClaim before it counts as leaked.
pub const LEAK_GRACE: Duration = Duration::from_secs(120);

/// The checker's memory: every live pod by the ledger, and instances seen without a claim.
#[derive(Debug, Default)]
pub(crate) struct Invariants {
    ledger: BTreeSet<String>,
    orphaned_since: BTreeMap<String, Duration>,
}

impl Invariants {
    /// A pod was created by its owner.
    pub fn created(&mut self, pod: &str) {
        self.ledger.insert(pod.to_string());
    }

    /// A pod left through a legitimate path (owner, completion, eviction, loss already counted).
    pub fn forget(&mut self, pod: &str) {
        self.ledger.remove(pod);
    }

    /// Records a violation.
    pub fn violation(
        &mut self,
        recorder: &mut Recorder,
        now: Duration,
        invariant: &str,
        event: &str,
        detail: &str,
    ) {
        recorder.violation(now, invariant, event, detail);
    }

    /// An eviction (not a forced deletion) must be one every PodDisruptionBudget covering the
    /// pod allows at that moment: its healthy pods (bound to a Ready node) must leave room.
    pub fn check_eviction(
        &mut self,
        state: &ClusterState,
        pod: &str,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let Some(evicted) = state.pods.get(pod) else {
            return;
        };
        for budget in &state.pod_disruption_budgets {
            if !budget.covers(&evicted.pod) {
                continue;
            }
            let healthy = state
                .pods
                .values()
                .filter(|candidate| {
                    budget.covers(&candidate.pod)
                        && candidate
                            .node
                            .as_ref()
                            .and_then(|node| state.nodes.get(node))
                            .is_some_and(|node| node.ready)
                })
                .count() as u32;
            if budget.allowed_disruptions(healthy) == 0 {
                self.violation(
                    recorder,
                    now,
                    "no PodDisruptionBudget violated",
                    &format!("eviction of pod {pod}"),
                    &format!(
                        "PodDisruptionBudget {}/{} allowed no disruption ({healthy} healthy of {} expected)",
                        budget.namespace, budget.name, budget.expected_pods
                    ),
                );
            }
        }
    }

    /// Every pod in the ledger must still exist.
    pub fn check_ledger(
        &mut self,
        live: &BTreeMap<String, PodState>,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        // Every pod the ledger holds is alive unless the counts differ.
        if self.ledger.len() == live.values().filter(|pod| !pod.daemon).count() {
            return;
        }
        let vanished: Vec<String> = self
            .ledger
            .iter()
            .filter(|pod| !live.contains_key(*pod))
            .cloned()
            .collect();
        for pod in vanished {
            self.ledger.remove(&pod);
            recorder.pod_lost();
            self.violation(
                recorder,
                now,
                "no pod lost",
                "periodic check of every pod ever created",
                &format!("pod {pod} disappeared without its owner deleting it, completing, or being evicted"),
            );
        }
    }

    /// No instance may stay without a NodeClaim for longer than [`LEAK_GRACE`].
    pub fn check_instances<'a>(
        &mut self,
        instances: impl Iterator<Item = &'a Instance>,
        state: &ClusterState,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let mut orphaned = BTreeMap::new();
        for instance in instances {
            if state.node_claims.contains_key(&instance.node_claim) {
                continue;
            }
            let since = self
                .orphaned_since
                .get(&instance.id)
                .copied()
                .unwrap_or(now);
            if now.saturating_sub(since) >= LEAK_GRACE {
                self.violation(
                    recorder,
                    now,
                    "no instance without a NodeClaim",
                    "periodic check of the cloud's instances",
                    &format!(
                        "instance {} has had no NodeClaim since {}",
                        instance.id,
                        spotter_report::clock_duration(since.as_secs_f64())
                    ),
                );
            } else {
                orphaned.insert(instance.id.clone(), since);
            }
        }
        self.orphaned_since = orphaned;
    }

    /// A NodePool's launched nodes must stay within its limits.
    pub fn check_limits(
        &mut self,
        state: &ClusterState,
        node_pool: &str,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let Some(pool) = state.node_pool(node_pool) else {
            return;
        };
        if pool.limits.is_empty() {
            return;
        }
        let mut usage = Resources::new();
        let mut nodes = 0;
        for claim in state
            .node_claims
            .values()
            .filter(|claim| claim.node_pool == node_pool)
        {
            let Some(instance) = claim.instance() else {
                continue;
            };
            if claim
                .deletion
                .as_ref()
                .is_some_and(|deletion| deletion.instance_terminated)
            {
                continue;
            }
            if let Some(instance_type) = state.instance_type(&instance.offering.instance_type) {
                usage.add(&instance_type.capacity);
                nodes += 1;
            }
        }
        if let Some(exceeded) = pool.limits.exceeded_by(&usage, nodes) {
            self.violation(
                recorder,
                now,
                "no NodePool over its limits",
                &format!("launch in NodePool {node_pool}"),
                &format!(
                    "NodePool {node_pool}: {exceeded} (cpu in use {})",
                    resources::format_amount(resources::CPU, usage.cpu_millicores)
                ),
            );
        }
    }
}
