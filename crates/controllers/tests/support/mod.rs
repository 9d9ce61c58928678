//! Shared helpers for the controller tests: a [`ClusterState`] builder, NodeClaims, nodes, pods,
//! PodDisruptionBudgets and interruption notices made in one line each, the expected actions,
//! and a compact description of actions for the provisioner's tables.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::time::Duration;

pub use spotter_cloud::{Instance, OfferingKey, OfferingRequest};
pub use spotter_controllers::action::{Action, NodeClaimRequest};
pub use spotter_controllers::pod_disruption_budget::{Amount, Budget, PodDisruptionBudget};
pub use spotter_controllers::state::{
    ClusterState, Deletion, DisruptionReason, InterruptionNotice, LaunchState, NodeClaim,
    NodeState, NoticeKind, PodState,
};
pub use spotter_controllers::{Controllers, Policy, Reconciled, Settings};
pub use spotter_core::builders::{instance_type, node_pool, pod, selector};
pub use spotter_core::instance_type::InstanceType;
pub use spotter_core::labels;
pub use spotter_core::node_pool::{Budget as NodePoolBudget, BudgetNodes, NodePool};
pub use spotter_core::offering::CapacityType;
pub use spotter_core::pod::Pod;
pub use spotter_core::requirements::{Operator, Requirement, Requirements};
pub use spotter_core::taints::{DISRUPTED_TAINT_KEY, Effect, Taint};
pub use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableReason};

/// Seconds.
pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Milliseconds.
pub fn millis(milliseconds: u64) -> Duration {
    Duration::from_millis(milliseconds)
}

/// Two instance types, each offered as Spot and on-demand in `zone-a`:
/// `m5.large` (2 vCPU, 8 GiB) and `m5.xlarge` (4 vCPU, 16 GiB).
pub fn catalog() -> Vec<InstanceType> {
    vec![
        instance_type("m5.large")
            .cpu(2)
            .memory_gib(8)
            .offering(CapacityType::Spot, "zone-a", 0.04)
            .offering(CapacityType::OnDemand, "zone-a", 0.096)
            .build(),
        instance_type("m5.xlarge")
            .cpu(4)
            .memory_gib(16)
            .offering(CapacityType::Spot, "zone-a", 0.08)
            .offering(CapacityType::OnDemand, "zone-a", 0.192)
            .build(),
    ]
}

/// Starts an empty cluster.
pub fn state() -> ClusterStateBuilder {
    ClusterStateBuilder::default()
}

/// Builds a [`ClusterState`]. Pods bound to a node are added to the node's pod set by
/// [`ClusterStateBuilder::build`], so a test only says where each pod runs.
#[derive(Debug, Default)]
pub struct ClusterStateBuilder {
    state: ClusterState,
}

impl ClusterStateBuilder {
    /// Adds a NodePool.
    pub fn pool(mut self, pool: NodePool) -> Self {
        self.state.node_pools.push(pool);
        self
    }

    /// Sets the region's instance types.
    pub fn instance_types(mut self, instance_types: Vec<InstanceType>) -> Self {
        self.state.instance_types = Arc::new(instance_types);
        self
    }

    /// Adds a DaemonSet (its template pod).
    pub fn daemon_set(mut self, pod: Pod) -> Self {
        self.state.daemon_set_pods.push(pod);
        self
    }

    /// Adds a NodeClaim.
    pub fn claim(mut self, claim: impl Into<NodeClaim>) -> Self {
        let claim = claim.into();
        self.state.node_claims.insert(claim.name.clone(), claim);
        self
    }

    /// Adds a launched NodeClaim and the Ready, initialized node that registered for it (named
    /// like the claim), whose last pod event was at `last_pod_event`. The claim's instance type
    /// must be among the instance types set before.
    pub fn claim_with_node(
        mut self,
        claim: impl Into<NodeClaim>,
        last_pod_event: Duration,
    ) -> Self {
        let mut claim = claim.into();
        let node = node_for(&claim, &self.state.instance_types, last_pod_event);
        claim.node = Some(node.name.clone());
        claim.initialized = true;
        self.state.nodes.insert(node.name.clone(), node);
        self.state.node_claims.insert(claim.name.clone(), claim);
        self
    }

    /// Changes a node added before.
    pub fn map_node(mut self, name: &str, change: impl FnOnce(&mut NodeState)) -> Self {
        let node = self
            .state
            .nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("no node {name} to change"));
        change(node);
        self
    }

    /// Adds a pod.
    pub fn pod(mut self, pod: impl Into<PodState>) -> Self {
        let pod = pod.into();
        self.state.insert_pod(pod.pod.id(), pod);
        self
    }

    /// Adds a PodDisruptionBudget.
    pub fn pdb(mut self, budget: PodDisruptionBudget) -> Self {
        self.state.pod_disruption_budgets.push(budget);
        self
    }

    /// Marks every offering matching `selector` unavailable.
    pub fn unavailable(mut self, selector: OfferingSelector) -> Self {
        self.state.unavailable_offerings.mark(selector);
        self
    }

    /// Adds an interruption notice.
    pub fn notice(mut self, notice: InterruptionNotice) -> Self {
        self.state.interruption_notices.push(notice);
        self
    }

    /// Records a Spot interruption warning for `instance_id` of Spot `instance_type` in `zone`
    /// at `at`, as the driver does when a notice arrives.
    pub fn interrupted(
        mut self,
        instance_type: &str,
        zone: &str,
        instance_id: &str,
        at: Duration,
    ) -> Self {
        self.state.interruption_history.record(
            (instance_type, CapacityType::Spot, zone),
            "default",
            instance_id,
            at,
        );
        self.state.unavailable_offerings.record_interruption(
            instance_type,
            CapacityType::Spot,
            zone,
            at,
        );
        self
    }

    /// Records an insufficient-capacity answer for an offering at `at`, as the driver does.
    pub fn insufficient_capacity(
        mut self,
        capacity_type: CapacityType,
        instance_type: &str,
        zone: &str,
        at: Duration,
    ) -> Self {
        self.state
            .unavailable_offerings
            .record_insufficient_capacity(instance_type, capacity_type, zone, at);
        self
    }

    /// Uses `settings`' rules for the unavailable-offerings cache (its backoff).
    pub fn cache_of(mut self, settings: &Settings) -> Self {
        self.state.unavailable_offerings =
            spotter_core::unavailable_offerings::UnavailableOfferings::with_settings(
                settings.cache_settings(),
            );
        self
    }

    /// Sets the capacity generation.
    pub fn capacity_generation(mut self, generation: u64) -> Self {
        self.state.capacity_generation = generation;
        self
    }

    /// The state, with every bound pod listed on its node.
    pub fn build(mut self) -> ClusterState {
        for (key, pod) in &self.state.pods {
            if let Some(node) = pod
                .node
                .as_ref()
                .and_then(|node| self.state.nodes.get_mut(node))
            {
                let last_pod_event = node.last_pod_event;
                node.bind(
                    key.clone(),
                    Arc::clone(&pod.pod),
                    pod.daemon,
                    last_pod_event,
                );
            }
        }
        self.state
    }

    /// The state, changed by `change` after [`Self::build`] (for what no helper covers).
    pub fn build_with(self, change: impl FnOnce(&mut ClusterState)) -> ClusterState {
        let mut state = self.build();
        change(&mut state);
        state
    }
}

/// The instance ID of a claim's instance.
pub fn instance_id(claim: &str) -> String {
    format!("i-{claim}")
}

/// An offering.
pub fn offering(capacity_type: CapacityType, instance_type: &str, zone: &str) -> OfferingKey {
    OfferingKey {
        capacity_type,
        instance_type: instance_type.into(),
        zone: zone.into(),
    }
}

/// Starts a NodeClaim of `node_pool`, created at 0 s and not launched yet.
pub fn claim(name: &str, node_pool: &str) -> ClaimBuilder {
    let mut requirements = Requirements::new();
    requirements.add(labels::NODE_POOL, Requirement::single(node_pool));
    ClaimBuilder {
        claim: NodeClaim {
            name: name.into(),
            node_pool: node_pool.into(),
            requirements,
            instance_types: vec!["m5.large".into(), "m5.xlarge".into()],
            created_at: Duration::ZERO,
            launch: LaunchState::NotLaunched,
            node: None,
            initialized: false,
            deletion: None,
            fallback: false,
            replaces: None,
            node_pool_hash: None,
            node_class_hash: None,
        },
    }
}

/// Builds a [`NodeClaim`].
#[derive(Debug, Clone)]
pub struct ClaimBuilder {
    claim: NodeClaim,
}

impl ClaimBuilder {
    /// Sets the creation time.
    pub fn created_at(mut self, time: Duration) -> Self {
        self.claim.created_at = time;
        self
    }

    /// Launched at `time` as `capacity_type` `instance_type` in `zone`, instance `i-<name>`.
    pub fn launched(
        mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
        time: Duration,
    ) -> Self {
        self.claim.requirements.add(
            labels::CAPACITY_TYPE,
            Requirement::single(capacity_type.as_str()),
        );
        self.claim.launch = LaunchState::Launched {
            instance: Instance {
                id: instance_id(&self.claim.name),
                provider_id: format!("sim:///{zone}/{}", instance_id(&self.claim.name)),
                node_claim: self.claim.name.clone(),
                node_pool: self.claim.node_pool.clone(),
                offering: offering(capacity_type, instance_type, zone),
                price_per_hour: 0.1,
                launched_at: time,
            },
            unavailable: Vec::new(),
        };
        self
    }

    /// An on-demand fallback: launched at `time` as on-demand `m5.large` in `zone-a` where
    /// its pods would have taken Spot.
    pub fn fallback(mut self, time: Duration) -> Self {
        self.claim.fallback = true;
        self.launched("m5.large", CapacityType::OnDemand, "zone-a", time)
    }

    /// The Spot replacement of fallback claim `fallback`.
    pub fn replaces(mut self, fallback: &str) -> Self {
        self.claim.replaces = Some(fallback.into());
        self
    }

    /// Pinned to Spot (`karpenter.sh/capacity-type In [spot]`), as the provisioner pins a
    /// claim to the capacity type its launch will use.
    pub fn spot_only(mut self) -> Self {
        self.claim.requirements.add(
            labels::CAPACITY_TYPE,
            Requirement::single(CapacityType::Spot.as_str()),
        );
        self
    }

    /// Records `hash` as its NodePool's template hash (`karpenter.sh/nodepool-hash`).
    pub fn node_pool_hash(mut self, hash: &str) -> Self {
        self.claim.node_pool_hash = Some(hash.into());
        self
    }

    /// Records `hash` as its node class's static hash (`karpenter.k8s.aws/ec2nodeclass-hash`).
    pub fn node_class_hash(mut self, hash: &str) -> Self {
        self.claim.node_class_hash = Some(hash.into());
        self
    }

    /// Sets the candidate instance types.
    pub fn instance_types(mut self, names: &[&str]) -> Self {
        self.claim.instance_types = names.iter().map(|name| (*name).to_string()).collect();
        self
    }

    /// Launched at `time` as Spot `m5.large` in `zone-a`.
    pub fn spot(self, time: Duration) -> Self {
        self.launched("m5.large", CapacityType::Spot, "zone-a", time)
    }

    /// The launch answered insufficient capacity for `offerings`.
    pub fn insufficient_capacity(mut self, offerings: Vec<OfferingKey>) -> Self {
        self.claim.launch = LaunchState::InsufficientCapacity { offerings };
        self
    }

    /// Its node `name` registered (and is initialized).
    pub fn registered(mut self) -> Self {
        self.claim.node = Some(self.claim.name.clone());
        self.claim.initialized = true;
        self
    }

    /// Being deleted for `reason` since `requested_at`.
    pub fn deleting(mut self, reason: DisruptionReason, requested_at: Duration) -> Self {
        self.claim.deletion = Some(Deletion {
            reason,
            requested_at,
            deadline: None,
            instance_terminating: false,
            instance_terminated: false,
        });
        self
    }

    /// Being deleted with the instance going away at `deadline`.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deletion().deadline = Some(deadline);
        self
    }

    /// The instance was asked to terminate.
    pub fn instance_terminating(mut self) -> Self {
        self.deletion().instance_terminating = true;
        self
    }

    /// The instance is gone.
    pub fn instance_terminated(mut self) -> Self {
        let deletion = self.deletion();
        deletion.instance_terminating = true;
        deletion.instance_terminated = true;
        self
    }

    fn deletion(&mut self) -> &mut Deletion {
        self.claim
            .deletion
            .as_mut()
            .expect("call deleting(..) before the deletion details")
    }

    /// The claim.
    pub fn build(self) -> NodeClaim {
        self.claim
    }
}

impl From<ClaimBuilder> for NodeClaim {
    fn from(builder: ClaimBuilder) -> Self {
        builder.build()
    }
}

/// The Ready node a launched claim's instance registers as, named like the claim, labelled as
/// Karpenter labels it, with the instance type's allocatable resources.
pub fn node_for(
    claim: &NodeClaim,
    instance_types: &[InstanceType],
    last_pod_event: Duration,
) -> NodeState {
    let instance = claim
        .instance()
        .unwrap_or_else(|| panic!("claim {} has no instance to register", claim.name));
    let instance_type = instance_types
        .iter()
        .find(|candidate| candidate.name == instance.offering.instance_type)
        .unwrap_or_else(|| panic!("no instance type {}", instance.offering.instance_type));
    let mut node_labels: std::collections::BTreeMap<String, String> = instance_type
        .requirements
        .single_values()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    for (key, value) in [
        (labels::HOSTNAME, claim.name.as_str()),
        (labels::NODE_POOL, claim.node_pool.as_str()),
        (labels::ZONE, instance.offering.zone.as_str()),
        (
            labels::CAPACITY_TYPE,
            instance.offering.capacity_type.as_str(),
        ),
    ] {
        node_labels.insert(key.to_string(), value.to_string());
    }
    let mut node = NodeState::new(
        claim.name.clone(),
        claim.name.clone(),
        node_labels,
        Vec::new(),
        instance_type.allocatable.clone(),
        last_pod_event,
    );
    node.ready = true;
    node
}

/// A pending pod created at 0 s.
pub fn pending(pod: Pod) -> PodBuilder {
    PodBuilder {
        pod: PodState {
            pod: Arc::new(pod),
            node: None,
            nominated: None,
            created_at: Duration::ZERO,
            daemon: false,
            retry_now: false,
            terminating: false,
        },
    }
}

/// A pod bound to `node`.
pub fn bound(pod: Pod, node: &str) -> PodBuilder {
    let mut builder = pending(pod);
    builder.pod.node = Some(node.into());
    builder
}

/// A DaemonSet pod bound to `node`.
pub fn daemon(pod: Pod, node: &str) -> PodBuilder {
    let mut builder = bound(pod, node);
    builder.pod.daemon = true;
    builder
}

/// Builds a [`PodState`].
#[derive(Debug, Clone)]
pub struct PodBuilder {
    pod: PodState,
}

impl PodBuilder {
    /// Sets the creation time.
    pub fn created_at(mut self, time: Duration) -> Self {
        self.pod.created_at = time;
        self
    }

    /// Nominated to a NodeClaim.
    pub fn nominated(mut self, claim: &str) -> Self {
        self.pod.nominated = Some(claim.into());
        self
    }

    /// Evicted or deleted, still on its node (what `ClusterState::pod_terminating` leaves).
    pub fn terminating(mut self) -> Self {
        self.pod.terminating = true;
        self.pod.nominated = None;
        self
    }

    /// Its NodeClaim failed to launch: solve it again at once.
    pub fn retry_now(mut self) -> Self {
        self.pod.retry_now = true;
        self
    }

    /// The pod state.
    pub fn build(self) -> PodState {
        self.pod
    }
}

impl From<PodBuilder> for PodState {
    fn from(builder: PodBuilder) -> Self {
        builder.build()
    }
}

/// A PodDisruptionBudget in `default` over pods labelled `app=<app>`.
pub fn pdb(app: &str, budget: Budget, expected_pods: u32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        name: format!("{app}-pdb"),
        namespace: "default".into(),
        selector: selector(&[("app", app)]),
        budget,
        expected_pods,
    }
}

/// A NodePool disruption budget of `nodes` for `reasons` (every reason when empty), always
/// active.
pub fn budget(nodes: BudgetNodes, reasons: &[&str]) -> NodePoolBudget {
    NodePoolBudget {
        nodes,
        schedule: None,
        duration: None,
        reasons: reasons.iter().map(|reason| reason.to_string()).collect(),
    }
}

/// A notice about a claim's instance.
pub fn notice(claim: &str, kind: NoticeKind, received_at: Duration) -> InterruptionNotice {
    InterruptionNotice {
        instance_id: instance_id(claim),
        kind,
        received_at,
    }
}

/// A Spot interruption warning about a claim's instance.
pub fn spot_notice(
    claim: &str,
    received_at: Duration,
    terminate_at: Duration,
) -> InterruptionNotice {
    notice(
        claim,
        NoticeKind::SpotInterruption { terminate_at },
        received_at,
    )
}

// The actions a test expects.

/// `LaunchNodeClaim` trying `offerings` (capacity type, instance type, zone, price) in order.
pub fn launch(claim: &str, offerings: &[(CapacityType, &str, &str, f64)]) -> Action {
    Action::LaunchNodeClaim {
        node_claim: claim.into(),
        offerings: offerings
            .iter()
            .map(
                |&(capacity_type, instance_type, zone, price_per_hour)| OfferingRequest {
                    offering: offering(capacity_type, instance_type, zone),
                    price_per_hour,
                },
            )
            .collect(),
    }
}

/// `DeleteNodeClaim`.
pub fn delete(claim: &str, reason: DisruptionReason, deadline: Option<Duration>) -> Action {
    Action::DeleteNodeClaim {
        node_claim: claim.into(),
        reason,
        deadline,
    }
}

/// `MarkUnavailable`.
pub fn mark_unavailable(
    offering: OfferingKey,
    until: Duration,
    reason: UnavailableReason,
) -> Action {
    Action::MarkUnavailable {
        offering,
        until,
        reason,
        wider: None,
    }
}

/// `RemoveNodeClaim`.
pub fn remove(claim: &str) -> Action {
    Action::RemoveNodeClaim {
        node_claim: claim.into(),
    }
}

/// `TaintNode` with `karpenter.sh/disrupted:NoSchedule`.
pub fn taint_disrupted(node: &str) -> Action {
    Action::TaintNode {
        node: node.into(),
        taint: Taint::new(DISRUPTED_TAINT_KEY, "", Effect::NoSchedule),
    }
}

/// `CordonNode`.
pub fn cordon(node: &str) -> Action {
    Action::CordonNode { node: node.into() }
}

/// `EvictPod`.
pub fn evict(pod: &str) -> Action {
    Action::EvictPod { pod: pod.into() }
}

/// `DeletePod`.
pub fn delete_pod(pod: &str, reason: &str) -> Action {
    Action::DeletePod {
        pod: pod.into(),
        reason: reason.into(),
    }
}

/// `TerminateInstance`.
pub fn terminate(claim: &str) -> Action {
    Action::TerminateInstance {
        node_claim: claim.into(),
    }
}

/// One line per action, for tables where the full action carries solver detail (requirements,
/// reasons) a test does not pin down: a `CreateNodeClaim` reads
/// `create <name> pool=<pool> capacity=<types> types=<instance types> pods=<sorted pods>
/// fallback=<bool>`, a `PodUnschedulable` reads `unschedulable <pod>` (its reason is checked
/// apart), everything else its `Debug`.
pub fn describe(action: &Action) -> String {
    match action {
        Action::CreateNodeClaim(request) => {
            let capacity = request
                .requirements
                .get(labels::CAPACITY_TYPE)
                .map(|requirement| requirement.values().collect::<Vec<_>>().join(","))
                .unwrap_or_else(|| "any".into());
            let mut pods = request.pods.clone();
            pods.sort();
            let replaces = request
                .replaces
                .as_ref()
                .map(|fallback| format!(" replaces={fallback}"))
                .unwrap_or_default();
            format!(
                "create {} pool={} capacity={capacity} types={} pods={} fallback={}{replaces}",
                request.name,
                request.node_pool,
                request.instance_types.join(","),
                pods.join(","),
                request.fallback
            )
        }
        Action::Nominate { pod, node_claim } => format!("nominate {pod} -> {node_claim}"),
        Action::PodUnschedulable { pod, .. } => format!("unschedulable {pod}"),
        Action::RecordReturnToSpot { node_pool, record } => format!(
            "record {node_pool} last_probe={:?} last_return={:?}",
            record.last_probe.map(|time| time.as_secs()),
            record.last_return.map(|time| time.as_secs())
        ),
        other => format!("{other:?}"),
    }
}

/// [`describe`] over a list.
pub fn describe_all(actions: &[Action]) -> Vec<String> {
    actions.iter().map(describe).collect()
}

/// Gives the NodeClaims the controllers create (`<pool>-<random suffix>`) stable names for
/// the tables: `<pool>-00001`, `<pool>-00002`... in the order they are created, one count
/// over the whole case, as the actions are described.
#[derive(Debug, Default)]
pub struct StableNames {
    names: Vec<(String, String)>,
}

impl StableNames {
    /// [`describe_all`], with created NodeClaims' names made stable.
    pub fn describe_all(&mut self, actions: &[Action]) -> Vec<String> {
        for action in actions {
            if let Action::CreateNodeClaim(request) = action
                && spotter_controllers::node_claim_names::is_generated_for(
                    &request.name,
                    &request.node_pool,
                )
                && !self
                    .names
                    .iter()
                    .any(|(generated, _)| *generated == request.name)
            {
                let stable = format!("{}-{:05}", request.node_pool, self.names.len() + 1);
                self.names.push((request.name.clone(), stable));
            }
        }
        describe_all(actions)
            .into_iter()
            .map(|mut line| {
                for (generated, stable) in &self.names {
                    line = line.replace(generated.as_str(), stable);
                }
                line
            })
            .collect()
    }
}
