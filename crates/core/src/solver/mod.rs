//! The solver: places a batch of pending pods on existing nodes first, then on NodeClaims
//! already planned in this batch, then on new NodeClaims from NodePools in weight order, and
//! says for every pod it cannot place which NodePool rejected it and why.
//!
//! Pods with the same constraints share a *signature*; every answer that depends only on the
//! constraints (which NodePools and instance types fit them, which planned NodeClaims can never
//! take them again) is computed once per signature, which keeps the solver close to linear in
//! the number of pods.

mod allowed_offerings;
mod constraints;
mod limits;
mod node_claim;
mod prepared_pools;
mod topology;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::instance_type::{InstanceType, offering_allowed};
use crate::labels;
use crate::node::Node;
use crate::node_pool::{NodePool, weight_order};
use crate::offering::{CapacityType, Offering};
use crate::pod::{HostPort, Pod, host_ports_conflict};
use crate::requirements::{Requirement, Requirements};
use crate::resources::{self, Resources};
use crate::taints::first_untolerated;
use crate::unavailable_offerings::{AvoidLevel, UnavailableOfferings};

use allowed_offerings::AllowedOfferings;
use constraints::{PodConstraints, Relaxation, SelectedLabelKeys};
use node_claim::ClaimState;
use topology::{CandidateDomains, ExistingNode, Narrowing, PodTopology, Topology};

pub use node_claim::MAX_INSTANCE_TYPES;
pub use prepared_pools::PreparedPools;

/// What the solver works on.
#[derive(Clone, Copy, Debug)]
pub struct SchedulingInput<'a> {
    /// The pods to place.
    pub pods: &'a [Pod],
    /// Nodes that exist, with the pods bound to them.
    pub nodes: &'a [Node],
    /// The NodePools (any order; they are tried by weight).
    pub node_pools: &'a [NodePool],
    /// Every instance type of the region with its offerings.
    pub instance_types: &'a [InstanceType],
    /// One pod per DaemonSet: its requests are added to every new node it would run on.
    pub daemon_set_pods: &'a [Pod],
    /// Offerings that must not be launched.
    pub unavailable: &'a UnavailableOfferings,
    /// What each NodePool's instances use now, by pool name, counted against its limits. When
    /// `None`, the limits count the nodes in `nodes`; a caller that leaves nodes out (full
    /// ones, nodes being deleted whose instances still run) passes the pools' usage here.
    pub pool_usage: Option<&'a BTreeMap<String, PoolUsage>>,
}

/// What a NodePool's instances use, as its limits count it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolUsage {
    /// The instances' capacity, summed.
    pub resources: Resources,
    /// How many instances.
    pub nodes: i64,
}

/// What the solver decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// New NodeClaims to launch.
    pub node_claims: Vec<PlannedNodeClaim>,
    /// Pods placed on existing nodes, per node (only nodes that got pods).
    pub existing_nodes: Vec<ExistingNodePlacement>,
    /// Pods that cannot be placed, with the reason.
    pub unschedulable: Vec<Unschedulable>,
}

/// A NodeClaim the solver wants launched.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedNodeClaim {
    /// The NodePool it comes from.
    pub node_pool: String,
    /// The pods it is for, as indices into [`SchedulingInput::pods`].
    pub pods: Vec<usize>,
    /// What the node must satisfy: the pool's requirements narrowed by its pods.
    pub requirements: Requirements,
    /// Candidate instance types, cheapest first, at most [`MAX_INSTANCE_TYPES`].
    pub instance_types: Vec<String>,
    /// The capacity types it may launch as, in launch preference order.
    pub capacity_types: Vec<CapacityType>,
    /// The zones it may launch in.
    pub zones: Vec<String>,
    /// The offering a launch would pick now, if any.
    pub launch: Option<Launch>,
    /// The pods' requests plus the DaemonSet overhead.
    pub requests: Resources,
}

/// The offering chosen for a launch.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Instance type name.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// USD per hour.
    pub price_per_hour: f64,
}

/// Pods placed on one existing node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingNodePlacement {
    /// The node's name.
    pub node: String,
    /// The pods, as indices into [`SchedulingInput::pods`].
    pub pods: Vec<usize>,
}

/// A pod the solver could not place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unschedulable {
    /// The pod, as an index into [`SchedulingInput::pods`].
    pub pod: usize,
    /// Why, naming each NodePool and what it rejected.
    pub reason: String,
}

/// Places `input.pods`; see the module documentation.
pub fn solve(input: &SchedulingInput<'_>) -> Plan {
    solve_prepared(
        input,
        &PreparedPools::new(input.node_pools, input.instance_types),
    )
}

/// [`solve`] with the NodePools' instance types prepared beforehand (see [`PreparedPools`]); a
/// `prepared` that is not for `input`'s pools and instance types is ignored.
pub fn solve_prepared(input: &SchedulingInput<'_>, prepared: &PreparedPools) -> Plan {
    let rebuilt;
    let prepared = if prepared.is_for(input.node_pools, input.instance_types) {
        prepared
    } else {
        rebuilt = PreparedPools::new(input.node_pools, input.instance_types);
        &rebuilt
    };
    let mut solver = Solver::new(input, prepared);
    let mut order: Vec<usize> = (0..input.pods.len()).collect();
    order.sort_by(|&left, &right| {
        let (left_pod, right_pod) = (&input.pods[left], &input.pods[right]);
        right_pod
            .priority
            .cmp(&left_pod.priority)
            .then(
                right_pod
                    .requests
                    .cpu_millicores
                    .cmp(&left_pod.requests.cpu_millicores),
            )
            .then(
                right_pod
                    .requests
                    .memory_bytes
                    .cmp(&left_pod.requests.memory_bytes),
            )
            .then(left.cmp(&right))
    });
    solver.schedule_all(order.into_iter());
    // As Karpenter does, retry the pods that failed for as long as others make progress: a pod
    // may need one placed after it (pod affinity to a pod later in the batch).
    loop {
        let failed = std::mem::take(&mut solver.unschedulable);
        let before = failed.len();
        solver.schedule_all(failed.into_iter().map(|entry| entry.pod));
        if solver.unschedulable.len() >= before {
            break;
        }
    }
    solver.into_plan()
}

/// A NodePool prepared for the run.
#[derive(Debug)]
struct PoolState<'a> {
    pool: &'a NodePool,
    /// Instance types the pool allows, cheapest available offering first.
    instance_types: Vec<u32>,
    /// Why the pool has no instance type at all, if so.
    empty_reason: Option<String>,
    daemon_overhead: Resources,
    /// The host ports of the DaemonSets that run on its nodes.
    daemon_host_ports: Vec<HostPort>,
    /// Limits left (existing nodes and planned claims, each at the largest instance type it may
    /// launch, taken off); only limited resources are listed.
    remaining: Vec<(String, i64)>,
    /// The limited resources other than `nodes`, with their limits: an instance type's *size* is
    /// the largest share of a limit one of its nodes takes.
    limit_scale: Vec<(String, f64)>,
    /// The largest size the pool's claims may launch: lowered when the limits would otherwise
    /// turn a claim away, narrowing every claim of the pool (see [`Solver::lower_size_cap`]).
    size_cap: f64,
    /// Its planned claims, as indices into `Solver::claims`.
    claims: Vec<usize>,
}

/// An existing node prepared for the run.
#[derive(Debug)]
struct NodeState {
    used: Resources,
    zones: Vec<String>,
    capacity_types: Vec<String>,
    placed: Vec<usize>,
    /// The host ports its pods bind, those running and those placed.
    host_ports: Vec<HostPort>,
}

/// Everything cached for one signature.
#[derive(Debug)]
struct Signature {
    constraints: PodConstraints,
    topology: Result<PodTopology, String>,
    known_groups: usize,
    /// Per pool (in weight order): compatible instance types (as a bitset and a list), or why none.
    pools: Vec<Option<Result<PoolFit, String>>>,
    /// Per existing node: whether taints and labels allow the pod.
    nodes: Vec<Option<bool>>,
    /// Planned claims that may take pods of this signature, with the claim version last checked.
    live_claims: Vec<(u32, u32)>,
    /// Claims with an index below this have been added to `live_claims` (or ruled out).
    claims_seen: usize,
}

#[derive(Debug)]
struct PoolFit {
    instance_types: Vec<u32>,
    member: Vec<u64>,
}

struct Solver<'a> {
    input: &'a SchedulingInput<'a>,
    available: Vec<Vec<bool>>,
    pools: Vec<PoolState<'a>>,
    nodes: Vec<NodeState>,
    claims: Vec<ClaimState>,
    topology: Topology<'a>,
    signatures: Vec<Signature>,
    signature_index: HashMap<PodConstraints, usize>,
    /// The labels that matter to some selector; the others are left out of signatures.
    selected_label_keys: SelectedLabelKeys,
    /// Bumped by every placement, new claim and narrowing: a pod that failed while it stayed
    /// the same fails again for a pod with the same scheduling content.
    changes: u64,
    unschedulable: Vec<Unschedulable>,
    /// One offering per distinct (zone, zone ID, capacity type), the fields
    /// [`offering_allowed`] reads: they bound what [`Solver::domains`] can find.
    offering_domains: Vec<&'a Offering>,
    /// For every instance type and offering, its index in `offering_domains`.
    domain_of: std::sync::Arc<Vec<Vec<u8>>>,
    /// For every instance type and offering, whether it is avoided (`None`: nothing is).
    avoided: Option<Vec<Vec<bool>>>,
    /// Whether avoided offerings count as unavailable (the first pass over the NodePools for
    /// a new claim).
    strict: bool,
}

impl<'a> Solver<'a> {
    fn new(input: &'a SchedulingInput<'a>, prepared: &PreparedPools) -> Self {
        let available: Vec<Vec<bool>> = input
            .instance_types
            .iter()
            .map(|instance_type| {
                instance_type
                    .offerings
                    .iter()
                    .map(|offering| {
                        offering.available
                            && !input.unavailable.contains(
                                &instance_type.name,
                                offering.capacity_type,
                                &offering.zone,
                            )
                    })
                    .collect()
            })
            .collect();
        let avoided: Option<Vec<Vec<bool>>> = input.unavailable.avoids_any().then(|| {
            input
                .instance_types
                .iter()
                .map(|instance_type| {
                    instance_type
                        .offerings
                        .iter()
                        .map(|offering| {
                            input.unavailable.avoids(
                                &instance_type.name,
                                offering.capacity_type,
                                &offering.zone,
                            )
                        })
                        .collect()
                })
                .collect()
        });
        let traded_zones: BTreeSet<String> = input
            .unavailable
            .avoided()
            .iter()
            .filter(|avoided| {
                avoided.level == AvoidLevel::Zone && avoided.capacity_type == CapacityType::Spot
            })
            .map(|avoided| avoided.zone.clone())
            .collect();
        let mut ordered: Vec<&NodePool> = input.node_pools.iter().collect();
        ordered.sort_by(|left, right| weight_order(left, right));
        let mut zones_seen: BTreeSet<&str> = BTreeSet::new();
        let mut capacity_types_seen: BTreeSet<&str> = BTreeSet::new();
        let mut pools = Vec::new();
        for pool in ordered {
            let state = prepare_pool(input, &available, pool, prepared);
            let allowed = prepared
                .get(pool)
                .map(|prepared_pool| &prepared_pool.instance_types);
            for &index in &state.instance_types {
                let offerings = &input.instance_types[index as usize].offerings;
                let allowed_offerings = allowed.and_then(|allowed| {
                    allowed
                        .binary_search_by_key(&index, |(candidate, _)| *candidate)
                        .ok()
                        .map(|position| &allowed[position].1)
                });
                for (position, offering) in offerings.iter().enumerate() {
                    let is_allowed = match allowed_offerings {
                        Some(allowed_offerings) => allowed_offerings.contains(&(position as u16)),
                        None => offering_allowed(offering, &pool.requirements),
                    };
                    if is_allowed {
                        zones_seen.insert(&offering.zone);
                        capacity_types_seen.insert(offering.capacity_type.as_str());
                    }
                }
            }
            pools.push(state);
        }
        let mut zone_universe: BTreeSet<String> =
            zones_seen.into_iter().map(str::to_string).collect();
        let mut capacity_type_universe: BTreeSet<String> = capacity_types_seen
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut nodes = Vec::new();
        for node in input.nodes {
            let zones: Vec<String> = node.labels.get(labels::ZONE).into_iter().cloned().collect();
            let capacity_types: Vec<String> = node
                .labels
                .get(labels::CAPACITY_TYPE)
                .into_iter()
                .cloned()
                .collect();
            zone_universe.extend(zones.iter().cloned());
            capacity_type_universe.extend(capacity_types.iter().cloned());
            nodes.push(NodeState {
                used: node.requested(),
                zones,
                capacity_types,
                placed: Vec::new(),
                host_ports: node
                    .pods
                    .iter()
                    .flat_map(|pod| pod.host_ports.iter().cloned())
                    .collect(),
            });
        }
        let existing = input
            .nodes
            .iter()
            .zip(&nodes)
            .map(|(node, state)| ExistingNode {
                hostname: &node.name,
                zones: state.zones.clone(),
                capacity_types: state.capacity_types.clone(),
                pods: &node.pods,
            })
            .collect();
        let mut solver = Self {
            input,
            domain_of: std::sync::Arc::clone(&prepared.domain_of),
            offering_domains: prepared
                .offering_domains
                .iter()
                .map(|&(instance_type, offering)| {
                    &input.instance_types[instance_type as usize].offerings[offering as usize]
                })
                .collect(),
            available,
            pools,
            nodes,
            claims: Vec::new(),
            topology: Topology::new(
                zone_universe,
                capacity_type_universe,
                traded_zones,
                existing,
            ),
            avoided,
            strict: false,
            signatures: Vec::new(),
            signature_index: HashMap::new(),
            selected_label_keys: SelectedLabelKeys::of(
                input.pods,
                input
                    .nodes
                    .iter()
                    .flat_map(|node| node.pods.iter().map(|pod| &**pod)),
            ),
            changes: 0,
            unschedulable: Vec::new(),
        };
        solver.count_existing_pods();
        match input.pool_usage {
            Some(usage) => solver.reserve_pool_usage(usage),
            None => solver.reserve_existing_usage(),
        }
        solver
    }

    /// Subtracts each pool's usage, as the caller counted it, from its limits.
    fn reserve_pool_usage(&mut self, usage: &BTreeMap<String, PoolUsage>) {
        for pool in &mut self.pools {
            let Some(used) = usage.get(&pool.pool.name) else {
                continue;
            };
            for (name, left) in pool.remaining.iter_mut() {
                *left -= if name == resources::NODES {
                    used.nodes
                } else {
                    used.resources.get(name)
                };
            }
        }
    }

    /// Records where running pods with required anti-affinity are, so that the pods they
    /// repel keep away. (Every group counts the running pods it selects when it is created.)
    fn count_existing_pods(&mut self) {
        for (node_index, node) in self.input.nodes.iter().enumerate() {
            for pod in node
                .pods
                .iter()
                .filter(|pod| !pod.pod_anti_affinity.required.is_empty())
            {
                let Ok(constraints) =
                    Relaxation::new(pod).constraints(pod, &SelectedLabelKeys::all())
                else {
                    continue;
                };
                let Ok(pod_topology) = self.topology.register(&constraints) else {
                    continue;
                };
                let state = &self.nodes[node_index];
                let candidate = CandidateDomains {
                    hostname: &node.name,
                    zones: &state.zones,
                    capacity_types: &state.capacity_types,
                };
                self.topology
                    .record_owners(&pod_topology, &constraints, &candidate);
            }
        }
    }

    /// Subtracts what each pool's existing nodes use from its limits.
    fn reserve_existing_usage(&mut self) {
        for node in self.input.nodes {
            let Some(pool_name) = node.node_pool() else {
                continue;
            };
            let capacity = node
                .labels
                .get(labels::INSTANCE_TYPE)
                .and_then(|name| {
                    self.input
                        .instance_types
                        .iter()
                        .find(|instance_type| &instance_type.name == name)
                })
                .map_or_else(
                    || node.allocatable.clone(),
                    |instance_type| instance_type.capacity.clone(),
                );
            if let Some(pool) = self
                .pools
                .iter_mut()
                .find(|pool| pool.pool.name == pool_name)
            {
                reserve(&mut pool.remaining, &capacity);
            }
        }
    }

    /// Schedules pods in order. A pod with the same scheduling content as the one before,
    /// which failed without anything changing since, fails for the same reason without being
    /// tried: a group of equal pods that cannot be placed costs one attempt.
    fn schedule_all(&mut self, pods: impl Iterator<Item = usize>) {
        let mut previous: Option<(usize, u64)> = None;
        for pod_index in pods {
            if let Some((previous_pod, changes)) = previous
                && changes == self.changes
                && self
                    .unschedulable
                    .last()
                    .is_some_and(|entry| entry.pod == previous_pod)
                && self
                    .selected_label_keys
                    .same_scheduling(&self.input.pods[previous_pod], &self.input.pods[pod_index])
            {
                let reason = self
                    .unschedulable
                    .last()
                    .map(|entry| entry.reason.clone())
                    .unwrap_or_default();
                self.unschedulable.push(Unschedulable {
                    pod: pod_index,
                    reason,
                });
            } else {
                self.schedule(pod_index);
            }
            previous = Some((pod_index, self.changes));
        }
    }

    fn schedule(&mut self, pod_index: usize) {
        let pod = &self.input.pods[pod_index];
        let mut relaxation = Relaxation::new(pod);
        loop {
            let outcome = match relaxation.constraints(pod, &self.selected_label_keys) {
                Ok(constraints) => {
                    let signature = self.signature(constraints);
                    self.place(pod_index, signature)
                }
                Err(error) => Err(error.to_string()),
            };
            match outcome {
                Ok(()) => return,
                Err(reason) => {
                    if !relaxation.relax(pod) {
                        self.unschedulable.push(Unschedulable {
                            pod: pod_index,
                            reason,
                        });
                        return;
                    }
                }
            }
        }
    }

    fn signature(&mut self, constraints: PodConstraints) -> usize {
        if let Some(&index) = self.signature_index.get(&constraints) {
            let signature = &mut self.signatures[index];
            if let Ok(pod_topology) = &mut signature.topology {
                signature.known_groups = self.topology.refresh(
                    pod_topology,
                    &signature.constraints.namespace,
                    &signature.constraints.labels,
                    signature.known_groups,
                );
            }
            return index;
        }
        let topology = self.topology.register(&constraints);
        let index = self.signatures.len();
        self.signatures.push(Signature {
            constraints: constraints.clone(),
            topology,
            known_groups: self.topology.group_count(),
            pools: (0..self.pools.len()).map(|_| None).collect(),
            nodes: vec![None; self.nodes.len()],
            live_claims: Vec::new(),
            claims_seen: 0,
        });
        self.signature_index.insert(constraints, index);
        index
    }

    fn place(&mut self, pod_index: usize, signature: usize) -> Result<(), String> {
        let pod_topology = self.signatures[signature].topology.clone()?;
        let constraints = &self.signatures[signature].constraints;
        let self_matching =
            self.topology
                .self_matching(&pod_topology, &constraints.namespace, &constraints.labels);
        if self.place_on_existing_node(pod_index, signature, &pod_topology, &self_matching) {
            return Ok(());
        }
        if self.place_on_planned_claim(pod_index, signature, &pod_topology, &self_matching) {
            return Ok(());
        }
        self.place_on_new_claim(pod_index, signature, &pod_topology, &self_matching)
    }

    fn place_on_existing_node(
        &mut self,
        pod_index: usize,
        signature: usize,
        pod_topology: &PodTopology,
        self_matching: &[bool],
    ) -> bool {
        let requests = &self.input.pods[pod_index].requests;
        for node_index in 0..self.nodes.len() {
            let node = &self.input.nodes[node_index];
            let compatible = match self.signatures[signature].nodes[node_index] {
                Some(compatible) => compatible,
                None => {
                    let constraints = &self.signatures[signature].constraints;
                    let compatible = !node.unschedulable
                        && first_untolerated(
                            &node.taints,
                            &constraints.tolerations,
                            constraints.tolerate_prefer_no_schedule,
                        )
                        .is_none()
                        && constraints
                            .requirements
                            .matched_by_labels(&node.labels)
                            .is_ok();
                    self.signatures[signature].nodes[node_index] = Some(compatible);
                    compatible
                }
            };
            let state = &self.nodes[node_index];
            if !compatible || !state.used.plus(requests).fits_in(&node.allocatable) {
                continue;
            }
            let host_ports = &self.signatures[signature].constraints.host_ports;
            if !host_ports.is_empty() && host_ports_conflict(host_ports, &state.host_ports) {
                continue;
            }
            let candidate = CandidateDomains {
                hostname: &node.name,
                zones: &state.zones,
                capacity_types: &state.capacity_types,
            };
            let constraints = &self.signatures[signature].constraints;
            if self
                .topology
                .evaluate(
                    pod_topology,
                    self_matching,
                    &constraints.requirements,
                    &candidate,
                )
                .is_err()
            {
                continue;
            }
            self.topology.record(
                pod_topology,
                constraints,
                &self.input.pods[pod_index],
                &candidate,
            );
            self.changes += 1;
            let state = &mut self.nodes[node_index];
            state.used.add(requests);
            state.placed.push(pod_index);
            state
                .host_ports
                .extend(constraints.host_ports.iter().cloned());
            return true;
        }
        false
    }

    fn place_on_planned_claim(
        &mut self,
        pod_index: usize,
        signature: usize,
        pod_topology: &PodTopology,
        self_matching: &[bool],
    ) -> bool {
        // Bring the signature's list of live claims up to date with claims created since.
        let seen = self.signatures[signature].claims_seen;
        for claim_index in seen..self.claims.len() {
            let pool = self.claims[claim_index].pool;
            self.ensure_pool_fit(signature, pool);
            if matches!(self.signatures[signature].pools[pool], Some(Ok(_))) {
                self.signatures[signature]
                    .live_claims
                    .push((claim_index as u32, u32::MAX));
            }
        }
        self.signatures[signature].claims_seen = self.claims.len();

        let requests = &self.input.pods[pod_index].requests;
        let mut position = 0;
        while position < self.signatures[signature].live_claims.len() {
            let (claim_index, checked_version) = self.signatures[signature].live_claims[position];
            let claim = &self.claims[claim_index as usize];
            if !claim.could_fit(requests) {
                position += 1;
                continue;
            }
            let constraints = &self.signatures[signature].constraints;
            if checked_version != claim.version {
                if claim
                    .requirements
                    .compatible(&constraints.requirements, labels::is_well_known)
                    .is_err()
                {
                    self.signatures[signature].live_claims.swap_remove(position);
                    continue;
                }
                self.signatures[signature].live_claims[position].1 = claim.version;
            }
            match self.try_claim(
                claim_index as usize,
                pod_index,
                signature,
                pod_topology,
                self_matching,
            ) {
                Ok(()) => return true,
                Err(permanent) => {
                    if permanent {
                        self.signatures[signature].live_claims.swap_remove(position);
                    } else {
                        position += 1;
                    }
                }
            }
        }
        false
    }

    /// Tries to add the pod to a planned claim; `Err(true)` when the claim can never take a
    /// pod of this signature.
    fn try_claim(
        &mut self,
        claim_index: usize,
        pod_index: usize,
        signature: usize,
        pod_topology: &PodTopology,
        self_matching: &[bool],
    ) -> Result<(), bool> {
        let requests = &self.input.pods[pod_index].requests;
        let claim = &self.claims[claim_index];
        let constraints = &self.signatures[signature].constraints;
        let Some(Ok(fit)) = &self.signatures[signature].pools[claim.pool] else {
            return Err(true);
        };
        // A claim's host ports only grow: a conflict is for good.
        if !constraints.host_ports.is_empty()
            && host_ports_conflict(&constraints.host_ports, &claim.host_ports)
        {
            return Err(true);
        }
        let used = claim.used.plus(requests);
        // The claim's candidates already have an available offering its requirements allow;
        // only a pod that narrows zones or capacity types can take that away.
        let narrows_offerings = [labels::ZONE, labels::CAPACITY_TYPE, labels::ZONE_ID]
            .iter()
            .any(|key| constraints.requirements.has_key(key));
        let mut requirements = claim.requirements.clone();
        requirements.add_all(&constraints.requirements);
        let allowed = narrows_offerings.then(|| self.allowed(&requirements));
        let candidates: Vec<u32> = claim
            .instance_types
            .iter()
            .copied()
            .filter(|&index| {
                fit.contains(index)
                    && used.fits_in(&self.input.instance_types[index as usize].allocatable)
                    && allowed
                        .as_ref()
                        .is_none_or(|allowed| self.has_available_offering(index, allowed))
            })
            .collect();
        if candidates.is_empty() {
            return Err(false);
        }
        let (zones, capacity_types) = match &claim.domains {
            Some((count, zones, capacity_types))
                if !narrows_offerings && *count == candidates.len() =>
            {
                (zones.clone(), capacity_types.clone())
            }
            _ => self.domains(&candidates, &requirements),
        };
        let hostname = claim.hostname.clone();
        let candidate = CandidateDomains {
            hostname: &hostname,
            zones: &zones,
            capacity_types: &capacity_types,
        };
        let narrowing = self
            .topology
            .evaluate(
                pod_topology,
                self_matching,
                &constraints.requirements,
                &candidate,
            )
            .map_err(|failure| failure.permanent)?;
        let (candidates, zones, capacity_types) = self.apply_narrowing(
            candidates,
            &mut requirements,
            narrowing,
            zones,
            capacity_types,
        );
        if candidates.is_empty() || !self.min_values_met(&candidates, &requirements) {
            return Err(false);
        }
        let candidate = CandidateDomains {
            hostname: &hostname,
            zones: &zones,
            capacity_types: &capacity_types,
        };
        self.topology.record(
            pod_topology,
            constraints,
            &self.input.pods[pod_index],
            &candidate,
        );
        let largest = self.largest_allocatable(&candidates);
        self.changes += 1;
        let claim = &mut self.claims[claim_index];
        claim.add_pod(
            pod_index,
            requests,
            requirements,
            candidates,
            largest,
            (zones, capacity_types),
        );
        claim.host_ports.extend(
            self.signatures[signature]
                .constraints
                .host_ports
                .iter()
                .cloned(),
        );
        self.recharge(claim_index);
        Ok(())
    }

    fn place_on_new_claim(
        &mut self,
        pod_index: usize,
        signature: usize,
        pod_topology: &PodTopology,
        self_matching: &[bool],
    ) -> Result<(), String> {
        let requests = self.input.pods[pod_index].requests.clone();
        let mut rejections = Vec::new();
        // Avoided offerings (a family or zone that keeps reclaiming Spot nodes) are taken only
        // when no NodePool can serve the pod without them.
        let passes: &[bool] = if self.avoided.is_some() {
            &[true, false]
        } else {
            &[false]
        };
        for &strict in passes {
            self.strict = strict;
            rejections.clear();
            for pool_index in 0..self.pools.len() {
                let outcome = self.try_new_claim(
                    pool_index,
                    pod_index,
                    &requests,
                    signature,
                    pod_topology,
                    self_matching,
                );
                match outcome {
                    Ok(()) => {
                        self.strict = false;
                        return Ok(());
                    }
                    Err(reason) => rejections.push(format!(
                        "nodepool {:?}: {reason}",
                        self.pools[pool_index].pool.name
                    )),
                }
            }
        }
        self.strict = false;
        if rejections.is_empty() {
            return Err("no NodePool exists to launch a node for it".to_string());
        }
        Err(format!(
            "no NodePool can launch a node for it: {}",
            rejections.join("; ")
        ))
    }

    fn try_new_claim(
        &mut self,
        pool_index: usize,
        pod_index: usize,
        requests: &Resources,
        signature: usize,
        pod_topology: &PodTopology,
        self_matching: &[bool],
    ) -> Result<(), String> {
        self.ensure_pool_fit(signature, pool_index);
        let fit = match &self.signatures[signature].pools[pool_index] {
            Some(Ok(fit)) => fit,
            Some(Err(reason)) => return Err(reason.clone()),
            None => return Err("its instance types were not prepared".to_string()),
        };
        let pool = &self.pools[pool_index];
        let host_ports = &self.signatures[signature].constraints.host_ports;
        if let Some(port) = host_ports.iter().find(|port| {
            pool.daemon_host_ports
                .iter()
                .any(|daemon_port| daemon_port.conflicts_with(port))
        }) {
            return Err(format!(
                "host port {}/{} is bound by a DaemonSet on every node",
                port.port, port.protocol
            ));
        }
        let used = pool.daemon_overhead.plus(requests);
        let fitting: Vec<u32> = fit
            .instance_types
            .iter()
            .copied()
            .filter(|&index| used.fits_in(&self.input.instance_types[index as usize].allocatable))
            .collect();
        if fitting.is_empty() {
            let largest = self.largest_allocatable(&fit.instance_types);
            return Err(format!(
                "no instance type fits requests {used} (pod and DaemonSets); the largest compatible has {}",
                largest
            ));
        }
        if let Some((name, _)) = pool
            .remaining
            .iter()
            .find(|(name, left)| name == resources::NODES && *left < 1)
        {
            return Err(format!("limit {name} reached"));
        }
        let mut requirements = pool.pool.requirements.clone();
        requirements.add_all(&self.signatures[signature].constraints.requirements);
        let mut within_limits = self.within_limits(pool_index, &fitting, &requirements);
        if within_limits.is_empty() {
            // Narrow the pool's claims to smaller instance types before turning the pod away.
            if self.lower_size_cap(pool_index, &fitting, &requirements) {
                within_limits = self.within_limits(pool_index, &fitting, &requirements);
            }
            if within_limits.is_empty() {
                return Err(self.limits_reason(pool_index, &fitting));
            }
        }
        if self.strict {
            let allowed = self.allowed(&requirements);
            within_limits.retain(|&index| self.has_available_offering(index, &allowed));
            if within_limits.is_empty() {
                return Err("only avoided offerings are left".to_string());
            }
        }
        let constraints = &self.signatures[signature].constraints;
        let (zones, capacity_types) = self.domains(&within_limits, &requirements);
        let hostname = format!("nodeclaim-{}", self.claims.len());
        let candidate = CandidateDomains {
            hostname: &hostname,
            zones: &zones,
            capacity_types: &capacity_types,
        };
        let narrowing = self
            .topology
            .evaluate(
                pod_topology,
                self_matching,
                &constraints.requirements,
                &candidate,
            )
            .map_err(|failure| failure.reason)?;
        let (candidates, zones, capacity_types) = self.apply_narrowing(
            within_limits,
            &mut requirements,
            narrowing,
            zones,
            capacity_types,
        );
        if candidates.is_empty() {
            return Err(
                "no available offering in the zones and capacity types its topology allows"
                    .to_string(),
            );
        }
        if !self.min_values_met(&candidates, &requirements) {
            return Err("too few instance types left to meet minValues".to_string());
        }
        let candidate = CandidateDomains {
            hostname: &hostname,
            zones: &zones,
            capacity_types: &capacity_types,
        };
        self.topology.record(
            pod_topology,
            constraints,
            &self.input.pods[pod_index],
            &candidate,
        );
        // Karpenter counts an in-flight NodeClaim against the limits at its largest candidate.
        let charged = self.charge_of(&candidates);
        self.changes += 1;
        let claim_index = self.claims.len();
        let pool = &mut self.pools[pool_index];
        reserve(&mut pool.remaining, &charged);
        pool.claims.push(claim_index);
        let overhead = pool.daemon_overhead.clone();
        let mut host_ports = pool.daemon_host_ports.clone();
        host_ports.extend(
            self.signatures[signature]
                .constraints
                .host_ports
                .iter()
                .cloned(),
        );
        let largest = self.largest_allocatable(&candidates);
        self.claims.push(ClaimState::new(
            pool_index,
            hostname,
            requirements,
            candidates,
            overhead,
            largest,
            pod_index,
            requests,
            host_ports,
            charged,
        ));
        Ok(())
    }

    /// The instance types of `pool` a pod of `signature` can use, computed once per pair.
    fn ensure_pool_fit(&mut self, signature: usize, pool_index: usize) {
        if self.signatures[signature].pools[pool_index].is_none() {
            // Cached for both passes: avoided offerings count as available here.
            let strict = std::mem::replace(&mut self.strict, false);
            let fit = self.compute_pool_fit(signature, pool_index);
            self.strict = strict;
            self.signatures[signature].pools[pool_index] = Some(fit);
        }
    }

    fn compute_pool_fit(&self, signature: usize, pool_index: usize) -> Result<PoolFit, String> {
        let pool = &self.pools[pool_index];
        let constraints = &self.signatures[signature].constraints;
        if let Some(taint) = first_untolerated(
            &pool.pool.taints,
            &constraints.tolerations,
            constraints.tolerate_prefer_no_schedule,
        ) {
            return Err(format!("taint {taint} is not tolerated"));
        }
        pool.pool
            .requirements
            .compatible(&constraints.requirements, labels::is_well_known)
            .map_err(|incompatibility| incompatibility.to_string())?;
        if let Some(reason) = &pool.empty_reason {
            return Err(reason.clone());
        }
        let mut requirements = pool.pool.requirements.clone();
        requirements.add_all(&constraints.requirements);
        let mut matching_requirements = 0;
        let mut first_conflict = None;
        let allowed = self.allowed(&requirements);
        let instance_types: Vec<u32> = pool
            .instance_types
            .iter()
            .copied()
            .filter(|&index| {
                let instance_type = &self.input.instance_types[index as usize];
                if let Err(conflict) = instance_type
                    .requirements
                    .intersects(&constraints.requirements)
                {
                    first_conflict.get_or_insert(conflict);
                    return false;
                }
                matching_requirements += 1;
                self.has_available_offering(index, &allowed)
            })
            .collect();
        if instance_types.is_empty() {
            return Err(if matching_requirements > 0 {
                format!(
                    "all offerings of the {matching_requirements} matching instance types are unavailable for capacity types {} in zones {}",
                    describe(&requirements, labels::CAPACITY_TYPE),
                    describe(&requirements, labels::ZONE)
                )
            } else {
                match first_conflict {
                    Some(conflict) => {
                        format!("no instance type matches the pod's requirements ({conflict})")
                    }
                    None => "no instance type matches the pod's requirements".to_string(),
                }
            });
        }
        let mut member = vec![0u64; self.input.instance_types.len().div_ceil(64)];
        for &index in &instance_types {
            member[index as usize / 64] |= 1 << (index % 64);
        }
        Ok(PoolFit {
            instance_types,
            member,
        })
    }

    fn has_available_offering(&self, index: u32, allowed: &AllowedOfferings<'_>) -> bool {
        self.available[index as usize]
            .iter()
            .enumerate()
            .any(|(offering, &available)| {
                available && !self.is_avoided(index, offering) && allowed.allows(index, offering)
            })
    }

    /// Whether an offering is left out because it is avoided (in the strict pass only).
    fn is_avoided(&self, index: u32, offering: usize) -> bool {
        self.strict
            && self
                .avoided
                .as_ref()
                .is_some_and(|avoided| avoided[index as usize][offering])
    }

    /// Which offerings `requirements` allow.
    fn allowed<'r>(&'r self, requirements: &'r Requirements) -> AllowedOfferings<'r> {
        AllowedOfferings::new(
            &self.domain_of,
            &self.offering_domains,
            self.input.instance_types,
            requirements,
        )
    }

    /// The zones and capacity types that some available offering of `candidates` allows.
    fn domains(
        &self,
        candidates: &[u32],
        requirements: &Requirements,
    ) -> (Vec<String>, Vec<String>) {
        // Every zone and capacity type any candidate could add: once all are found, the
        // remaining candidates cannot change the answer.
        let allowed = self.allowed(requirements);
        let mut reachable_zones = BTreeSet::new();
        let mut reachable_capacity_types = BTreeSet::new();
        for offering in &self.offering_domains {
            if offering_allowed(offering, requirements) {
                reachable_zones.insert(offering.zone.as_str());
                reachable_capacity_types.insert(offering.capacity_type);
            }
        }
        let mut zones = BTreeSet::new();
        let mut capacity_types = BTreeSet::new();
        for &index in candidates {
            let instance_type = &self.input.instance_types[index as usize];
            for (position, (offering, &available)) in instance_type
                .offerings
                .iter()
                .zip(&self.available[index as usize])
                .enumerate()
            {
                if available && !self.is_avoided(index, position) && allowed.allows(index, position)
                {
                    if !zones.contains(offering.zone.as_str()) {
                        zones.insert(offering.zone.clone());
                    }
                    capacity_types.insert(offering.capacity_type.as_str());
                }
            }
            if zones.len() == reachable_zones.len()
                && capacity_types.len() == reachable_capacity_types.len()
            {
                break;
            }
        }
        (
            zones.into_iter().collect(),
            capacity_types.into_iter().map(str::to_string).collect(),
        )
    }

    /// Pins the requirements to the domains topology chose and drops instance types with no
    /// available offering left there.
    fn apply_narrowing(
        &self,
        candidates: Vec<u32>,
        requirements: &mut Requirements,
        narrowing: Narrowing,
        zones: Vec<String>,
        capacity_types: Vec<String>,
    ) -> (Vec<u32>, Vec<String>, Vec<String>) {
        if narrowing == Narrowing::default() {
            return (candidates, zones, capacity_types);
        }
        if let Some(zones) = narrowing.zones {
            requirements.add(labels::ZONE, Requirement::in_values(zones));
        }
        if let Some(capacity_types) = narrowing.capacity_types {
            requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::in_values(capacity_types),
            );
        }
        let allowed = self.allowed(requirements);
        let candidates: Vec<u32> = candidates
            .into_iter()
            .filter(|&index| self.has_available_offering(index, &allowed))
            .collect();
        let (zones, capacity_types) = self.domains(&candidates, requirements);
        (candidates, zones, capacity_types)
    }

    fn min_values_met(&self, candidates: &[u32], requirements: &Requirements) -> bool {
        requirements.iter().all(|(key, requirement)| {
            let Some(min_values) = requirement.min_values() else {
                return true;
            };
            let mut values = BTreeSet::new();
            for &index in candidates {
                if let Some(instance_requirement) = self.input.instance_types[index as usize]
                    .requirements
                    .get(key)
                {
                    values.extend(
                        instance_requirement
                            .values()
                            .filter(|value| requirement.has(value)),
                    );
                }
            }
            values.len() >= min_values as usize
        })
    }

    fn largest_allocatable(&self, candidates: &[u32]) -> Resources {
        let mut largest = Resources::new();
        for &index in candidates {
            let allocatable = &self.input.instance_types[index as usize].allocatable;
            largest.cpu_millicores = largest.cpu_millicores.max(allocatable.cpu_millicores);
            largest.memory_bytes = largest.memory_bytes.max(allocatable.memory_bytes);
            largest.pods = largest.pods.max(allocatable.pods);
            largest.ephemeral_storage_bytes = largest
                .ephemeral_storage_bytes
                .max(allocatable.ephemeral_storage_bytes);
            for (name, value) in &allocatable.extended {
                if *value > largest.get(name) {
                    largest.set(name, *value);
                }
            }
        }
        largest
    }

    fn into_plan(self) -> Plan {
        let mut unschedulable = Vec::new();
        let mut node_claims = Vec::new();
        for claim in &self.claims {
            let pool = self.pools[claim.pool].pool;
            let allowed = self.allowed(&claim.requirements);
            // As Karpenter's Results.TruncateInstanceTypes: a claim whose cheapest types no longer
            // meet minValues is dropped and its pods reported.
            if claim.instance_types.len() > MAX_INSTANCE_TYPES {
                let kept = claim.ranked(self.input.instance_types, &self.available, &allowed);
                if !self.min_values_met(&kept, &claim.requirements) {
                    unschedulable.extend(claim.pods.iter().map(|&pod| Unschedulable {
                        pod,
                        reason: format!(
                            "nodepool {:?}: its {MAX_INSTANCE_TYPES} cheapest instance types do not meet minValues ({})",
                            pool.name, claim.requirements
                        ),
                    }));
                    continue;
                }
            }
            node_claims.push(claim.finish(
                pool,
                self.input.instance_types,
                &self.available,
                &allowed,
            ));
        }
        let existing_nodes = self
            .nodes
            .iter()
            .zip(self.input.nodes)
            .filter(|(state, _)| !state.placed.is_empty())
            .map(|(state, node)| ExistingNodePlacement {
                node: node.name.clone(),
                pods: state.placed.clone(),
            })
            .collect();
        unschedulable.extend(self.unschedulable);
        unschedulable.sort_by_key(|entry| entry.pod);
        Plan {
            node_claims,
            existing_nodes,
            unschedulable,
        }
    }
}

impl PoolFit {
    fn contains(&self, index: u32) -> bool {
        self.member[index as usize / 64] & (1 << (index % 64)) != 0
    }
}

fn prepare_pool<'a>(
    input: &SchedulingInput<'a>,
    available: &[Vec<bool>],
    pool: &'a NodePool,
    prepared: &PreparedPools,
) -> PoolState<'a> {
    let mut priced: Vec<(f64, u32)> = Vec::new();
    let matching_types = match prepared.get(pool) {
        Some(prepared_pool) => &prepared_pool.instance_types,
        None => &PreparedPools::new(std::slice::from_ref(pool), input.instance_types)
            .get(pool)
            .map(|prepared_pool| prepared_pool.instance_types.clone())
            .unwrap_or_default(),
    };
    let matching = matching_types.len();
    for (index, allowed_offerings) in matching_types {
        let offerings = &input.instance_types[*index as usize].offerings;
        let cheapest = allowed_offerings
            .iter()
            .map(|&offering| offering as usize)
            .filter(|&offering| available[*index as usize][offering])
            .map(|offering| offerings[offering].price_per_hour)
            .min_by(f64::total_cmp);
        if let Some(price) = cheapest {
            priced.push((price, *index));
        }
    }
    priced.sort_by(|left, right| left.0.total_cmp(&right.0).then(left.1.cmp(&right.1)));
    let empty_reason = if !priced.is_empty() {
        None
    } else if matching == 0 {
        Some(format!(
            "no instance type matches the NodePool's requirements ({})",
            pool.requirements
        ))
    } else {
        Some(format!(
            "all offerings of its {matching} instance types are unavailable for capacity types {} in zones {}",
            describe(&pool.requirements, labels::CAPACITY_TYPE),
            describe(&pool.requirements, labels::ZONE)
        ))
    };
    let mut daemon_overhead = Resources::new();
    let mut daemon_host_ports = Vec::new();
    for daemon in input.daemon_set_pods {
        let Ok(constraints) =
            Relaxation::new(daemon).constraints(daemon, &SelectedLabelKeys::all())
        else {
            continue;
        };
        let tolerated = first_untolerated(&pool.taints, &daemon.tolerations, true).is_none();
        if tolerated
            && pool
                .requirements
                .compatible(&constraints.requirements, labels::is_well_known)
                .is_ok()
        {
            daemon_overhead.add(&daemon.requests);
            daemon_host_ports.extend(daemon.host_ports.iter().cloned());
        }
    }
    PoolState {
        pool,
        instance_types: priced.into_iter().map(|(_, index)| index).collect(),
        empty_reason,
        daemon_overhead,
        daemon_host_ports,
        remaining: pool
            .limits
            .iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
        limit_scale: pool
            .limits
            .iter()
            .filter(|(name, _)| *name != resources::NODES)
            .map(|(name, value)| (name.to_string(), value.max(1) as f64))
            .collect(),
        size_cap: f64::INFINITY,
        claims: Vec::new(),
    }
}

/// Whether `capacity` fits in what is left of the limits.
fn within(remaining: &[(String, i64)], capacity: &Resources) -> bool {
    remaining
        .iter()
        .all(|(name, left)| name == resources::NODES || capacity.get(name) <= *left)
}

/// Takes one node of `capacity` out of the limits.
fn reserve(remaining: &mut [(String, i64)], capacity: &Resources) {
    for (name, left) in remaining.iter_mut() {
        *left -= if name == resources::NODES {
            1
        } else {
            capacity.get(name)
        };
    }
}

/// Gives back `capacity` (not the node) to the limits.
fn release_resources(remaining: &mut [(String, i64)], capacity: &Resources) {
    for (name, left) in remaining.iter_mut() {
        if name != resources::NODES {
            *left += capacity.get(name);
        }
    }
}

fn describe(requirements: &Requirements, key: &str) -> String {
    requirements
        .get(key)
        .map_or_else(|| "Exists".to_string(), Requirement::to_string)
}

#[cfg(test)]
mod tests;
