//! The NodeClaim lifecycle: launch, launch and registration timeouts, insufficient capacity.

mod support;

use std::time::Duration;

use spotter_controllers::node_claim_lifecycle;
use support::*;

struct Case {
    name: &'static str,
    state: ClusterState,
    now: Duration,
    expected: Vec<Action>,
}

fn cluster() -> ClusterStateBuilder {
    state()
        .pool(node_pool("batch").build())
        .instance_types(catalog())
}

#[test]
fn node_claim_lifecycle_table() {
    let spot_a = offering(CapacityType::Spot, "m5.large", "zone-a");
    let spot_xl = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let cases = vec![
        Case {
            name: "a new NodeClaim is launched",
            state: cluster().claim(claim("c1", "batch")).build(),
            now: secs(0),
            expected: vec![launch("c1")],
        },
        Case {
            name: "a NodeClaim not launched yet is launched again (the launch is idempotent)",
            state: cluster()
                .claim(claim("c1", "batch").created_at(secs(10)))
                .build(),
            now: secs(10) + secs(299),
            expected: vec![launch("c1")],
        },
        Case {
            name: "a NodeClaim not launched 5 min after creation is deleted",
            state: cluster()
                .claim(claim("c1", "batch").created_at(secs(10)))
                .build(),
            now: secs(10) + secs(300),
            expected: vec![delete("c1", DisruptionReason::LaunchTimeout, None)],
        },
        Case {
            name: "insufficient capacity marks each failed offering for 3 min, then deletes",
            state: cluster()
                .claim(
                    claim("c1", "batch")
                        .insufficient_capacity(vec![spot_a.clone(), spot_xl.clone()]),
                )
                .build(),
            now: secs(42),
            expected: vec![
                mark_unavailable(spot_a.clone(), secs(42 + 180), "insufficient capacity"),
                mark_unavailable(spot_xl.clone(), secs(42 + 180), "insufficient capacity"),
                delete("c1", DisruptionReason::InsufficientCapacity, None),
            ],
        },
        Case {
            name: "a launched NodeClaim waiting for its node is left alone before 15 min",
            state: cluster().claim(claim("c1", "batch").spot(secs(20))).build(),
            now: secs(20) + secs(899),
            expected: vec![],
        },
        Case {
            name: "a launched NodeClaim whose node has not registered 15 min after launch is deleted",
            state: cluster()
                .claim(claim("c1", "batch").created_at(secs(0)).spot(secs(20)))
                .build(),
            now: secs(20) + secs(900),
            expected: vec![delete("c1", DisruptionReason::RegistrationTimeout, None)],
        },
        Case {
            name: "a healthy registered NodeClaim needs nothing",
            state: cluster()
                .claim_with_node(claim("c1", "batch").spot(secs(0)), secs(30))
                .build(),
            now: secs(3600),
            expected: vec![],
        },
        Case {
            name: "NodeClaims being deleted are left to termination",
            state: cluster()
                .claim(claim("c1", "batch").deleting(DisruptionReason::LaunchTimeout, secs(300)))
                .claim(
                    claim("c2", "batch")
                        .insufficient_capacity(vec![spot_a.clone()])
                        .deleting(DisruptionReason::InsufficientCapacity, secs(1)),
                )
                .claim(
                    claim("c3", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::RegistrationTimeout, secs(900)),
                )
                .build(),
            now: secs(3600),
            expected: vec![],
        },
        Case {
            name: "each claim is handled on its own, in name order",
            state: cluster()
                .claim(claim("c1", "batch").created_at(secs(100)))
                .claim(claim("c2", "batch").created_at(secs(0)))
                .claim(claim("c3", "batch").insufficient_capacity(vec![spot_xl.clone()]))
                .claim_with_node(claim("c4", "batch").spot(secs(0)), secs(0))
                .build(),
            now: secs(300),
            expected: vec![
                launch("c1"),
                delete("c2", DisruptionReason::LaunchTimeout, None),
                mark_unavailable(spot_xl.clone(), secs(480), "insufficient capacity"),
                delete("c3", DisruptionReason::InsufficientCapacity, None),
            ],
        },
    ];
    let settings = Settings::default();
    let mut failures = Vec::new();
    for case in cases {
        let actions = node_claim_lifecycle::reconcile(&case.state, case.now, &settings);
        if actions != case.expected {
            failures.push(format!(
                "case {:?} at {:?}:\n  expected {:#?}\n  actual   {:#?}",
                case.name, case.now, case.expected, actions
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
