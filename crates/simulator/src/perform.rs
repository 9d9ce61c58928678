//! The simulator's part of performing an action: what the simulated world does (the cloud
//! launches or terminates, the kubelet kills an evicted pod at once, its owner replaces it),
//! and what the run records. How the action changes the cluster state is the controllers'
//! shared state machine (`ClusterState::apply`), not decided here.

use std::time::Duration;

use spotter_cloud::ready::now_or_never;
use spotter_cloud::{CloudError, CloudProvider, LaunchRequest, OfferingRequest};
use spotter_controllers::state::{DisruptionReason, LaunchState};
use spotter_controllers::{Action, Applied, Outcome};
use spotter_core::offering::CapacityType;
use spotter_core::unavailable_offerings::UnavailableReason;

use crate::faults::LaunchFault;
use crate::simulation::{Event, Simulation};
use crate::workloads::Removal;
use spotter_report::EventKind;

/// What the run needs to know of the world before an action changes the state.
#[derive(Debug, Default)]
pub(crate) struct Before {
    /// For an eviction or deletion: whether the pod's node is being interrupted.
    interrupted_node: bool,
    /// For an avoided offering: whether it was avoided already.
    already_avoided: bool,
    /// For a launch: the pods nominated to the claim, when the time to fallback needs them.
    pods: Vec<String>,
    /// For a launch: whether the claim was created as a fallback.
    fallback: bool,
    /// For a return to Spot: the fallback NodeClaim's NodePool.
    node_pool: Option<String>,
    /// For a launch: whether the claim replaces another (not a fallback of its own).
    replaces: bool,
}

impl Simulation {
    /// Performs an action in the simulated world; returns what came of it.
    pub(crate) fn perform(&mut self, action: &Action) -> (Outcome, Before) {
        let mut before = Before::default();
        let outcome = match action {
            Action::EvictPod { pod } | Action::DeletePod { pod, .. } => {
                if matches!(action, Action::EvictPod { .. }) {
                    self.invariants
                        .check_eviction(&self.state, pod, &mut self.recorder, self.now);
                }
                before.interrupted_node = self
                    .state
                    .pods
                    .get(pod)
                    .and_then(|state| state.node.as_deref())
                    .and_then(|node| self.state.claim_of_node(node))
                    .and_then(|claim| claim.deletion.as_ref())
                    .is_some_and(|deletion| deletion.reason == DisruptionReason::SpotInterrupted);
                Outcome::Done
            }
            Action::MarkUnavailable {
                offering,
                until,
                wider: None,
                ..
            } => {
                before.already_avoided = self
                    .state
                    .unavailable_offerings
                    .record(
                        &offering.instance_type,
                        offering.capacity_type,
                        &offering.zone,
                    )
                    .is_some_and(|record| {
                        record.is_active()
                            && record.reason == UnavailableReason::InterruptionProne
                            && record.until >= *until
                    });
                Outcome::Done
            }
            Action::LaunchNodeClaim {
                node_claim,
                offerings,
            } => self.launch(node_claim, offerings, &mut before),
            Action::TerminateInstance { node_claim } => self.terminate(node_claim),
            Action::DeleteNodeClaim {
                node_claim, reason, ..
            } => {
                self.invariants.check_budget(
                    &self.state,
                    node_claim,
                    *reason,
                    &mut self.recorder,
                    self.now,
                );
                before.node_pool = self
                    .state
                    .node_claims
                    .get(node_claim)
                    .filter(|claim| claim.deletion.is_none())
                    .map(|claim| claim.node_pool.clone());
                Outcome::Done
            }
            _ => Outcome::Done,
        };
        (outcome, before)
    }

    /// Records what an action did once the state machine applied it, and lets the world react
    /// (owners replace the pods that left).
    pub(crate) fn performed(&mut self, action: &Action, before: Before, applied: &Applied) {
        match action {
            Action::CreateNodeClaim(request) if applied.changed => {
                for pod in &request.pods {
                    self.invariants.placed(pod, self.now);
                }
                if let Some(fallback) = request
                    .replaces
                    .as_ref()
                    .and_then(|fallback| self.state.node_claims.get(fallback))
                    .filter(|replaced| replaced.fallback)
                {
                    self.recorder.return_started(
                        self.now,
                        &fallback.node_pool,
                        &fallback.name,
                        &request.name,
                    );
                }
            }
            Action::MarkUnavailable {
                offering,
                until,
                reason: UnavailableReason::InterruptionProne,
                wider,
            } if !before.already_avoided => {
                self.recorder
                    .avoided(self.now, offering, wider.as_ref(), *until);
            }
            Action::DeleteNodeClaim {
                node_claim, reason, ..
            } => {
                if before.node_pool.is_some() && applied.changed {
                    self.recorder.disrupted(reason.as_str());
                }
                if let (DisruptionReason::ReturnToSpot, Some(node_pool), true) =
                    (reason, &before.node_pool, applied.changed)
                {
                    self.recorder
                        .return_draining(self.now, node_pool, node_claim);
                    self.invariants.returned_to_spot(node_pool, self.now);
                }
            }
            Action::RemoveNodeClaim { node_claim } => {
                let lost_from = applied
                    .removed_pods
                    .iter()
                    .find(|(_, pod)| !pod.daemon)
                    .and_then(|(_, pod)| pod.node.clone());
                if let Some(node) = lost_from {
                    self.invariants.violation(
                        &mut self.recorder,
                        self.now,
                        "no pod lost",
                        &format!("NodeClaim {node_claim} removed"),
                        &format!("node {node} still had pods when its NodeClaim was removed"),
                    );
                }
                self.pods_left_with_node(&applied.removed_pods, false);
            }
            Action::EvictPod { pod } | Action::DeletePod { pod, .. } if applied.changed => {
                if before.interrupted_node {
                    self.recorder.pod_disrupted();
                }
                let replacement = self.pod_gone(pod, Removal::Disrupted, true);
                if let Some(replacement) = replacement.filter(|_| before.interrupted_node) {
                    self.recorder.displaced_by_interruption(replacement);
                }
            }
            Action::PodUnschedulable { pod, reason } => {
                self.invariants.unschedulable(pod, self.now);
                self.recorder.pod_unschedulable(pod, reason);
            }
            Action::Nominate { pod, node_claim } => {
                self.invariants.placed(pod, self.now);
                let fallback = self
                    .state
                    .node_claims
                    .get(node_claim)
                    .is_some_and(|claim| claim.fallback);
                self.recorder
                    .provisioned_on_existing(self.now, pod, fallback);
            }
            Action::LaunchNodeClaim { node_claim, .. } => self.launch_recorded(node_claim, before),
            _ => {}
        }
    }

    /// DaemonSet pods go with their node; anything else that was still there is lost (and its
    /// replacement's wait is interruption impact when the node was `interrupted`).
    pub(crate) fn pods_left_with_node(
        &mut self,
        removed: &[(String, spotter_controllers::state::PodState)],
        interrupted: bool,
    ) {
        for (key, pod) in removed {
            if pod.daemon {
                self.invariants.forget(key);
            } else {
                self.recorder.pod_lost();
                let replacement = self.pod_gone(key, Removal::Lost, true);
                if let Some(replacement) = replacement.filter(|_| interrupted) {
                    self.recorder.displaced_by_interruption(replacement);
                }
            }
        }
    }

    fn launch(
        &mut self,
        claim_name: &str,
        offerings: &[OfferingRequest],
        before: &mut Before,
    ) -> Outcome {
        let Some(claim) = self.state.node_claims.get(claim_name) else {
            return Outcome::Refused;
        };
        if !matches!(
            claim.launch,
            LaunchState::NotLaunched | LaunchState::Retrying { .. }
        ) {
            return Outcome::Refused;
        }
        let Some(pool) = self.state.node_pool(&claim.node_pool) else {
            return Outcome::Refused;
        };
        let request = LaunchRequest {
            node_claim: claim.name.clone(),
            node_pool: claim.node_pool.clone(),
            node_class: pool.node_class.clone(),
            offerings: offerings.to_vec(),
            allocation: Default::default(),
            labels: claim
                .requirements
                .single_values()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            taints: pool
                .taints
                .iter()
                .chain(&pool.startup_taints)
                .cloned()
                .collect(),
        };
        before.fallback = claim.fallback;
        before.replaces = claim.replaces.is_some();
        let fault = self.injected.launch_fault(self.now);
        let result = match fault {
            Some(LaunchFault::Throttled) => Err(CloudError::Throttled {
                operation: "CreateFleet".to_string(),
                retry_after: None,
            }),
            Some(LaunchFault::ServerError) => Err(CloudError::Transient {
                operation: "CreateFleet".to_string(),
                message: "500 InternalError (injected)".to_string(),
            }),
            None | Some(LaunchFault::UnknownOutcome) => now_or_never(self.cloud.create(&request))
                .unwrap_or_else(|| {
                    Err(CloudError::Transient {
                        operation: "CreateFleet".to_string(),
                        message: "the simulated cloud did not answer at once".to_string(),
                    })
                }),
        };
        // The call launched (or not) but its answer is lost: the caller sees a timeout.
        let result = match (fault, result) {
            (Some(LaunchFault::UnknownOutcome), Ok(_)) => Err(CloudError::Transient {
                operation: "CreateFleet".to_string(),
                message: "timed out; the instance may exist (injected)".to_string(),
            }),
            (_, result) => result,
        };
        // The pods the launch was for, when the time to fallback needs them (a full
        // insufficient-capacity answer, or a launch while some pods wait since one).
        if matches!(result, Err(CloudError::InsufficientCapacity { .. }))
            || self.recorder.waits_since_ice()
        {
            before.pods = self
                .state
                .pods
                .iter()
                .filter(|(_, pod)| pod.nominated.as_deref() == Some(claim_name))
                .map(|(key, _)| key.clone())
                .collect();
        }
        if let Err(error) = &result {
            self.observer.launch_failed(self.now, claim, error);
        }
        Outcome::Launched(result)
    }

    /// Records a launch's answer once the state machine took it.
    fn launch_recorded(&mut self, claim_name: &str, before: Before) {
        let Some(claim) = self.state.node_claims.get(claim_name) else {
            return;
        };
        let node_pool = claim.node_pool.clone();
        match &claim.launch {
            LaunchState::Launched {
                instance,
                unavailable,
            } => {
                let instance = instance.clone();
                let unavailable = unavailable.clone();
                self.observer.launched(self.now, claim, &instance);
                self.claim_of_instance
                    .insert(instance.id.clone(), claim_name.to_string());
                if !unavailable.is_empty() {
                    self.recorder
                        .ice(self.now, &node_pool, claim_name, &unavailable);
                }
                let fallback =
                    before.fallback && instance.offering.capacity_type == CapacityType::OnDemand;
                self.recorder
                    .launched(self.now, &instance, fallback, &before.pods);
                self.invariants
                    .check_limits(&self.state, &node_pool, &mut self.recorder, self.now);
                if fallback && !before.replaces {
                    self.invariants
                        .fell_back(&node_pool, &mut self.recorder, self.now);
                }
                let (low, high) = self.scenario.timing.launch_seconds;
                let delay =
                    Duration::from_secs(self.random.between(u64::from(low), u64::from(high)));
                if self.injected.never_registers(self.now) {
                    self.recorder.event(
                        self.now,
                        EventKind::Fault,
                        Some(node_pool),
                        Some(claim_name.to_string()),
                        format!("the node of {} will never register", instance.id),
                    );
                } else {
                    self.at(
                        self.now + delay,
                        Event::RegisterNode(claim_name.to_string()),
                    );
                }
            }
            LaunchState::InsufficientCapacity { offerings } if !offerings.is_empty() => {
                let offerings = offerings.clone();
                self.recorder
                    .ice(self.now, &node_pool, claim_name, &offerings);
                self.recorder.launch_refused(claim_name);
                self.recorder.left_pending_by_ice(self.now, &before.pods);
            }
            LaunchState::InsufficientCapacity { .. } | LaunchState::Retrying { .. } => {
                self.recorder.event(
                    self.now,
                    EventKind::Ice,
                    Some(node_pool),
                    Some(claim_name.to_string()),
                    "launch failed".to_string(),
                );
            }
            _ => {}
        }
    }

    fn terminate(&mut self, claim_name: &str) -> Outcome {
        let Some(claim) = self.state.node_claims.get(claim_name) else {
            return Outcome::Refused;
        };
        let Some(instance) = claim.instance().cloned() else {
            return Outcome::Refused;
        };
        if claim
            .deletion
            .as_ref()
            .is_some_and(|deletion| deletion.instance_terminating)
        {
            return Outcome::Refused;
        }
        let node_pool = claim.node_pool.clone();
        let deleted = now_or_never(self.cloud.delete(&instance.id)).unwrap_or(Ok(()));
        if let Err(error) = &deleted {
            self.observer.terminate_failed(self.now, claim_name, error);
            if !matches!(error, CloudError::NotFound { .. }) {
                self.recorder.event(
                    self.now,
                    EventKind::Terminate,
                    Some(node_pool.clone()),
                    Some(claim_name.to_string()),
                    error.to_string(),
                );
            }
        }
        self.recorder.event(
            self.now,
            EventKind::Terminate,
            Some(node_pool),
            Some(claim_name.to_string()),
            format!(
                "terminating {} ({} {} {})",
                instance.id,
                instance.offering.capacity_type,
                instance.offering.instance_type,
                instance.offering.zone
            ),
        );
        Outcome::Terminated(deleted)
    }
}
