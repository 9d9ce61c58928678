//! The provisioner: batches pods that need capacity (pending pods without a live nomination,
//! and pods on nodes being deleted, so that replacements launch while the old node drains),
//! waits until no new pod arrived for the idle window (1 s) or the batch is as old as the
//! maximum (10 s) — or at once when a launch just failed — then solves them against the nodes
//! and in-flight NodeClaims and creates NodeClaims for the rest. While the batch is open, the
//! Spotter policy also solves it every 250 ms and does at once what more pods could not
//! change: NodeClaims already full are created, and pods that fit existing room are nominated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use spotter_core::labels;
use spotter_core::node::Node;
use spotter_core::offering::CapacityType;
use spotter_core::pod::{Pod, WhenUnsatisfiable};
use spotter_core::requirements::{Requirement, Requirements};
use spotter_core::resources::{self, Resources};
use spotter_core::solver::{
    PlannedNodeClaim, PoolUsage, PreparedPools, SchedulingInput, solve_prepared,
};

use crate::action::{Action, NodeClaimRequest};
use crate::node_claim_names::NodeClaimNames;
use crate::node_pool_usage::limits_usage;
use crate::settings::Settings;
use crate::state::{ClusterState, LaunchState, NodeClaim, PodState};

/// The provisioner's memory between reconciles.
#[derive(Debug, Default)]
pub struct Provisioner {
    batch: Option<Batch>,
    /// Where new NodeClaims' names come from.
    names: NodeClaimNames,
    /// Pods the solver could not place, with the capacity generation they were tried at.
    unschedulable: BTreeMap<String, u64>,
    /// The NodePools' instance types, prepared once while pools and instance types stay the same.
    prepared: PreparedPools,
}

#[derive(Debug)]
struct Batch {
    started: Duration,
    last_change: Duration,
    /// The pods in the batch.
    pods: BTreeSet<String>,
    /// When the open batch was last solved for what it already settles, if it was.
    early_solved_at: Option<Duration>,
    /// Whether a pod joined since then.
    joined_since_early_solve: bool,
}

/// How much of a plan a solve acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// The batch closed: every placement, new NodeClaim and unschedulable pod.
    Whole,
    /// The batch is open: placements on nodes and in-flight NodeClaims, and new NodeClaims
    /// with no room left for the batch's smallest pod (in a pool with limits, only within
    /// half of them: [`EarlyCharges`]).
    Settled,
}

impl Provisioner {
    /// A provisioner naming its NodeClaims from `names`.
    pub fn with_names(names: NodeClaimNames) -> Self {
        Self {
            names,
            ..Self::default()
        }
    }

    /// Decides what to provision now; returns when the current batch is due otherwise.
    pub fn reconcile(
        &mut self,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        self.unschedulable
            .retain(|pod, _| state.pods.contains_key(pod));
        let deleting_nodes: BTreeSet<&str> = state
            .node_claims
            .values()
            .filter(|claim| claim.deletion.is_some())
            .filter_map(|claim| claim.node.as_deref())
            .collect();
        let draining = deleting_nodes
            .iter()
            .filter_map(|node| state.nodes.get(*node))
            .flat_map(|node| node.pods.keys())
            .filter_map(|key| state.pods.get_key_value(key));
        let mut candidates: Vec<(&String, &PodState)> = state
            .pending_pods()
            .chain(draining)
            .filter(|(key, pod)| {
                needs_capacity(state, pod, &deleting_nodes, now, settings)
                    && !self.waits_for_capacity(state, key)
            })
            .collect();
        candidates.sort_by_key(|(key, _)| *key);
        let lapse = next_lapse(state, now, settings);
        if candidates.is_empty() {
            self.batch = None;
            return (Vec::new(), lapse);
        }
        let batch = self.batch.get_or_insert_with(|| Batch {
            started: now,
            last_change: now,
            pods: BTreeSet::new(),
            early_solved_at: None,
            joined_since_early_solve: false,
        });
        // A pod joining the batch restarts the idle window (one leaving does not).
        let joined = candidates
            .iter()
            .any(|(key, _)| !batch.pods.contains(key.as_str()));
        if joined {
            batch.last_change = now;
            batch.joined_since_early_solve = true;
        }
        if joined || batch.pods.len() != candidates.len() {
            batch.pods = candidates.iter().map(|(key, _)| (*key).clone()).collect();
        }
        let retry_now = candidates.iter().any(|(_, pod)| pod.retry_now);
        let due = (batch.last_change + settings.batch_idle).min(batch.started + settings.batch_max);
        if retry_now || now >= due {
            self.batch = None;
            self.names.forget_issued();
            return (self.provision(state, &candidates, Scope::Whole), lapse);
        }
        let wake_at = lapse.map_or(due, |lapse| lapse.min(due));
        let early_solve_at = settings
            .early_launch_interval
            .filter(|_| batch.joined_since_early_solve)
            .map(|interval| {
                batch
                    .early_solved_at
                    .map_or(now, |solved| solved + interval)
            });
        match early_solve_at {
            Some(at) if at <= now => {
                batch.early_solved_at = Some(now);
                batch.joined_since_early_solve = false;
                // Oldest first: among pods of one size, the solver packs the first ones given
                // into the full NodeClaims, so a pod is never left over from solve to solve.
                let mut oldest_first = candidates;
                oldest_first.sort_by_key(|(key, pod)| (pod.created_at, *key));
                (
                    self.provision(state, &oldest_first, Scope::Settled),
                    Some(wake_at),
                )
            }
            Some(at) => (Vec::new(), Some(wake_at.min(at))),
            None => (Vec::new(), Some(wake_at)),
        }
    }

    fn waits_for_capacity(&self, state: &ClusterState, pod: &str) -> bool {
        self.unschedulable
            .get(pod)
            .is_some_and(|generation| *generation == state.capacity_generation)
    }

    fn provision(
        &mut self,
        state: &ClusterState,
        candidates: &[(&String, &PodState)],
        scope: Scope,
    ) -> Vec<Action> {
        // Nodes too full for the smallest pod cannot take any; they only matter for the counts
        // of hard topology constraints.
        let hard_topology =
            candidates.iter().any(|(_, pod)| {
                pod.pod.topology_spread.iter().any(|constraint| {
                    constraint.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
                }) || !pod.pod.pod_affinity.required.is_empty()
                    || !pod.pod.pod_anti_affinity.required.is_empty()
            });
        let smallest = candidates
            .iter()
            .map(|(_, pod)| {
                (
                    pod.pod.requests.cpu_millicores,
                    pod.pod.requests.memory_bytes,
                )
            })
            .min()
            .unwrap_or_default();
        let (nodes, claim_of_node) = solver_nodes(state, |node: &Node| {
            if hard_topology {
                return true;
            }
            let requested = node.requested();
            requested.cpu_millicores + smallest.0 <= node.allocatable.cpu_millicores
                && requested.memory_bytes + smallest.1 <= node.allocatable.memory_bytes
        });
        let pods: Vec<Pod> = candidates
            .iter()
            .map(|(_, pod)| (*pod.pod).clone())
            .collect();
        let node_pools = state.launchable_node_pools();
        // The limits count every instance of a pool, full nodes and nodes being deleted
        // included (they run until terminated), not just the nodes the solver may fill.
        let pool_usage = limits_usage(state, &node_pools);
        let input = SchedulingInput {
            pods: &pods,
            nodes: &nodes,
            node_pools: &node_pools,
            instance_types: &state.instance_types,
            daemon_set_pods: &state.daemon_set_pods,
            unavailable: &state.unavailable_offerings,
            pool_usage: Some(&pool_usage),
        };
        if !self.prepared.is_for(&node_pools, &state.instance_types) {
            self.prepared = PreparedPools::new(&node_pools, &state.instance_types);
        }
        let plan = solve_prepared(&input, &self.prepared);
        let mut actions = Vec::new();
        for placement in &plan.existing_nodes {
            let Some(claim) = claim_of_node.get(placement.node.as_str()) else {
                continue;
            };
            for &pod in &placement.pods {
                actions.push(Action::Nominate {
                    pod: candidates[pod].0.clone(),
                    node_claim: (*claim).to_string(),
                });
            }
        }
        let smallest_pod = smallest_requests(candidates);
        let mut early_charges =
            (scope == Scope::Settled).then(|| EarlyCharges::new(state, candidates));
        for planned in plan.node_claims {
            if let Some(early_charges) = early_charges.as_mut() {
                if !is_full(state, &planned, &smallest_pod) {
                    continue;
                }
                let Some(charged) = early_charges.charge(state, &planned, &pool_usage) else {
                    continue;
                };
                early_charges.add(&planned.node_pool, charged);
            }
            let name = self.names.next(&planned.node_pool, state);
            let fallback = planned
                .launch
                .as_ref()
                .is_some_and(|launch| launch.capacity_type == CapacityType::OnDemand)
                && planned
                    .pods
                    .iter()
                    .all(|&pod| pod_allows_spot(&candidates[pod].1.pod))
                && spot_was_possible(state, &planned.node_pool);
            let mut requirements = planned.requirements;
            // Pin the capacity type the launch will use, as Karpenter's launch does.
            if let Some(launch) = &planned.launch {
                requirements.add(
                    labels::CAPACITY_TYPE,
                    Requirement::single(launch.capacity_type.as_str()),
                );
            }
            actions.push(Action::CreateNodeClaim(NodeClaimRequest {
                name,
                node_pool: planned.node_pool,
                requirements,
                instance_types: planned.instance_types,
                pods: planned
                    .pods
                    .iter()
                    .map(|&pod| candidates[pod].0.clone())
                    .collect(),
                fallback,
                replaces: None,
            }));
        }
        if scope == Scope::Settled {
            return actions;
        }
        for unschedulable in plan.unschedulable {
            let key = candidates[unschedulable.pod].0.clone();
            self.unschedulable
                .insert(key.clone(), state.capacity_generation);
            actions.push(Action::PodUnschedulable {
                pod: key,
                reason: unschedulable.reason,
            });
        }
        actions
    }
}

/// The smallest request of the candidates, resource by resource (one pod, no extended
/// resources).
fn smallest_requests(candidates: &[(&String, &PodState)]) -> Resources {
    let requests = || candidates.iter().map(|(_, pod)| &pod.pod.requests);
    Resources {
        cpu_millicores: requests()
            .map(|request| request.cpu_millicores)
            .min()
            .unwrap_or(0),
        memory_bytes: requests()
            .map(|request| request.memory_bytes)
            .min()
            .unwrap_or(0),
        pods: 1,
        ephemeral_storage_bytes: requests()
            .map(|request| request.ephemeral_storage_bytes)
            .min()
            .unwrap_or(0),
        extended: Vec::new(),
    }
}

/// Whether a planned NodeClaim has instance types and none of them has room for `smallest`
/// beside its pods and DaemonSets.
fn is_full(state: &ClusterState, planned: &PlannedNodeClaim, smallest: &Resources) -> bool {
    !planned.instance_types.is_empty()
        && planned.instance_types.iter().all(|name| {
            state.instance_type(name).is_some_and(|instance_type| {
                let mut free = instance_type.allocatable.clone();
                free.subtract(&planned.requests);
                !smallest.fits_in(&free)
            })
        })
}

/// What early launches may take from NodePools with limits. An early NodeClaim must not take
/// room the rest of its batch will need, nor stack on NodeClaims still launching (the limits
/// count instances, and a NodeClaim's size is known once it launches): in a pool with limits it
/// is launched early only while the pool's instances, its NodeClaims not launched yet and the
/// early ones at their largest instance types, and every pod of the batch, take at most half
/// of each limit (nearer, which NodeClaims launch first decides what fits: allowed up to the
/// whole limit, early launches kept a soak scenario's pod out for hours). Otherwise it waits
/// for the batch to close, where the solver narrows the batch's NodeClaims to the room left.
struct EarlyCharges {
    /// The requests of every pod in the batch.
    batch_requests: Resources,
    /// By pool with limits: NodeClaims not launched yet, and early ones of this solve, at their
    /// largest instance types, with their count.
    in_flight: BTreeMap<String, (Resources, i64)>,
}

impl EarlyCharges {
    fn new(state: &ClusterState, candidates: &[(&String, &PodState)]) -> Self {
        let mut batch_requests = Resources::new();
        for (_, pod) in candidates {
            batch_requests.add(&pod.pod.requests);
        }
        let mut in_flight: BTreeMap<String, (Resources, i64)> = BTreeMap::new();
        for claim in state.node_claims.values().filter(|claim| {
            claim.deletion.is_none()
                && state
                    .node_pool(&claim.node_pool)
                    .is_some_and(|pool| pool.limits.iter().next().is_some())
                && matches!(
                    claim.launch,
                    LaunchState::NotLaunched
                        | LaunchState::Launching { .. }
                        | LaunchState::Retrying { .. }
                )
        }) {
            let entry = in_flight.entry(claim.node_pool.clone()).or_default();
            entry.0.add(&largest_capacity(state, &claim.instance_types));
            entry.1 += 1;
        }
        Self {
            batch_requests,
            in_flight,
        }
    }

    /// What `planned` is charged at if it may be launched early, `None` if it may not.
    fn charge(
        &self,
        state: &ClusterState,
        planned: &PlannedNodeClaim,
        usage: &BTreeMap<String, PoolUsage>,
    ) -> Option<Resources> {
        let charged = largest_capacity(state, &planned.instance_types);
        let Some(pool) = state.node_pool(&planned.node_pool) else {
            return Some(charged);
        };
        if pool.limits.iter().next().is_none() {
            return Some(charged);
        }
        let (in_flight, in_flight_count) = self
            .in_flight
            .get(&planned.node_pool)
            .cloned()
            .unwrap_or_default();
        let used = usage.get(&planned.node_pool).cloned().unwrap_or_default();
        let total = used
            .resources
            .plus(&in_flight)
            .plus(&charged)
            .plus(&self.batch_requests);
        let within = pool.limits.iter().all(|(name, limit)| {
            if name == resources::NODES {
                2 * (used.nodes + in_flight_count + 1) <= limit
            } else {
                2 * total.get(name) <= limit
            }
        });
        within.then_some(charged)
    }

    /// Charges an early NodeClaim of `node_pool` to the later ones of the same solve.
    fn add(&mut self, node_pool: &str, charged: Resources) {
        let entry = self.in_flight.entry(node_pool.to_string()).or_default();
        entry.0.add(&charged);
        entry.1 += 1;
    }
}

/// The largest capacity of `instance_types`, resource by resource (types the catalog does not
/// have count for nothing).
fn largest_capacity(state: &ClusterState, instance_types: &[String]) -> Resources {
    instance_types
        .iter()
        .filter_map(|name| state.instance_type(name))
        .fold(Resources::new(), |largest, instance_type| {
            largest.max(&instance_type.capacity)
        })
}

/// Whether a pod needs the provisioner: pending without a live nomination, or bound to a node
/// being deleted, not terminating, and not yet planned elsewhere.
fn needs_capacity(
    state: &ClusterState,
    pod: &PodState,
    deleting_nodes: &BTreeSet<&str>,
    now: Duration,
    settings: &Settings,
) -> bool {
    if pod.daemon || pod.terminating {
        return false;
    }
    if pod
        .node
        .as_deref()
        .is_some_and(|node| !deleting_nodes.contains(node))
    {
        return false;
    }
    let nomination_live = pod.nominated.as_ref().is_some_and(|claim| {
        state.node_claims.get(claim).is_some_and(|claim| {
            claim.deletion.is_none()
                && !matches!(claim.launch, LaunchState::InsufficientCapacity { .. })
                && nomination_lapses_at(state, claim, pod, settings).is_none_or(|at| at > now)
        })
    });
    if nomination_live {
        return false;
    }
    true
}

/// When a pending pod's nomination to `claim` lapses, if it will: once the claim's node is up
/// and kube-scheduler gave the room planned for the pod to other pods, the nomination holds a
/// place for nothing. It lapses when the node's pods have been still for the batch idle window
/// (the scheduler has finished binding to the new node), and the pod is planned again at once,
/// as Karpenter plans every pending pod in every batch: often into the room its displacer was
/// nominated to.
fn nomination_lapses_at(
    state: &ClusterState,
    claim: &NodeClaim,
    pod: &PodState,
    settings: &Settings,
) -> Option<Duration> {
    let node = claim
        .node
        .as_ref()
        .and_then(|node| state.nodes.get(node))
        .filter(|node| claim.initialized && node.ready)?;
    let mut free = node.allocatable.clone();
    free.subtract(&node.requested());
    (!pod.pod.requests.fits_in(&free)).then_some(node.last_pod_event + settings.batch_idle)
}

/// The earliest time after `now` at which a pending pod's nomination lapses.
fn next_lapse(state: &ClusterState, now: Duration, settings: &Settings) -> Option<Duration> {
    state
        .pending_pods()
        .filter_map(|(_, pod)| {
            let claim = state.node_claims.get(pod.nominated.as_ref()?)?;
            nomination_lapses_at(state, claim, pod, settings)
        })
        .filter(|at| *at > now)
        .min()
}

/// Every node and in-flight NodeClaim that is not being deleted nor held for a return to Spot,
/// as solver nodes (with the pods nominated to them counted), and the NodeClaim behind each.
pub(crate) fn solver_nodes(
    state: &ClusterState,
    keep: impl Fn(&Node) -> bool,
) -> (Vec<Node>, BTreeMap<String, &str>) {
    let mut nominated: BTreeMap<&str, Vec<Arc<Pod>>> = BTreeMap::new();
    for pod in state.pods.values() {
        // Pending pods, and pods draining from a node being deleted, count where they are
        // nominated to.
        let Some(claim) = &pod.nominated else {
            continue;
        };
        if !pod.terminating
            && pod
                .node
                .as_deref()
                .is_none_or(|node| state.node_is_deleting(node))
        {
            nominated
                .entry(claim.as_str())
                .or_default()
                .push(Arc::clone(&pod.pod));
        }
    }
    let mut nodes = Vec::new();
    let mut claim_of_node = BTreeMap::new();
    let mut seen_claims = BTreeSet::new();
    for node in state.nodes.values() {
        let Some(claim) = state.node_claims.get(&node.node_claim) else {
            continue;
        };
        if claim.deletion.is_some() || state.reserved_for(claim).is_some() {
            continue;
        }
        seen_claims.insert(claim.name.as_str());
        let extra = nominated.remove(claim.name.as_str()).unwrap_or_default();
        let solver_node = state.solver_node(node, extra.into_iter());
        if keep(&solver_node) {
            nodes.push(solver_node);
            claim_of_node.insert(node.name.clone(), claim.name.as_str());
        }
    }
    for claim in state.node_claims.values() {
        if claim.deletion.is_some()
            || seen_claims.contains(claim.name.as_str())
            || state.reserved_for(claim).is_some()
        {
            continue;
        }
        let LaunchState::Launched { instance, .. } = &claim.launch else {
            continue;
        };
        let Some(instance_type) = state.instance_type(&instance.offering.instance_type) else {
            continue;
        };
        let Some(node_labels) = state.node_labels(claim, &claim.name) else {
            continue;
        };
        let pool_taints = state
            .node_pool(&claim.node_pool)
            .map(|pool| pool.taints.clone())
            .unwrap_or_default();
        let daemons = state.daemon_set_pods.iter().filter(|daemon| {
            pool_taints.iter().all(|taint| {
                daemon
                    .tolerations
                    .iter()
                    .any(|toleration| toleration.tolerates(taint))
            })
        });
        let pods = nominated
            .remove(claim.name.as_str())
            .unwrap_or_default()
            .into_iter()
            .chain(daemons.map(|daemon| Arc::new(daemon.clone())))
            .collect();
        let in_flight = Node {
            name: claim.name.clone(),
            labels: Arc::new(node_labels),
            taints: pool_taints,
            allocatable: instance_type.allocatable.clone(),
            unschedulable: false,
            pods,
        };
        if keep(&in_flight) {
            nodes.push(in_flight);
            claim_of_node.insert(claim.name.clone(), claim.name.as_str());
        }
    }
    (nodes, claim_of_node)
}

/// Whether pods landing on-demand in `node_pool` could have had Spot: the pool itself allows
/// Spot, or a pool tried before it by weight does.
fn spot_was_possible(state: &ClusterState, node_pool: &str) -> bool {
    let Some(pool) = state.node_pool(node_pool) else {
        return false;
    };
    state.node_pools.iter().any(|other| {
        (other.name == pool.name || spotter_core::node_pool::weight_order(other, pool).is_lt())
            && other
                .requirements
                .allows(labels::CAPACITY_TYPE, CapacityType::Spot.as_str())
    })
}

/// Whether a pod's own node selection admits Spot (its nodeSelector, and one of its required
/// node-affinity terms if it has any): a pod that requires on-demand is never a fallback.
fn pod_allows_spot(pod: &Pod) -> bool {
    let spot = CapacityType::Spot.as_str();
    Requirements::from_labels(pod.node_selector.as_ref()).allows(labels::CAPACITY_TYPE, spot)
        && (pod.required_node_affinity.is_empty()
            || pod.required_node_affinity.iter().any(|term| {
                Requirements::from_expressions(term)
                    .is_ok_and(|requirements| requirements.allows(labels::CAPACITY_TYPE, spot))
            }))
}
