//! Invariants of the solver on random small inputs: 3–8 instance types with random offerings,
//! 1–3 NodePools with random capacity types and limits, 0–2 DaemonSets, a few unavailable
//! offerings, and 1–40 pods with random requests and a random subset of constraints (zone
//! spread, hostname anti-affinity, nodeSelector on zone or capacity type, a host port).

use std::collections::BTreeMap;

use proptest::prelude::*;

use spotter_core::builders::{instance_type, node_pool, pod};
use spotter_core::instance_type::{InstanceType, offering_allowed};
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::{HostPort, Pod};
use spotter_core::resources::Resources;
use spotter_core::solver::{Plan, PlannedNodeClaim, SchedulingInput, solve};
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableOfferings};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const CAPACITY_TYPES: [CapacityType; 2] = [CapacityType::Spot, CapacityType::OnDemand];

#[derive(Clone, Debug)]
struct InstanceSpec {
    vcpus: i64,
    memory_per_vcpu_gib: i64,
    /// (capacity type index, zone index, price in tenths of a cent)
    offerings: Vec<(usize, usize, u32)>,
}

#[derive(Clone, Debug)]
struct PoolSpec {
    weight: i32,
    /// Indices into `CAPACITY_TYPES`, non-empty.
    capacity_types: Vec<usize>,
    cpu_limit_cores: Option<i64>,
    nodes_limit: Option<i64>,
}

#[derive(Clone, Debug)]
struct PodSpec {
    cpu_millicores: i64,
    memory_mib: i64,
    zone_spread: bool,
    hostname_anti_affinity: bool,
    zone_selector: Option<usize>,
    capacity_type_selector: Option<usize>,
    host_port: Option<u16>,
}

#[derive(Clone, Debug)]
struct Spec {
    instance_types: Vec<InstanceSpec>,
    pools: Vec<PoolSpec>,
    pods: Vec<PodSpec>,
    daemon_cpu_millicores: Vec<i64>,
    /// (capacity type index, instance type index, zone index), each possibly open.
    unavailable: Vec<(Option<usize>, Option<usize>, Option<usize>)>,
}

fn instance_spec() -> impl Strategy<Value = InstanceSpec> {
    (
        prop::sample::select(vec![2i64, 4, 8, 16]),
        prop::sample::select(vec![2i64, 4, 8]),
        prop::collection::btree_map((0..2usize, 0..3usize), 1u32..=100, 1..=6),
    )
        .prop_map(|(vcpus, memory_per_vcpu_gib, offerings)| InstanceSpec {
            vcpus,
            memory_per_vcpu_gib,
            offerings: offerings
                .into_iter()
                .map(|((capacity_type, zone), price)| (capacity_type, zone, price))
                .collect(),
        })
}

fn pool_spec() -> impl Strategy<Value = PoolSpec> {
    (
        0..=3i32,
        prop::sample::select(vec![vec![0], vec![1], vec![0, 1]]),
        prop::option::weighted(0.5, 2i64..=48),
        prop::option::weighted(0.3, 1i64..=6),
    )
        .prop_map(
            |(weight, capacity_types, cpu_limit_cores, nodes_limit)| PoolSpec {
                weight,
                capacity_types,
                cpu_limit_cores,
                nodes_limit,
            },
        )
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        50i64..=3000,
        64i64..=4096,
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.2, 0..3usize),
        prop::option::weighted(0.15, 0..2usize),
        prop::option::weighted(0.25, prop::sample::select(vec![80u16, 443])),
    )
        .prop_map(
            |(
                cpu_millicores,
                memory_mib,
                zone_spread,
                hostname_anti_affinity,
                zone_selector,
                capacity_type_selector,
                host_port,
            )| {
                PodSpec {
                    cpu_millicores,
                    memory_mib,
                    zone_spread,
                    hostname_anti_affinity,
                    // Spread pods select no zone, so that every spread pod sees every zone and
                    // the global skew is what the constraint bounds.
                    zone_selector: zone_selector.filter(|_| !zone_spread),
                    capacity_type_selector,
                    host_port,
                }
            },
        )
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(instance_spec(), 3..=8),
        prop::collection::vec(pool_spec(), 1..=3),
        prop::collection::vec(pod_spec(), 1..=40),
        prop::collection::vec(0i64..=300, 0..=2),
        prop::collection::vec(
            (
                prop::option::weighted(0.7, 0..2usize),
                prop::option::weighted(0.8, 0..8usize),
                prop::option::weighted(0.7, 0..3usize),
            ),
            0..=3,
        ),
    )
        .prop_map(
            |(instance_types, pools, pods, daemon_cpu_millicores, unavailable)| Spec {
                instance_types,
                pools,
                pods,
                daemon_cpu_millicores,
                unavailable,
            },
        )
}

/// The solver's input, built from a spec.
struct Input {
    instance_types: Vec<InstanceType>,
    pools: Vec<NodePool>,
    pods: Vec<Pod>,
    daemons: Vec<Pod>,
    unavailable: UnavailableOfferings,
}

fn build(spec: &Spec) -> Input {
    let instance_types = spec
        .instance_types
        .iter()
        .enumerate()
        .map(|(index, instance)| {
            let mut builder = instance_type(&format!("type-{index}"))
                .cpu(instance.vcpus)
                .memory_gib(instance.vcpus * instance.memory_per_vcpu_gib)
                .max_pods(8 * instance.vcpus);
            for &(capacity_type, zone, price) in &instance.offerings {
                builder = builder.offering(
                    CAPACITY_TYPES[capacity_type],
                    ZONES[zone],
                    f64::from(price) / 1000.0,
                );
            }
            builder.build()
        })
        .collect();
    let pools = spec
        .pools
        .iter()
        .enumerate()
        .map(|(index, pool)| {
            let capacity_types: Vec<&str> = pool
                .capacity_types
                .iter()
                .map(|&index| CAPACITY_TYPES[index].as_str())
                .collect();
            let mut builder = node_pool(&format!("pool-{index}"))
                .weight(pool.weight)
                .capacity_types(&capacity_types);
            if let Some(cores) = pool.cpu_limit_cores {
                builder = builder.limit("cpu", &cores.to_string());
            }
            if let Some(nodes) = pool.nodes_limit {
                builder = builder.limit("nodes", &nodes.to_string());
            }
            builder.build()
        })
        .collect();
    let pods = spec
        .pods
        .iter()
        .enumerate()
        .map(|(index, pod_spec)| {
            let mut builder = pod(&format!("pod-{index}"))
                .cpu(&format!("{}m", pod_spec.cpu_millicores))
                .memory(&format!("{}Mi", pod_spec.memory_mib));
            if pod_spec.zone_spread {
                builder =
                    builder
                        .label("app", "spread")
                        .spread(labels::ZONE, 1, &[("app", "spread")]);
            }
            if pod_spec.hostname_anti_affinity {
                builder = builder
                    .label("role", "anti")
                    .anti_affinity(labels::HOSTNAME, &[("role", "anti")]);
            }
            if let Some(zone) = pod_spec.zone_selector {
                builder = builder.node_selector(labels::ZONE, ZONES[zone]);
            }
            if let Some(port) = pod_spec.host_port {
                builder = builder.host_port(port);
            }
            if let Some(capacity_type) = pod_spec.capacity_type_selector {
                builder = builder.node_selector(
                    labels::CAPACITY_TYPE,
                    CAPACITY_TYPES[capacity_type].as_str(),
                );
            }
            builder.build()
        })
        .collect();
    let daemons = spec
        .daemon_cpu_millicores
        .iter()
        .enumerate()
        .map(|(index, cpu)| {
            pod(&format!("daemon-{index}"))
                .cpu(&format!("{cpu}m"))
                .memory("64Mi")
                .build()
        })
        .collect();
    let mut unavailable = UnavailableOfferings::new();
    for &(capacity_type, instance_type, zone) in &spec.unavailable {
        unavailable.mark(OfferingSelector {
            capacity_type: capacity_type.map(|index| CAPACITY_TYPES[index]),
            instance_type: instance_type.map(|index| format!("type-{index}")),
            zone: zone.map(|index| ZONES[index].to_string()),
        });
    }
    Input {
        instance_types,
        pools,
        pods,
        daemons,
        unavailable,
    }
}

impl Input {
    fn solve(&self) -> Plan {
        solve(&SchedulingInput {
            pods: &self.pods,
            nodes: &[],
            node_pools: &self.pools,
            instance_types: &self.instance_types,
            daemon_set_pods: &self.daemons,
            unavailable: &self.unavailable,
            pool_usage: None,
        })
    }

    fn instance_type(&self, name: &str) -> &InstanceType {
        self.instance_types
            .iter()
            .find(|instance_type| instance_type.name == name)
            .unwrap_or_else(|| panic!("the plan names an unknown instance type {name}"))
    }

    fn pool(&self, name: &str) -> (usize, &NodePool) {
        self.pools
            .iter()
            .enumerate()
            .find(|(_, pool)| pool.name == name)
            .unwrap_or_else(|| panic!("the plan names an unknown pool {name}"))
    }

    fn launchable(
        &self,
        instance_type: &InstanceType,
        capacity_type: CapacityType,
        zone: &str,
    ) -> bool {
        instance_type.offerings.iter().any(|offering| {
            offering.capacity_type == capacity_type
                && offering.zone == zone
                && offering.available
                && !self
                    .unavailable
                    .contains(&instance_type.name, capacity_type, zone)
        })
    }

    fn daemon_overhead(&self) -> Resources {
        let mut overhead = Resources::new();
        for daemon in &self.daemons {
            overhead.add(&daemon.requests);
        }
        overhead
    }
}

fn check(spec: &Spec, input: &Input, plan: &Plan) -> Result<(), TestCaseError> {
    // Every pod is placed exactly once or unschedulable exactly once.
    let mut seen = vec![0usize; input.pods.len()];
    for claim in &plan.node_claims {
        for &pod in &claim.pods {
            seen[pod] += 1;
        }
    }
    prop_assert!(
        plan.existing_nodes.is_empty(),
        "no existing nodes were given"
    );
    for entry in &plan.unschedulable {
        seen[entry.pod] += 1;
        prop_assert!(
            !entry.reason.is_empty(),
            "pod {} has an empty reason",
            entry.pod
        );
    }
    for (pod, count) in seen.iter().enumerate() {
        prop_assert_eq!(*count, 1, "pod {} appears {} times", pod, count);
    }

    let overhead = input.daemon_overhead();
    for (claim_index, claim) in plan.node_claims.iter().enumerate() {
        check_claim(spec, input, claim, &overhead).map_err(|error| {
            TestCaseError::fail(format!(
                "claim {claim_index} ({}, pods {:?}): {error}",
                claim.node_pool, claim.pods
            ))
        })?;
    }

    // Zone spread: over claims pinned to one zone, maxSkew 1 holds against every zone some pool
    // can launch in (a zone with no spread pod counts as 0).
    let mut universe: BTreeMap<String, usize> = BTreeMap::new();
    for pool in &input.pools {
        for instance_type in &input.instance_types {
            for offering in &instance_type.offerings {
                if offering_allowed(offering, &pool.requirements)
                    && input.launchable(instance_type, offering.capacity_type, &offering.zone)
                {
                    universe.insert(offering.zone.clone(), 0);
                }
            }
        }
    }
    for claim in &plan.node_claims {
        let spread_pods = claim
            .pods
            .iter()
            .filter(|&&pod| spec.pods[pod].zone_spread)
            .count();
        if spread_pods > 0 && claim.zones.len() == 1 {
            *universe.entry(claim.zones[0].clone()).or_default() += spread_pods;
        }
    }
    if let (Some(most), Some(least)) = (universe.values().max(), universe.values().min()) {
        prop_assert!(
            most - least <= 1,
            "zone spread skew {} over {:?}",
            most - least,
            universe
        );
    }

    // Limits: each pool's claims, counted at their largest listed instance type, stay within
    // its cpu limit, and their number within its nodes limit.
    for (pool_index, pool_spec) in spec.pools.iter().enumerate() {
        let name = format!("pool-{pool_index}");
        let claims: Vec<&PlannedNodeClaim> = plan
            .node_claims
            .iter()
            .filter(|claim| claim.node_pool == name)
            .collect();
        if let Some(cores) = pool_spec.cpu_limit_cores {
            let counted: i64 = claims
                .iter()
                .map(|claim| {
                    claim
                        .instance_types
                        .iter()
                        .map(|name| input.instance_type(name).capacity.cpu_millicores)
                        .max()
                        .unwrap_or(0)
                })
                .sum();
            prop_assert!(
                counted <= cores * 1000,
                "{}: {}m counted over the {} cpu limit",
                name,
                counted,
                cores
            );
        }
        if let Some(nodes) = pool_spec.nodes_limit {
            prop_assert!(
                claims.len() as i64 <= nodes,
                "{}: {} claims over the {} nodes limit",
                name,
                claims.len(),
                nodes
            );
        }
    }

    // A pod without constraints is never left out while an unlimited pool can launch a type
    // that holds it and the DaemonSets.
    for entry in &plan.unschedulable {
        let pod_spec = &spec.pods[entry.pod];
        if pod_spec.zone_spread
            || pod_spec.hostname_anti_affinity
            || pod_spec.zone_selector.is_some()
            || pod_spec.capacity_type_selector.is_some()
            || pod_spec.host_port.is_some()
        {
            continue;
        }
        let needed = overhead.plus(&input.pods[entry.pod].requests);
        for (pool_index, pool_spec) in spec.pools.iter().enumerate() {
            if pool_spec.cpu_limit_cores.is_some() || pool_spec.nodes_limit.is_some() {
                continue;
            }
            let pool = &input.pools[pool_index];
            let possible = input.instance_types.iter().any(|instance_type| {
                needed.fits_in(&instance_type.allocatable)
                    && instance_type.offerings.iter().any(|offering| {
                        offering_allowed(offering, &pool.requirements)
                            && input.launchable(
                                instance_type,
                                offering.capacity_type,
                                &offering.zone,
                            )
                    })
            });
            prop_assert!(
                !possible,
                "pod {} left out ({}) though {} can launch it",
                entry.pod,
                entry.reason,
                pool.name
            );
        }
    }
    Ok(())
}

fn check_claim(
    spec: &Spec,
    input: &Input,
    claim: &PlannedNodeClaim,
    overhead: &Resources,
) -> Result<(), String> {
    let (pool_index, pool) = input.pool(&claim.node_pool);
    let allowed_capacity_types: Vec<CapacityType> = spec.pools[pool_index]
        .capacity_types
        .iter()
        .map(|&index| CAPACITY_TYPES[index])
        .collect();
    if claim.pods.is_empty() {
        return Err("a claim without pods".into());
    }
    if claim.instance_types.is_empty() {
        return Err("a claim without instance types".into());
    }

    // No two of its pods bind a conflicting host port.
    let ports: Vec<(usize, &HostPort)> = claim
        .pods
        .iter()
        .flat_map(|&pod| {
            input.pods[pod]
                .host_ports
                .iter()
                .map(move |port| (pod, port))
        })
        .collect();
    for (position, (pod, port)) in ports.iter().enumerate() {
        for (other_pod, other_port) in &ports[position + 1..] {
            if port.conflicts_with(other_port) {
                return Err(format!(
                    "pods {pod} and {other_pod} both bind host port {}",
                    port.port
                ));
            }
        }
    }

    // Requests of all its pods plus the DaemonSet overhead fit every listed instance type.
    let mut requests = overhead.clone();
    for &pod in &claim.pods {
        requests.add(&input.pods[pod].requests);
    }
    if requests != claim.requests {
        return Err(format!(
            "requests {} but its pods and DaemonSets need {requests}",
            claim.requests
        ));
    }
    for name in &claim.instance_types {
        let instance_type = input.instance_type(name);
        if !requests.fits_in(&instance_type.allocatable) {
            return Err(format!(
                "{requests} does not fit {name} ({})",
                instance_type.allocatable
            ));
        }
        // Every listed type can be launched under the claim's requirements.
        let launchable = instance_type.offerings.iter().any(|offering| {
            offering_allowed(offering, &claim.requirements)
                && input.launchable(instance_type, offering.capacity_type, &offering.zone)
        });
        if !launchable {
            return Err(format!(
                "{name} has no available offering its requirements ({}) allow",
                claim.requirements
            ));
        }
    }

    // The launch offering exists, is available, and satisfies the claim, its pool and its pods.
    let launch = claim.launch.as_ref().ok_or("no launch offering")?;
    if !claim.instance_types.contains(&launch.instance_type) {
        return Err(format!(
            "launch type {} is not listed",
            launch.instance_type
        ));
    }
    let launched = input.instance_type(&launch.instance_type);
    let offering = launched
        .offerings
        .iter()
        .find(|offering| {
            offering.capacity_type == launch.capacity_type && offering.zone == launch.zone
        })
        .ok_or_else(|| {
            format!(
                "{} has no {} offering in {}",
                launch.instance_type, launch.capacity_type, launch.zone
            )
        })?;
    if !input.launchable(launched, launch.capacity_type, &launch.zone) {
        return Err(format!("launch {launch:?} is unavailable"));
    }
    if (offering.price_per_hour - launch.price_per_hour).abs() > 1e-12 {
        return Err(format!(
            "launch price {} but the offering costs {}",
            launch.price_per_hour, offering.price_per_hour
        ));
    }
    if !offering_allowed(offering, &claim.requirements)
        || !offering_allowed(offering, &pool.requirements)
    {
        return Err(format!(
            "launch {launch:?} outside the requirements {}",
            claim.requirements
        ));
    }
    if !allowed_capacity_types.contains(&launch.capacity_type) {
        return Err(format!(
            "launch {} outside the pool's capacity types",
            launch.capacity_type
        ));
    }
    for capacity_type in &claim.capacity_types {
        if !allowed_capacity_types.contains(capacity_type) {
            return Err(format!("capacity type {capacity_type} outside the pool's"));
        }
    }
    for &pod in &claim.pods {
        let pod_spec = &spec.pods[pod];
        if let Some(zone) = pod_spec.zone_selector
            && (launch.zone != ZONES[zone]
                || claim
                    .zones
                    .iter()
                    .any(|claim_zone| claim_zone != ZONES[zone]))
        {
            return Err(format!(
                "pod {pod} selects {} but the claim launches in {} (zones {:?})",
                ZONES[zone], launch.zone, claim.zones
            ));
        }
        if let Some(capacity_type) = pod_spec.capacity_type_selector
            && (launch.capacity_type != CAPACITY_TYPES[capacity_type]
                || claim
                    .capacity_types
                    .iter()
                    .any(|other| *other != CAPACITY_TYPES[capacity_type]))
        {
            return Err(format!(
                "pod {pod} selects {} but the claim launches {}",
                CAPACITY_TYPES[capacity_type], launch.capacity_type
            ));
        }
    }

    // The launch is the best offering: reserved, spot, on-demand in that order, then the price.
    for name in &claim.instance_types {
        let instance_type = input.instance_type(name);
        for other in &instance_type.offerings {
            if offering_allowed(other, &claim.requirements)
                && input.launchable(instance_type, other.capacity_type, &other.zone)
                && (other.capacity_type < launch.capacity_type
                    || (other.capacity_type == launch.capacity_type
                        && other.price_per_hour < launch.price_per_hour))
            {
                return Err(format!(
                    "launch {launch:?} but {name} offers {} in {} at {}",
                    other.capacity_type, other.zone, other.price_per_hour
                ));
            }
        }
    }

    // Hostname anti-affinity: at most one such pod per node.
    let anti_affinity_pods = claim
        .pods
        .iter()
        .filter(|&&pod| spec.pods[pod].hostname_anti_affinity)
        .count();
    if anti_affinity_pods > 1 {
        return Err(format!(
            "{anti_affinity_pods} pods with hostname anti-affinity on one node"
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn solver_invariants_hold(spec in spec()) {
        let input = build(&spec);
        let plan = input.solve();
        check(&spec, &input, &plan)?;
        // The solver is a pure function of its input.
        prop_assert_eq!(&input.solve(), &plan);
    }
}
