//! The solver with families and zones avoided for their Spot interruptions: avoided offerings
//! are taken only when no NodePool can serve a pod without them, a soft (`ScheduleAnyway`)
//! zone spread leaves a zone avoided for Spot out of its skew (the spread is traded against the
//! interruption risk), and hard constraints still rule: a hard spread or a pod that requires
//! the zone still gets it.

use spotter_core::builders::{instance_type, node_pool, pod};
use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::{Pod, WhenUnsatisfiable};
use spotter_core::solver::{Plan, SchedulingInput, solve};
use spotter_core::unavailable_offerings::{AvoidLevel, UnavailableOfferings};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

fn catalog() -> Vec<InstanceType> {
    let mut builder = instance_type("small").cpu(2).memory_gib(4);
    for (position, zone) in ZONES.iter().enumerate() {
        let step = 0.001 * position as f64;
        builder = builder
            .offering(CapacityType::Spot, zone, 0.020 + step)
            .offering(CapacityType::OnDemand, zone, 0.050 + step);
    }
    vec![builder.build()]
}

fn pools(with_fallback: bool) -> Vec<NodePool> {
    let mut pools = vec![
        node_pool("batch")
            .weight(100)
            .capacity_types(&["spot"])
            .build(),
    ];
    if with_fallback {
        pools.push(
            node_pool("batch-fallback")
                .weight(10)
                .capacity_types(&["on-demand"])
                .build(),
        );
    }
    pools
}

fn spread_pods(when: WhenUnsatisfiable) -> Vec<Pod> {
    (0..6)
        .map(|index| {
            pod(&format!("web-{index}"))
                .cpu("1500m")
                .label("app", "web")
                .spread_when(labels::ZONE, 1, &[("app", "web")], when)
                .build()
        })
        .collect()
}

/// Each pod's "pool:zone", sorted.
fn placements(plan: &Plan) -> Vec<String> {
    let mut found: Vec<String> = plan
        .node_claims
        .iter()
        .flat_map(|claim| {
            let zone = if claim.zones.len() == 1 {
                claim.zones[0].clone()
            } else {
                format!("{{{}}}", claim.zones.join(","))
            };
            claim
                .pods
                .iter()
                .map(move |_| format!("{}:{zone}", claim.node_pool))
        })
        .collect();
    found.extend(
        plan.unschedulable
            .iter()
            .map(|unschedulable| format!("unschedulable: {}", unschedulable.reason)),
    );
    found.sort();
    found
}

#[test]
fn avoided_zones_are_traded_against_soft_spread_only() {
    let zone_a_avoided = {
        let mut cache = UnavailableOfferings::new();
        cache.avoid_until(
            AvoidLevel::Zone,
            CapacityType::Spot,
            "zone-a",
            std::time::Duration::MAX,
        );
        cache
    };
    let required_zone_a: Vec<Pod> = (0..2)
        .map(|index| {
            pod(&format!("pinned-{index}"))
                .cpu("1500m")
                .node_selector(labels::ZONE, "zone-a")
                .build()
        })
        .collect();
    let soft = || spread_pods(WhenUnsatisfiable::ScheduleAnyway);
    let hard = || spread_pods(WhenUnsatisfiable::DoNotSchedule);
    // (name, pods, with the fallback pool, zone-a avoided for Spot, expected "pool:zone")
    type Case<'a> = (&'a str, Vec<Pod>, bool, bool, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "nothing avoided: the soft spread fills every zone with Spot",
            soft(),
            true,
            false,
            vec![
                "batch:zone-a",
                "batch:zone-a",
                "batch:zone-b",
                "batch:zone-b",
                "batch:zone-c",
                "batch:zone-c",
            ],
        ),
        (
            "zone-a avoided: the soft spread is traded, Spot in the other zones",
            soft(),
            true,
            true,
            vec![
                "batch:zone-b",
                "batch:zone-b",
                "batch:zone-b",
                "batch:zone-c",
                "batch:zone-c",
                "batch:zone-c",
            ],
        ),
        (
            "zone-a avoided, hard spread: zone-a still gets its pods, on-demand",
            hard(),
            true,
            true,
            vec![
                "batch-fallback:zone-a",
                "batch-fallback:zone-a",
                "batch:zone-b",
                "batch:zone-b",
                "batch:zone-c",
                "batch:zone-c",
            ],
        ),
        (
            "zone-a avoided, hard spread, no other pool: Spot in zone-a after all",
            hard(),
            false,
            true,
            vec![
                "batch:zone-a",
                "batch:zone-a",
                "batch:zone-b",
                "batch:zone-b",
                "batch:zone-c",
                "batch:zone-c",
            ],
        ),
        (
            "zone-a avoided, pods that require zone-a and only a Spot pool: they get it",
            required_zone_a,
            false,
            true,
            vec!["batch:zone-a", "batch:zone-a"],
        ),
    ];
    for (name, pods, with_fallback, avoided, expected) in cases {
        let node_pools = pools(with_fallback);
        let instance_types = catalog();
        let unavailable = if avoided {
            zone_a_avoided.clone()
        } else {
            UnavailableOfferings::new()
        };
        let plan = solve(&SchedulingInput {
            pods: &pods,
            nodes: &[],
            node_pools: &node_pools,
            instance_types: &instance_types,
            daemon_set_pods: &[],
            unavailable: &unavailable,
            pool_usage: None,
        });
        assert_eq!(placements(&plan), expected, "{name}\n{plan:#?}");
    }
}
