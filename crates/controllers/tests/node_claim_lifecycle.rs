//! The NodeClaim lifecycle: launch (which offerings, in which order), launch and registration
//! timeouts, insufficient capacity.

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

/// Every offering of the catalog, in launch order: Spot by price, then on-demand by price.
const ALL: [(CapacityType, &str, &str, f64); 4] = [
    (CapacityType::Spot, "m5.large", "zone-a", 0.04),
    (CapacityType::Spot, "m5.xlarge", "zone-a", 0.08),
    (CapacityType::OnDemand, "m5.large", "zone-a", 0.096),
    (CapacityType::OnDemand, "m5.xlarge", "zone-a", 0.192),
];

#[test]
fn node_claim_lifecycle_table() {
    let spot_a = offering(CapacityType::Spot, "m5.large", "zone-a");
    let spot_xl = offering(CapacityType::Spot, "m5.xlarge", "zone-a");
    let backoff = Settings::default();
    let cases = vec![
        Case {
            name: "a new NodeClaim is launched with every offering, Spot first",
            state: cluster().claim(claim("c1", "batch")).build(),
            now: secs(0),
            expected: vec![launch("c1", &ALL)],
        },
        Case {
            name: "unavailable offerings are left out of the launch",
            state: cluster()
                .claim(claim("c1", "batch"))
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(0))
                .build(),
            now: secs(10),
            expected: vec![launch("c1", &ALL[1..])],
        },
        Case {
            name: "an offering whose cache entry expired is tried again",
            state: cluster().claim(claim("c1", "batch")).build_with(|state| {
                state.unavailable_offerings.record_insufficient_capacity(
                    "m5.large",
                    CapacityType::Spot,
                    "zone-a",
                    secs(0),
                );
                state.unavailable_offerings.expire(secs(180));
            }),
            now: secs(180),
            expected: vec![launch("c1", &ALL)],
        },
        Case {
            name: "a claim pinned to Spot with every Spot offering out is deleted at once",
            state: cluster()
                .claim(claim("c1", "batch").spot_only())
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(0))
                .insufficient_capacity(CapacityType::Spot, "m5.xlarge", "zone-a", secs(0))
                .build(),
            now: secs(5),
            expected: vec![delete("c1", DisruptionReason::InsufficientCapacity, None)],
        },
        Case {
            name: "an offering that failed repeatedly stays out under backoff",
            state: cluster()
                .cache_of(&backoff)
                .claim(claim("c1", "batch").spot_only().created_at(secs(390)))
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(0))
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(180))
                .build_with(|state| {
                    state.unavailable_offerings.expire(secs(400));
                }),
            now: secs(400),
            expected: vec![launch("c1", &ALL[1..2])],
        },
        Case {
            name: "a Spot replacement (a probe) ignores backoff beyond the TTL",
            state: cluster()
                .cache_of(&backoff)
                .claim(
                    claim("c1", "batch")
                        .spot_only()
                        .replaces("fallback")
                        .created_at(secs(390)),
                )
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(0))
                .insufficient_capacity(CapacityType::Spot, "m5.large", "zone-a", secs(180))
                .build_with(|state| {
                    state.unavailable_offerings.expire(secs(400));
                }),
            now: secs(400),
            expected: vec![launch("c1", &ALL[..2])],
        },
        Case {
            name: "a NodeClaim not launched yet is launched again (the launch is idempotent)",
            state: cluster()
                .claim(claim("c1", "batch").created_at(secs(10)))
                .build(),
            now: secs(10) + secs(299),
            expected: vec![launch("c1", &ALL)],
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
            name: "a launch that answered insufficient capacity is deleted (the driver marked the offerings)",
            state: cluster()
                .claim(
                    claim("c1", "batch")
                        .insufficient_capacity(vec![spot_a.clone(), spot_xl.clone()]),
                )
                .build(),
            now: secs(42),
            expected: vec![delete("c1", DisruptionReason::InsufficientCapacity, None)],
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
                launch("c1", &ALL),
                delete("c2", DisruptionReason::LaunchTimeout, None),
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

#[test]
fn spot_ranking_follows_the_policy() {
    // A cheap Spot pool with a bad interruption band and one calm pool slightly dearer.
    let catalog = vec![
        instance_type("c5.large")
            .cpu(2)
            .memory_gib(4)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.030, 4)
            .build(),
        instance_type("m5.large")
            .cpu(2)
            .memory_gib(8)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.032, 0)
            .build(),
    ];
    let state = state()
        .pool(node_pool("batch").build())
        .instance_types(catalog)
        .claim(claim("c1", "batch").instance_types(&["c5.large", "m5.large"]))
        .build();
    let hot = (CapacityType::Spot, "c5.large", "zone-a", 0.030);
    let calm = (CapacityType::Spot, "m5.large", "zone-a", 0.032);
    let cases = [
        (Policy::Karpenter, vec![hot, calm]),
        (Policy::Spotter, vec![calm, hot]),
    ];
    for (policy, order) in cases {
        let actions =
            node_claim_lifecycle::reconcile(&state, secs(0), &Settings::for_policy(policy));
        assert_eq!(actions, vec![launch("c1", &order)], "{policy}");
    }
}

#[test]
fn the_band_buys_no_less_room_for_the_nominated_pods() {
    // A cheaper, roomier pool with a bad band, and a calm one with half the CPU.
    let catalog = vec![
        instance_type("c5.4xlarge")
            .cpu(16)
            .memory_gib(32)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.300, 4)
            .build(),
        instance_type("m5.2xlarge")
            .cpu(8)
            .memory_gib(32)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.310, 0)
            .build(),
    ];
    let roomy = (CapacityType::Spot, "c5.4xlarge", "zone-a", 0.300);
    let calm = (CapacityType::Spot, "m5.2xlarge", "zone-a", 0.310);
    let worker = || pod("worker").cpu("1").memory("2Gi").build();
    // (name, pods nominated to the claim, policy, expected order)
    let cases = [
        (
            "pods nominated: the cheaper, roomier pool first",
            vec![pending(worker()).nominated("c1")],
            Policy::Spotter,
            vec![roomy, calm],
        ),
        (
            "no pods nominated (a probe): the band decides",
            vec![pending(worker())],
            Policy::Spotter,
            vec![calm, roomy],
        ),
        (
            "the karpenter preset: lowest price either way",
            vec![pending(worker()).nominated("c1")],
            Policy::Karpenter,
            vec![roomy, calm],
        ),
    ];
    for (name, pods, policy, order) in cases {
        let mut builder = state()
            .pool(node_pool("batch").build())
            .instance_types(catalog.clone())
            .claim(claim("c1", "batch").instance_types(&["c5.4xlarge", "m5.2xlarge"]));
        for pod in pods {
            builder = builder.pod(pod);
        }
        let actions = node_claim_lifecycle::reconcile(
            &builder.build(),
            secs(0),
            &Settings::for_policy(policy),
        );
        assert_eq!(actions, vec![launch("c1", &order)], "{name}");
    }
}

#[test]
fn interruptions_rank_down_only_the_places_they_single_out() {
    // Two zones with ten c5.large Spot nodes each; c5.large is the cheaper type in both.
    let catalog = vec![
        instance_type("c5.large")
            .cpu(2)
            .memory_gib(4)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.030, 0)
            .offering_with_band(CapacityType::Spot, "zone-b", 0.030, 0)
            .build(),
        instance_type("m5.large")
            .cpu(2)
            .memory_gib(8)
            .offering_with_band(CapacityType::Spot, "zone-a", 0.036, 0)
            .offering_with_band(CapacityType::Spot, "zone-b", 0.036, 0)
            .build(),
    ];
    let now = secs(3600);
    let c5_a = (CapacityType::Spot, "c5.large", "zone-a", 0.030);
    let c5_b = (CapacityType::Spot, "c5.large", "zone-b", 0.030);
    let m5_a = (CapacityType::Spot, "m5.large", "zone-a", 0.036);
    let m5_b = (CapacityType::Spot, "m5.large", "zone-b", 0.036);
    // (name, c5.large nodes running in zone-a, c5.large interruptions just received in
    //  (zone-a, zone-b), policy, expected order)
    let cases = [
        (
            "a burst that hits every node alike: the price decides",
            10,
            (3, 3),
            Policy::Spotter,
            vec![c5_a, c5_b, m5_a, m5_b],
        ),
        (
            "a zone whose nodes are reclaimed while the other's last: ranked down there",
            1,
            (3, 0),
            Policy::Spotter,
            vec![c5_b, m5_b, m5_a, c5_a],
        ),
        (
            "the karpenter preset: lowest price whatever happened",
            1,
            (3, 0),
            Policy::Karpenter,
            vec![c5_a, c5_b, m5_a, m5_b],
        ),
    ];
    for (name, nodes_in_a, (hits_in_a, hits_in_b), policy, order) in cases {
        let mut builder = state()
            .pool(node_pool("batch").build())
            .instance_types(catalog.clone())
            .claim(
                claim("new", "batch")
                    .instance_types(&["c5.large", "m5.large"])
                    .created_at(now),
            );
        for (zone, nodes, hits) in [("zone-a", nodes_in_a, hits_in_a), ("zone-b", 10, hits_in_b)] {
            for index in 0..nodes {
                builder = builder.claim_with_node(
                    claim(&format!("{zone}-{index}"), "batch").launched(
                        "c5.large",
                        CapacityType::Spot,
                        zone,
                        secs(0),
                    ),
                    secs(0),
                );
            }
            for index in 0..hits {
                builder = builder.interrupted("c5.large", zone, &format!("i-{zone}-{index}"), now);
            }
        }
        let actions =
            node_claim_lifecycle::reconcile(&builder.build(), now, &Settings::for_policy(policy));
        assert_eq!(actions, vec![launch("new", &order)], "{name}");
    }
}
