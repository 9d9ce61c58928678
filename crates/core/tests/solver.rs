//! Table-driven integration tests of the solver against Karpenter v1's scheduling semantics
//! (`/work/shared/reference/karpenter-facts.md`, section 1, and kubernetes-sigs/karpenter
//! `pkg/controllers/provisioning/scheduling/*_test.go`). Every case carries a name that appears in
//! each assertion message.

use std::collections::{BTreeMap, BTreeSet};

use spotter_core::builders::{expression, instance_type, node, node_pool, pod};
use spotter_core::instance_type::{InstanceType, offering_allowed};
use spotter_core::labels;
use spotter_core::node::Node;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::{Pod, WhenUnsatisfiable};
use spotter_core::requirements::{NodeSelectorRequirement, Operator, Requirements};
use spotter_core::solver::{MAX_INSTANCE_TYPES, Plan, PlannedNodeClaim, SchedulingInput, solve};
use spotter_core::taints::Effect;
use spotter_core::unavailable_offerings::{OfferingSelector, UnavailableOfferings};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// An instance type offered as spot and on-demand in every zone; zone-a is the cheapest zone
/// and zone-c the most expensive, by a tenth of a cent each.
fn priced(name: &str, vcpus: i64, memory_gib: i64, spot: f64, on_demand: f64) -> InstanceType {
    let mut builder = instance_type(name).cpu(vcpus).memory_gib(memory_gib);
    for (position, zone) in ZONES.iter().enumerate() {
        let step = 0.001 * position as f64;
        builder = builder
            .offering(CapacityType::Spot, zone, spot + step)
            .offering(CapacityType::OnDemand, zone, on_demand + step);
    }
    builder.build()
}

/// small (2 vCPU, 1930m allocatable), medium (4 vCPU, 3920m), large (8 vCPU, 7910m).
fn catalog() -> Vec<InstanceType> {
    vec![
        priced("small", 2, 4, 0.020, 0.050),
        priced("medium", 4, 8, 0.040, 0.100),
        priced("large", 8, 16, 0.080, 0.200),
    ]
}

fn spot_unavailable() -> UnavailableOfferings {
    let mut unavailable = UnavailableOfferings::new();
    unavailable.mark(OfferingSelector {
        capacity_type: Some(CapacityType::Spot),
        ..OfferingSelector::default()
    });
    unavailable
}

/// Everything the solver reads, owned.
struct Scenario {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
    node_pools: Vec<NodePool>,
    instance_types: Vec<InstanceType>,
    daemon_set_pods: Vec<Pod>,
    unavailable: UnavailableOfferings,
}

impl Scenario {
    fn new(node_pools: Vec<NodePool>, pods: Vec<Pod>) -> Self {
        Self {
            pods,
            nodes: Vec::new(),
            node_pools,
            instance_types: catalog(),
            daemon_set_pods: Vec::new(),
            unavailable: UnavailableOfferings::new(),
        }
    }

    fn solve(&self) -> Plan {
        solve(&SchedulingInput {
            pods: &self.pods,
            nodes: &self.nodes,
            node_pools: &self.node_pools,
            instance_types: &self.instance_types,
            daemon_set_pods: &self.daemon_set_pods,
            unavailable: &self.unavailable,
            pool_usage: None,
        })
    }
}

/// Where the plan put one pod.
#[derive(Debug, Clone, PartialEq)]
enum Placement<'a> {
    /// On an existing node.
    Node(&'a str),
    /// On the planned NodeClaim with this index.
    Claim(usize),
    /// Nowhere, with this reason.
    Unschedulable(&'a str),
}

fn placements(plan: &Plan, pod: usize) -> Vec<Placement<'_>> {
    let mut found = Vec::new();
    for placement in &plan.existing_nodes {
        found.extend(
            placement
                .pods
                .iter()
                .filter(|&&index| index == pod)
                .map(|_| Placement::Node(&placement.node)),
        );
    }
    for (claim_index, claim) in plan.node_claims.iter().enumerate() {
        found.extend(
            claim
                .pods
                .iter()
                .filter(|&&index| index == pod)
                .map(|_| Placement::Claim(claim_index)),
        );
    }
    for entry in &plan.unschedulable {
        if entry.pod == pod {
            found.push(Placement::Unschedulable(&entry.reason));
        }
    }
    found
}

/// The one placement of `pod`; panics (with the case name) if it is not exactly one.
fn placement<'a>(plan: &'a Plan, pod: usize, case: &str) -> Placement<'a> {
    let found = placements(plan, pod);
    assert_eq!(
        found.len(),
        1,
        "{case}: pod {pod} must be placed exactly once, got {found:?}\n{}",
        summary(plan)
    );
    found[0].clone()
}

fn claim_of<'a>(plan: &'a Plan, pod: usize, case: &str) -> &'a PlannedNodeClaim {
    match placement(plan, pod, case) {
        Placement::Claim(index) => &plan.node_claims[index],
        other => panic!(
            "{case}: pod {pod} should be on a new NodeClaim, got {other:?}\n{}",
            summary(plan)
        ),
    }
}

fn reason_of<'a>(plan: &'a Plan, pod: usize, case: &str) -> &'a str {
    match placement(plan, pod, case) {
        Placement::Unschedulable(reason) => reason,
        other => panic!(
            "{case}: pod {pod} should be unschedulable, got {other:?}\n{}",
            summary(plan)
        ),
    }
}

/// A short, readable rendering of a plan for assertion messages.
fn summary(plan: &Plan) -> String {
    let mut lines = Vec::new();
    for (index, claim) in plan.node_claims.iter().enumerate() {
        let launch = claim.launch.as_ref().map_or_else(
            || "no launch".to_string(),
            |launch| {
                format!(
                    "{} {} {} ${}",
                    launch.capacity_type, launch.instance_type, launch.zone, launch.price_per_hour
                )
            },
        );
        lines.push(format!(
            "  claim {index}: pool {} pods {:?} types {:?} zones {:?} capacity {:?} -> {launch}",
            claim.node_pool, claim.pods, claim.instance_types, claim.zones, claim.capacity_types
        ));
    }
    for placement in &plan.existing_nodes {
        lines.push(format!(
            "  node {}: pods {:?}",
            placement.node, placement.pods
        ));
    }
    for entry in &plan.unschedulable {
        lines.push(format!(
            "  unschedulable pod {}: {}",
            entry.pod, entry.reason
        ));
    }
    format!("plan:\n{}", lines.join("\n"))
}

fn launch_of<'a>(claim: &'a PlannedNodeClaim, case: &str) -> &'a spotter_core::solver::Launch {
    claim.launch.as_ref().unwrap_or_else(|| {
        panic!(
            "{case}: the NodeClaim of pool {} has no launch offering",
            claim.node_pool
        )
    })
}

fn web(name: &str) -> spotter_core::builders::PodBuilder {
    pod(name).cpu("100m").label("app", "web")
}

fn cpu_of(instance_types: &[InstanceType], name: &str) -> i64 {
    instance_types
        .iter()
        .find(|instance_type| instance_type.name == name)
        .map_or_else(
            || panic!("no instance type {name}"),
            |instance_type| instance_type.capacity.cpu_millicores,
        )
}

#[test]
fn node_pools_are_tried_by_weight_then_reverse_name() {
    struct Case {
        name: &'static str,
        pools: &'static [(&'static str, i32)],
        expected: &'static str,
    }
    let cases = [
        Case {
            name: "highest weight wins",
            pools: &[("alpha", 10), ("beta", 50), ("gamma", 30)],
            expected: "beta",
        },
        Case {
            name: "highest weight wins even when listed last",
            pools: &[("gamma", 30), ("alpha", 10), ("beta", 100)],
            expected: "beta",
        },
        Case {
            name: "tie on the top weight goes to the name last in alphabetical order",
            pools: &[("alpha", 50), ("beta", 50), ("gamma", 10)],
            expected: "beta",
        },
        Case {
            name: "all unweighted: reverse alphabetical",
            pools: &[("alpha", 0), ("gamma", 0), ("beta", 0)],
            expected: "gamma",
        },
        Case {
            name: "weight beats name",
            pools: &[("alpha", 1), ("beta", 0), ("gamma", 0)],
            expected: "alpha",
        },
    ];
    for case in cases {
        let pools = case
            .pools
            .iter()
            .map(|(name, weight)| node_pool(name).weight(*weight).build())
            .collect();
        let scenario = Scenario::new(pools, vec![pod("p").cpu("500m").build()]);
        let plan = scenario.solve();
        assert_eq!(
            claim_of(&plan, 0, case.name).node_pool,
            case.expected,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        assert_eq!(
            plan.node_claims.len(),
            1,
            "{}: one NodeClaim for one pod",
            case.name
        );
    }
}

#[test]
fn node_pool_selection_overrides_weight() {
    struct Case {
        name: &'static str,
        pod: Pod,
        expected: &'static str,
    }
    let cases = [
        Case {
            name: "no selection: the heaviest pool",
            pod: pod("p").cpu("500m").build(),
            expected: "heavy",
        },
        Case {
            name: "nodeSelector on the lightest pool",
            pod: pod("p")
                .cpu("500m")
                .node_selector(labels::NODE_POOL, "light")
                .build(),
            expected: "light",
        },
        Case {
            name: "required affinity on two pools: the heavier of the two",
            pod: pod("p")
                .cpu("500m")
                .require(labels::NODE_POOL, Operator::In, &["light", "middle"])
                .build(),
            expected: "middle",
        },
        Case {
            name: "NotIn the heaviest pool",
            pod: pod("p")
                .cpu("500m")
                .require(labels::NODE_POOL, Operator::NotIn, &["heavy"])
                .build(),
            expected: "middle",
        },
    ];
    for case in cases {
        let pools = vec![
            node_pool("light").weight(1).build(),
            node_pool("heavy").weight(100).build(),
            node_pool("middle").weight(50).build(),
        ];
        let scenario = Scenario::new(pools, vec![case.pod]);
        let plan = scenario.solve();
        assert_eq!(
            claim_of(&plan, 0, case.name).node_pool,
            case.expected,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn node_pool_limits_hand_over_to_the_next_pool_by_weight() {
    struct Case {
        name: &'static str,
        limits: &'static [(&'static str, &'static str)],
        pods: Vec<Pod>,
        nodes: Vec<Node>,
        expected_pools: &'static [&'static str],
        /// Instance types the first NodeClaim of `primary` may list (limits drop bigger ones).
        first_claim_types: Option<&'static [&'static str]>,
    }
    // Each pod repels the others from its node, so each needs a NodeClaim of its own.
    let solo = |name: &str| {
        pod(name)
            .cpu("1")
            .label("app", "solo")
            .anti_affinity(labels::HOSTNAME, &[("app", "solo")])
            .build()
    };
    let cases = [
        Case {
            name: "cpu limit 4: the first claim is narrowed to small so that a second fits",
            limits: &[("cpu", "4")],
            pods: vec![solo("a"), solo("b"), solo("c")],
            nodes: Vec::new(),
            expected_pools: &["primary", "primary", "secondary"],
            first_claim_types: Some(&["small"]),
        },
        Case {
            name: "cpu limit 6: three small claims fit where Karpenter would count 4 + 2",
            limits: &[("cpu", "6")],
            pods: vec![solo("a"), solo("b"), solo("c")],
            nodes: Vec::new(),
            expected_pools: &["primary", "primary", "primary"],
            first_claim_types: Some(&["small"]),
        },
        Case {
            name: "nodes limit 1",
            limits: &[("nodes", "1")],
            pods: vec![solo("a"), solo("b"), solo("c")],
            nodes: Vec::new(),
            expected_pools: &["primary", "secondary", "secondary"],
            first_claim_types: Some(&["small", "medium", "large"]),
        },
        Case {
            name: "nodes limit 2",
            limits: &[("nodes", "2")],
            pods: vec![solo("a"), solo("b"), solo("c")],
            nodes: Vec::new(),
            expected_pools: &["primary", "primary", "secondary"],
            first_claim_types: None,
        },
        Case {
            name: "a limit does not stop pods from sharing a planned claim",
            limits: &[("cpu", "2")],
            pods: vec![pod("a").cpu("500m").build(), pod("b").cpu("500m").build()],
            nodes: Vec::new(),
            expected_pools: &["primary", "primary"],
            first_claim_types: Some(&["small"]),
        },
        Case {
            name: "an existing node of the pool counts against its limit",
            limits: &[("cpu", "6")],
            pods: vec![solo("a"), solo("b")],
            nodes: vec![
                node("busy")
                    .node_pool("primary")
                    .label(labels::INSTANCE_TYPE, "medium")
                    .zone("zone-a")
                    .allocatable("100m", "100Mi")
                    .build(),
            ],
            expected_pools: &["primary", "secondary"],
            first_claim_types: Some(&["small"]),
        },
    ];
    for case in cases {
        let mut primary = node_pool("primary").weight(100);
        for (resource, amount) in case.limits {
            primary = primary.limit(resource, amount);
        }
        let pools = vec![node_pool("secondary").weight(1).build(), primary.build()];
        let mut scenario = Scenario::new(pools, case.pods);
        scenario.nodes = case.nodes;
        let plan = scenario.solve();
        for (pod_index, expected) in case.expected_pools.iter().enumerate() {
            assert_eq!(
                &claim_of(&plan, pod_index, case.name).node_pool,
                expected,
                "{}: pod {pod_index}\n{}",
                case.name,
                summary(&plan)
            );
        }
        if let Some(types) = case.first_claim_types {
            let first = plan
                .node_claims
                .iter()
                .find(|claim| claim.node_pool == "primary")
                .unwrap_or_else(|| panic!("{}: no claim from primary", case.name));
            assert_eq!(
                first.instance_types,
                types,
                "{}\n{}",
                case.name,
                summary(&plan)
            );
        }
        // Whatever the limits, the claims of `primary` never add up to more than its cpu limit,
        // each counted at its largest listed instance type.
        if let Some((_, amount)) = case.limits.iter().find(|(resource, _)| *resource == "cpu") {
            let limit: i64 = amount
                .parse::<i64>()
                .map(|cores| cores * 1000)
                .unwrap_or(i64::MAX);
            let existing: i64 = scenario
                .nodes
                .iter()
                .filter(|node| node.node_pool() == Some("primary"))
                .map(|node| {
                    cpu_of(
                        &scenario.instance_types,
                        &node.labels[labels::INSTANCE_TYPE],
                    )
                })
                .sum();
            let planned: i64 = plan
                .node_claims
                .iter()
                .filter(|claim| claim.node_pool == "primary")
                .map(|claim| {
                    claim
                        .instance_types
                        .iter()
                        .map(|name| cpu_of(&scenario.instance_types, name))
                        .max()
                        .unwrap_or(0)
                })
                .sum();
            assert!(
                existing + planned <= limit,
                "{}: {existing}m + {planned}m over the {limit}m limit",
                case.name
            );
        }
    }
}

#[test]
fn spot_pool_falls_back_to_a_lower_weight_on_demand_pool() {
    struct Case {
        name: &'static str,
        extra_pool: Option<NodePool>,
        unavailable: UnavailableOfferings,
        expected_pool: &'static str,
        expected_capacity_type: CapacityType,
    }
    let cases = [
        Case {
            name: "spot available: batch launches spot",
            extra_pool: None,
            unavailable: UnavailableOfferings::new(),
            expected_pool: "batch",
            expected_capacity_type: CapacityType::Spot,
        },
        Case {
            name: "spot unavailable: batch-fallback launches on-demand",
            extra_pool: None,
            unavailable: spot_unavailable(),
            expected_pool: "batch-fallback",
            expected_capacity_type: CapacityType::OnDemand,
        },
        Case {
            name: "spot unavailable with a heavier general pool: the affinity keeps pods off it",
            extra_pool: Some(node_pool("general").weight(50).build()),
            unavailable: spot_unavailable(),
            expected_pool: "batch-fallback",
            expected_capacity_type: CapacityType::OnDemand,
        },
    ];
    for case in cases {
        let mut pools = vec![
            node_pool("batch")
                .weight(100)
                .capacity_types(&["spot"])
                .build(),
            node_pool("batch-fallback")
                .weight(10)
                .capacity_types(&["on-demand"])
                .build(),
        ];
        pools.extend(case.extra_pool);
        let pods = (0..3)
            .map(|index| {
                pod(&format!("job-{index}"))
                    .cpu("1")
                    .require(
                        labels::NODE_POOL,
                        Operator::In,
                        &["batch", "batch-fallback"],
                    )
                    .build()
            })
            .collect();
        let mut scenario = Scenario::new(pools, pods);
        scenario.unavailable = case.unavailable;
        let plan = scenario.solve();
        for pod_index in 0..3 {
            let claim = claim_of(&plan, pod_index, case.name);
            assert_eq!(
                claim.node_pool,
                case.expected_pool,
                "{}\n{}",
                case.name,
                summary(&plan)
            );
            assert_eq!(
                launch_of(claim, case.name).capacity_type,
                case.expected_capacity_type,
                "{}\n{}",
                case.name,
                summary(&plan)
            );
            assert_eq!(
                claim.capacity_types,
                vec![case.expected_capacity_type],
                "{}\n{}",
                case.name,
                summary(&plan)
            );
        }
    }
}

#[test]
fn a_mixed_pool_launches_spot_and_falls_back_to_on_demand_in_the_same_pool() {
    struct Case {
        name: &'static str,
        unavailable: UnavailableOfferings,
        expected_capacity_types: Vec<CapacityType>,
        expected_launch: (CapacityType, &'static str, &'static str),
    }
    let cases = [
        Case {
            name: "spot available",
            unavailable: UnavailableOfferings::new(),
            expected_capacity_types: vec![CapacityType::Spot, CapacityType::OnDemand],
            expected_launch: (CapacityType::Spot, "small", "zone-a"),
        },
        Case {
            name: "spot unavailable",
            unavailable: spot_unavailable(),
            expected_capacity_types: vec![CapacityType::OnDemand],
            expected_launch: (CapacityType::OnDemand, "small", "zone-a"),
        },
    ];
    for case in cases {
        let pools = vec![
            node_pool("mixed")
                .weight(10)
                .capacity_types(&["spot", "on-demand"])
                .build(),
            node_pool("other")
                .capacity_types(&["spot", "on-demand"])
                .build(),
        ];
        let mut scenario = Scenario::new(pools, vec![pod("p").cpu("1").build()]);
        scenario.unavailable = case.unavailable;
        let plan = scenario.solve();
        let claim = claim_of(&plan, 0, case.name);
        assert_eq!(claim.node_pool, "mixed", "{}", case.name);
        assert_eq!(
            claim.capacity_types, case.expected_capacity_types,
            "{}",
            case.name
        );
        let launch = launch_of(claim, case.name);
        assert_eq!(
            (
                launch.capacity_type,
                launch.instance_type.as_str(),
                launch.zone.as_str()
            ),
            case.expected_launch,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn insufficient_capacity_in_one_zone_moves_the_launch() {
    struct Case {
        name: &'static str,
        instance_types: Vec<InstanceType>,
        marked: Vec<OfferingSelector>,
        expected_launch: (CapacityType, &'static str, &'static str),
    }
    let ice = |instance_type: &str, zone: &str| OfferingSelector {
        capacity_type: Some(CapacityType::Spot),
        instance_type: Some(instance_type.into()),
        zone: Some(zone.into()),
    };
    let only_in_zone_a = instance_type("solo")
        .cpu(2)
        .memory_gib(4)
        .offering(CapacityType::Spot, "zone-a", 0.010)
        .build();
    let cases = [
        Case {
            name: "nothing marked: the cheapest spot offering",
            instance_types: catalog(),
            marked: Vec::new(),
            expected_launch: (CapacityType::Spot, "small", "zone-a"),
        },
        Case {
            name: "small spot in zone-a marked: same type, next zone",
            instance_types: catalog(),
            marked: vec![ice("small", "zone-a")],
            expected_launch: (CapacityType::Spot, "small", "zone-b"),
        },
        Case {
            name: "small spot in zone-a and zone-b marked: zone-c",
            instance_types: catalog(),
            marked: vec![ice("small", "zone-a"), ice("small", "zone-b")],
            expected_launch: (CapacityType::Spot, "small", "zone-c"),
        },
        Case {
            name: "small spot marked everywhere: next type, still spot",
            instance_types: catalog(),
            marked: ZONES.iter().map(|zone| ice("small", zone)).collect(),
            expected_launch: (CapacityType::Spot, "medium", "zone-a"),
        },
        Case {
            name: "a type offered only in the marked zone: another type",
            instance_types: [vec![only_in_zone_a], catalog()].concat(),
            marked: vec![ice("solo", "zone-a")],
            expected_launch: (CapacityType::Spot, "small", "zone-a"),
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(
            vec![node_pool("default").build()],
            vec![pod("p").cpu("1").build()],
        );
        scenario.instance_types = case.instance_types;
        for selector in case.marked {
            scenario.unavailable.mark(selector);
        }
        let plan = scenario.solve();
        let claim = claim_of(&plan, 0, case.name);
        let launch = launch_of(claim, case.name);
        assert_eq!(
            (
                launch.capacity_type,
                launch.instance_type.as_str(),
                launch.zone.as_str()
            ),
            case.expected_launch,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        assert!(
            !scenario.unavailable.contains(
                &launch.instance_type,
                launch.capacity_type,
                &launch.zone
            ),
            "{}: launched a marked offering",
            case.name
        );
    }
}

#[test]
fn unknown_labels_and_unsupported_topology_keys_are_unschedulable_with_a_reason() {
    struct Case {
        name: &'static str,
        pool: NodePool,
        pod: Pod,
        /// `None`: schedulable; `Some(words)`: unschedulable with a reason containing each word.
        reason_contains: Option<&'static [&'static str]>,
    }
    let cases = [
        Case {
            name: "custom label no pool defines",
            pool: node_pool("default").build(),
            pod: pod("p").require("team", Operator::In, &["x"]).build(),
            reason_contains: Some(&["team", "default"]),
        },
        Case {
            name: "custom label in a nodeSelector",
            pool: node_pool("default").build(),
            pod: pod("p").node_selector("team", "x").build(),
            reason_contains: Some(&["team", "default"]),
        },
        Case {
            name: "custom label defined by a template label",
            pool: node_pool("default").label("team", "x").build(),
            pod: pod("p").require("team", Operator::In, &["x"]).build(),
            reason_contains: None,
        },
        Case {
            name: "custom label defined by an Exists requirement",
            pool: node_pool("default")
                .require("team", Operator::Exists, &[])
                .build(),
            pod: pod("p").require("team", Operator::In, &["x"]).build(),
            reason_contains: None,
        },
        Case {
            name: "custom label with another value in the template",
            pool: node_pool("default").label("team", "y").build(),
            pod: pod("p").node_selector("team", "x").build(),
            reason_contains: Some(&["team", "default"]),
        },
        Case {
            name: "negative requirement on an undefined label is fine",
            pool: node_pool("default").build(),
            pod: pod("p").require("team", Operator::NotIn, &["x"]).build(),
            reason_contains: None,
        },
        Case {
            name: "topology spread on an unsupported key",
            pool: node_pool("default").build(),
            pod: pod("p")
                .label("app", "web")
                .spread("example.com/rack", 1, &[("app", "web")])
                .build(),
            reason_contains: Some(&["example.com/rack", "not supported"]),
        },
        Case {
            name: "pod anti-affinity on an unsupported key",
            pool: node_pool("default").build(),
            pod: pod("p")
                .label("app", "web")
                .anti_affinity("example.com/rack", &[("app", "web")])
                .build(),
            reason_contains: Some(&["example.com/rack", "not supported"]),
        },
    ];
    for case in cases {
        let scenario = Scenario::new(vec![case.pool], vec![case.pod]);
        let plan = scenario.solve();
        match case.reason_contains {
            None => {
                claim_of(&plan, 0, case.name);
            }
            Some(words) => {
                let reason = reason_of(&plan, 0, case.name);
                for word in words {
                    assert!(
                        reason.contains(word),
                        "{}: reason {reason:?} should name {word:?}",
                        case.name
                    );
                }
                assert!(
                    plan.node_claims.is_empty(),
                    "{}: nothing to launch",
                    case.name
                );
            }
        }
    }
}

#[test]
fn node_selection_terms_and_preferences() {
    struct Case {
        name: &'static str,
        pod: Pod,
        expected_zones: &'static [&'static str],
    }
    let zone_term = |zone: &str| vec![expression(labels::ZONE, Operator::In, &[zone])];
    let cases = [
        Case {
            name: "nodeSelector on a zone",
            pod: pod("p").node_selector(labels::ZONE, "zone-b").build(),
            expected_zones: &["zone-b"],
        },
        Case {
            name: "nodeSelector with a beta alias",
            pod: pod("p")
                .node_selector("failure-domain.beta.kubernetes.io/zone", "zone-c")
                .build(),
            expected_zones: &["zone-c"],
        },
        Case {
            name: "first required term used when it can be met",
            pod: pod("p")
                .require_term(zone_term("zone-a"))
                .require_term(zone_term("zone-c"))
                .build(),
            expected_zones: &["zone-a"],
        },
        Case {
            name: "second required term used when the first cannot be met",
            pod: pod("p")
                .require_term(zone_term("zone-x"))
                .require_term(zone_term("zone-c"))
                .build(),
            expected_zones: &["zone-c"],
        },
        Case {
            name: "expressions of one term are ANDed",
            pod: pod("p")
                .require(labels::ZONE, Operator::In, &["zone-a", "zone-b"])
                .require(labels::ZONE, Operator::NotIn, &["zone-a"])
                .build(),
            expected_zones: &["zone-b"],
        },
        Case {
            name: "heaviest preference honoured",
            pod: pod("p")
                .prefer(10, labels::ZONE, Operator::In, &["zone-c"])
                .prefer(50, labels::ZONE, Operator::In, &["zone-b"])
                .build(),
            expected_zones: &["zone-b"],
        },
        Case {
            name: "impossible heaviest preference relaxed to the next one",
            pod: pod("p")
                .prefer(50, labels::ZONE, Operator::In, &["zone-x"])
                .prefer(10, labels::ZONE, Operator::In, &["zone-c"])
                .build(),
            expected_zones: &["zone-c"],
        },
        Case {
            name: "every preference impossible: relaxed to anywhere",
            pod: pod("p")
                .prefer(50, labels::ZONE, Operator::In, &["zone-x"])
                .build(),
            expected_zones: &["zone-a", "zone-b", "zone-c"],
        },
        Case {
            name: "preference within the required zones",
            pod: pod("p")
                .require(labels::ZONE, Operator::In, &["zone-a", "zone-c"])
                .prefer(10, labels::ZONE, Operator::In, &["zone-c"])
                .build(),
            expected_zones: &["zone-c"],
        },
        Case {
            name: "preference conflicting with the requirement is dropped, the requirement kept",
            pod: pod("p")
                .require(labels::ZONE, Operator::In, &["zone-a", "zone-b"])
                .prefer(10, labels::ZONE, Operator::In, &["zone-c"])
                .build(),
            expected_zones: &["zone-a", "zone-b"],
        },
    ];
    for case in cases {
        let scenario = Scenario::new(vec![node_pool("default").build()], vec![case.pod]);
        let plan = scenario.solve();
        let claim = claim_of(&plan, 0, case.name);
        assert_eq!(
            claim.zones,
            case.expected_zones,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        let launch = launch_of(claim, case.name);
        assert!(
            case.expected_zones.contains(&launch.zone.as_str()),
            "{}: launch in {}",
            case.name,
            launch.zone
        );
        assert!(
            claim.requirements.allows(labels::ZONE, &launch.zone),
            "{}: launch outside the claim's zones",
            case.name
        );
    }
}

#[test]
fn taints_and_tolerations() {
    struct Case {
        name: &'static str,
        pools: Vec<NodePool>,
        pod: Pod,
        /// `Ok(pool)` or `Err(words the reason must contain)`.
        expected: Result<&'static str, &'static [&'static str]>,
    }
    let tainted = |effect| {
        node_pool("tainted")
            .weight(100)
            .taint("dedicated", "gpu", effect)
            .build()
    };
    let cases = [
        Case {
            name: "NoSchedule taint not tolerated",
            pools: vec![tainted(Effect::NoSchedule)],
            pod: pod("p").build(),
            expected: Err(&["dedicated=gpu:NoSchedule", "tainted"]),
        },
        Case {
            name: "NoExecute taint not tolerated",
            pools: vec![tainted(Effect::NoExecute)],
            pod: pod("p").build(),
            expected: Err(&["dedicated=gpu:NoExecute"]),
        },
        Case {
            name: "toleration for another value",
            pools: vec![tainted(Effect::NoSchedule)],
            pod: pod("p")
                .toleration("dedicated", "cpu", Effect::NoSchedule)
                .build(),
            expected: Err(&["dedicated=gpu:NoSchedule"]),
        },
        Case {
            name: "NoSchedule taint tolerated",
            pools: vec![tainted(Effect::NoSchedule)],
            pod: pod("p")
                .toleration("dedicated", "gpu", Effect::NoSchedule)
                .build(),
            expected: Ok("tainted"),
        },
        Case {
            name: "tolerating everything",
            pools: vec![tainted(Effect::NoExecute)],
            pod: pod("p").tolerate_everything().build(),
            expected: Ok("tainted"),
        },
        Case {
            name: "untolerated taint skips the heavier pool",
            pools: vec![tainted(Effect::NoSchedule), node_pool("plain").build()],
            pod: pod("p").build(),
            expected: Ok("plain"),
        },
        Case {
            name: "PreferNoSchedule: an untainted pool first, despite its lower weight",
            pools: vec![
                tainted(Effect::PreferNoSchedule),
                node_pool("plain").build(),
            ],
            pod: pod("p").build(),
            expected: Ok("plain"),
        },
        Case {
            name: "PreferNoSchedule: the tainted pool after relaxing when it is the only one",
            pools: vec![tainted(Effect::PreferNoSchedule)],
            pod: pod("p").build(),
            expected: Ok("tainted"),
        },
        Case {
            name: "startup taints are ignored",
            pools: vec![
                node_pool("starting")
                    .startup_taint("node.cilium.io/agent-not-ready", "true", Effect::NoExecute)
                    .build(),
            ],
            pod: pod("p").build(),
            expected: Ok("starting"),
        },
    ];
    for case in cases {
        let scenario = Scenario::new(case.pools, vec![case.pod]);
        let plan = scenario.solve();
        match case.expected {
            Ok(pool) => assert_eq!(
                claim_of(&plan, 0, case.name).node_pool,
                pool,
                "{}\n{}",
                case.name,
                summary(&plan)
            ),
            Err(words) => {
                let reason = reason_of(&plan, 0, case.name);
                for word in words {
                    assert!(
                        reason.contains(word),
                        "{}: reason {reason:?} should name {word:?}",
                        case.name
                    );
                }
            }
        }
    }
}

/// Pods matching `app=web` per domain of `key` (zone or capacity type), over claims whose domain
/// is a single value; panics when a spread pod sits on a claim not pinned to one domain.
fn spread_counts(plan: &Plan, pods: &[Pod], key: &str, case: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for claim in &plan.node_claims {
        let domains: Vec<String> = if key == labels::ZONE {
            claim.zones.clone()
        } else {
            claim
                .capacity_types
                .iter()
                .map(|capacity_type| capacity_type.as_str().to_string())
                .collect()
        };
        let matching = claim
            .pods
            .iter()
            .filter(|&&index| {
                pods[index]
                    .labels
                    .get("app")
                    .is_some_and(|app| app == "web")
            })
            .count();
        if matching == 0 {
            continue;
        }
        assert_eq!(
            domains.len(),
            1,
            "{case}: a claim with spread pods must be pinned to one {key}: {domains:?}\n{}",
            summary(plan)
        );
        *counts.entry(domains[0].clone()).or_default() += matching;
    }
    counts
}

#[test]
fn topology_spread() {
    struct Case {
        name: &'static str,
        pool: NodePool,
        pods: Vec<Pod>,
        key: &'static str,
        /// Matching pods per domain, sorted by count.
        expected_counts: &'static [usize],
    }
    let spread = |key: &str, count: usize, max_skew: i32| -> Vec<Pod> {
        (0..count)
            .map(|index| {
                web(&format!("web-{index}"))
                    .spread(key, max_skew, &[("app", "web")])
                    .build()
            })
            .collect()
    };
    let mixed = || {
        node_pool("default")
            .capacity_types(&["spot", "on-demand"])
            .build()
    };
    let cases = [
        Case {
            name: "zone, 6 pods, maxSkew 1",
            pool: mixed(),
            pods: spread(labels::ZONE, 6, 1),
            key: labels::ZONE,
            expected_counts: &[2, 2, 2],
        },
        Case {
            name: "zone, 4 pods, maxSkew 1",
            pool: mixed(),
            pods: spread(labels::ZONE, 4, 1),
            key: labels::ZONE,
            expected_counts: &[1, 1, 2],
        },
        Case {
            name: "zone, pool restricted to two zones",
            pool: node_pool("default")
                .require(labels::ZONE, Operator::In, &["zone-a", "zone-b"])
                .build(),
            pods: spread(labels::ZONE, 4, 1),
            key: labels::ZONE,
            expected_counts: &[2, 2],
        },
        Case {
            name: "zone, pool pinned to one zone by a template label",
            pool: node_pool("default").label(labels::ZONE, "zone-b").build(),
            pods: spread(labels::ZONE, 4, 1),
            key: labels::ZONE,
            expected_counts: &[4],
        },
        Case {
            name: "capacity type, 4 pods, maxSkew 1",
            pool: mixed(),
            pods: spread(labels::CAPACITY_TYPE, 4, 1),
            key: labels::CAPACITY_TYPE,
            expected_counts: &[2, 2],
        },
    ];
    for case in cases {
        let scenario = Scenario::new(vec![case.pool], case.pods);
        let plan = scenario.solve();
        for pod_index in 0..scenario.pods.len() {
            claim_of(&plan, pod_index, case.name);
        }
        let counts = spread_counts(&plan, &scenario.pods, case.key, case.name);
        let mut sorted: Vec<usize> = counts.values().copied().collect();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            case.expected_counts,
            "{}: counts {counts:?}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn topology_spread_on_hostname_puts_one_matching_pod_per_node() {
    struct Case {
        name: &'static str,
        max_skew: i32,
        pods: usize,
        expected_claims: usize,
    }
    let cases = [
        Case {
            name: "maxSkew 1, 4 pods",
            max_skew: 1,
            pods: 4,
            expected_claims: 4,
        },
        Case {
            name: "maxSkew 2, 4 pods",
            max_skew: 2,
            pods: 4,
            expected_claims: 2,
        },
    ];
    for case in cases {
        let pods = (0..case.pods)
            .map(|index| {
                web(&format!("web-{index}"))
                    .spread(labels::HOSTNAME, case.max_skew, &[("app", "web")])
                    .build()
            })
            .collect();
        let scenario = Scenario::new(vec![node_pool("default").build()], pods);
        let plan = scenario.solve();
        for pod_index in 0..case.pods {
            claim_of(&plan, pod_index, case.name);
        }
        assert_eq!(
            plan.node_claims.len(),
            case.expected_claims,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        for claim in &plan.node_claims {
            assert!(
                claim.pods.len() <= case.max_skew as usize,
                "{}: {} pods on one node\n{}",
                case.name,
                claim.pods.len(),
                summary(&plan)
            );
        }
    }
}

#[test]
fn topology_spread_schedule_anyway_is_relaxed() {
    let case = "ScheduleAnyway spread over a zone the pool cannot reach";
    // The pool reaches zone-a only, but the other pool makes zone-b part of the universe; the
    // second pod would break maxSkew 1 and is placed anyway once the preference is relaxed.
    let pools = vec![
        node_pool("zonal")
            .weight(10)
            .require(labels::ZONE, Operator::In, &["zone-a"])
            .build(),
        node_pool("tainted")
            .taint("dedicated", "x", Effect::NoSchedule)
            .require(labels::ZONE, Operator::In, &["zone-b"])
            .build(),
    ];
    let pods: Vec<Pod> = (0..3)
        .map(|index| {
            web(&format!("web-{index}"))
                .spread_when(
                    labels::ZONE,
                    1,
                    &[("app", "web")],
                    WhenUnsatisfiable::ScheduleAnyway,
                )
                .build()
        })
        .collect();
    let scenario = Scenario::new(pools, pods);
    let plan = scenario.solve();
    for pod_index in 0..3 {
        assert_eq!(
            claim_of(&plan, pod_index, case).node_pool,
            "zonal",
            "{case}\n{}",
            summary(&plan)
        );
    }
    // The same pods with DoNotSchedule stop at the skew.
    let pools = scenario.node_pools.clone();
    let pods = (0..3)
        .map(|index| {
            web(&format!("web-{index}"))
                .spread(labels::ZONE, 1, &[("app", "web")])
                .build()
        })
        .collect();
    let plan = Scenario::new(pools, pods).solve();
    let case = "DoNotSchedule spread over a zone the pool cannot reach";
    claim_of(&plan, 0, case);
    assert!(
        reason_of(&plan, 1, case).contains("topology spread"),
        "{case}\n{}",
        summary(&plan)
    );
}

#[test]
fn pod_affinity_co_locates_pods() {
    struct Case {
        name: &'static str,
        pods: Vec<Pod>,
        /// Indices of the pods that must share one NodeClaim.
        same_claim: &'static [usize],
        expected_zones: &'static [&'static str],
    }
    let target = || {
        pod("cache")
            .cpu("100m")
            .label("app", "cache")
            .node_selector(labels::ZONE, "zone-b")
            .build()
    };
    let zone_follower = |name: &str| {
        pod(name)
            .cpu("100m")
            .affinity(labels::ZONE, &[("app", "cache")])
            .build()
    };
    let db = || pod("db").cpu("100m").label("app", "db").build();
    let host_follower = |name: &str| {
        pod(name)
            .cpu("100m")
            .affinity(labels::HOSTNAME, &[("app", "db")])
            .build()
    };
    let cases = [
        Case {
            name: "zone affinity, target listed first",
            pods: vec![
                target(),
                zone_follower("f1"),
                zone_follower("f2"),
                zone_follower("f3"),
            ],
            same_claim: &[0, 1, 2, 3],
            expected_zones: &["zone-b"],
        },
        // Karpenter re-queues a pod that fails and retries it once other pods made progress
        // (scheduler.go; topology_test.go "should support pod affinity with zone topology
        // (constrained target)" lists the target last).
        Case {
            name: "zone affinity, target listed last",
            pods: vec![
                zone_follower("f1"),
                zone_follower("f2"),
                zone_follower("f3"),
                target(),
            ],
            same_claim: &[0, 1, 2, 3],
            expected_zones: &["zone-b"],
        },
        Case {
            name: "hostname affinity, target listed first",
            pods: vec![db(), host_follower("web")],
            same_claim: &[0, 1],
            expected_zones: &["zone-a", "zone-b", "zone-c"],
        },
        Case {
            name: "hostname affinity, target listed last",
            pods: vec![host_follower("web"), db()],
            same_claim: &[0, 1],
            expected_zones: &["zone-a", "zone-b", "zone-c"],
        },
        Case {
            name: "self-selecting zone affinity bootstraps one zone",
            pods: (0..3)
                .map(|index| {
                    web(&format!("web-{index}"))
                        .affinity(labels::ZONE, &[("app", "web")])
                        .build()
                })
                .collect(),
            same_claim: &[0, 1, 2],
            expected_zones: &["zone-a"],
        },
    ];
    for case in cases {
        let scenario = Scenario::new(vec![node_pool("default").build()], case.pods);
        let plan = scenario.solve();
        let claims: BTreeSet<usize> = case
            .same_claim
            .iter()
            .map(|&pod_index| match placement(&plan, pod_index, case.name) {
                Placement::Claim(index) => index,
                other => panic!(
                    "{}: pod {pod_index} not on a claim: {other:?}\n{}",
                    case.name,
                    summary(&plan)
                ),
            })
            .collect();
        assert_eq!(
            claims.len(),
            1,
            "{}: pods should share a NodeClaim\n{}",
            case.name,
            summary(&plan)
        );
        for claim_index in claims {
            assert_eq!(
                plan.node_claims[claim_index].zones,
                case.expected_zones,
                "{}\n{}",
                case.name,
                summary(&plan)
            );
        }
    }
}

#[test]
fn pod_affinity_to_a_pod_that_does_not_exist_is_unschedulable() {
    let case = "affinity to a missing pod";
    let pods = vec![
        pod("lonely")
            .affinity(labels::ZONE, &[("app", "missing")])
            .build(),
        pod("other").build(),
    ];
    let plan = Scenario::new(vec![node_pool("default").build()], pods).solve();
    assert!(
        reason_of(&plan, 0, case).contains("pod affinity"),
        "{case}\n{}",
        summary(&plan)
    );
    claim_of(&plan, 1, case);
}

#[test]
fn pod_anti_affinity() {
    struct Case {
        name: &'static str,
        pool: NodePool,
        pods: Vec<Pod>,
        /// How many pods get placed; the rest must be unschedulable.
        expected_placed: usize,
        /// At most this many `app=web` pods per zone (`None`: not checked).
        per_zone: Option<usize>,
        /// At most this many `app=web` pods per claim.
        per_claim: usize,
        expected_claims: usize,
    }
    let hostname = |name: &str| {
        web(name)
            .anti_affinity(labels::HOSTNAME, &[("app", "web")])
            .build()
    };
    let zonal = |name: &str| web(name).anti_affinity(labels::ZONE, &[("app", "web")]);
    let cases = [
        Case {
            name: "hostname: one per node",
            pool: node_pool("default").build(),
            pods: (0..3)
                .map(|index| hostname(&format!("web-{index}")))
                .collect(),
            expected_placed: 3,
            per_zone: None,
            per_claim: 1,
            expected_claims: 3,
        },
        Case {
            name: "zone: three pinned pods take the three zones, the fourth is unschedulable",
            pool: node_pool("default").build(),
            pods: vec![
                zonal("a").node_selector(labels::ZONE, "zone-a").build(),
                zonal("b").node_selector(labels::ZONE, "zone-b").build(),
                zonal("c").node_selector(labels::ZONE, "zone-c").build(),
                zonal("d").build(),
            ],
            expected_placed: 3,
            per_zone: Some(1),
            per_claim: 1,
            expected_claims: 3,
        },
        Case {
            name: "zone: pods pinned by a zone spread, the fourth is unschedulable",
            pool: node_pool("default").build(),
            pods: (0..4)
                .map(|index| {
                    zonal(&format!("web-{index}"))
                        .spread(labels::ZONE, 1, &[("app", "web")])
                        .build()
                })
                .collect(),
            expected_placed: 3,
            per_zone: Some(1),
            per_claim: 1,
            expected_claims: 3,
        },
        // Karpenter commits a NodeClaim to a zone only when it launches: a claim that may land in
        // any zone blocks them all (topology_test.go "should support pod anti-affinity with a zone
        // topology" needs one batch per pod).
        Case {
            name: "zone: unpinned pods, one per batch",
            pool: node_pool("default").build(),
            pods: (0..4)
                .map(|index| zonal(&format!("web-{index}")).build())
                .collect(),
            expected_placed: 1,
            per_zone: None,
            per_claim: 1,
            expected_claims: 1,
        },
        Case {
            name: "preferred zone anti-affinity relaxed when it cannot hold",
            pool: node_pool("default").build(),
            pods: (0..4)
                .map(|index| {
                    web(&format!("web-{index}"))
                        .preferred_anti_affinity(10, labels::ZONE, &[("app", "web")])
                        .build()
                })
                .collect(),
            expected_placed: 4,
            per_zone: None,
            per_claim: 4,
            expected_claims: 1,
        },
        Case {
            name: "preferred hostname anti-affinity relaxed when the pool runs out of nodes",
            pool: node_pool("default").limit("nodes", "2").build(),
            pods: (0..3)
                .map(|index| {
                    web(&format!("web-{index}"))
                        .preferred_anti_affinity(10, labels::HOSTNAME, &[("app", "web")])
                        .build()
                })
                .collect(),
            expected_placed: 3,
            per_zone: None,
            per_claim: 2,
            expected_claims: 2,
        },
    ];
    for case in cases {
        let scenario = Scenario::new(vec![case.pool], case.pods);
        let plan = scenario.solve();
        let placed: usize = plan.node_claims.iter().map(|claim| claim.pods.len()).sum();
        assert_eq!(
            placed,
            case.expected_placed,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        assert_eq!(
            plan.unschedulable.len(),
            scenario.pods.len() - case.expected_placed,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        for entry in &plan.unschedulable {
            assert!(
                entry.reason.contains("anti-affinity"),
                "{}: reason {:?}",
                case.name,
                entry.reason
            );
        }
        assert_eq!(
            plan.node_claims.len(),
            case.expected_claims,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        for claim in &plan.node_claims {
            assert!(
                claim.pods.len() <= case.per_claim,
                "{}: {} pods on one claim\n{}",
                case.name,
                claim.pods.len(),
                summary(&plan)
            );
        }
        if let Some(per_zone) = case.per_zone {
            let counts = spread_counts(&plan, &scenario.pods, labels::ZONE, case.name);
            assert!(
                counts.values().all(|&count| count <= per_zone),
                "{}: {counts:?}",
                case.name
            );
        }
    }
}

#[test]
fn existing_nodes_are_filled_first() {
    #[derive(Debug, PartialEq)]
    enum Expected {
        Node(&'static str),
        /// A new NodeClaim allowed in these zones.
        Claim(&'static [&'static str]),
    }
    struct Case {
        name: &'static str,
        node: Node,
        pod: Pod,
        expected: Expected,
    }
    let base = || {
        node("node-1")
            .zone("zone-a")
            .capacity_type("on-demand")
            .node_pool("default")
            .allocatable("2", "4Gi")
    };
    let all_zones: &[&str] = &["zone-a", "zone-b", "zone-c"];
    let cases = [
        Case {
            name: "fits",
            node: base().build(),
            pod: pod("p").cpu("1").build(),
            expected: Expected::Node("node-1"),
        },
        Case {
            name: "fits exactly",
            node: base().pod(pod("running").cpu("1").build()).build(),
            pod: pod("p").cpu("1").build(),
            expected: Expected::Node("node-1"),
        },
        Case {
            name: "too full",
            node: base().pod(pod("running").cpu("1500m").build()).build(),
            pod: pod("p").cpu("1").build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "taint not tolerated",
            node: base().taint("dedicated", "gpu", Effect::NoSchedule).build(),
            pod: pod("p").cpu("1").build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "taint tolerated",
            node: base().taint("dedicated", "gpu", Effect::NoSchedule).build(),
            pod: pod("p")
                .cpu("1")
                .toleration("dedicated", "gpu", Effect::NoSchedule)
                .build(),
            expected: Expected::Node("node-1"),
        },
        Case {
            name: "labels do not match the nodeSelector",
            node: base().build(),
            pod: pod("p")
                .cpu("1")
                .node_selector(labels::ZONE, "zone-b")
                .build(),
            expected: Expected::Claim(&["zone-b"]),
        },
        Case {
            name: "labels match the nodeSelector",
            node: base().build(),
            pod: pod("p")
                .cpu("1")
                .node_selector(labels::ZONE, "zone-a")
                .build(),
            expected: Expected::Node("node-1"),
        },
        Case {
            name: "node lacks a label the pod requires",
            node: node("bare").allocatable("2", "4Gi").build(),
            pod: pod("p")
                .cpu("1")
                .node_selector(labels::CAPACITY_TYPE, "spot")
                .build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "cordoned",
            node: base().cordoned().build(),
            pod: pod("p").cpu("1").build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "an existing pod's hostname anti-affinity repels a matching pod",
            node: base()
                .pod(
                    pod("guard")
                        .cpu("100m")
                        .anti_affinity(labels::HOSTNAME, &[("app", "web")])
                        .build(),
                )
                .build(),
            pod: web("p").build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "an existing pod's zone anti-affinity keeps a matching pod out of its zone",
            node: base()
                .pod(
                    pod("guard")
                        .cpu("100m")
                        .anti_affinity(labels::ZONE, &[("app", "web")])
                        .build(),
                )
                .build(),
            pod: web("p").build(),
            expected: Expected::Claim(&["zone-b", "zone-c"]),
        },
        Case {
            name: "an existing pod's anti-affinity does not repel a pod it does not select",
            node: base()
                .pod(
                    pod("guard")
                        .cpu("100m")
                        .anti_affinity(labels::HOSTNAME, &[("app", "db")])
                        .build(),
                )
                .build(),
            pod: web("p").build(),
            expected: Expected::Node("node-1"),
        },
        // Karpenter tracks only required anti-affinity of other pods ("we intentionally don't
        // track inverse anti-affinity preferences", topology.go); kube-scheduler only scores them.
        Case {
            name: "an existing pod's preferred anti-affinity does not repel",
            node: base()
                .pod(
                    pod("guard")
                        .cpu("100m")
                        .preferred_anti_affinity(10, labels::HOSTNAME, &[("app", "web")])
                        .build(),
                )
                .build(),
            pod: web("p").build(),
            expected: Expected::Node("node-1"),
        },
        Case {
            name: "a new pod's anti-affinity against an existing pod",
            node: base().pod(web("running").build()).build(),
            pod: pod("p")
                .cpu("100m")
                .anti_affinity(labels::HOSTNAME, &[("app", "web")])
                .build(),
            expected: Expected::Claim(all_zones),
        },
        Case {
            name: "existing pods count for zone spread",
            node: base().pod(web("running").build()).build(),
            pod: web("p").spread(labels::ZONE, 1, &[("app", "web")]).build(),
            expected: Expected::Claim(&["zone-b"]),
        },
        Case {
            name: "existing pods count for pod affinity",
            node: node("node-2")
                .zone("zone-c")
                .allocatable("100m", "1Gi")
                .pod(pod("cache").label("app", "cache").build())
                .build(),
            pod: pod("p")
                .cpu("1")
                .affinity(labels::ZONE, &[("app", "cache")])
                .build(),
            expected: Expected::Claim(&["zone-c"]),
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(vec![node_pool("default").build()], vec![case.pod]);
        scenario.nodes = vec![case.node];
        let plan = scenario.solve();
        match (placement(&plan, 0, case.name), &case.expected) {
            (Placement::Node(name), Expected::Node(expected)) => {
                assert_eq!(name, *expected, "{}\n{}", case.name, summary(&plan));
                assert!(
                    plan.node_claims.is_empty(),
                    "{}: nothing to launch\n{}",
                    case.name,
                    summary(&plan)
                );
            }
            (Placement::Claim(index), Expected::Claim(zones)) => {
                assert_eq!(
                    plan.node_claims[index].zones,
                    *zones,
                    "{}\n{}",
                    case.name,
                    summary(&plan)
                );
                assert!(
                    plan.existing_nodes.is_empty(),
                    "{}\n{}",
                    case.name,
                    summary(&plan)
                );
            }
            (actual, expected) => panic!(
                "{}: expected {expected:?}, got {actual:?}\n{}",
                case.name,
                summary(&plan)
            ),
        }
    }
}

#[test]
fn existing_nodes_then_planned_claims_then_new_claims() {
    let case = "one slot on the node, then one shared NodeClaim";
    let mut scenario = Scenario::new(
        vec![node_pool("default").build()],
        vec![
            pod("a").cpu("1").build(),
            pod("b").cpu("1").build(),
            pod("c").cpu("1").build(),
        ],
    );
    scenario.nodes = vec![
        node("cordoned")
            .zone("zone-a")
            .allocatable("8", "16Gi")
            .cordoned()
            .build(),
        node("node-1")
            .zone("zone-a")
            .allocatable("1500m", "4Gi")
            .build(),
    ];
    let plan = scenario.solve();
    assert_eq!(
        placement(&plan, 0, case),
        Placement::Node("node-1"),
        "{case}\n{}",
        summary(&plan)
    );
    assert_eq!(
        placement(&plan, 1, case),
        Placement::Claim(0),
        "{case}\n{}",
        summary(&plan)
    );
    assert_eq!(
        placement(&plan, 2, case),
        Placement::Claim(0),
        "{case}\n{}",
        summary(&plan)
    );
    assert_eq!(plan.node_claims.len(), 1, "{case}");
    // The two pods need 2 vCPU on one node: small (1930m) no longer fits.
    assert_eq!(
        plan.node_claims[0].instance_types,
        ["medium", "large"],
        "{case}\n{}",
        summary(&plan)
    );
}

#[test]
fn daemon_set_overhead_is_counted_once_per_new_node() {
    struct Case {
        name: &'static str,
        pool: NodePool,
        daemons: Vec<Pod>,
        pods: Vec<Pod>,
        expected_cpu_millicores: i64,
        expected_types: &'static [&'static str],
    }
    let tolerant = || pod("logging").cpu("1").tolerate_everything().build();
    let plain = || pod("metrics").cpu("500m").build();
    let tainted = || {
        node_pool("default")
            .taint("dedicated", "x", Effect::NoSchedule)
            .build()
    };
    let tolerating_pod = |name: &str| {
        pod(name)
            .cpu("500m")
            .toleration("dedicated", "x", Effect::NoSchedule)
            .build()
    };
    let cases = [
        Case {
            name: "no DaemonSets",
            pool: node_pool("default").build(),
            daemons: Vec::new(),
            pods: vec![pod("p").cpu("1").build()],
            expected_cpu_millicores: 1000,
            expected_types: &["small", "medium", "large"],
        },
        Case {
            name: "two DaemonSets on an untainted pool",
            pool: node_pool("default").build(),
            daemons: vec![tolerant(), plain()],
            pods: vec![pod("p").cpu("1").build()],
            expected_cpu_millicores: 2500,
            expected_types: &["medium", "large"],
        },
        Case {
            name: "a DaemonSet that does not tolerate the pool's taint is not counted",
            pool: tainted(),
            daemons: vec![tolerant(), plain()],
            pods: vec![tolerating_pod("p")],
            expected_cpu_millicores: 1500,
            expected_types: &["small", "medium", "large"],
        },
        Case {
            name: "two pods on one NodeClaim: overhead once",
            pool: node_pool("default").build(),
            daemons: vec![tolerant()],
            pods: vec![pod("p").cpu("1").build(), pod("q").cpu("1").build()],
            expected_cpu_millicores: 3000,
            expected_types: &["medium", "large"],
        },
        Case {
            name: "a DaemonSet selecting another zone's nodes still counts (Karpenter counts per pool)",
            pool: node_pool("default").build(),
            daemons: vec![
                pod("zonal")
                    .cpu("500m")
                    .node_selector(labels::ZONE, "zone-c")
                    .build(),
            ],
            pods: vec![pod("p").cpu("1").build()],
            expected_cpu_millicores: 1500,
            expected_types: &["small", "medium", "large"],
        },
        Case {
            name: "a DaemonSet selecting another pool is not counted",
            pool: node_pool("default").build(),
            daemons: vec![
                pod("elsewhere")
                    .cpu("1")
                    .node_selector(labels::NODE_POOL, "other")
                    .build(),
            ],
            pods: vec![pod("p").cpu("1").build()],
            expected_cpu_millicores: 1000,
            expected_types: &["small", "medium", "large"],
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(vec![case.pool], case.pods);
        scenario.daemon_set_pods = case.daemons;
        let plan = scenario.solve();
        assert_eq!(
            plan.node_claims.len(),
            1,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        let claim = &plan.node_claims[0];
        assert_eq!(claim.pods.len(), scenario.pods.len(), "{}", case.name);
        assert_eq!(
            claim.requests.cpu_millicores,
            case.expected_cpu_millicores,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
        assert_eq!(
            claim.instance_types,
            case.expected_types,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn daemon_set_overhead_is_not_added_to_existing_nodes() {
    let case = "existing node with room for the pod but not for the overhead";
    let mut scenario = Scenario::new(
        vec![node_pool("default").build()],
        vec![pod("p").cpu("1").build()],
    );
    scenario.daemon_set_pods = vec![pod("logging").cpu("1").tolerate_everything().build()];
    scenario.nodes = vec![
        node("node-1")
            .zone("zone-a")
            .allocatable("1500m", "4Gi")
            .build(),
    ];
    let plan = scenario.solve();
    assert_eq!(
        placement(&plan, 0, case),
        Placement::Node("node-1"),
        "{case}\n{}",
        summary(&plan)
    );
}

#[test]
fn node_claims_list_at_most_sixty_instance_types_cheapest_first() {
    struct Case {
        name: &'static str,
        count: usize,
    }
    let cases = [
        Case {
            name: "80 types",
            count: 80,
        },
        Case {
            name: "exactly 60 types",
            count: 60,
        },
        Case {
            name: "61 types",
            count: 61,
        },
        Case {
            name: "5 types",
            count: 5,
        },
    ];
    for case in cases {
        // Listed from the most to the least expensive so that input order is not price order.
        let instance_types: Vec<InstanceType> = (0..case.count)
            .map(|index| {
                let price = 0.01 + 0.001 * (case.count - index) as f64;
                instance_type(&format!("type-{index:02}"))
                    .cpu(2)
                    .memory_gib(4)
                    .offering(CapacityType::Spot, "zone-a", price)
                    .offering(CapacityType::OnDemand, "zone-a", price * 3.0)
                    .build()
            })
            .collect();
        let mut scenario = Scenario::new(
            vec![node_pool("default").build()],
            vec![pod("p").cpu("1").build()],
        );
        scenario.instance_types = instance_types;
        let plan = scenario.solve();
        let claim = claim_of(&plan, 0, case.name);
        assert_eq!(
            claim.instance_types.len(),
            case.count.min(MAX_INSTANCE_TYPES),
            "{}",
            case.name
        );
        assert_eq!(MAX_INSTANCE_TYPES, 60, "{}", case.name);
        let price = |name: &str| {
            scenario
                .instance_types
                .iter()
                .find(|instance_type| instance_type.name == name)
                .and_then(|instance_type| instance_type.cheapest_offering(&Requirements::new()))
                .map_or(f64::INFINITY, |offering| offering.price_per_hour)
        };
        let listed: Vec<f64> = claim
            .instance_types
            .iter()
            .map(|name| price(name))
            .collect();
        assert!(
            listed.windows(2).all(|pair| pair[0] <= pair[1]),
            "{}: not cheapest first: {listed:?}",
            case.name
        );
        let most_expensive_listed = listed.last().copied().unwrap_or(0.0);
        for instance_type in &scenario.instance_types {
            if !claim.instance_types.contains(&instance_type.name) {
                assert!(
                    price(&instance_type.name) >= most_expensive_listed,
                    "{}: {} left out but cheaper",
                    case.name,
                    instance_type.name
                );
            }
        }
        let launch = launch_of(claim, case.name);
        assert_eq!(
            launch.instance_type, claim.instance_types[0],
            "{}: launch the cheapest",
            case.name
        );
    }
}

#[test]
fn launch_prefers_spot_then_the_lowest_price() {
    struct Case {
        name: &'static str,
        pool: NodePool,
        instance_types: Vec<InstanceType>,
        expected_launch: (CapacityType, &'static str, &'static str),
    }
    let two = |name: &str, spot: Option<(f64, &str)>, on_demand: (f64, &str)| {
        let mut builder = instance_type(name).cpu(2).memory_gib(4);
        if let Some((price, zone)) = spot {
            builder = builder.offering(CapacityType::Spot, zone, price);
        }
        builder
            .offering(CapacityType::OnDemand, on_demand.1, on_demand.0)
            .build()
    };
    let cases = [
        Case {
            name: "cheapest spot across types",
            pool: node_pool("default").build(),
            instance_types: vec![
                two("a", Some((0.05, "zone-a")), (0.10, "zone-a")),
                two("b", Some((0.04, "zone-b")), (0.12, "zone-b")),
            ],
            expected_launch: (CapacityType::Spot, "b", "zone-b"),
        },
        Case {
            name: "spot before a cheaper on-demand offering of the same type",
            pool: node_pool("default").build(),
            instance_types: vec![two("a", Some((0.05, "zone-a")), (0.04, "zone-b"))],
            expected_launch: (CapacityType::Spot, "a", "zone-a"),
        },
        Case {
            name: "on-demand only pool: cheapest on-demand",
            pool: node_pool("default").capacity_types(&["on-demand"]).build(),
            instance_types: vec![
                two("a", Some((0.05, "zone-a")), (0.10, "zone-a")),
                two("b", Some((0.04, "zone-b")), (0.12, "zone-b")),
            ],
            expected_launch: (CapacityType::OnDemand, "a", "zone-a"),
        },
        Case {
            name: "no spot offering at all: on-demand",
            pool: node_pool("default").build(),
            instance_types: vec![
                two("a", None, (0.10, "zone-c")),
                two("b", None, (0.09, "zone-a")),
            ],
            expected_launch: (CapacityType::OnDemand, "b", "zone-a"),
        },
        Case {
            name: "cheapest spot zone",
            pool: node_pool("default").build(),
            instance_types: vec![priced("m", 2, 4, 0.03, 0.09)],
            expected_launch: (CapacityType::Spot, "m", "zone-a"),
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(vec![case.pool], vec![pod("p").cpu("1").build()]);
        scenario.instance_types = case.instance_types;
        let plan = scenario.solve();
        let launch = launch_of(claim_of(&plan, 0, case.name), case.name);
        assert_eq!(
            (
                launch.capacity_type,
                launch.instance_type.as_str(),
                launch.zone.as_str()
            ),
            case.expected_launch,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn a_pod_too_big_for_every_instance_type_names_its_requests() {
    struct Case {
        name: &'static str,
        pod: Pod,
        words: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "cpu",
            pod: pod("huge").cpu("64").build(),
            words: &["no instance type fits requests", "cpu=64"],
        },
        Case {
            name: "memory",
            pod: pod("huge").memory("100Gi").build(),
            words: &["no instance type fits requests", "memory=100Gi"],
        },
        Case {
            name: "extended resource",
            pod: pod("huge").request("nvidia.com/gpu", "1").build(),
            words: &["no instance type fits requests", "nvidia.com/gpu=1"],
        },
    ];
    for case in cases {
        let plan = Scenario::new(vec![node_pool("default").build()], vec![case.pod]).solve();
        let reason = reason_of(&plan, 0, case.name);
        for word in case.words {
            assert!(
                reason.contains(word),
                "{}: reason {reason:?} should contain {word:?}",
                case.name
            );
        }
        assert!(plan.node_claims.is_empty(), "{}", case.name);
    }
}

/// Families f1 (2, 4, 8 vCPU), f2 (2, 4), f3 (2) and f4 (2); bigger is pricier.
fn family_catalog() -> Vec<InstanceType> {
    let mut instance_types = Vec::new();
    for (family, sizes) in [
        ("f1", &[2, 4, 8][..]),
        ("f2", &[2, 4][..]),
        ("f3", &[2][..]),
        ("f4", &[2][..]),
    ] {
        for &vcpus in sizes {
            instance_types.push(
                instance_type(&format!("{family}.{vcpus}x"))
                    .cpu(vcpus)
                    .memory_gib(vcpus * 2)
                    .label(labels::INSTANCE_FAMILY, family)
                    .offering(CapacityType::Spot, "zone-a", 0.01 * vcpus as f64)
                    .build(),
            );
        }
    }
    instance_types
}

fn pool_with_min_families(min_values: Option<u32>) -> NodePool {
    let mut pool = NodePool::new("default");
    let requirements = Requirements::from_expressions(&[NodeSelectorRequirement {
        key: labels::INSTANCE_FAMILY.into(),
        operator: Operator::Exists,
        values: Vec::new(),
        min_values,
    }])
    .unwrap_or_else(|error| panic!("valid requirement: {error}"));
    pool.refresh_requirements(&requirements);
    pool
}

fn families(instance_types: &[InstanceType], names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .filter_map(|name| {
            instance_types
                .iter()
                .find(|instance_type| &instance_type.name == name)
        })
        .filter_map(|instance_type| instance_type.requirements.get(labels::INSTANCE_FAMILY))
        .flat_map(|requirement| requirement.values().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn min_values_keeps_enough_instance_families() {
    struct Case {
        name: &'static str,
        min_values: Option<u32>,
        instance_types: Vec<InstanceType>,
        pods: Vec<Pod>,
        /// NodeClaims expected, or `None` when every pod must be unschedulable.
        expected_claims: Option<usize>,
    }
    // Past the 60-type cap: 62 cheap f1/f2 types and one pricier f3, f4 and f5 type each. The
    // cheapest 60 alone hold two families, so truncating by price must not break minValues.
    let mut crowded: Vec<InstanceType> = (0..62)
        .map(|index| {
            instance_type(&format!("cheap-{index:02}"))
                .cpu(2)
                .memory_gib(4)
                .label(
                    labels::INSTANCE_FAMILY,
                    if index % 2 == 0 { "f1" } else { "f2" },
                )
                .offering(CapacityType::Spot, "zone-a", 0.01 + 0.0001 * index as f64)
                .build()
        })
        .collect();
    for family in ["f3", "f4", "f5"] {
        crowded.push(
            instance_type(&format!("{family}.pricey"))
                .cpu(2)
                .memory_gib(4)
                .label(labels::INSTANCE_FAMILY, family)
                .offering(CapacityType::Spot, "zone-a", 0.5)
                .build(),
        );
    }
    let cases = [
        Case {
            name: "one small pod: every family",
            min_values: Some(3),
            instance_types: family_catalog(),
            pods: vec![pod("p").cpu("1").build()],
            expected_claims: Some(1),
        },
        Case {
            name: "two 1-vCPU pods would leave two families on one claim: two claims",
            min_values: Some(3),
            instance_types: family_catalog(),
            pods: vec![pod("p").cpu("1").build(), pod("q").cpu("1").build()],
            expected_claims: Some(2),
        },
        Case {
            name: "without minValues the same pods share one claim",
            min_values: None,
            instance_types: family_catalog(),
            pods: vec![pod("p").cpu("1").build(), pod("q").cpu("1").build()],
            expected_claims: Some(1),
        },
        Case {
            name: "a pod that fits only two families is unschedulable",
            min_values: Some(3),
            instance_types: family_catalog(),
            pods: vec![pod("big").cpu("3").build()],
            expected_claims: None,
        },
        Case {
            name: "a pod restricted to two families is unschedulable",
            min_values: Some(3),
            instance_types: family_catalog(),
            pods: vec![
                pod("picky")
                    .require(labels::INSTANCE_FAMILY, Operator::In, &["f1", "f2"])
                    .build(),
            ],
            expected_claims: None,
        },
        Case {
            name: "truncation to 60 types keeps minValues or drops the claim",
            min_values: Some(3),
            instance_types: crowded,
            pods: vec![pod("p").cpu("1").build()],
            expected_claims: None,
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(vec![pool_with_min_families(case.min_values)], case.pods);
        scenario.instance_types = case.instance_types;
        let plan = scenario.solve();
        match case.expected_claims {
            Some(count) => {
                assert_eq!(
                    plan.node_claims.len(),
                    count,
                    "{}\n{}",
                    case.name,
                    summary(&plan)
                );
                for pod_index in 0..scenario.pods.len() {
                    claim_of(&plan, pod_index, case.name);
                }
            }
            None => {
                for pod_index in 0..scenario.pods.len() {
                    assert!(
                        reason_of(&plan, pod_index, case.name).contains("minValues"),
                        "{}\n{}",
                        case.name,
                        summary(&plan)
                    );
                }
            }
        }
        if let Some(min_values) = case.min_values {
            for claim in &plan.node_claims {
                let found = families(&scenario.instance_types, &claim.instance_types);
                assert!(
                    found.len() >= min_values as usize,
                    "{}: families {found:?}\n{}",
                    case.name,
                    summary(&plan)
                );
            }
        }
    }
}

#[test]
fn planned_claims_keep_only_instance_types_their_pods_can_launch() {
    struct Case {
        name: &'static str,
        instance_types: Vec<InstanceType>,
    }
    // "mixed" is spot in zone-a but on-demand only in zone-b; "steady" is on-demand in zone-a.
    let mixed = || {
        instance_type("mixed")
            .cpu(2)
            .memory_gib(4)
            .offering(CapacityType::Spot, "zone-a", 0.01)
            .offering(CapacityType::OnDemand, "zone-b", 0.05)
            .build()
    };
    let steady = || {
        instance_type("steady")
            .cpu(2)
            .memory_gib(4)
            .offering(CapacityType::Spot, "zone-a", 0.03)
            .offering(CapacityType::OnDemand, "zone-a", 0.06)
            .build()
    };
    let cases = [
        Case {
            name: "another type can take both pods",
            instance_types: vec![mixed(), steady()],
        },
        Case {
            name: "no type can take both pods",
            instance_types: vec![mixed()],
        },
    ];
    for case in cases {
        // The spread pod pins its claim to zone-a; the second pod then asks for on-demand.
        let pods = vec![
            web("spread")
                .cpu("500m")
                .spread(labels::ZONE, 1, &[("app", "web")])
                .build(),
            pod("on-demand")
                .cpu("100m")
                .node_selector(labels::CAPACITY_TYPE, "on-demand")
                .build(),
        ];
        let mut scenario = Scenario::new(vec![node_pool("default").build()], pods);
        scenario.instance_types = case.instance_types;
        let plan = scenario.solve();
        for pod_index in 0..2 {
            claim_of(&plan, pod_index, case.name);
        }
        for claim in &plan.node_claims {
            let launch = launch_of(claim, case.name);
            assert!(
                claim.requirements.allows(labels::ZONE, &launch.zone),
                "{}",
                case.name
            );
            assert!(
                claim
                    .requirements
                    .allows(labels::CAPACITY_TYPE, launch.capacity_type.as_str()),
                "{}",
                case.name
            );
            for name in &claim.instance_types {
                let instance_type = scenario
                    .instance_types
                    .iter()
                    .find(|instance_type| &instance_type.name == name)
                    .unwrap_or_else(|| panic!("{}: unknown type {name}", case.name));
                assert!(
                    instance_type
                        .offerings
                        .iter()
                        .any(|offering| offering.available
                            && offering_allowed(offering, &claim.requirements)),
                    "{}: {name} has no offering the claim's requirements ({}) allow\n{}",
                    case.name,
                    claim.requirements,
                    summary(&plan)
                );
            }
        }
        let on_demand_claim = claim_of(&plan, 1, case.name);
        assert_eq!(
            launch_of(on_demand_claim, case.name).capacity_type,
            CapacityType::OnDemand,
            "{}\n{}",
            case.name,
            summary(&plan)
        );
    }
}

#[test]
fn pods_with_conflicting_host_ports_never_share_a_node() {
    struct Case {
        name: &'static str,
        /// A pod already running on the one existing node, if any.
        running: Option<Pod>,
        pods: Vec<Pod>,
        daemon_set_pods: Vec<Pod>,
        /// Pods that must be alone (apart from the others in the list) per node or claim.
        expected_hosts: usize,
    }
    let small = |name: &str| pod(name).cpu("100m");
    let cases = [
        Case {
            name: "three pods on 8080 need three nodes",
            running: None,
            pods: (0..3)
                .map(|index| small(&format!("p{index}")).host_port(8080).build())
                .collect(),
            daemon_set_pods: Vec::new(),
            expected_hosts: 3,
        },
        Case {
            name: "different ports share a node",
            running: None,
            pods: vec![
                small("a").host_port(8080).build(),
                small("b").host_port(8081).build(),
            ],
            daemon_set_pods: Vec::new(),
            expected_hosts: 1,
        },
        Case {
            name: "TCP and UDP on the same port share a node",
            running: None,
            pods: vec![
                small("a").host_port(53).build(),
                small("b").host_port_on(53, "UDP", "").build(),
            ],
            daemon_set_pods: Vec::new(),
            expected_hosts: 1,
        },
        Case {
            name: "two specific host IPs share a node",
            running: None,
            pods: vec![
                small("a").host_port_on(8080, "TCP", "10.0.0.1").build(),
                small("b").host_port_on(8080, "TCP", "10.0.0.2").build(),
            ],
            daemon_set_pods: Vec::new(),
            expected_hosts: 1,
        },
        Case {
            name: "every address conflicts with a specific one",
            running: None,
            pods: vec![
                small("a").host_port_on(8080, "TCP", "0.0.0.0").build(),
                small("b").host_port_on(8080, "TCP", "10.0.0.2").build(),
            ],
            daemon_set_pods: Vec::new(),
            expected_hosts: 2,
        },
        Case {
            name: "a running pod holding the port keeps the new one off its node",
            running: Some(small("running").host_port(8080).build()),
            pods: vec![small("p").host_port(8080).build()],
            daemon_set_pods: Vec::new(),
            expected_hosts: 1,
        },
        Case {
            name: "a running pod on another port leaves room",
            running: Some(small("running").host_port(9090).build()),
            pods: vec![small("p").host_port(8080).build()],
            daemon_set_pods: Vec::new(),
            expected_hosts: 1,
        },
    ];
    for case in cases {
        let mut scenario = Scenario::new(vec![node_pool("default").build()], case.pods.clone());
        scenario.daemon_set_pods = case.daemon_set_pods;
        if let Some(running) = &case.running {
            scenario.nodes.push(
                node("node-1")
                    .zone("zone-a")
                    .capacity_type("on-demand")
                    .node_pool("default")
                    .allocatable("2", "4Gi")
                    .pod(running.clone())
                    .build(),
            );
        }
        let plan = scenario.solve();
        let mut hosts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for index in 0..case.pods.len() {
            let host = match placement(&plan, index, case.name) {
                Placement::Node(name) => format!("node {name}"),
                Placement::Claim(claim) => format!("claim {claim}"),
                Placement::Unschedulable(reason) => {
                    panic!("{}: pod {index} unschedulable: {reason}", case.name)
                }
            };
            hosts.entry(host).or_default().push(index);
        }
        assert_eq!(hosts.len(), case.expected_hosts, "{}: {hosts:?}", case.name);
        // Nothing shares a node with a pod whose port it conflicts with, running pods included.
        for (host, pods) in &hosts {
            let mut ports: Vec<_> = pods
                .iter()
                .flat_map(|&index| case.pods[index].host_ports.clone())
                .collect();
            if host == "node node-1" {
                ports.extend(case.running.iter().flat_map(|pod| pod.host_ports.clone()));
            }
            for (position, port) in ports.iter().enumerate() {
                for other in &ports[position + 1..] {
                    assert!(
                        !port.conflicts_with(other),
                        "{}: {host} holds {port:?} and {other:?}",
                        case.name
                    );
                }
            }
        }
    }
    // A DaemonSet's host port is on every new node: a pod needing it cannot launch anywhere.
    let mut scenario = Scenario::new(
        vec![node_pool("default").build()],
        vec![pod("p").cpu("100m").host_port(9100).build()],
    );
    scenario.daemon_set_pods = vec![pod("exporter").cpu("10m").host_port(9100).build()];
    let plan = scenario.solve();
    let reason = reason_of(&plan, 0, "daemon set host port");
    assert!(reason.contains("host port 9100/TCP"), "{reason}");
}

#[test]
fn node_pool_limits_narrow_in_flight_claims_before_spilling() {
    // Ten pods, one per node: Karpenter counts each claim at large (8 vCPU), so a 24-vCPU limit
    // holds three claims; narrowed to small (2 vCPU), it holds all ten.
    let solo = |index: usize| {
        pod(&format!("solo-{index}"))
            .cpu("500m")
            .label("app", "solo")
            .anti_affinity(labels::HOSTNAME, &[("app", "solo")])
            .build()
    };
    let pools = vec![
        node_pool("primary").weight(100).limit("cpu", "24").build(),
        node_pool("secondary").weight(1).build(),
    ];
    let scenario = Scenario::new(pools, (0..10).map(solo).collect());
    let plan = scenario.solve();
    let mut counted = 0;
    for index in 0..10 {
        let claim = claim_of(&plan, index, "ten solo pods");
        assert_eq!(
            claim.node_pool,
            "primary",
            "pod {index}\n{}",
            summary(&plan)
        );
        counted += claim
            .instance_types
            .iter()
            .map(|name| cpu_of(&scenario.instance_types, name))
            .max()
            .unwrap_or(0);
    }
    assert!(counted <= 24_000, "{counted}m counted\n{}", summary(&plan));

    // A claim that must keep five instance types (minValues) cannot be narrowed below 4 vCPU:
    // with an 8-vCPU limit the third pod is refused, and the reason says the limit would have
    // room if the claims launched their smallest types.
    let mut pool = NodePool::new("default");
    let requirements = Requirements::from_expressions(&[NodeSelectorRequirement {
        key: labels::INSTANCE_TYPE.into(),
        operator: Operator::Exists,
        values: Vec::new(),
        min_values: Some(5),
    }])
    .unwrap_or_else(|error| panic!("valid requirement: {error}"));
    pool.refresh_requirements(&requirements);
    pool.limits.set("cpu", 8_000);
    let mut scenario = Scenario::new(vec![pool], (0..3).map(solo).collect());
    scenario.instance_types = family_catalog();
    let plan = scenario.solve();
    claim_of(&plan, 0, "minValues 5");
    claim_of(&plan, 1, "minValues 5");
    let reason = reason_of(&plan, 2, "minValues 5");
    assert!(
        reason.contains(
            "limits leave room only if in-flight NodeClaims launch smaller instance types"
        ),
        "{reason}"
    );
    // Without minValues the claims narrow to 2 vCPU and all three fit.
    let mut pool = NodePool::new("default");
    pool.limits.set("cpu", 8_000);
    let mut scenario = Scenario::new(vec![pool], (0..3).map(solo).collect());
    scenario.instance_types = family_catalog();
    let plan = scenario.solve();
    assert!(plan.unschedulable.is_empty(), "{}", summary(&plan));
}
