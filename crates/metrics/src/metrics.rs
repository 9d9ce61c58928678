//! [`Metrics`]: every metric family, Karpenter's and Spotter's, and their registries. A driver owns
//! one and updates it from what it does: [`Metrics::observe_state`] recomputes the gauges from
//! a [`ClusterState`] snapshot, and one event method per thing that happened (a NodeClaim
//! created, a launch answered, a node registered, a disruption, an interruption notice, a pod
//! started, a scheduling run) moves the counters, the histogram and the summary.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use spotter_cloud::{CloudError, Instance};
use spotter_controllers::action::NodeClaimRequest;
use spotter_controllers::disruption_budgets::{self, BudgetReason};
use spotter_controllers::node_pool_usage::{node_pool_usage, running_instance};
use spotter_controllers::state::{DisruptionReason, NodeClaim, NodeState, NoticeKind};
use spotter_controllers::{Action, ClusterState};
use spotter_core::labels;
use spotter_core::offering::CapacityType;
use spotter_core::resources::{self, Resources};
use spotter_core::unavailable_offerings::{AvoidLevel, UnavailableReason};
use spotter_interruption::event_bridge::MessageType;

use crate::error::MetricsError;
use crate::exposer::Exposer;
use crate::labels::{
    AvoidLevelLabels, CapacityTypeLabels, CloudErrorLabels, ControllerLabels, FallbackLabels,
    MessageLabels, NodeClaimCreatedLabels, NodeClaimDisruptedLabels, NodeClaimTerminatedLabels,
    NodeEventLabels, NodePoolLabels, NodePoolReasonLabels, NodePoolResourceLabels, NoticeLabels,
    ReasonLabels, WellKnownLabels, resource_type,
};
use crate::node_series::{NodeRow, NodeSeries, reported_resources, resource_value};
use crate::offering_series::OfferingSeries;
use crate::pods_state::PodsState;
use crate::summary::Summary;

/// The exposition formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: what Prometheus asks for when it scrapes.
    OpenMetrics,
    /// The Prometheus text format 0.0.4: what `promtool check metrics` reads.
    PrometheusText,
}

/// Where the controller took an interruption notice from (`source` of
/// `spotter_interruption_notices_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeSource {
    /// The SQS interruption queue (or the simulated market, which stands for it).
    Queue,
    /// `spotter agent`, through its Node.
    Agent,
}

impl NoticeSource {
    /// The label value (`queue`, `agent`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeSource::Queue => "queue",
            NoticeSource::Agent => "agent",
        }
    }
}

/// Every metric family, and the [`Exposer`] that writes them.
pub struct Metrics {
    exposer: Exposer,
    /// One closure per labelled family that adds a series with example label values, so that
    /// [`crate::describe`] can read every family's label names from an encoding.
    touch_families: Vec<Box<dyn Fn() + Send + Sync>>,
    provider: String,
    well_known: WellKnownLabels,
    offering_series: OfferingSeries,

    node_series: NodeSeries,
    nodes_created: Family<NodeEventLabels, Counter>,
    nodes_terminated: Family<NodeEventLabels, Counter>,
    node_claims_created: Family<NodeClaimCreatedLabels, Counter>,
    node_claims_terminated: Family<NodeClaimTerminatedLabels, Counter>,
    node_claims_disrupted: Family<NodeClaimDisruptedLabels, Counter>,
    node_pools_usage: Family<NodePoolResourceLabels, GaugeF64>,
    node_pools_limit: Family<NodePoolResourceLabels, GaugeF64>,
    node_pools_allowed_disruptions: Family<NodePoolReasonLabels, Gauge>,
    pods_state: PodsState,
    scheduling_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    interruption_received_messages: Family<MessageLabels, Counter>,
    interruption_deleted_messages: Counter,
    interruption_queue_duration: Histogram,
    interruption_malformed_messages: Counter,
    interruption_notices: Family<NoticeLabels, Counter>,
    cloud_provider_errors: Family<CloudErrorLabels, Counter>,

    fallbacks: Family<FallbackLabels, Counter>,
    returns_to_spot: Family<NodePoolLabels, Counter>,
    fallback_nodes: Family<NodePoolLabels, Gauge>,
    spot_ratio: GaugeF64,
    catalog_embedded: Gauge,
    on_demand_prices_embedded: Family<ReasonLabels, Gauge>,
    estimated_savings: Family<NodePoolLabels, GaugeF64>,
    unavailable_offerings: Family<CapacityTypeLabels, Gauge>,
    avoided_offerings: Family<AvoidLevelLabels, Gauge>,
}

type GaugeF64 = Gauge<f64, AtomicU64>;

/// The reasons Karpenter's `karpenter_nodepools_allowed_disruptions` is reported for, with the
/// budget reason each stands for.
const BUDGET_REASONS: [(&str, BudgetReason); 3] = [
    ("empty", BudgetReason::Empty),
    ("drifted", BudgetReason::Drifted),
    ("underutilized", BudgetReason::Underutilized),
];

/// The reasons `spotter_cloudprovider_on_demand_prices_embedded` is reported for (the AWS
/// provider's kinds of Pricing API failure).
pub const ON_DEMAND_PRICE_FALLBACK_REASONS: [&str; 5] = [
    "not_permitted",
    "throttled",
    "unavailable",
    "no_prices",
    "failed",
];

/// Karpenter's duration buckets (seconds) for the scheduling histogram.
const SCHEDULING_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// Karpenter's duration buckets (seconds) for the interruption queue's duration histogram
/// (`metrics.DurationBuckets()`: controller-runtime's, plus longer ones).
const QUEUE_DURATION_BUCKETS: [f64; 45] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0, 120.0, 150.0, 300.0, 450.0, 600.0,
];

/// Karpenter's pod startup quantiles.
const STARTUP_QUANTILES: &[f64] = &[0.0, 0.5, 0.9, 0.99, 1.0];
/// client_golang's default summary window.
const STARTUP_WINDOW: Duration = Duration::from_secs(600);
/// The most observations the startup summary's window keeps.
const STARTUP_WINDOW_OBSERVATIONS: usize = 50_000;

impl Metrics {
    /// Every family registered and empty; `provider` is the `provider` label of
    /// `karpenter_cloudprovider_errors_total` (`aws`, `simulated`).
    pub fn new(provider: &str) -> Self {
        let mut registrar = Registrar {
            families: Registry::default(),
            rows: Registry::default(),
            touch_families: Vec::new(),
        };
        let registrar = &mut registrar;
        let pods_startup_duration = Summary::new(
            "karpenter_pods_startup_duration_seconds",
            "The time from a pod's creation until it is bound to a node, over the last 10 minutes",
            STARTUP_QUANTILES,
            STARTUP_WINDOW,
            STARTUP_WINDOW_OBSERVATIONS,
        );
        // Fields are initialised in the order written: the registries are taken last.
        let metrics = Self {
            node_series: registrar.node_series(),
            nodes_created: registrar.family(
                "karpenter_nodes_created",
                "Nodes registered for a NodeClaim (labels of Karpenter after v1.0)",
            ),
            nodes_terminated: registrar.family(
                "karpenter_nodes_terminated",
                "Nodes removed after their instance was terminated (labels of Karpenter after v1.0)",
            ),
            node_claims_created: registrar.family(
                "karpenter_nodeclaims_created",
                "NodeClaims created, by the controller that created them, with the capacity type the launch is pinned to (Karpenter v1.0's labels)",
            ),
            node_claims_terminated: registrar.family(
                "karpenter_nodeclaims_terminated",
                "NodeClaims removed once their instance was gone or never existed (labels of Karpenter after v1.0)",
            ),
            node_claims_disrupted: registrar.family(
                "karpenter_nodeclaims_disrupted",
                "NodeClaims deleted, by reason: empty, insufficient_capacity, launch_timeout, registration_timeout, spot_interrupted, instance_stopped, scheduled_change, return_to_spot (Karpenter v1.0's labels)",
            ),
            node_pools_usage: registrar.family(
                "karpenter_nodepools_usage",
                "The capacity of the NodePool's launched instances, and their number (resource_type nodes)",
            ),
            node_pools_limit: registrar.family(
                "karpenter_nodepools_limit",
                "The NodePool's spec.limits",
            ),
            node_pools_allowed_disruptions: registrar.family(
                "karpenter_nodepools_allowed_disruptions",
                "How many more of the NodePool's nodes its disruption budgets allow to disrupt now, by reason",
            ),
            pods_state: registrar.pods_state(
                "One series per pod, 1, with its node, NodePool, zone, capacity type and phase, Pending or Running (Karpenter v1.0's labels; owner is empty, the cluster state has no owner references)",
            ),
            scheduling_duration: registrar.family_with(
                "karpenter_scheduler_scheduling_duration_seconds",
                "The wall-clock time of a controllers' pass in which the provisioner placed pods",
                Family::new_with_constructor(scheduling_histogram as fn() -> Histogram),
            ),
            interruption_received_messages: registrar.family(
                "karpenter_interruption_received_messages",
                "Messages received from the interruption queue and read as EventBridge events (no_op: known but not acted on, or foreign), by message type (in the simulator and `serve`, the simulated queue's notices); the node agent's reports are not messages (see spotter_interruption_notices_total)",
            ),
            interruption_deleted_messages: registrar.metric(
                "karpenter_interruption_deleted_messages",
                "Messages deleted from the interruption queue: handled, or unreadable",
                Counter::default(),
            ),
            interruption_queue_duration: registrar.metric(
                "karpenter_interruption_message_queue_duration_seconds",
                "How long a message waited on the interruption queue (from SQS's SentTimestamp) until it was handled",
                Histogram::new(QUEUE_DURATION_BUCKETS),
            ),
            interruption_malformed_messages: registrar.metric(
                "spotter_interruption_malformed_messages",
                "Messages of the interruption queue whose body is not an EventBridge event Spotter can read (logged once, then deleted)",
                Counter::default(),
            ),
            interruption_notices: registrar.family(
                "spotter_interruption_notices",
                "Interruption notices acted on, once per instance and kind whichever source reported it first (queue or agent): a notice both sources report counts once, under the source that came first",
            ),
            offering_series: registrar.offering_series(),
            cloud_provider_errors: registrar.family(
                "karpenter_cloudprovider_errors",
                "Errors the cloud provider returned, by controller, method and error type",
            ),
            fallbacks: registrar.family(
                "spotter_fallback",
                "Launches on a capacity type other than the one the pods preferred (Spot), because it had no capacity",
            ),
            returns_to_spot: registrar.family(
                "spotter_return_to_spot",
                "Fallback NodeClaims deleted to move their pods back to Spot",
            ),
            fallback_nodes: registrar.family(
                "spotter_fallback_nodes",
                "Nodes running on on-demand capacity in place of unavailable Spot",
            ),
            spot_ratio: registrar.metric(
                "spotter_spot_ratio",
                "The share of the nodes that run on Spot capacity, 0 to 1 (0 without nodes)",
                GaugeF64::default(),
            ),
            catalog_embedded: registrar.metric(
                "spotter_cloudprovider_catalog_embedded",
                "1 while the instance types, zones and prices come from the embedded catalog alone because the cloud's API did not answer; 0 when they come from the cloud",
                Gauge::default(),
            ),
            on_demand_prices_embedded: registrar.family(
                "spotter_cloudprovider_on_demand_prices_embedded",
                "1 for the reason (not_permitted, throttled, unavailable, no_prices, failed) while the on-demand prices come from the embedded catalog because the Pricing API did not answer with prices; 0 for every reason while they come from the Pricing API (or the provider has no Pricing API)",
            ),
            estimated_savings: registrar.family(
                "spotter_estimated_savings_usd_per_hour",
                "What the NodePool's running instances would cost per hour on-demand, less what they cost (USD)",
            ),
            unavailable_offerings: registrar.family(
                "spotter_unavailable_offerings",
                "Offerings (instance type, zone, capacity type) in the unavailable-offerings cache",
            ),
            avoided_offerings: registrar.family(
                "spotter_avoided_offerings",
                "What is avoided for its Spot interruptions, by level: offerings kept out of launches, instance families in a zone and zones taken last",
            ),
            provider: provider.to_string(),
            well_known: WellKnownLabels::new(),
            exposer: Exposer::new(
                std::mem::take(&mut registrar.families),
                std::mem::take(&mut registrar.rows),
                pods_startup_duration,
            ),
            touch_families: std::mem::take(&mut registrar.touch_families),
        };
        metrics.on_demand_prices_read(None);
        metrics
    }

    /// The whole exposition in the OpenMetrics text format, ending with `# EOF`.
    pub fn encode(&self) -> Result<String, MetricsError> {
        self.exposer.encode(Format::OpenMetrics)
    }

    /// The whole exposition in `format`.
    pub fn encode_as(&self, format: Format) -> Result<String, MetricsError> {
        self.exposer.encode(format)
    }

    /// What writes the exposition, to be used without this `Metrics` (and its lock): see
    /// [`Exposer`].
    pub fn exposer(&self) -> Exposer {
        self.exposer.clone()
    }

    /// Recomputes every gauge from the state at `now`: nodes, NodePools, pods, offerings,
    /// the Spot ratio, fallback nodes and savings. Counters are left alone, except that every
    /// NodePool's fallback and return-to-Spot series exist from the start (at 0).
    pub fn observe_state(&mut self, state: &ClusterState, now: Duration) {
        self.observe_nodes(state);
        self.observe_node_pools(state, now);
        self.observe_pods(state);
        self.observe_offerings(state);
        self.observe_capacity_types(state);
        self.exposer.pods_startup_duration().expire(now);
    }

    /// Counts what `action`, about to be applied to `state`, does: a NodeClaim created, a
    /// NodeClaim starting to be deleted (once: a claim already being deleted is not counted
    /// again), a NodeClaim removed. Other actions leave the metrics alone.
    pub fn action(&self, action: &Action, state: &ClusterState) {
        match action {
            Action::CreateNodeClaim(request) => self.node_claim_created(request),
            Action::DeleteNodeClaim {
                node_claim, reason, ..
            } => {
                if let Some(claim) = state.node_claims.get(node_claim)
                    && claim.deletion.is_none()
                {
                    self.disrupted(claim, *reason);
                }
            }
            Action::RemoveNodeClaim { node_claim } => {
                if let Some(claim) = state.node_claims.get(node_claim) {
                    self.terminated(claim);
                }
            }
            _ => {}
        }
    }

    /// A controllers' pass that returned `actions` took `wall_time`: when the provisioner
    /// placed pods in it (created or nominated onto NodeClaims, or found pods it cannot
    /// place), that is a scheduling run.
    pub fn reconciled(&self, actions: &[Action], wall_time: Duration) {
        if actions.iter().any(|action| {
            matches!(
                action,
                Action::CreateNodeClaim(_)
                    | Action::Nominate { .. }
                    | Action::PodUnschedulable { .. }
            )
        }) {
            self.scheduling_duration(wall_time.as_secs_f64());
        }
    }

    /// A NodeClaim was created (by the provisioner).
    pub fn node_claim_created(&self, request: &NodeClaimRequest) {
        self.node_claims_created
            .get_or_create(&NodeClaimCreatedLabels {
                reason: "provisioning".to_string(),
                nodepool: request.node_pool.clone(),
                capacity_type: request
                    .requirements
                    .single_values()
                    .find(|(key, _)| *key == labels::CAPACITY_TYPE)
                    .map(|(_, value)| value.to_string())
                    .unwrap_or_default(),
            })
            .inc();
    }

    /// A NodeClaim's instance was launched (`claim.fallback` already says whether it ended on
    /// on-demand in place of Spot, which counts as a fallback).
    pub fn launched(&self, claim: &NodeClaim, instance: &Instance) {
        if claim.fallback && instance.offering.capacity_type == CapacityType::OnDemand {
            self.fallback_series(&claim.node_pool).inc();
        }
    }

    /// The instance types were read: from the embedded catalog alone (`embedded`), or from
    /// the cloud's API.
    pub fn catalog_read(&self, embedded: bool) {
        self.catalog_embedded.set(i64::from(embedded));
    }

    /// The on-demand prices were read: from the Pricing API (`None`), or from the embedded
    /// catalog because the Pricing API failed for `reason` (one of
    /// [`ON_DEMAND_PRICE_FALLBACK_REASONS`]).
    pub fn on_demand_prices_read(&self, embedded_because: Option<&str>) {
        for reason in ON_DEMAND_PRICE_FALLBACK_REASONS
            .into_iter()
            .chain(embedded_because)
        {
            self.on_demand_prices_embedded
                .get_or_create(&ReasonLabels {
                    reason: reason.to_string(),
                })
                .set(i64::from(embedded_because == Some(reason)));
        }
    }

    /// A launch failed with `error`.
    pub fn launch_failed(&self, error: &CloudError) {
        self.cloud_provider_error("nodeclaim.lifecycle", "Create", error);
    }

    /// Terminating an instance failed with `error`.
    pub fn terminate_failed(&self, error: &CloudError) {
        self.cloud_provider_error("nodeclaim.termination", "Delete", error);
    }

    /// A node registered for its NodeClaim.
    pub fn node_registered(&self, node: &NodeState) {
        self.nodes_created
            .get_or_create(&NodeEventLabels {
                nodepool: label_of(node, labels::NODE_POOL),
                zone: label_of(node, labels::ZONE),
            })
            .inc();
    }

    /// A NodeClaim started being deleted for `reason` (a return to Spot also counts in
    /// `spotter_return_to_spot_total`).
    pub fn disrupted(&self, claim: &NodeClaim, reason: DisruptionReason) {
        self.node_claims_disrupted
            .get_or_create(&NodeClaimDisruptedLabels {
                reason: reason.as_str().to_string(),
                nodepool: claim.node_pool.clone(),
                capacity_type: capacity_type_of(claim),
            })
            .inc();
        if reason == DisruptionReason::ReturnToSpot {
            self.returns_to_spot
                .get_or_create(&node_pool_labels(&claim.node_pool))
                .inc();
        }
    }

    /// A NodeClaim (and its node, if it had one) was removed.
    pub fn terminated(&self, claim: &NodeClaim) {
        let zone = claim
            .instance()
            .map(|instance| instance.offering.zone.clone())
            .unwrap_or_default();
        self.node_claims_terminated
            .get_or_create(&NodeClaimTerminatedLabels {
                nodepool: claim.node_pool.clone(),
                capacity_type: capacity_type_of(claim),
                zone: zone.clone(),
            })
            .inc();
        if claim.node.is_some() {
            self.nodes_terminated
                .get_or_create(&NodeEventLabels {
                    nodepool: claim.node_pool.clone(),
                    zone,
                })
                .inc();
        }
    }

    /// An interruption notice arrived from a simulated queue (the simulated market of
    /// `simulate` and `serve`): a message received, and a notice acted on.
    pub fn interruption_received(&self, kind: NoticeKind) {
        self.interruption_received_messages
            .get_or_create(&MessageLabels {
                message_type: message_type(kind).to_string(),
            })
            .inc();
        self.interruption_notice_taken(kind, NoticeSource::Queue);
    }

    /// The controller took an interruption notice from `source`: the first report of its
    /// instance and kind (the other source's report of the same, or the queue delivering it
    /// again, is not counted). The queue's messages are counted apart, as Karpenter does
    /// ([`Metrics::record_message_received`]).
    pub fn interruption_notice_taken(&self, kind: NoticeKind, source: NoticeSource) {
        self.interruption_notices
            .get_or_create(&NoticeLabels {
                message_type: message_type(kind).to_string(),
                source: source.as_str().to_string(),
            })
            .inc();
    }

    /// A message of the interruption queue was read as an event of `message_type` (Karpenter
    /// counts every message it could read, `no_op` included). A driver reading the queue
    /// counts its messages here, and not again through [`Metrics::interruption_received`].
    pub fn record_message_received(&self, message_type: MessageType) {
        self.interruption_received_messages
            .get_or_create(&MessageLabels {
                message_type: message_type.label().to_string(),
            })
            .inc();
    }

    /// A message of the interruption queue could not be read as an EventBridge event (it is
    /// deleted all the same).
    pub fn record_message_malformed(&self) {
        self.interruption_malformed_messages.inc();
    }

    /// A message was deleted from the interruption queue.
    pub fn record_message_deleted(&self) {
        self.interruption_deleted_messages.inc();
    }

    /// A message of the interruption queue was handled `waited` after SQS received it.
    pub fn observe_queue_duration(&self, waited: Duration) {
        self.interruption_queue_duration
            .observe(waited.as_secs_f64());
    }

    /// A pod that waited `waited` since its creation started on a node at `now`.
    pub fn pod_started(&mut self, now: Duration, waited: Duration) {
        self.exposer
            .pods_startup_duration()
            .observe(now, waited.as_secs_f64());
    }

    /// A provisioning run took `seconds` of wall-clock time.
    pub fn scheduling_duration(&self, seconds: f64) {
        self.scheduling_duration
            .get_or_create(&ControllerLabels {
                controller: "provisioner".to_string(),
            })
            .observe(seconds);
    }

    /// Adds one series with example label values to every labelled family, so that an encoding
    /// shows every family's label names (for the generated documentation only).
    pub(crate) fn touch_every_family(&self) {
        for touch in &self.touch_families {
            touch();
        }
    }

    fn fallback_series(&self, node_pool: &str) -> Counter {
        self.fallbacks.get_or_create_owned(&FallbackLabels {
            nodepool: node_pool.to_string(),
            from_capacity_type: CapacityType::Spot.as_str().to_string(),
            to_capacity_type: CapacityType::OnDemand.as_str().to_string(),
            reason: DisruptionReason::InsufficientCapacity.as_str().to_string(),
        })
    }

    fn cloud_provider_error(&self, controller: &str, method: &str, error: &CloudError) {
        self.cloud_provider_errors
            .get_or_create(&CloudErrorLabels {
                controller: controller.to_string(),
                method: method.to_string(),
                provider: self.provider.clone(),
                error: error_type(error).to_string(),
            })
            .inc();
    }

    fn observe_nodes(&self, state: &ClusterState) {
        let rows = state
            .nodes
            .values()
            .map(|node| {
                let mut pod_requests = Resources::new();
                let mut daemon_requests = Resources::new();
                for (key, pod) in &node.pods {
                    if state.pods.get(key).is_some_and(|pod| pod.daemon) {
                        daemon_requests.add(&pod.requests);
                    } else {
                        pod_requests.add(&pod.requests);
                    }
                }
                NodeRow {
                    name: node.name.clone(),
                    well_known: self.well_known.values_of(&node.labels),
                    allocatable: node.allocatable.clone(),
                    pod_requests,
                    daemon_requests,
                }
            })
            .collect();
        self.node_series.set(rows);
    }

    fn observe_node_pools(&self, state: &ClusterState, now: Duration) {
        self.node_pools_usage.clear();
        self.node_pools_limit.clear();
        self.node_pools_allowed_disruptions.clear();
        for pool in &state.node_pools {
            let usage = node_pool_usage(state, &pool.name);
            // Budgets count the pool's initialized nodes whose instance is not terminating;
            // those NotReady or being deleted use the budget up.
            let mut budgeted_nodes = 0u32;
            let mut disrupting_nodes = 0u32;
            for claim in state
                .node_claims
                .values()
                .filter(|claim| claim.node_pool == pool.name)
            {
                let deletion = claim.deletion.as_ref();
                let node = claim.node.as_ref().and_then(|node| state.nodes.get(node));
                let terminating = deletion.is_some_and(|deletion| deletion.instance_terminating);
                if let Some(node) = node
                    && claim.initialized
                    && !terminating
                {
                    budgeted_nodes += 1;
                    if deletion.is_some() || !node.ready {
                        disrupting_nodes += 1;
                    }
                }
            }
            for (name, amount) in
                reported_resources(&usage.resources).chain([(resources::NODES, usage.nodes)])
            {
                self.node_pools_usage
                    .get_or_create(&NodePoolResourceLabels {
                        nodepool: pool.name.clone(),
                        resource_type: resource_type(name),
                    })
                    .set(resource_value(name, amount));
            }
            for (name, limit) in pool.limits.iter() {
                self.node_pools_limit
                    .get_or_create(&NodePoolResourceLabels {
                        nodepool: pool.name.clone(),
                        resource_type: resource_type(name),
                    })
                    .set(resource_value(name, limit));
            }
            for (reason, budget_reason) in BUDGET_REASONS {
                // The most restrictive budget active at `now` (scheduled ones in their window).
                let allowed = disruption_budgets::allowed(pool, budget_reason, budgeted_nodes, now)
                    .min(budgeted_nodes);
                self.node_pools_allowed_disruptions
                    .get_or_create(&NodePoolReasonLabels {
                        nodepool: pool.name.clone(),
                        reason: reason.to_string(),
                    })
                    .set(i64::from(allowed.saturating_sub(disrupting_nodes)));
            }
        }
    }

    fn observe_pods(&self, state: &ClusterState) {
        self.pods_state.observe(state);
    }

    fn observe_offerings(&mut self, state: &ClusterState) {
        let mut unavailable = [(CapacityType::Spot, 0), (CapacityType::OnDemand, 0)].to_vec();
        self.offering_series
            .observe(&state.instance_types, |instance_type, offering| {
                let cached = state.unavailable_offerings.contains(
                    &instance_type.name,
                    offering.capacity_type,
                    &offering.zone,
                );
                if cached {
                    match unavailable
                        .iter_mut()
                        .find(|(capacity_type, _)| *capacity_type == offering.capacity_type)
                    {
                        Some((_, count)) => *count += 1,
                        None => unavailable.push((offering.capacity_type, 1)),
                    }
                }
                offering.available && !cached
            });
        for (capacity_type, count) in unavailable {
            self.unavailable_offerings
                .get_or_create(&CapacityTypeLabels {
                    capacity_type: capacity_type.as_str().to_string(),
                })
                .set(count);
        }
        self.observe_avoided(state);
    }

    fn observe_avoided(&self, state: &ClusterState) {
        let offerings = state
            .unavailable_offerings
            .active()
            .filter(|(_, _, _, record)| record.reason == UnavailableReason::InterruptionProne)
            .count();
        let avoided = state.unavailable_offerings.avoided();
        let families = avoided
            .iter()
            .filter(|avoided| matches!(avoided.level, AvoidLevel::FamilyInZone { .. }))
            .count();
        let zones = avoided.len() - families;
        for (level, count) in [
            ("offering", offerings),
            ("family", families),
            ("zone", zones),
        ] {
            self.avoided_offerings
                .get_or_create(&AvoidLevelLabels {
                    level: level.to_string(),
                })
                .set(count as i64);
        }
    }

    fn observe_capacity_types(&self, state: &ClusterState) {
        self.fallback_nodes.clear();
        self.estimated_savings.clear();
        for pool in &state.node_pools {
            let labels = node_pool_labels(&pool.name);
            self.fallback_nodes.get_or_create(&labels).set(0);
            self.estimated_savings.get_or_create(&labels).set(0.0);
            // The counters exist at 0 from the start, so that rates and sums have data.
            drop(self.returns_to_spot.get_or_create(&labels));
            drop(self.fallback_series(&pool.name));
        }
        let mut spot_nodes = 0u32;
        for node in state.nodes.values() {
            if node.labels.get(labels::CAPACITY_TYPE).map(String::as_str)
                == Some(CapacityType::Spot.as_str())
            {
                spot_nodes += 1;
            }
            if let Some(claim) = state.node_claims.get(&node.node_claim)
                && claim.fallback
            {
                self.fallback_nodes
                    .get_or_create(&node_pool_labels(&claim.node_pool))
                    .inc();
            }
        }
        self.spot_ratio.set(if state.nodes.is_empty() {
            0.0
        } else {
            f64::from(spot_nodes) / state.nodes.len() as f64
        });
        for claim in state.node_claims.values() {
            let Some(instance) = running_instance(claim) else {
                continue;
            };
            let Some(on_demand) = on_demand_price(state, instance) else {
                continue;
            };
            self.estimated_savings
                .get_or_create(&node_pool_labels(&claim.node_pool))
                .inc_by(on_demand - instance.price_per_hour);
        }
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Metrics")
            .field("provider", &self.provider)
            .field("exposer", &self.exposer)
            .finish_non_exhaustive()
    }
}

/// Registers families and remembers how to touch each.
struct Registrar {
    /// The families whose series are few.
    families: Registry,
    /// The collectors of one series per pod, offering or node.
    rows: Registry,
    touch_families: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl Registrar {
    fn family<Labels, Metric>(&mut self, name: &str, help: &str) -> Family<Labels, Metric>
    where
        Labels: Clone + Hash + Eq + Default + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
        Metric: Default + EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
    {
        self.family_with(name, help, Family::default())
    }

    fn node_series(&mut self) -> NodeSeries {
        let series = NodeSeries::new(WellKnownLabels::new());
        self.rows.register_collector(series.collector());
        let touched = series.clone();
        self.touch_families.push(Box::new(move || touched.touch()));
        series
    }

    fn family_with<Labels, Metric, Constructor>(
        &mut self,
        name: &str,
        help: &str,
        family: Family<Labels, Metric, Constructor>,
    ) -> Family<Labels, Metric, Constructor>
    where
        Labels: Clone + Hash + Eq + Default + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
        Metric: EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
        Constructor: MetricConstructor<Metric> + Clone + fmt::Debug + Send + Sync + 'static,
    {
        self.family_with_example(name, help, family, Labels::default())
    }

    fn family_with_example<Labels, Metric, Constructor>(
        &mut self,
        name: &str,
        help: &str,
        family: Family<Labels, Metric, Constructor>,
        example: Labels,
    ) -> Family<Labels, Metric, Constructor>
    where
        Labels: Clone + Hash + Eq + EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
        Metric: EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
        Constructor: MetricConstructor<Metric> + Clone + fmt::Debug + Send + Sync + 'static,
    {
        self.families.register(name, help, family.clone());
        let touched = family.clone();
        self.touch_families.push(Box::new(move || {
            drop(touched.get_or_create(&example));
        }));
        family
    }

    fn offering_series(&mut self) -> OfferingSeries {
        let series = OfferingSeries::default();
        self.rows.register_collector(series.collector());
        let touched = series.clone();
        self.touch_families.push(Box::new(move || touched.touch()));
        series
    }

    fn pods_state(&mut self, help: &str) -> PodsState {
        let family = PodsState::new(help);
        self.rows.register_collector(family.collector());
        let touched = family.clone();
        self.touch_families.push(Box::new(move || touched.touch()));
        family
    }

    fn metric<Metric>(&mut self, name: &str, help: &str, metric: Metric) -> Metric
    where
        Metric: Clone + EncodeMetric + fmt::Debug + Send + Sync + 'static,
    {
        self.families.register(name, help, metric.clone());
        metric
    }
}

fn scheduling_histogram() -> Histogram {
    Histogram::new(SCHEDULING_BUCKETS)
}

fn label_of(node: &NodeState, key: &str) -> String {
    node.labels.get(key).cloned().unwrap_or_default()
}

fn node_pool_labels(node_pool: &str) -> NodePoolLabels {
    NodePoolLabels {
        nodepool: node_pool.to_string(),
    }
}

/// The capacity type a NodeClaim launched as, or the one it was pinned to before launching.
fn capacity_type_of(claim: &NodeClaim) -> String {
    match claim.instance() {
        Some(instance) => instance.offering.capacity_type.as_str().to_string(),
        None => claim
            .requirements
            .single_values()
            .find(|(key, _)| *key == labels::CAPACITY_TYPE)
            .map(|(_, value)| value.to_string())
            .unwrap_or_default(),
    }
}

/// The cheapest on-demand price of the instance's type in its zone, else in any zone.
fn on_demand_price(state: &ClusterState, instance: &Instance) -> Option<f64> {
    let instance_type = state.instance_type(&instance.offering.instance_type)?;
    let on_demand = || {
        instance_type
            .offerings
            .iter()
            .filter(|offering| offering.capacity_type == CapacityType::OnDemand)
    };
    let cheapest = |offerings: &mut dyn Iterator<Item = f64>| offerings.reduce(f64::min);
    cheapest(
        &mut on_demand()
            .filter(|offering| offering.zone == instance.offering.zone)
            .map(|offering| offering.price_per_hour),
    )
    .or_else(|| cheapest(&mut on_demand().map(|offering| offering.price_per_hour)))
}

/// Karpenter's `message_type` for a notice. A state change covers stopping, stopped, shutting
/// down and terminated, which Karpenter v1.0 also reports as one `state_change`.
fn message_type(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::SpotInterruption { .. } => "spot_interrupted",
        NoticeKind::RebalanceRecommendation => "rebalance_recommendation",
        NoticeKind::StateChange => "state_change",
        NoticeKind::ScheduledChange => "scheduled_change",
    }
}

/// Karpenter's `error` label: the name of its cloud provider error type.
fn error_type(error: &CloudError) -> &'static str {
    match error {
        CloudError::InsufficientCapacity { .. } => "InsufficientCapacityError",
        CloudError::NotFound { .. } => "NodeClaimNotFoundError",
        CloudError::InvalidRequest { .. }
        | CloudError::Throttled { .. }
        | CloudError::Transient { .. }
        | CloudError::PermissionDenied { .. } => "CreateError",
    }
}
