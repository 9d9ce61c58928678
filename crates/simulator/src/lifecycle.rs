//! The lives of the simulated cluster's pods and nodes: Deployments follow their replica
//! curves and replace pods that are evicted or lost, Jobs start pods on arrival and replace
//! evicted ones until each has run its time, DaemonSets put one pod on every node they
//! tolerate; a launched instance's node registers and becomes Ready. Every change of the
//! cluster state goes through the controllers' state machine; this module only plays the
//! owners, the kubelet and kube-scheduler's binding.

use std::sync::Arc;

use spotter_controllers::state::PodState;
use spotter_core::labels;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;
use spotter_core::requirements::Requirements;
use spotter_core::taints::first_untolerated;

use crate::simulation::{Event, Simulation};
use crate::workloads::{Owner, Removal};

impl Simulation {
    pub(crate) fn scale_deployment(&mut self, index: usize) {
        let elapsed = self.now;
        let desired = self.scenario.deployments[index]
            .replicas
            .replicas_at(elapsed);
        self.workloads.desired[index] = desired;
        self.refresh_budgets();
        let current = self.workloads.deployment_pods[index].len() as u32;
        if desired > current {
            for _ in current..desired {
                self.create_pod(Owner::Deployment(index));
            }
        } else if desired < current {
            // Pending pods go first, newest first, then the newest running ones.
            let excess = (current - desired) as usize;
            let mut pending: Vec<(u64, &String)> = self
                .state
                .pending
                .iter()
                .filter_map(|key| match self.workloads.owners.get(key) {
                    Some((Owner::Deployment(owner), sequence)) if *owner == index => {
                        Some((*sequence, key))
                    }
                    _ => None,
                })
                .collect();
            pending.sort_unstable_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
            let mut chosen: Vec<String> = pending
                .into_iter()
                .take(excess)
                .map(|(_, key)| key.clone())
                .collect();
            for key in self.workloads.deployment_pods[index].values().rev() {
                if chosen.len() >= excess {
                    break;
                }
                if !chosen.contains(key) {
                    chosen.push(key.clone());
                }
            }
            for pod in chosen {
                self.remove_pod(&pod, Removal::ScaledDown);
            }
        }
    }

    pub(crate) fn start_job(&mut self, index: usize) {
        for _ in 0..self.scenario.jobs[index].parallelism {
            self.create_pod(Owner::Job(index));
        }
    }

    pub(crate) fn complete_pod(&mut self, pod: &str, run: u64) {
        if self.workloads.runs.get(pod) == Some(&run) {
            self.remove_pod(pod, Removal::Completed);
        }
    }

    /// Creates a pod of `owner`; returns its key.
    fn create_pod(&mut self, owner: Owner) -> String {
        self.workloads.next_pod += 1;
        let template = match owner {
            Owner::Deployment(index) => &self.scenario.deployments[index].template,
            Owner::Job(index) => &self.scenario.jobs[index].template,
        };
        let mut pod: Pod = template.clone();
        pod.name = format!("{}-{:06}", template.name, self.workloads.next_pod);
        let key = pod.id();
        self.state.pod_created(
            key.clone(),
            PodState {
                pod: Arc::new(pod),
                node: None,
                nominated: None,
                created_at: self.now,
                daemon: false,
                retry_now: false,
                terminating: false,
            },
        );
        let sequence = self.workloads.next_pod;
        self.workloads.owners.insert(key.clone(), (owner, sequence));
        if let Owner::Deployment(index) = owner {
            self.workloads.deployment_pods[index].insert(sequence, key.clone());
        }
        self.invariants.created(&key);
        self.recorder.pod_created();
        self.request_reconcile(self.now);
        self.request_scheduling();
        key
    }

    /// Removes a pod; its owner replaces it unless it scaled down or the pod completed.
    pub(crate) fn remove_pod(&mut self, pod: &str, removal: Removal) {
        let Some(state) = self.state.pod_removed(pod, self.now) else {
            return;
        };
        if state.node.is_none() && !state.daemon {
            self.recorder
                .pod_removed_pending(pod, self.now.saturating_sub(state.created_at));
        }
        self.pod_gone(pod, removal, state.node.is_some());
    }

    /// A pod left the cluster state: its owner learns of it and replaces it unless it scaled
    /// down or the pod completed; returns the replacement's key.
    pub(crate) fn pod_gone(
        &mut self,
        pod: &str,
        removal: Removal,
        was_bound: bool,
    ) -> Option<String> {
        self.invariants.forget(pod);
        self.workloads.runs.remove(pod);
        let owned = self.workloads.owners.remove(pod);
        if let Some((Owner::Deployment(index), sequence)) = owned {
            self.workloads.deployment_pods[index].remove(&sequence);
        }
        let owner = owned.map(|(owner, _)| owner);
        if was_bound {
            self.request_scheduling();
        }
        let replacement = match (removal, owner) {
            (Removal::Disrupted | Removal::Lost, Some(Owner::Deployment(index)))
                if (self.workloads.deployment_pods[index].len() as u32)
                    < self.workloads.desired[index] =>
            {
                Some(self.create_pod(Owner::Deployment(index)))
            }
            (Removal::Disrupted | Removal::Lost, Some(Owner::Job(index))) => {
                Some(self.create_pod(Owner::Job(index)))
            }
            _ => None,
        };
        self.request_reconcile(self.now);
        replacement
    }

    /// Binds a pod to a node (the kube-scheduler stand-in decided).
    pub(crate) fn bind(&mut self, pod: &str, node: &str) {
        let Some(created_at) = self.state.pods.get(pod).map(|state| state.created_at) else {
            return;
        };
        self.state.pod_bound_to(pod, node, self.now);
        let waited = self.now.saturating_sub(created_at);
        let may_run_on_spot = self
            .state
            .pods
            .get(pod)
            .is_some_and(|state| self.may_run_on_spot(&state.pod));
        let node_claim = self
            .state
            .claim_of_node(node)
            .map(|claim| claim.name.clone())
            .unwrap_or_default();
        self.recorder
            .pod_started(pod, &node_claim, may_run_on_spot, waited);
        self.observer.pod_started(self.now, waited);
        if let Some((Owner::Job(index), _)) = self.workloads.owners.get(pod).copied() {
            self.workloads.next_run += 1;
            let run = self.workloads.next_run;
            self.workloads.runs.insert(pod.to_string(), run);
            let finish = self.now + self.scenario.jobs[index].run_time;
            self.at(
                finish,
                Event::CompletePod {
                    pod: pod.to_string(),
                    run,
                },
            );
        }
    }

    /// Whether `pod` could run on Spot: its node selector and one of its required node
    /// affinity terms allow Spot and a NodePool that allows Spot (for the Spot share of
    /// eligible node-hours).
    fn may_run_on_spot(&self, pod: &Pod) -> bool {
        let spot = CapacityType::Spot.as_str();
        let selected = Requirements::from_labels(pod.node_selector.as_ref());
        let terms: Vec<Requirements> = if pod.required_node_affinity.is_empty() {
            vec![selected]
        } else {
            pod.required_node_affinity
                .iter()
                .filter_map(|term| Requirements::from_expressions(term).ok())
                .map(|term| term.intersection(&selected))
                .collect()
        };
        terms.iter().any(|term| {
            term.allows(labels::CAPACITY_TYPE, spot)
                && self.state.node_pools.iter().any(|pool| {
                    pool.requirements.allows(labels::CAPACITY_TYPE, spot)
                        && term.allows(labels::NODE_POOL, &pool.name)
                })
        })
    }

    /// Keeps each PodDisruptionBudget's expected count equal to the Deployments it covers (what
    /// kube's disruption controller writes in its status).
    fn refresh_budgets(&mut self) {
        let expected: Vec<u32> = self
            .state
            .pod_disruption_budgets
            .iter()
            .map(|budget| {
                self.scenario
                    .deployments
                    .iter()
                    .zip(&self.workloads.desired)
                    .filter(|(deployment, _)| budget.covers(&deployment.template))
                    .map(|(_, desired)| *desired)
                    .sum()
            })
            .collect();
        for (index, expected_pods) in expected.into_iter().enumerate() {
            self.state
                .pod_disruption_budget_expects(index, expected_pods);
        }
    }

    /// The instance is running: its node registers (the state machine gives it the claim's
    /// labels and the pool's taints), the DaemonSet controller puts its pods on it, and it
    /// becomes Ready a little later.
    pub(crate) fn register_node(&mut self, claim_name: &str) {
        let Some(instance_type) = self
            .state
            .node_claims
            .get(claim_name)
            .and_then(|claim| claim.instance())
            .and_then(|instance| self.state.instance_type(&instance.offering.instance_type))
        else {
            return;
        };
        let allocatable = instance_type.allocatable.clone();
        let name = claim_name.to_string();
        let Some(node) = self
            .state
            .node_registered(claim_name, &name, allocatable, self.now)
        else {
            return;
        };
        let node_claim = node.node_claim.clone();
        let daemon_set_pods = self.state.daemon_set_pods.clone();
        let pool_taints = self
            .state
            .node_claims
            .get(&node_claim)
            .and_then(|claim| self.state.node_pool(&claim.node_pool))
            .map(|pool| pool.taints.clone())
            .unwrap_or_default();
        for daemon in &daemon_set_pods {
            if first_untolerated(&pool_taints, &daemon.tolerations, true).is_some() {
                continue;
            }
            let mut pod = daemon.clone();
            pod.name = format!("{}-{}", daemon.name, name);
            let key = pod.id();
            self.state.pod_created(
                key.clone(),
                PodState {
                    pod: Arc::new(pod),
                    node: None,
                    nominated: None,
                    created_at: self.now,
                    daemon: true,
                    retry_now: false,
                    terminating: false,
                },
            );
            self.state.pod_bound_to(&key, &name, self.now);
        }
        if let Some(node) = self.state.nodes.get(&name) {
            self.observer.node_registered(self.now, node);
        }
        let (low, high) = self.scenario.timing.registration_seconds;
        let delay =
            std::time::Duration::from_secs(self.random.between(u64::from(low), u64::from(high)));
        self.at(self.now + delay, Event::NodeReady(name));
    }

    /// The node is Ready and whatever held its startup taints cleared them.
    pub(crate) fn node_ready(&mut self, node_name: &str) {
        if !self.state.node_ready(node_name, self.now) {
            return;
        }
        self.state.startup_taints_removed(node_name);
        self.request_scheduling();
        self.request_reconcile(self.now);
    }
}
