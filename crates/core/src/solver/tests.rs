//! The solver's grouping of equal pods, seen from inside: how many signatures a batch makes.

use super::*;
use crate::builders::{instance_type, node_pool, pod};

fn signatures_for(pods: &[Pod]) -> usize {
    let pools = [node_pool("default").build()];
    let instance_types = [instance_type("large")
        .cpu(8)
        .memory_gib(16)
        .offering(CapacityType::Spot, "zone-a", 0.1)
        .build()];
    let unavailable = UnavailableOfferings::new();
    let input = SchedulingInput {
        pods,
        nodes: &[],
        node_pools: &pools,
        instance_types: &instance_types,
        daemon_set_pods: &[],
        unavailable: &unavailable,
        pool_usage: None,
    };
    let prepared = PreparedPools::new(input.node_pools, input.instance_types);
    let mut solver = Solver::new(&input, &prepared);
    solver.schedule_all(0..pods.len());
    solver.signatures.len()
}

#[test]
fn pods_that_differ_only_in_unselected_labels_are_solved_as_one_group() {
    let distinct = |index: usize| {
        pod(&format!("worker-{index}"))
            .cpu("100m")
            .label("app", "worker")
            .label("instance", &format!("worker-{index}"))
    };
    let cases: [(&str, Vec<Pod>, usize); 3] = [
        (
            "labels nothing selects",
            (0..50).map(|index| distinct(index).build()).collect(),
            1,
        ),
        (
            "a spread selecting app groups by app only",
            (0..50)
                .map(|index| {
                    distinct(index)
                        .label("app", if index % 2 == 0 { "even" } else { "odd" })
                        .spread(labels::ZONE, 1, &[("app", "even")])
                        .build()
                })
                .collect(),
            2,
        ),
        (
            "a host port is part of the group",
            (0..50)
                .map(|index| {
                    let builder = distinct(index);
                    if index < 10 {
                        builder.host_port(8080).build()
                    } else {
                        builder.build()
                    }
                })
                .collect(),
            2,
        ),
    ];
    for (name, pods, expected) in cases {
        assert_eq!(signatures_for(&pods), expected, "{name}");
    }
}
