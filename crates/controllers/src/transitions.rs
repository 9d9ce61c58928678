//! The state machine every driver shares: how [`ClusterState`] changes when an [`Action`] has
//! been performed (with the [`Outcome`] the world gave), and when the world is observed to
//! change (an instance launched or gone, a node registered or Ready, a notice received, a pod
//! created, bound or deleted). A driver only translates: it performs actions in its world
//! and reports what it sees through these transitions; it never edits the state by itself.
//!
//! What a controller restart loses is [`ClusterState::forget_memory`]: everything else is what
//! a cluster and a cloud can be asked again (objects, labels, annotations, tags).

use std::collections::BTreeSet;
use std::time::Duration;

use spotter_cloud::{CloudError, Launched, OfferingKey};
use spotter_core::interruption_history::InterruptionHistory;
use spotter_core::offering::CapacityType;
use spotter_core::placement_scores::PlacementScores;
use spotter_core::pod::DO_NOT_DISRUPT_ANNOTATION;
use spotter_core::resources::Resources;
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableOfferings};

use crate::action::Action;
use crate::settings::Settings;
use crate::state::{
    ClusterState, Deletion, DisruptionReason, InterruptionNotice, LaunchState, NodeClaim,
    NodeState, NoticeKind, PodState,
};

/// What came of performing an action in the world.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The world did it, or the action changes only the state in this world.
    Done,
    /// The world refused it for now (an eviction a PodDisruptionBudget forbids at this
    /// moment, a conflicting update): nothing changes; the controllers decide again later.
    Refused,
    /// The call is in flight; its answer comes back as an observation
    /// ([`ClusterState::launch_completed`]).
    Started,
    /// The cloud answered a launch.
    Launched(Result<Launched, CloudError>),
    /// The cloud answered a termination.
    Terminated(Result<(), CloudError>),
}

/// What a transition did, for the reconcile loop and for the driver.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Whether the state changed (the controllers should look again).
    pub changed: bool,
    /// When the controllers want to look again because of it.
    pub wake_at: Option<Duration>,
    /// Pods that left the state with a node that went away, by key: DaemonSet pods, and
    /// workload pods that were still there (lost, for their owners to replace).
    pub removed_pods: Vec<(String, PodState)>,
}

/// The first retry of a launch that failed for a passing reason waits this long; each next
/// one twice as long, up to [`MAX_LAUNCH_RETRY`].
pub const FIRST_LAUNCH_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two launch attempts.
pub const MAX_LAUNCH_RETRY: Duration = Duration::from_secs(60);

impl Applied {
    fn changed(changed: bool) -> Self {
        Self {
            changed,
            ..Self::default()
        }
    }
}

impl ClusterState {
    /// Applies what performing `action` did. `settings` are the controllers'.
    pub fn apply(
        &mut self,
        action: &Action,
        outcome: Outcome,
        now: Duration,
        settings: &Settings,
    ) -> Applied {
        if outcome == Outcome::Refused {
            return Applied::default();
        }
        match action {
            Action::CreateNodeClaim(request) => {
                if self.node_claims.contains_key(&request.name) {
                    return Applied::default();
                }
                let node_pool = self.node_pool(&request.node_pool);
                let node_pool_hash = node_pool.map(crate::drift::node_pool_hash);
                let node_class_hash = node_pool
                    .and_then(|pool| self.node_class_hashes.get(&pool.node_class))
                    .cloned();
                for pod in &request.pods {
                    if let Some(pod) = self.pods.get_mut(pod) {
                        pod.nominated = Some(request.name.clone());
                        pod.retry_now = false;
                    }
                }
                self.node_claims.insert(
                    request.name.clone(),
                    NodeClaim {
                        name: request.name.clone(),
                        node_pool: request.node_pool.clone(),
                        requirements: request.requirements.clone(),
                        instance_types: request.instance_types.clone(),
                        created_at: now,
                        launch: LaunchState::NotLaunched,
                        node: None,
                        initialized: false,
                        deletion: None,
                        fallback: request.fallback,
                        replaces: request.replaces.clone(),
                        node_pool_hash: node_pool_hash.clone(),
                        node_class_hash,
                    },
                );
                Applied::changed(true)
            }
            Action::Nominate { pod, node_claim } => match self.pods.get_mut(pod) {
                Some(pod) if pod.nominated.as_deref() != Some(node_claim.as_str()) => {
                    pod.nominated = Some(node_claim.clone());
                    pod.retry_now = false;
                    Applied::changed(true)
                }
                _ => Applied::default(),
            },
            Action::LaunchNodeClaim { node_claim, .. } => {
                let Some(claim) = self.node_claims.get_mut(node_claim) else {
                    return Applied::default();
                };
                if !matches!(
                    claim.launch,
                    LaunchState::NotLaunched | LaunchState::Retrying { .. }
                ) {
                    return Applied::default();
                }
                match outcome {
                    Outcome::Launched(result) => self.launch_completed(node_claim, result, now),
                    _ => {
                        claim.launch = LaunchState::Launching { since: now };
                        Applied::changed(true)
                    }
                }
            }
            Action::MarkUnavailable {
                offering,
                until,
                reason,
                wider: None,
            } => {
                let expiry = self.unavailable_offerings.mark_until(
                    OfferingSelector::offering(
                        &offering.instance_type,
                        offering.capacity_type,
                        &offering.zone,
                    ),
                    *until,
                    *reason,
                );
                self.expire_unavailable_at(expiry);
                Applied::changed(true)
            }
            Action::MarkUnavailable {
                offering,
                until,
                wider: Some(level),
                ..
            } => {
                let expiry = self.unavailable_offerings.avoid_until(
                    level.clone(),
                    offering.capacity_type,
                    &offering.zone,
                    *until,
                );
                self.expire_unavailable_at(expiry);
                Applied::changed(true)
            }
            Action::DeleteNodeClaim {
                node_claim,
                reason,
                deadline,
            } => self.delete_node_claim(node_claim, *reason, *deadline, now, settings),
            Action::RemoveNodeClaim { node_claim } => {
                let Some(claim) = self.node_claims.remove(node_claim) else {
                    return Applied::default();
                };
                let removed_pods = claim
                    .node
                    .as_deref()
                    .map(|node| self.remove_node(node))
                    .unwrap_or_default();
                self.capacity_generation += 1;
                Applied {
                    changed: true,
                    wake_at: None,
                    removed_pods,
                }
            }
            Action::TaintNode { node, taint } => match self.nodes.get_mut(node) {
                Some(node) if !node.taints.contains(taint) => {
                    node.taints.push(taint.clone());
                    Applied::changed(true)
                }
                _ => Applied::default(),
            },
            Action::CordonNode { node } => match self.nodes.get_mut(node) {
                Some(node) if !node.unschedulable => {
                    node.unschedulable = true;
                    Applied::changed(true)
                }
                _ => Applied::default(),
            },
            Action::EvictPod { pod } | Action::DeletePod { pod, .. } => {
                let bound = self.pods.get(pod).is_some_and(|state| state.node.is_some());
                if !bound || outcome == Outcome::Started {
                    return Applied::default();
                }
                Applied::changed(self.pod_removed(pod, now).is_some())
            }
            Action::TerminateInstance { node_claim } => {
                let Some(deletion) = self
                    .node_claims
                    .get_mut(node_claim)
                    .and_then(|claim| claim.deletion.as_mut())
                else {
                    return Applied::default();
                };
                if deletion.instance_terminating {
                    return Applied::default();
                }
                match outcome {
                    // Throttled or failed: asked again on a later pass.
                    Outcome::Terminated(Err(error)) if error.is_transient() => Applied::default(),
                    // Gone already: nothing will tell of its end.
                    Outcome::Terminated(Err(CloudError::NotFound { .. })) => {
                        deletion.instance_terminating = true;
                        deletion.instance_terminated = true;
                        Applied::changed(true)
                    }
                    _ => {
                        deletion.instance_terminating = true;
                        Applied::changed(true)
                    }
                }
            }
            Action::RecordReturnToSpot { node_pool, record } => {
                let changed = self.return_to_spot.get(node_pool) != Some(record);
                self.return_to_spot.insert(node_pool.clone(), *record);
                Applied::changed(changed)
            }
            Action::PodUnschedulable { .. } => Applied::default(),
        }
    }

    /// A launch answered (at once, or later for an asynchronous driver).
    pub fn launch_completed(
        &mut self,
        node_claim: &str,
        result: Result<Launched, CloudError>,
        now: Duration,
    ) -> Applied {
        let failed: &[OfferingKey] = match &result {
            Ok(launched) => &launched.unavailable,
            Err(CloudError::InsufficientCapacity { offerings }) => offerings,
            Err(_) => &[],
        };
        // The cloud's insufficient-capacity answers go in the cache as they come, as
        // Karpenter's cloud provider records them.
        for offering in failed {
            let until = self.unavailable_offerings.record_insufficient_capacity(
                &offering.instance_type,
                offering.capacity_type,
                &offering.zone,
                now,
            );
            self.expire_unavailable_at(until);
        }
        let Some(claim) = self.node_claims.get_mut(node_claim) else {
            return Applied::changed(!failed.is_empty());
        };
        match result {
            Ok(launched) => {
                let offering = launched.instance.offering.clone();
                // A fallback is on-demand capacity standing in for Spot: a launch that got
                // Spot after all is none.
                claim.fallback &= offering.capacity_type == CapacityType::OnDemand;
                claim.launch = LaunchState::Launched {
                    instance: launched.instance,
                    unavailable: launched.unavailable,
                };
                if self.unavailable_offerings.record_success(
                    &offering.instance_type,
                    offering.capacity_type,
                    &offering.zone,
                ) {
                    self.capacity_generation += 1;
                }
            }
            Err(CloudError::InsufficientCapacity { offerings }) => {
                claim.launch = LaunchState::InsufficientCapacity { offerings };
            }
            // Throttling and transient failures pass; a missing permission or a request the
            // cloud refuses needs the user (an IAM policy, an EC2NodeClass whose selectors match
            // nothing), and trying again at once, or deleting the claim and solving its pods
            // into the same request, would only repeat the refusal in a tight loop: each is
            // retried with backoff, the claim kept, as Karpenter requeues a failed launch.
            Err(error)
                if error.is_transient()
                    || matches!(
                        error,
                        CloudError::PermissionDenied { .. } | CloudError::InvalidRequest { .. }
                    ) =>
            {
                let attempts = match &claim.launch {
                    LaunchState::Retrying { attempts, .. } => attempts + 1,
                    _ => 1,
                };
                let backoff = FIRST_LAUNCH_RETRY
                    .saturating_mul(1 << (attempts - 1).min(16))
                    .min(MAX_LAUNCH_RETRY);
                let retry_after = match &error {
                    CloudError::Throttled {
                        retry_after: Some(after),
                        ..
                    } => backoff.max(*after),
                    _ => backoff,
                };
                claim.launch = LaunchState::Retrying {
                    retry_at: now + retry_after,
                    attempts,
                    error: error.to_string(),
                };
                return Applied {
                    changed: true,
                    wake_at: Some(now + retry_after),
                    removed_pods: Vec::new(),
                };
            }
            Err(_) => {
                // The claim's instance is not found: the claim goes, its pods are solved
                // again.
                claim.launch = LaunchState::InsufficientCapacity {
                    offerings: Vec::new(),
                };
            }
        }
        Applied::changed(true)
    }

    /// The node of a launched NodeClaim registered: it gets the claim's labels and its
    /// NodePool's taints and startup taints, as Karpenter's registration does. Returns the
    /// node, or `None` when the claim is gone, deleting or registered already.
    pub fn node_registered(
        &mut self,
        node_claim: &str,
        node_name: &str,
        allocatable: Resources,
        now: Duration,
    ) -> Option<&NodeState> {
        let claim = self.node_claims.get(node_claim)?;
        if claim.deletion.is_some() || claim.node.is_some() {
            return None;
        }
        let labels = self.node_labels(claim, node_name)?;
        let pool = self.node_pool(&claim.node_pool)?;
        let mut taints = pool.taints.clone();
        taints.extend(pool.startup_taints.iter().cloned());
        let mut node = NodeState::new(
            node_name.to_string(),
            node_claim.to_string(),
            labels,
            taints,
            allocatable,
            now,
        );
        // The template's annotations are copied onto the node.
        node.do_not_disrupt = pool
            .annotations
            .get(DO_NOT_DISRUPT_ANNOTATION)
            .is_some_and(|value| value == "true");
        if let Some(claim) = self.node_claims.get_mut(node_claim) {
            claim.node = Some(node_name.to_string());
        }
        self.nodes.insert(node_name.to_string(), node);
        self.nodes.get(node_name)
    }

    /// Whatever cleared a node's startup taints did (a CNI, an agent).
    pub fn startup_taints_removed(&mut self, node_name: &str) -> bool {
        let Some(startup) = self
            .claim_of_node(node_name)
            .and_then(|claim| self.node_pool(&claim.node_pool))
            .map(|pool| pool.startup_taints.clone())
        else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(node_name) else {
            return false;
        };
        let before = node.taints.len();
        node.taints.retain(|taint| !startup.contains(taint));
        let changed = node.taints.len() != before;
        self.check_initialized(node_name);
        changed
    }

    /// A node became Ready.
    pub fn node_ready(&mut self, node_name: &str, now: Duration) -> bool {
        let Some(node) = self.nodes.get_mut(node_name) else {
            return false;
        };
        node.ready = true;
        node.last_pod_event = now;
        self.check_initialized(node_name);
        true
    }

    /// Marks the node's claim initialized once the node is Ready with its startup taints gone
    /// (Karpenter's `Initialized` condition).
    fn check_initialized(&mut self, node_name: &str) {
        let Some(node) = self.nodes.get(node_name) else {
            return;
        };
        let startup_left = self
            .claim_of_node(node_name)
            .and_then(|claim| self.node_pool(&claim.node_pool))
            .is_some_and(|pool| {
                pool.startup_taints
                    .iter()
                    .any(|taint| node.taints.contains(taint))
            });
        let initialized = node.ready && !startup_left;
        let claim_name = node.node_claim.clone();
        if let Some(claim) = self.node_claims.get_mut(&claim_name) {
            claim.initialized = initialized;
        }
    }

    /// An interruption notice arrived (from the queue or a node agent), and the controllers
    /// will act on it. A Spot interruption warning is also recorded in the interruption history
    /// and as the offering's failure time; the other kinds (a rebalance recommendation, a state
    /// change, an AWS Health scheduled change) say nothing about the offering's Spot capacity.
    pub fn interruption_received(&mut self, notice: InterruptionNotice, now: Duration) {
        let spot_interruption = matches!(notice.kind, NoticeKind::SpotInterruption { .. });
        let offering = self.node_claims.values().find_map(|claim| {
            claim
                .instance()
                .filter(|instance| instance.id == notice.instance_id)
                .map(|instance| (instance.offering.clone(), claim.node_pool.clone()))
        });
        if let Some((offering, node_pool)) = offering.filter(|_| spot_interruption) {
            self.interruption_history.record(
                (
                    &offering.instance_type,
                    offering.capacity_type,
                    &offering.zone,
                ),
                &node_pool,
                &notice.instance_id,
                now,
            );
            self.unavailable_offerings.record_interruption(
                &offering.instance_type,
                offering.capacity_type,
                &offering.zone,
                now,
            );
        }
        self.interruption_notices.push(notice);
    }

    /// The instance of a NodeClaim is gone (terminated by Spotter, reclaimed or stopped by
    /// the cloud): its node goes with whatever pods were still on it, and a claim that was not
    /// being deleted is now (`InstanceStopped`).
    pub fn instance_terminated(&mut self, node_claim: &str, now: Duration) -> Applied {
        let Some(claim) = self.node_claims.get_mut(node_claim) else {
            return Applied::default();
        };
        let instance_id = claim.instance().map(|instance| instance.id.clone());
        let node = claim.node.clone();
        match &mut claim.deletion {
            Some(deletion) => deletion.instance_terminated = true,
            None => {
                claim.deletion = Some(Deletion {
                    reason: DisruptionReason::InstanceStopped,
                    requested_at: now,
                    deadline: Some(now),
                    instance_terminating: true,
                    instance_terminated: true,
                });
            }
        }
        if let Some(instance_id) = instance_id {
            self.interruption_notices
                .retain(|notice| notice.instance_id != instance_id);
        }
        let removed_pods = node.map(|node| self.remove_node(&node)).unwrap_or_default();
        self.capacity_generation += 1;
        Applied {
            changed: true,
            wake_at: None,
            removed_pods,
        }
    }

    /// A pod was created.
    pub fn pod_created(&mut self, key: String, pod: PodState) {
        self.insert_pod(key, pod);
    }

    /// kube-scheduler bound a pod to a node.
    pub fn pod_bound_to(&mut self, key: &str, node_name: &str, now: Duration) -> bool {
        let Some(pod) = self.pods.get_mut(key) else {
            return false;
        };
        pod.node = Some(node_name.to_string());
        pod.nominated = None;
        pod.retry_now = false;
        let bound = std::sync::Arc::clone(&pod.pod);
        let daemon = pod.daemon;
        self.pod_bound(key);
        if let Some(node) = self.nodes.get_mut(node_name) {
            node.bind(key.to_string(), bound, daemon, now);
        }
        true
    }

    /// A pod bound to a node was marked for deletion (evicted or deleted): it stays on its
    /// node until it is gone, but no capacity is planned for it any more, and the capacity
    /// it was planned onto is free for the pod that replaces it. True when that changed.
    pub fn pod_terminating(&mut self, key: &str) -> bool {
        let Some(pod) = self.pods.get_mut(key) else {
            return false;
        };
        if pod.node.is_none() || pod.daemon {
            return false;
        }
        let changed = !pod.terminating || pod.nominated.is_some();
        pod.terminating = true;
        pod.nominated = None;
        changed
    }

    /// A pod is gone (deleted, evicted, completed); returns it.
    pub fn pod_removed(&mut self, key: &str, now: Duration) -> Option<PodState> {
        let pod = self.remove_pod(key)?;
        if let Some(node) = pod.node.as_ref().and_then(|node| self.nodes.get_mut(node)) {
            node.unbind(key, pod.daemon, now);
        }
        Some(pod)
    }

    /// The `index`th PodDisruptionBudget's owners want `expected_pods` pods (its status's
    /// `expectedPods`, which kube's disruption controller keeps).
    pub fn pod_disruption_budget_expects(&mut self, index: usize, expected_pods: u32) {
        if let Some(budget) = self.pod_disruption_budgets.get_mut(index) {
            budget.expected_pods = expected_pods;
        }
    }

    /// Forgets the interruptions older than the history's memory.
    pub fn prune_interruption_history(&mut self, now: Duration) {
        self.interruption_history.prune(now);
    }

    /// The cloud's up-front Spot placement scores were read (they replace the last ones).
    pub fn placement_scores_observed(&mut self, scores: PlacementScores) {
        self.placement_scores = scores;
    }

    /// Drops the unavailable-offerings entries that expired by `now`; bumps the capacity
    /// generation when an offering came back.
    pub fn expire_unavailable(&mut self, now: Duration) -> bool {
        let due: Vec<Duration> = self.unavailable_expiries.range(..=now).copied().collect();
        if due.is_empty() {
            return false;
        }
        for time in due {
            self.unavailable_expiries.remove(&time);
        }
        let changed = self.unavailable_offerings.expire(now);
        if changed {
            self.capacity_generation += 1;
        }
        changed
    }

    /// Everything a restarted controller does not have: what lived only in its memory
    /// (nominations, the unavailable-offerings cache, the interruption history, retries
    /// in flight). What remains is what the objects and the cloud tell; an in-flight launch
    /// is asked again (idempotent by the NodeClaim's name).
    pub fn forget_memory(&mut self, settings: &Settings, now: Duration) {
        for pod in self.pods.values_mut() {
            pod.nominated = None;
            pod.retry_now = false;
        }
        for claim in self.node_claims.values_mut() {
            if matches!(
                claim.launch,
                LaunchState::Launching { .. }
                    | LaunchState::Retrying { .. }
                    | LaunchState::InsufficientCapacity { .. }
            ) {
                claim.launch = LaunchState::NotLaunched;
            }
        }
        for node in self.nodes.values_mut() {
            // When a node last saw a pod come or go is not on any object: counted from now.
            node.last_pod_event = now;
        }
        self.unavailable_offerings = UnavailableOfferings::with_settings(settings.cache_settings());
        self.unavailable_expiries = BTreeSet::new();
        self.interruption_history = InterruptionHistory::new(settings.interruption_memory());
        self.placement_scores = PlacementScores::default();
        self.capacity_generation += 1;
    }

    /// Starts (or hastens) the deletion of a NodeClaim.
    fn delete_node_claim(
        &mut self,
        node_claim: &str,
        reason: DisruptionReason,
        deadline: Option<Duration>,
        now: Duration,
        settings: &Settings,
    ) -> Applied {
        let Some(claim) = self.node_claims.get_mut(node_claim) else {
            return Applied::default();
        };
        match &mut claim.deletion {
            Some(existing) => {
                if deadline.is_some() && existing.deadline.is_none() {
                    existing.deadline = deadline;
                    existing.reason = reason;
                } else {
                    return Applied::default();
                }
            }
            None => {
                claim.deletion = Some(Deletion {
                    reason,
                    requested_at: now,
                    deadline,
                    instance_terminating: false,
                    instance_terminated: false,
                });
            }
        }
        // The pods planned onto it are solved again; at once when the launch found no
        // capacity (the fallback must not wait for a batching window).
        let retry = reason == DisruptionReason::InsufficientCapacity;
        for pod in self.pods.values_mut() {
            if pod.nominated.as_deref() == Some(node_claim) {
                pod.nominated = None;
                pod.retry_now = retry;
            }
        }
        Applied {
            changed: true,
            wake_at: deadline
                .map(|deadline| deadline.saturating_sub(settings.force_delete_before_deadline)),
            removed_pods: Vec::new(),
        }
    }

    /// Removes a node and the pods bound to it; returns them.
    fn remove_node(&mut self, node_name: &str) -> Vec<(String, PodState)> {
        let Some(node) = self.nodes.remove(node_name) else {
            return Vec::new();
        };
        node.pods
            .into_keys()
            .filter_map(|key| self.remove_pod(&key).map(|pod| (key, pod)))
            .collect()
    }

    /// Makes sure the reconcile loop expires the cache at `until`.
    fn expire_unavailable_at(&mut self, until: Duration) {
        if until != Duration::MAX {
            self.unavailable_expiries.insert(until);
        }
    }
}
