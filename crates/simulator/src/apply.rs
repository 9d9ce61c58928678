//! The simulator as a driver: performs the controllers' actions on the simulated cluster and
//! the simulated cloud, and records what they did.

use std::time::Duration;

use spotter_cloud::{CloudError, CloudProvider, LaunchRequest, OfferingRequest};
use spotter_controllers::Action;
use spotter_controllers::state::{Deletion, DisruptionReason, LaunchState, NodeClaim};
use spotter_core::instance_type::offering_allowed;
use spotter_core::offering::CapacityType;
use spotter_core::unavailable_offerings::OfferingSelector;

use crate::report::EventKind;
use crate::simulation::{Event, Simulation};
use crate::workloads::Removal;

impl Simulation {
    /// Performs one action; returns whether it changed anything.
    pub(crate) fn apply(&mut self, action: Action) -> bool {
        match action {
            Action::CreateNodeClaim(request) => {
                for pod in &request.pods {
                    if let Some(pod) = self.state.pods.get_mut(pod) {
                        pod.nominated = Some(request.name.clone());
                        pod.retry_now = false;
                    }
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
            Action::LaunchNodeClaim { node_claim } => self.launch(&node_claim),
            Action::MarkUnavailable {
                offering,
                until,
                reason: _,
            } => {
                self.state.unavailable_offerings.mark_until(
                    OfferingSelector {
                        capacity_type: Some(offering.capacity_type),
                        instance_type: Some(offering.instance_type.clone()),
                        zone: Some(offering.zone.clone()),
                    },
                    until,
                );
                self.at(until, Event::ExpireUnavailable);
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

    fn launch(&mut self, claim_name: &str) -> bool {
        let Some(claim) = self.state.node_claims.get(claim_name) else {
            return false;
        };
        if !matches!(claim.launch, LaunchState::NotLaunched) {
            return false;
        }
        let mut offerings: Vec<OfferingRequest> = Vec::new();
        for name in &claim.instance_types {
            let Some(instance_type) = self.state.instance_type(name) else {
                continue;
            };
            for offering in &instance_type.offerings {
                if offering_allowed(offering, &claim.requirements)
                    && !self.state.unavailable_offerings.contains(
                        name,
                        offering.capacity_type,
                        &offering.zone,
                    )
                {
                    offerings.push(OfferingRequest {
                        offering: spotter_cloud::OfferingKey {
                            capacity_type: offering.capacity_type,
                            instance_type: name.clone(),
                            zone: offering.zone.clone(),
                        },
                        price_per_hour: offering.price_per_hour,
                    });
                }
            }
        }
        offerings.sort_by(|left, right| {
            left.offering
                .capacity_type
                .cmp(&right.offering.capacity_type)
                .then(left.price_per_hour.total_cmp(&right.price_per_hour))
                .then(left.offering.cmp(&right.offering))
        });
        let request = LaunchRequest {
            node_claim: claim.name.clone(),
            node_pool: claim.node_pool.clone(),
            offerings,
        };
        let node_pool = claim.node_pool.clone();
        let fallback = claim.fallback;
        let result = self.cloud.create(&request, self.now);
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
                if !launched.unavailable.is_empty() {
                    self.recorder
                        .ice(self.now, &node_pool, claim_name, &launched.unavailable);
                }
                for offering in &launched.unavailable {
                    self.state.unavailable_offerings.mark_until(
                        OfferingSelector {
                            capacity_type: Some(offering.capacity_type),
                            instance_type: Some(offering.instance_type.clone()),
                            zone: Some(offering.zone.clone()),
                        },
                        self.now + self.controllers.settings().unavailable_offering_ttl,
                    );
                }
                if !launched.unavailable.is_empty() {
                    let until = self.now + self.controllers.settings().unavailable_offering_ttl;
                    self.at(until, Event::ExpireUnavailable);
                }
                self.recorder.launched(
                    self.now,
                    &instance,
                    self.on_demand_price(&instance),
                    fallback,
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
