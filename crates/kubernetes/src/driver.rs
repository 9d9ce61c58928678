//! The driver: one task owns the [`ClusterState`] and the [`Controllers`]. It turns what the
//! watches and the background cloud calls report into transitions of the state, waits until
//! every kind is listed (then it is ready, and a restarted controller has rebuilt its state
//! from the objects), and runs the shared [`ReconcileLoop`] whenever something changed or the
//! controllers asked to look again, performing each action in this world
//! ([`crate::perform`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::Client;
use spotter_cloud::{CloudError, CloudProvider, Instance, NodeClassDrift, OfferingKey};
use spotter_controllers::drift::{self, Drift};
use spotter_controllers::node_pool_usage::node_pool_usage;
use spotter_controllers::state::{
    Deletion, DisruptionReason, LaunchState, PodState, ReturnToSpotRecord,
};
use spotter_controllers::{Action, ClusterState, Controllers, Outcome, ReconcileLoop, Settings};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::offering::CapacityType;
use spotter_core::placement_scores::PlacementScores;
use spotter_core::pod::Pod;
use spotter_metrics::{Metrics, NoticeSource};
use tokio::sync::mpsc::{self, Receiver, Sender};

use crate::clock;
use crate::convert::{NodeClaimView, NodePoolView, NodeView, PodView};
use crate::events::{Events, Severity};
use crate::node_claim_object::{self, ClaimConditions};
use crate::node_pool_status::{NodeClassReadiness, NodePoolStatus};
use crate::notice_intake::NoticeIntake;
use crate::observation::{Kind, Object, Observation};
use crate::placement_score_request;
use crate::protocol;
use crate::shared_parts::SharedParts;

/// How many observations queue up before the watches wait for the driver.
const OBSERVATION_QUEUE: usize = 4096;
/// How often the gauges are refreshed from the state at most.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// How often a terminating instance is asked whether it is gone yet.
const TERMINATION_POLL: Duration = Duration::from_secs(2);
/// How many NodeClaim condition writes are in flight at once (one per claim at most).
const CONDITION_WRITES_IN_FLIGHT: usize = 16;
/// How long the driver sleeps when nothing is due (it wakes on any observation anyway).
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// What the driver is given.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The controllers' settings.
    pub settings: Settings,
    /// The seed of NodeClaim names (the clock: two processes draw different names).
    pub seed: u64,
    /// The instance types of the region (capacity and labels of launched NodeClaims).
    pub instance_types: Arc<Vec<InstanceType>>,
    /// The pod name, for events.
    pub identity: Option<String>,
    /// Whether the cloud provider writes the EC2NodeClasses' status (the AWS provider does):
    /// then a NodePool is `NodeClassReady` only once its class says `Ready`; otherwise (the
    /// fake provider) once its class exists.
    pub node_class_status: bool,
    /// How often the cloud is asked which launched NodeClaims drifted from their node class
    /// (AMI, subnets, security groups: [`CloudProvider::drifted`]).
    pub drift_check_interval: Duration,
    /// How often the cloud is asked for Spot placement scores
    /// ([`CloudProvider::spot_placement_scores`]); `None`: never.
    pub placement_score_interval: Option<Duration>,
}

/// The Kubernetes driver.
pub struct Driver<P: CloudProvider + 'static> {
    pub(crate) client: Client,
    pub(crate) cloud: Arc<P>,
    pub(crate) controllers: Controllers,
    pub(crate) state: ClusterState,
    pub(crate) sender: Sender<Observation>,
    receiver: Receiver<Observation>,
    pub(crate) events: Events,
    metrics: Arc<Mutex<Metrics>>,
    synced: BTreeSet<Kind>,
    buffered: Vec<Observation>,
    pub(crate) node_pools: BTreeMap<String, NodePoolView>,
    daemon_sets: BTreeMap<String, Pod>,
    pub(crate) nodes: BTreeMap<String, NodeView>,
    /// NodeClaims that exist as objects.
    pub(crate) claim_objects: BTreeSet<String>,
    /// The conditions last written on each NodeClaim, and when each became true.
    claim_conditions: BTreeMap<String, (ClaimConditions, BTreeMap<&'static str, Duration>)>,
    /// Pods with a deletion timestamp (evicted or deleted): they leave when the API says so.
    pub(crate) terminating_pods: HashSet<String>,
    /// Interruption notices already taken from the queue and the agents, by (instance, class).
    notice_intake: NoticeIntake,
    /// NodeClaims this driver removed (finalizer off, object deleted) whose deletion the
    /// watch has not reported yet: a late event for one is not a NodeClaim to adopt.
    pub(crate) removed_claims: HashSet<String>,
    /// Objects already reported invalid, with the message (reported again when it changes).
    reported_invalid: BTreeMap<String, String>,
    /// NodePools Spotter cannot read, with why (their status says so).
    invalid_node_pools: BTreeMap<String, String>,
    /// The EC2NodeClasses, by name, with their `Ready` condition.
    node_classes: BTreeMap<String, Option<bool>>,
    /// Whether the provider writes the node classes' status (see [`DriverConfig`]).
    node_class_status: bool,
    /// The status last written on each NodePool, and since when its `Ready` has held.
    node_pool_statuses: BTreeMap<String, (NodePoolStatus, Duration)>,
    /// Pods reported unschedulable, with the reason (an event again when it changes).
    pub(crate) reported_unschedulable: BTreeMap<String, String>,
    /// One copy of the labels, nodeSelector and tolerations the pods kept have in common.
    shared_parts: SharedParts,
    wake_at: Option<Duration>,
    metrics_published: Option<Instant>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    drift_check_interval: Duration,
    /// When the cloud was last asked about node class drift (the answer may be pending).
    drift_checked: Option<Instant>,
    placement_score_interval: Option<Duration>,
    /// When the cloud was last asked for placement scores (the answer may be pending).
    placement_scores_asked: Option<Instant>,
}

impl<P: CloudProvider + 'static> std::fmt::Debug for Driver<P> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Driver")
            .field("node_claims", &self.state.node_claims.len())
            .field("nodes", &self.state.nodes.len())
            .field("pods", &self.state.pods.len())
            .finish_non_exhaustive()
    }
}

impl<P: CloudProvider + 'static> Driver<P> {
    /// A driver on `client` and `cloud`, publishing into `metrics`; `ready` is set once every
    /// kind is listed.
    pub fn new(
        client: Client,
        cloud: Arc<P>,
        config: DriverConfig,
        metrics: Arc<Mutex<Metrics>>,
        ready: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(OBSERVATION_QUEUE);
        let state = ClusterState {
            instance_types: config.instance_types,
            unavailable_offerings:
                spotter_core::unavailable_offerings::UnavailableOfferings::with_settings(
                    config.settings.cache_settings(),
                ),
            interruption_history: spotter_core::interruption_history::InterruptionHistory::new(
                config.settings.interruption_memory(),
            ),
            ..ClusterState::default()
        };
        Self {
            events: Events::new(client.clone(), config.identity),
            client,
            cloud,
            controllers: Controllers::with_seed(config.settings, config.seed),
            state,
            sender,
            receiver,
            metrics,
            synced: BTreeSet::new(),
            buffered: Vec::new(),
            node_pools: BTreeMap::new(),
            daemon_sets: BTreeMap::new(),
            nodes: BTreeMap::new(),
            claim_objects: BTreeSet::new(),
            claim_conditions: BTreeMap::new(),
            terminating_pods: HashSet::new(),
            notice_intake: NoticeIntake::default(),
            removed_claims: HashSet::new(),
            reported_invalid: BTreeMap::new(),
            invalid_node_pools: BTreeMap::new(),
            node_classes: BTreeMap::new(),
            node_class_status: config.node_class_status,
            node_pool_statuses: BTreeMap::new(),
            reported_unschedulable: BTreeMap::new(),
            shared_parts: SharedParts::default(),
            wake_at: None,
            metrics_published: None,
            ready,
            drift_check_interval: config.drift_check_interval,
            drift_checked: None,
            placement_score_interval: config.placement_score_interval,
            placement_scores_asked: None,
        }
    }

    /// Where the watches send what they see.
    pub fn sender(&self) -> Sender<Observation> {
        self.sender.clone()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            // The disruption methods run at most every `disruption_poll` and only when a
            // reconcile happens then: the driver reconciles at least that often, as
            // Karpenter's disruption controller polls, so that a node that became empty
            // between two observations is not left until the next one.
            let sleep = self
                .wake_at
                .map(|wake_at| wake_at.saturating_sub(clock::now()))
                .unwrap_or(IDLE_WAKE)
                .min(self.controllers.settings().disruption_poll)
                .max(Duration::from_millis(10));
            tokio::select! {
                () = &mut shutdown => break,
                observation = self.receiver.recv() => {
                    let Some(observation) = observation else { break };
                    self.receive(observation).await;
                    // Take what else is queued before reconciling once for all of it.
                    while let Ok(observation) = self.receiver.try_recv() {
                        self.receive(observation).await;
                    }
                }
                () = tokio::time::sleep(sleep) => {}
            }
            if self.is_ready() {
                self.reconcile().await;
                self.publish_metrics(false);
                self.check_drift();
                self.ask_placement_scores();
            }
        }
        self.publish_metrics(true);
    }

    fn is_ready(&self) -> bool {
        self.synced.len() == Kind::ALL.len()
    }

    async fn receive(&mut self, observation: Observation) {
        if !self.is_ready() {
            match observation {
                Observation::Synced(kind) => {
                    self.synced.insert(kind);
                    if self.is_ready() {
                        self.restore().await;
                    }
                }
                other => self.buffered.push(other),
            }
            return;
        }
        self.observe(observation).await;
    }

    /// Every kind is listed: the buffered objects are applied in dependency order (NodePools
    /// before NodeClaims before Nodes before pods), which rebuilds a restarted controller's
    /// state.
    async fn restore(&mut self) {
        let mut buffered = std::mem::take(&mut self.buffered);
        buffered.sort_by_key(|observation| match observation {
            Observation::Applied(object) => Kind::ALL
                .iter()
                .position(|kind| *kind == object.kind())
                .unwrap_or(Kind::ALL.len()),
            _ => Kind::ALL.len(),
        });
        for observation in buffered {
            self.observe(observation).await;
        }
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            node_pools = self.state.node_pools.len(),
            node_claims = self.state.node_claims.len(),
            nodes = self.state.nodes.len(),
            pods = self.state.pods.len(),
            "caches synced; reconciling"
        );
    }

    async fn observe(&mut self, observation: Observation) {
        let now = clock::now();
        match observation {
            Observation::Applied(object) => self.applied(*object, now).await,
            Observation::Deleted(kind, key) => self.deleted(kind, &key, now),
            Observation::Invalid(kind, key, error) => {
                let message = error.to_string();
                if kind == Kind::NodePool {
                    self.invalid_node_pools.insert(key.clone(), message.clone());
                }
                let id = format!("{}/{key}", kind.as_str());
                if self.reported_invalid.get(&id) != Some(&message) {
                    tracing::warn!(
                        kind = kind.as_str(),
                        object = key,
                        error = message,
                        "ignoring an object Spotter cannot read"
                    );
                    self.reported_invalid.insert(id, message);
                }
            }
            Observation::Synced(_) => {}
            Observation::LaunchCompleted { node_claim, result } => {
                self.launch_completed(&node_claim, result, now);
            }
            Observation::InstanceGone { node_claim } => {
                self.state.instance_terminated(&node_claim, now);
            }
            Observation::QueueNotice { notice, message_id } => {
                self.take_queue_notice(&notice, &message_id, now);
            }
            Observation::NodeClassDrift(drifted) => self.node_class_drift_observed(drifted),
            Observation::PlacementScores(answer) => self.placement_scores_observed(answer),
            Observation::InstanceTypes(instance_types) => {
                tracing::info!(
                    instance_types = instance_types.len(),
                    "instance types, zones and prices read again"
                );
                self.state.instance_types = instance_types;
                // New prices or offerings may place pods or allow a cheaper node.
                self.state.capacity_generation += 1;
            }
        }
    }

    async fn applied(&mut self, object: Object, now: Duration) {
        match object {
            Object::NodePool(view) => self.node_pool_applied(view),
            Object::NodeClass(view) => {
                self.state.node_class_applied(&view.name, view.static_hash);
                self.node_classes.insert(view.name, view.ready);
            }
            Object::DaemonSet(key, pod) => {
                self.daemon_sets.insert(key, pod);
                self.state
                    .daemon_set_pods_changed(self.daemon_sets.values().cloned().collect());
            }
            Object::PodDisruptionBudget(budget) => {
                self.state.pod_disruption_budget_applied(budget);
            }
            Object::NodeClaim(view) => self.node_claim_applied(view, now).await,
            Object::Node(view) => {
                let name = view.node.name.clone();
                self.nodes.insert(name.clone(), view);
                self.sync_node(&name, now);
            }
            Object::Pod(view) => self.pod_applied(view, now),
        }
    }

    fn deleted(&mut self, kind: Kind, key: &str, now: Duration) {
        match kind {
            Kind::NodePool => {
                self.node_pools.remove(key);
                self.invalid_node_pools.remove(key);
                self.state.node_pool_deleted(key);
            }
            Kind::NodeClass => {
                self.node_classes.remove(key);
                self.state.node_class_deleted(key);
            }
            Kind::DaemonSet => {
                self.daemon_sets.remove(key);
                self.state
                    .daemon_set_pods_changed(self.daemon_sets.values().cloned().collect());
            }
            Kind::PodDisruptionBudget => {
                let (namespace, name) = key.split_once('/').unwrap_or(("", key));
                self.state.pod_disruption_budget_deleted(namespace, name);
            }
            Kind::NodeClaim => {
                self.claim_objects.remove(key);
                self.removed_claims.remove(key);
                self.claim_conditions.remove(key);
                // Gone from the API without Spotter (its finalizer removed by hand): the
                // state forgets it; a leaked instance is the cloud provider's garbage.
                let settings = self.controllers.settings().clone();
                self.state.apply(
                    &Action::RemoveNodeClaim {
                        node_claim: key.to_string(),
                    },
                    Outcome::Done,
                    now,
                    &settings,
                );
            }
            Kind::Node => {
                self.nodes.remove(key);
                if let Some(claim) = self
                    .state
                    .claim_of_node(key)
                    .map(|claim| claim.name.clone())
                {
                    // The node went away under its claim: ask the cloud whether the instance
                    // is gone too.
                    self.watch_termination(claim);
                }
            }
            Kind::Pod => {
                self.terminating_pods.remove(key);
                self.reported_unschedulable.remove(key);
                self.state.pod_removed(key, now);
            }
        }
    }

    fn node_pool_applied(&mut self, view: NodePoolView) {
        match &view.node_pool {
            Ok(node_pool) => {
                self.reported_invalid
                    .remove(&format!("NodePool/{}", view.name));
                self.invalid_node_pools.remove(&view.name);
                self.state.node_pool_applied(node_pool.clone());
                let record = view.return_to_spot;
                if record != ReturnToSpotRecord::default() {
                    let settings = self.controllers.settings().clone();
                    self.state.apply(
                        &Action::RecordReturnToSpot {
                            node_pool: view.name.clone(),
                            record,
                        },
                        Outcome::Done,
                        clock::now(),
                        &settings,
                    );
                }
            }
            Err(message) => {
                let id = format!("NodePool/{}", view.name);
                if self.reported_invalid.get(&id) != Some(message) {
                    tracing::warn!(
                        node_pool = view.name,
                        error = message,
                        "ignoring an invalid NodePool"
                    );
                    self.events.on_node_pool(
                        &view.name,
                        Severity::Warning,
                        "InvalidNodePool",
                        format!("Spotter ignores this NodePool: {message}"),
                    );
                    self.reported_invalid.insert(id, message.clone());
                }
                self.invalid_node_pools
                    .insert(view.name.clone(), message.clone());
                self.state.node_pool_deleted(&view.name);
            }
        }
        self.node_pools.insert(view.name.clone(), view);
    }

    async fn node_claim_applied(&mut self, view: NodeClaimView, now: Duration) {
        self.claim_objects.insert(view.name.clone());
        let settings = self.controllers.settings().clone();
        if self.state.node_claims.contains_key(&view.name) {
            if view.deleting {
                self.state
                    .node_claim_deletion_requested(&view.name, now, &settings);
            }
            return;
        }
        if self.removed_claims.contains(&view.name) {
            // An event older than its removal (its creation, or its deletion timestamp).
            return;
        }
        // Not in the state: a NodeClaim found on (re)start, or created by another replica
        // before this one led.
        let instance = match &view.provider_id {
            Some(_) => match self.cloud.get(&view.name).await {
                Ok(found) => Some((found.clone(), found.is_none())),
                Err(error) => {
                    tracing::warn!(node_claim = view.name, %error, "failed to look up a NodeClaim's instance; taking it from the NodeClaim");
                    None
                }
            },
            None => None,
        };
        let (launch, gone) = match (instance, &view.provider_id) {
            (Some((Some(instance), _)), _) => (
                LaunchState::Launched {
                    instance,
                    unavailable: Vec::new(),
                },
                false,
            ),
            (found, Some(provider_id)) => (
                LaunchState::Launched {
                    instance: instance_of(&view, provider_id),
                    unavailable: Vec::new(),
                },
                found.is_some_and(|(_, gone)| gone),
            ),
            (_, None) => (LaunchState::NotLaunched, false),
        };
        let deletion = view.deleting.then(|| Deletion {
            reason: view
                .annotations
                .get(protocol::DISRUPTION_REASON_ANNOTATION)
                .and_then(|reason| DisruptionReason::from_label(reason))
                .unwrap_or(DisruptionReason::Deleted),
            requested_at: now,
            deadline: view
                .annotations
                .get(protocol::TERMINATION_DEADLINE_ANNOTATION)
                .and_then(|deadline| clock::parse_rfc3339(deadline)),
            instance_terminating: false,
            instance_terminated: false,
        });
        let claim = spotter_controllers::state::NodeClaim {
            name: view.name.clone(),
            node_pool: view.node_pool.clone(),
            instance_types: node_claim_object::instance_types_of(&view.requirements),
            requirements: view.requirements.clone(),
            created_at: view.created_at,
            launch,
            node: None,
            initialized: false,
            deletion,
            fallback: view
                .annotations
                .get(protocol::FALLBACK_ANNOTATION)
                .is_some_and(|value| value == "true"),
            replaces: view.annotations.get(protocol::REPLACES_ANNOTATION).cloned(),
            // A hash of another version (Karpenter's own) is not compared: such a claim drifts
            // only by its requirements.
            node_pool_hash: view
                .annotations
                .get(drift::NODE_POOL_HASH_VERSION_ANNOTATION)
                .filter(|version| *version == drift::NODE_POOL_HASH_VERSION)
                .and_then(|_| view.annotations.get(drift::NODE_POOL_HASH_ANNOTATION))
                .cloned(),
            node_class_hash: view
                .annotations
                .get(drift::NODE_CLASS_HASH_VERSION_ANNOTATION)
                .filter(|version| *version == drift::NODE_CLASS_HASH_VERSION)
                .and_then(|_| view.annotations.get(drift::NODE_CLASS_HASH_ANNOTATION))
                .cloned(),
        };
        tracing::info!(
            node_claim = view.name,
            launched = claim.instance().is_some(),
            deleting = view.deleting,
            "found an existing NodeClaim"
        );
        self.state.node_claim_found(claim);
        if gone {
            self.state.instance_terminated(&view.name, now);
        }
        // Its node may have been seen first.
        let node = self
            .nodes
            .iter()
            .find(|(_, node)| node.provider_id.is_some() && node.provider_id == view.provider_id)
            .map(|(name, _)| name.clone());
        if let Some(node) = node {
            self.sync_node(&node, now);
        }
    }

    fn pod_applied(&mut self, mut view: PodView, now: Duration) {
        let key = view.key.clone();
        if view.finished || (view.deleting && view.node_name.is_none()) {
            self.terminating_pods.remove(&key);
            self.state.pod_removed(&key, now);
            return;
        }
        if view.deleting {
            self.terminating_pods.insert(key.clone());
        }
        let known = self.state.pods.get(&key).map(|pod| pod.node.clone());
        match (&view.node_name, known) {
            (Some(node), Some(bound)) if bound.as_deref() == Some(node.as_str()) => {}
            (Some(node), known) => {
                if known.is_none() {
                    self.shared_parts.share(Arc::make_mut(&mut view.pod));
                    self.state.pod_created(key.clone(), pod_state(&view));
                }
                self.reported_unschedulable.remove(&key);
                self.state.pod_bound_to(&key, node, now);
            }
            (None, None) if view.unschedulable && !view.daemon => {
                self.shared_parts.share(Arc::make_mut(&mut view.pod));
                self.state.pod_created(key, pod_state(&view));
            }
            (None, _) => {}
        }
        if view.deleting {
            // Evicted or deleted but still running out its grace period: no capacity is
            // planned for it (its owner's new pod gets the replacement it was planned onto).
            self.state.pod_terminating(&view.key);
        }
    }

    /// Brings a node's registration, readiness, startup taints, notices and deletion into the
    /// state.
    fn sync_node(&mut self, name: &str, now: Duration) {
        let Some(view) = self.nodes.get(name).cloned() else {
            return;
        };
        let claim_name = self
            .state
            .claim_of_node(name)
            .map(|claim| claim.name.clone())
            .or_else(|| {
                let provider_id = view.provider_id.as_deref()?;
                self.state
                    .node_claims
                    .values()
                    .find(|claim| {
                        claim
                            .instance()
                            .is_some_and(|instance| instance.provider_id == provider_id)
                    })
                    .map(|claim| claim.name.clone())
            });
        let Some(claim_name) = claim_name else {
            return;
        };
        let settings = self.controllers.settings().clone();
        let registered_now = self
            .state
            .node_claims
            .get(&claim_name)
            .is_some_and(|claim| claim.node.is_none());
        if registered_now {
            let Some(registered) =
                self.state
                    .node_registered(&claim_name, name, view.node.allocatable.clone(), now)
            else {
                return;
            };
            let registered = registered.clone();
            let node_labels = (*registered.labels).clone();
            self.metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .node_registered(&registered);
            // Pods kube-scheduler bound before the node registered here.
            let bound: Vec<String> = self
                .state
                .pods
                .iter()
                .filter(|(_, pod)| pod.node.as_deref() == Some(name))
                .map(|(key, _)| key.clone())
                .collect();
            for key in bound {
                self.state.pod_bound_to(&key, name, now);
            }
            // A restarted controller finds the cordon and taints it had written.
            if view.node.unschedulable {
                self.state.apply(
                    &Action::CordonNode {
                        node: name.to_string(),
                    },
                    Outcome::Done,
                    now,
                    &settings,
                );
            }
            for taint in view
                .node
                .taints
                .iter()
                .filter(|taint| taint.key == spotter_core::taints::DISRUPTED_TAINT_KEY)
            {
                self.state.apply(
                    &Action::TaintNode {
                        node: name.to_string(),
                        taint: taint.clone(),
                    },
                    Outcome::Done,
                    now,
                    &settings,
                );
            }
            crate::perform::register_node(self, name, &node_labels, &view);
        }
        if view.ready && self.state.nodes.get(name).is_some_and(|node| !node.ready) {
            self.state.node_ready(name, now);
        }
        let startup_left = self
            .state
            .node_pool(
                &self
                    .state
                    .node_claims
                    .get(&claim_name)
                    .map(|claim| claim.node_pool.clone())
                    .unwrap_or_default(),
            )
            .map(|pool| {
                pool.startup_taints
                    .iter()
                    .any(|taint| view.node.taints.contains(taint))
            })
            .unwrap_or(false);
        if !startup_left {
            self.state.startup_taints_removed(name);
        }
        if view.deleting {
            self.state
                .node_claim_deletion_requested(&claim_name, now, &settings);
        }
        self.take_notices(&claim_name, &view, now);
    }

    /// The agent's conditions on a node, as interruption notices (once per instance and class,
    /// counting those the queue brought). They are counted in `spotter_interruption_notices_total`
    /// only: `karpenter_interruption_received_messages_total` counts queue messages, as
    /// Karpenter's does.
    fn take_notices(&mut self, claim_name: &str, view: &NodeView, now: Duration) {
        let Some(instance_id) = self
            .state
            .node_claims
            .get(claim_name)
            .and_then(|claim| claim.instance())
            .map(|instance| instance.id.clone())
        else {
            return;
        };
        for condition in &view.notices {
            let Some(notice) = self.notice_intake.from_agent(&instance_id, condition, now) else {
                continue;
            };
            tracing::info!(
                node_claim = claim_name,
                instance = instance_id,
                notice = condition.condition,
                "interruption notice from the node's agent"
            );
            self.metrics()
                .interruption_notice_taken(notice.kind, NoticeSource::Agent);
            self.state.interruption_received(notice, now);
        }
    }

    /// A notice read from the interruption queue: acted on through the same path as the
    /// agent's, once per instance and class. A notice for an instance no NodeClaim of this
    /// cluster has is dropped (its message is deleted all the same, as Karpenter does: the
    /// queue may carry other clusters' instances). The message was counted in
    /// `karpenter_interruption_received_messages_total` by the queue's poller, so it is not
    /// counted again here.
    fn take_queue_notice(
        &mut self,
        notice: &spotter_interruption::notice::Notice,
        message_id: &str,
        now: Duration,
    ) {
        let node_claim = self
            .state
            .node_claims
            .values()
            .find(|claim| {
                claim
                    .instance()
                    .is_some_and(|instance| instance.id == notice.instance_id)
            })
            .map(|claim| claim.name.clone());
        let Some(node_claim) = node_claim else {
            tracing::debug!(
                instance = notice.instance_id,
                notice = %notice.kind.class(),
                message_id,
                "ignoring an interruption queue notice for an instance no NodeClaim has"
            );
            return;
        };
        let Some(taken) = self.notice_intake.from_queue(notice, now) else {
            tracing::debug!(
                node_claim,
                instance = notice.instance_id,
                notice = %notice.kind.class(),
                message_id,
                "interruption queue notice already taken (from the node's agent, or delivered again)"
            );
            return;
        };
        tracing::info!(
            node_claim,
            instance = notice.instance_id,
            notice = %notice.kind.class(),
            message_id,
            "interruption notice from the queue"
        );
        self.metrics()
            .interruption_notice_taken(taken.kind, NoticeSource::Queue);
        self.state.interruption_received(taken, now);
    }

    fn launch_completed(
        &mut self,
        node_claim: &str,
        result: Result<spotter_cloud::Launched, CloudError>,
        now: Duration,
    ) {
        match &result {
            Ok(launched) => {
                let instance = &launched.instance;
                tracing::info!(node_claim, instance = instance.id, offering = %instance.offering, "launched");
                crate::perform::report_launch(self, node_claim, instance);
            }
            Err(CloudError::InsufficientCapacity { offerings }) => {
                self.events.on_node_claim(
                    node_claim,
                    Severity::Warning,
                    "InsufficientCapacityError",
                    format!(
                        "no capacity for any of {} offerings ({}); Spotter will try others",
                        offerings.len(),
                        offerings
                            .iter()
                            .take(5)
                            .map(OfferingKey::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                self.metrics()
                    .launch_failed(result.as_ref().err().unwrap_or(
                        &CloudError::InsufficientCapacity {
                            offerings: Vec::new(),
                        },
                    ));
            }
            Err(error) => {
                tracing::warn!(node_claim, %error, "launch failed");
                self.events.on_node_claim(
                    node_claim,
                    Severity::Warning,
                    "LaunchFailed",
                    error.to_string(),
                );
                self.metrics().launch_failed(error);
            }
        }
        let launched = result.is_ok();
        if let (Ok(launched), Some(claim)) = (&result, self.state.node_claims.get(node_claim)) {
            self.metrics().launched(claim, &launched.instance);
        }
        self.state.launch_completed(node_claim, result, now);
        if launched {
            // Its node may have registered before the answer arrived.
            let provider_id = self
                .state
                .node_claims
                .get(node_claim)
                .and_then(|claim| claim.instance())
                .map(|instance| instance.provider_id.clone());
            let node = self
                .nodes
                .iter()
                .find(|(_, node)| node.provider_id.is_some() && node.provider_id == provider_id)
                .map(|(name, _)| name.clone());
            if let Some(node) = node {
                self.sync_node(&node, now);
            }
        }
    }

    /// Asks the cloud, once every `drift_check_interval`, which launched NodeClaims no longer
    /// match their node class; the answer comes back as [`Observation::NodeClassDrift`].
    fn check_drift(&mut self) {
        if self
            .drift_checked
            .is_some_and(|checked| checked.elapsed() < self.drift_check_interval)
        {
            return;
        }
        self.drift_checked = Some(Instant::now());
        let launched: Vec<String> = self
            .state
            .node_claims
            .values()
            .filter(|claim| claim.instance().is_some() && claim.deletion.is_none())
            .map(|claim| claim.name.clone())
            .collect();
        if launched.is_empty() {
            return;
        }
        let cloud = Arc::clone(&self.cloud);
        let sender = self.sender.clone();
        tokio::spawn(async move {
            match cloud.drifted(&launched).await {
                Ok(drifted) => {
                    let _ = sender.send(Observation::NodeClassDrift(drifted)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to check the instances for node class drift; trying again later");
                }
            }
        });
    }

    /// Asks the cloud, once every `placement_score_interval`, for the Spot placement scores of
    /// the cheapest Spot types the NodePools allow
    /// ([`crate::placement_score_request`]); the answer comes back as
    /// [`Observation::PlacementScores`].
    fn ask_placement_scores(&mut self) {
        let Some(interval) = self.placement_score_interval else {
            return;
        };
        if self
            .placement_scores_asked
            .is_some_and(|asked| asked.elapsed() < interval)
        {
            return;
        }
        self.placement_scores_asked = Some(Instant::now());
        let Some(request) = placement_score_request::placement_score_request(&self.state) else {
            return;
        };
        let cloud = Arc::clone(&self.cloud);
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let answer = cloud.spot_placement_scores(&request).await;
            let _ = sender.send(Observation::PlacementScores(answer)).await;
        });
    }

    /// The cloud answered the Spot placement scores: the ranking uses them from now on. A
    /// provider not allowed to ask is not asked again (the ranking goes on without scores);
    /// another failure keeps the last scores until the next try.
    fn placement_scores_observed(&mut self, answer: Result<PlacementScores, CloudError>) {
        match answer {
            Ok(scores) => {
                if scores != self.state.placement_scores {
                    tracing::info!(
                        scores = ?scores.iter().collect::<Vec<_>>(),
                        "Spot placement scores per zone"
                    );
                }
                self.state.placement_scores_observed(scores);
            }
            Err(error @ CloudError::PermissionDenied { .. }) => {
                tracing::warn!(%error, "Spot placement scores are not allowed: ranking without them; allow the action to use them");
                self.placement_score_interval = None;
            }
            Err(error) => {
                tracing::warn!(%error, "failed to read the Spot placement scores; trying again later");
            }
        }
    }

    /// The cloud answered which NodeClaims drifted from their node class.
    fn node_class_drift_observed(&mut self, drifted: BTreeMap<String, NodeClassDrift>) {
        for (node_claim, drift) in &drifted {
            if self.state.node_class_drift.get(node_claim) != Some(drift) {
                tracing::info!(
                    node_claim,
                    reason = drift.reason(),
                    "NodeClaim drifted from its node class"
                );
            }
        }
        let node_claims = &self.state.node_claims;
        self.state.node_class_drift = drifted
            .into_iter()
            .filter(|(node_claim, _)| node_claims.contains_key(node_claim))
            .collect();
    }

    /// Polls the cloud until the claim's instance is gone, then reports it.
    pub(crate) fn watch_termination(&self, node_claim: String) {
        let cloud = Arc::clone(&self.cloud);
        let sender = self.sender.clone();
        tokio::spawn(async move {
            loop {
                match cloud.get(&node_claim).await {
                    Ok(None) | Err(CloudError::NotFound { .. }) => break,
                    Ok(Some(_)) => {}
                    Err(error) => {
                        tracing::debug!(node_claim, %error, "failed to check a terminating instance");
                    }
                }
                tokio::time::sleep(TERMINATION_POLL).await;
            }
            let _ = sender.send(Observation::InstanceGone { node_claim }).await;
        });
    }

    async fn reconcile(&mut self) {
        let now = clock::now();
        let started = Instant::now();
        self.mark_node_pools_not_ready();
        let settings = self.controllers.settings().clone();
        let mut passes = ReconcileLoop::new(now);
        while let Some(actions) = passes.next_pass(&mut self.controllers, &mut self.state) {
            self.metrics().reconciled(&actions, started.elapsed());
            for action in actions {
                self.metrics().action(&action, &self.state);
                let outcome = crate::perform::perform(self, &action).await;
                let applied = self.state.apply(&action, outcome, now, &settings);
                passes.applied(&applied);
            }
        }
        self.wake_at = passes.wake_at(&self.state);
        self.sync_conditions(now).await;
        self.sync_node_pool_statuses(now).await;
        let state = &self.state;
        self.notice_intake.forget(now, |instance_id| {
            state.node_claims.values().any(|claim| {
                claim
                    .instance()
                    .is_some_and(|instance| instance.id == instance_id)
            })
        });
    }

    /// Writes the NodeClaims' conditions that changed and waits for the answers (a few at a
    /// time), so that two writes of one claim never land out of order; what was not written is
    /// tried again at the next reconcile.
    async fn sync_conditions(&mut self, now: Duration) {
        let mut writes = Vec::new();
        for claim in self.state.node_claims.values() {
            if !self.claim_objects.contains(&claim.name) {
                continue;
            }
            let consolidate_after = self
                .state
                .node_pool(&claim.node_pool)
                .and_then(|pool| pool.disruption.consolidate_after);
            let node = claim
                .node
                .as_ref()
                .and_then(|node| self.state.nodes.get(node));
            let conditions = ClaimConditions {
                launched: claim.instance().is_some(),
                registered: claim.node.is_some(),
                initialized: claim.initialized,
                consolidatable: claim.initialized
                    && consolidate_after
                        .zip(node)
                        .is_some_and(|(after, node)| node.last_pod_event + after <= now),
                drifted: drift::drifted(&self.state, claim).map(Drift::reason),
            };
            let written = self.claim_conditions.get(&claim.name);
            if written.is_some_and(|(written, _)| *written == conditions) {
                continue;
            }
            let mut transitions = written.map(|(_, times)| times.clone()).unwrap_or_default();
            let before: BTreeMap<&str, bool> = written
                .map(|(written, _)| written.statuses().into_iter().collect())
                .unwrap_or_default();
            for (type_, status) in conditions.statuses() {
                if before.get(type_) != Some(&status) || !transitions.contains_key(type_) {
                    transitions.insert(type_, now);
                }
            }
            let patch = node_claim_object::conditions_patch(
                conditions,
                &transitions,
                claim.node.as_deref(),
            );
            writes.push((claim.name.clone(), conditions, transitions, patch));
        }
        let client = self.client.clone();
        let written: Vec<_> = futures_util::stream::iter(writes)
            .map(|(name, conditions, transitions, patch)| {
                let client = client.clone();
                async move {
                    let written =
                        crate::perform::patch_node_claim_status(client, &name, patch).await;
                    (name, conditions, transitions, written)
                }
            })
            .buffer_unordered(CONDITION_WRITES_IN_FLIGHT)
            .collect()
            .await;
        for (name, conditions, transitions, written) in written {
            if written {
                self.claim_conditions
                    .insert(name, (conditions, transitions));
            }
        }
    }

    /// Writes the NodePools' statuses that changed: the usage of each pool Spotter reads, and
    /// the error of each it cannot. A write that failed is tried again at the next reconcile.
    async fn sync_node_pool_statuses(&mut self, now: Duration) {
        let readable = self
            .state
            .node_pools
            .iter()
            .filter(|pool| !self.invalid_node_pools.contains_key(&pool.name))
            .map(|pool| {
                let usage = node_pool_usage(&self.state, &pool.name);
                let node_class = self.node_class_readiness(&pool.node_class);
                (pool.name.clone(), NodePoolStatus::valid(&usage, node_class))
            });
        let unreadable = self
            .invalid_node_pools
            .iter()
            .map(|(name, error)| (name.clone(), NodePoolStatus::invalid(error)));
        let wanted: BTreeMap<String, NodePoolStatus> = readable.chain(unreadable).collect();
        self.node_pool_statuses
            .retain(|name, _| wanted.contains_key(name));
        for (name, status) in wanted {
            let ready_since = match self.node_pool_statuses.get(&name) {
                Some((written, _)) if *written == status => continue,
                Some((written, since)) if written.ready() == status.ready() => *since,
                _ => now,
            };
            if crate::perform::patch_node_pool_status(self, &name, status.patch(ready_since)).await
            {
                self.node_pool_statuses.insert(name, (status, ready_since));
            }
        }
    }

    /// Tells the state which NodePools are not Ready (their node class missing, not ready, or
    /// not yet resolved): as Karpenter's provisioner, Spotter creates no NodeClaim from them.
    fn mark_node_pools_not_ready(&mut self) {
        let not_ready: BTreeSet<String> = self
            .state
            .node_pools
            .iter()
            .filter(|pool| self.node_class_readiness(&pool.node_class) != NodeClassReadiness::Ready)
            .map(|pool| pool.name.clone())
            .collect();
        for pool in not_ready.difference(&self.state.node_pools_not_ready) {
            tracing::warn!(node_pool = %pool, "ignoring NodePool for new NodeClaims: not ready (see its NodeClassReady condition)");
        }
        for pool in self.state.node_pools_not_ready.difference(&not_ready) {
            tracing::info!(node_pool = %pool, "NodePool ready again");
        }
        self.state.set_node_pools_not_ready(not_ready);
    }

    /// Whether the EC2NodeClass named `name` is ready for its NodePools.
    fn node_class_readiness(&self, name: &str) -> NodeClassReadiness {
        match self.node_classes.get(name) {
            None => NodeClassReadiness::Missing,
            Some(_) if !self.node_class_status => NodeClassReadiness::Ready,
            Some(Some(true)) => NodeClassReadiness::Ready,
            Some(Some(false)) => NodeClassReadiness::NotReady,
            Some(None) => NodeClassReadiness::Unknown,
        }
    }

    pub(crate) fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        self.metrics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish_metrics(&mut self, force: bool) {
        if !force
            && self
                .metrics_published
                .is_some_and(|published| published.elapsed() < METRICS_INTERVAL)
        {
            return;
        }
        self.metrics_published = Some(Instant::now());
        let now = clock::now();
        let state = &self.state;
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe_state(state, now);
    }
}

impl Object {
    /// The kind of the object.
    pub fn kind(&self) -> Kind {
        match self {
            Object::NodePool(_) => Kind::NodePool,
            Object::NodeClaim(_) => Kind::NodeClaim,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::DaemonSet(..) => Kind::DaemonSet,
            Object::PodDisruptionBudget(_) => Kind::PodDisruptionBudget,
            Object::NodeClass(_) => Kind::NodeClass,
        }
    }
}

fn pod_state(view: &PodView) -> PodState {
    PodState {
        pod: Arc::clone(&view.pod),
        node: None,
        nominated: None,
        created_at: view.created_at,
        daemon: view.daemon,
        retry_now: false,
        terminating: false,
    }
}

/// The instance a launched NodeClaim describes, when the cloud cannot be asked.
fn instance_of(view: &NodeClaimView, provider_id: &str) -> Instance {
    let label = |key: &str| view.labels.get(key).cloned().unwrap_or_default();
    Instance {
        id: provider_id
            .rsplit('/')
            .next()
            .unwrap_or(provider_id)
            .to_string(),
        provider_id: provider_id.to_string(),
        node_claim: view.name.clone(),
        node_pool: view.node_pool.clone(),
        offering: OfferingKey {
            capacity_type: if label(labels::CAPACITY_TYPE) == "spot" {
                CapacityType::Spot
            } else {
                CapacityType::OnDemand
            },
            instance_type: label(labels::INSTANCE_TYPE),
            zone: label(labels::ZONE),
        },
        price_per_hour: 0.0,
        launched_at: view.created_at,
    }
}
