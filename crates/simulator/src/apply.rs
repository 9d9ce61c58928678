//! The simulator as a driver: performs the controllers' actions on the simulated cluster and
//! the simulated cloud, and records what they did.

use std::time::Duration;

use spotter_cloud::{CloudError, CloudProvider, LaunchRequest, OfferingRequest};
use spotter_controllers::Action;
use spotter_controllers::state::{Deletion, DisruptionReason, LaunchState, NodeClaim};
use spotter_core::offering::CapacityType;
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableReason};
use spotter_report::EventKind;

use crate::simulation::{Event, Simulation};
use crate::workloads::Removal;

impl Simulation {
    /// Performs one action; returns whether it changed anything.
    pub(crate) fn apply(&mut self, action: Action) -> bool {
        if let Action::EvictPod { pod } = &action {
            self.invariants
                .check_eviction(&self.state, pod, &mut self.recorder, self.now);
        }
        match action {
            Action::CreateNodeClaim(request) => {
                for pod in &request.pods {
                    if let Some(pod) = self.state.pods.get_mut(pod) {
                        pod.nominated = Some(request.name.clone());
                        pod.retry_now = false;
                    }
                }
                if let Some(fallback) = request
                    .replaces
                    .as_ref()
                    .and_then(|fallback| self.state.node_claims.get(fallback))
                {
                    self.recorder.return_started(
                        self.now,
                        &fallback.node_pool,
                        &fallback.name,
                        &request.name,
                    );
                }
                self.state.node_claims.insert(
                    request.name.clone(),
                    NodeClaim {
                        name: request.name,
                        node_pool: request.node_pool,
                        requirements: request.requirements,
                        instance_types: request.instance_types,
                        created_at: self.now,
                        launch: LaunchState::NotLaunched,
                        node: None,
                        initialized: false,
                        deletion: None,
                        fallback: request.fallback,
                        replaces: request.replaces,
                    },
                );
                true
            }
            Action::Nominate { pod, node_claim } => match self.state.pods.get_mut(&pod) {
                Some(pod) if pod.nominated.as_deref() != Some(node_claim.as_str()) => {
                    pod.nominated = Some(node_claim);
                    pod.retry_now = false;
                    true
                }
                _ => false,
            },
            Action::LaunchNodeClaim {
                node_claim,
                offerings,
            } => self.launch(&node_claim, offerings),
            Action::MarkUnavailable {
                offering,
                until,
                reason,
            } => {
                let was_avoided = self
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
                            && record.until >= until
                    });
                let expiry = self.state.unavailable_offerings.mark_until(
                    OfferingSelector::offering(
                        &offering.instance_type,
                        offering.capacity_type,
                        &offering.zone,
                    ),
                    until,
                    reason,
                );
                self.expire_unavailable_at(expiry);
                if reason == UnavailableReason::InterruptionProne && !was_avoided {
                    self.recorder.avoided(self.now, &offering, until);
                }
                true
            }
            Action::DeleteNodeClaim {
                node_claim,
                reason,
                deadline,
            } => {
                let Some(claim) = self.state.node_claims.get_mut(&node_claim) else {
                    return false;
                };
                if reason == DisruptionReason::ReturnToSpot && claim.deletion.is_none() {
                    self.recorder
                        .return_draining(self.now, &claim.node_pool, &node_claim);
                }
                match &mut claim.deletion {
                    Some(existing) => {
                        if deadline.is_some() && existing.deadline.is_none() {
                            existing.deadline = deadline;
                            existing.reason = reason;
                        } else {
                            return false;
                        }
                    }
                    None => {
                        claim.deletion = Some(Deletion {
                            reason,
                            requested_at: self.now,
                            deadline,
                            instance_terminating: false,
                            instance_terminated: false,
                        });
                    }
                }
                let retry = reason == DisruptionReason::InsufficientCapacity;
                for pod in self.state.pods.values_mut() {
                    if pod.nominated.as_deref() == Some(node_claim.as_str()) {
                        pod.nominated = None;
                        pod.retry_now = retry;
                    }
                }
                if let Some(deadline) = deadline {
                    self.request_reconcile(
                        deadline.saturating_sub(
                            self.controllers.settings().force_delete_before_deadline,
                        ),
                    );
                }
                true
            }
            Action::RemoveNodeClaim { node_claim } => {
                let Some(claim) = self.state.node_claims.remove(&node_claim) else {
                    return false;
                };
                if let Some(node) = &claim.node {
                    let still_running = self
                        .state
                        .nodes
                        .get(node)
                        .is_some_and(|node| node.workload_pods() > 0);
                    if still_running {
                        self.invariants.violation(
                            &mut self.recorder,
                            self.now,
                            "no pod lost",
                            &format!("NodeClaim {node_claim} removed"),
                            &format!("node {node} still had pods when its NodeClaim was removed"),
                        );
                    }
                    let node = node.clone();
                    self.remove_node_pods(&node);
                    self.state.nodes.remove(&node);
                }
                self.state.capacity_generation += 1;
                true
            }
            Action::TaintNode { node, taint } => match self.state.nodes.get_mut(&node) {
                Some(node) if !node.taints.contains(&taint) => {
                    node.taints.push(taint);
                    true
                }
                _ => false,
            },
            Action::CordonNode { node } => match self.state.nodes.get_mut(&node) {
                Some(node) if !node.unschedulable => {
                    node.unschedulable = true;
                    true
                }
                _ => false,
            },
            Action::EvictPod { pod } | Action::DeletePod { pod, .. } => {
                let Some(node) = self
                    .state
                    .pods
                    .get(&pod)
                    .and_then(|state| state.node.clone())
                else {
                    return false;
                };
                let interrupted = self
                    .state
                    .claim_of_node(&node)
                    .and_then(|claim| claim.deletion.as_ref())
                    .is_some_and(|deletion| deletion.reason == DisruptionReason::SpotInterrupted);
                if interrupted {
                    self.recorder.pod_disrupted();
                }
                self.remove_pod(&pod, Removal::Disrupted);
                true
            }
            Action::TerminateInstance { node_claim } => {
                let Some(claim) = self.state.node_claims.get_mut(&node_claim) else {
                    return false;
                };
                let Some(instance) = claim.instance().cloned() else {
                    return false;
                };
                if let Some(deletion) = &mut claim.deletion {
                    if deletion.instance_terminating {
                        return false;
                    }
                    deletion.instance_terminating = true;
                }
                let node_pool = claim.node_pool.clone();
                let deleted = self.cloud.delete(&instance.id, self.now);
                if let Err(error) = &deleted {
                    self.observer.terminate_failed(self.now, &node_claim, error);
                }
                match deleted {
                    Ok(()) | Err(CloudError::NotFound { .. }) => {}
                    Err(other) => {
                        self.recorder.event(
                            self.now,
                            EventKind::Terminate,
                            Some(node_pool.clone()),
                            Some(node_claim.clone()),
                            other.to_string(),
                        );
                    }
                }
                self.recorder.event(
                    self.now,
                    EventKind::Terminate,
                    Some(node_pool),
                    Some(node_claim),
                    format!(
                        "terminating {} ({} {} {})",
                        instance.id,
                        instance.offering.capacity_type,
                        instance.offering.instance_type,
                        instance.offering.zone
                    ),
                );
                true
            }
            // The kube driver will record it as a pod event; the report does not show it.
            Action::PodUnschedulable { .. } => false,
        }
    }

    /// DaemonSet pods go with their node; anything else still there is lost.
    fn remove_node_pods(&mut self, node: &str) {
        let Some(pods) = self
            .state
            .nodes
            .get(node)
            .map(|node| node.pods.keys().cloned().collect::<Vec<_>>())
        else {
            return;
        };
        for pod in pods {
            if self.state.pods.get(&pod).is_some_and(|state| state.daemon) {
                self.state.remove_pod(&pod);
            } else {
                self.recorder.pod_lost();
                self.remove_pod(&pod, Removal::Lost);
            }
        }
    }

    fn launch(&mut self, claim_name: &str, offerings: Vec<OfferingRequest>) -> bool {
        let Some(claim) = self.state.node_claims.get(claim_name) else {
            return false;
        };
        if !matches!(claim.launch, LaunchState::NotLaunched) {
            return false;
        }
        let request = LaunchRequest {
            node_claim: claim.name.clone(),
            node_pool: claim.node_pool.clone(),
            offerings,
        };
        let node_pool = claim.node_pool.clone();
        let fallback = claim.fallback;
        let result = self.cloud.create(&request, self.now);
        let failed = match &result {
            Ok(launched) => launched.unavailable.as_slice(),
            Err(CloudError::InsufficientCapacity { offerings }) => offerings.as_slice(),
            Err(_) => &[],
        };
        self.record_insufficient_capacity(failed);
        // The pods the launch was for, when the time to fallback needs them (a full
        // insufficient-capacity answer, or a launch while some pods wait since one).
        let pods: Vec<String> = if matches!(result, Err(CloudError::InsufficientCapacity { .. }))
            || self.recorder.waits_since_ice()
        {
            self.state
                .pods
                .iter()
                .filter(|(_, pod)| pod.nominated.as_deref() == Some(claim_name))
                .map(|(key, _)| key.clone())
                .collect()
        } else {
            Vec::new()
        };
        let Some(claim) = self.state.node_claims.get_mut(claim_name) else {
            return false;
        };
        if let Err(error) = &result {
            self.observer.launch_failed(self.now, claim, error);
        }
        match result {
            Ok(launched) => {
                let instance = launched.instance.clone();
                claim.launch = LaunchState::Launched {
                    instance: launched.instance,
                    unavailable: launched.unavailable.clone(),
                };
                let fallback =
                    fallback && instance.offering.capacity_type == CapacityType::OnDemand;
                claim.fallback = fallback;
                self.observer.launched(self.now, claim, &instance);
                self.claim_of_instance
                    .insert(instance.id.clone(), claim_name.to_string());
                if self.state.unavailable_offerings.record_success(
                    &instance.offering.instance_type,
                    instance.offering.capacity_type,
                    &instance.offering.zone,
                ) {
                    self.state.capacity_generation += 1;
                }
                if !launched.unavailable.is_empty() {
                    self.recorder
                        .ice(self.now, &node_pool, claim_name, &launched.unavailable);
                }
                self.recorder.launched(
                    self.now,
                    &instance,
                    self.on_demand_price(&instance),
                    fallback,
                    &pods,
                );
                self.invariants
                    .check_limits(&self.state, &node_pool, &mut self.recorder, self.now);
                let (low, high) = self.scenario.timing.launch_seconds;
                let delay =
                    Duration::from_secs(self.random.between(u64::from(low), u64::from(high)));
                self.at(
                    self.now + delay,
                    Event::RegisterNode(claim_name.to_string()),
                );
            }
            Err(CloudError::InsufficientCapacity { offerings }) => {
                self.recorder
                    .ice(self.now, &node_pool, claim_name, &offerings);
                self.recorder.left_pending_by_ice(self.now, &pods);
                claim.launch = LaunchState::InsufficientCapacity { offerings };
            }
            Err(other) => {
                self.recorder.event(
                    self.now,
                    EventKind::Ice,
                    Some(node_pool),
                    Some(claim_name.to_string()),
                    format!("launch failed: {other}"),
                );
                claim.launch = LaunchState::InsufficientCapacity {
                    offerings: Vec::new(),
                };
            }
        }
        true
    }

    /// Puts the cloud's insufficient-capacity answers in the cache, as the cloud provider of a
    /// real cluster does when CreateFleet answers.
    fn record_insufficient_capacity(&mut self, offerings: &[spotter_cloud::OfferingKey]) {
        for offering in offerings {
            let until = self
                .state
                .unavailable_offerings
                .record_insufficient_capacity(
                    &offering.instance_type,
                    offering.capacity_type,
                    &offering.zone,
                    self.now,
                );
            self.expire_unavailable_at(until);
        }
    }

    /// Makes sure the cache is expired at `until`.
    pub(crate) fn expire_unavailable_at(&mut self, until: Duration) {
        if until != Duration::MAX && self.expiry_times.insert(until) {
            self.at(until, Event::ExpireUnavailable);
        }
    }

    /// The on-demand price of the instance's type in its zone (for the all-on-demand baseline).
    pub(crate) fn on_demand_price(&self, instance: &spotter_cloud::Instance) -> f64 {
        self.state
            .instance_type(&instance.offering.instance_type)
            .and_then(|instance_type| {
                instance_type
                    .offerings
                    .iter()
                    .filter(|offering| offering.capacity_type == CapacityType::OnDemand)
                    .find(|offering| offering.zone == instance.offering.zone)
                    .or_else(|| {
                        instance_type
                            .offerings
                            .iter()
                            .find(|offering| offering.capacity_type == CapacityType::OnDemand)
                    })
                    .map(|offering| offering.price_per_hour)
            })
            .unwrap_or(instance.price_per_hour)
    }
}
