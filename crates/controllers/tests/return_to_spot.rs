//! Return to Spot, driven step by step: each case is a sequence of snapshots reconciled by one
//! `ReturnToSpot` controller (it remembers its probes and returns), with the actions expected
//! at each step. The cluster is the seed's: `batch` buys Spot (weight 100), `batch-fallback`
//! on-demand (weight 10); fallback nodes run in `batch-fallback`.

mod support;

use std::time::Duration;

use spotter_controllers::return_to_spot::ReturnToSpot;
use spotter_core::node_pool::ReturnToSpotOverrides;
use support::*;

struct Step {
    now: Duration,
    state: ClusterState,
    expected: Vec<String>,
}

struct Case {
    name: &'static str,
    policy: Policy,
    steps: Vec<Step>,
}

fn step(now: Duration, state: ClusterState, expected: &[&str]) -> Step {
    Step {
        now,
        state,
        expected: expected.iter().map(|line| line.to_string()).collect(),
    }
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let settings = Settings::for_policy(case.policy);
        let mut controller = ReturnToSpot::default();
        let mut names = StableNames::default();
        // The pools' return history, as the state machine keeps it from step to step (the
        // steps' snapshots are built without it).
        let mut records = std::collections::BTreeMap::new();
        for (index, step) in case.steps.iter().enumerate() {
            let mut state = step.state.clone();
            state.return_to_spot.extend(records.clone());
            let (actions, _) = controller.reconcile(&state, step.now, &settings);
            for action in &actions {
                if let Action::RecordReturnToSpot { node_pool, record } = action {
                    records.insert(node_pool.clone(), *record);
                }
            }
            // The history written is checked by its effect on the later steps.
            let described: Vec<String> = names
                .describe_all(&actions)
                .into_iter()
                .filter(|line| !line.starts_with("record "))
                .collect();
            if described != step.expected {
                failures.push(format!(
                    "case {:?}, step {index} at {:?}:\n  expected {:#?}\n  actual   {:#?}",
                    case.name, step.now, step.expected, described
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const MINUTE: u64 = 60;

fn spot_pool() -> NodePool {
    node_pool("batch")
        .weight(100)
        .capacity_types(&["spot"])
        .build()
}

fn fallback_pool(overrides: ReturnToSpotOverrides) -> NodePool {
    node_pool("batch-fallback")
        .weight(10)
        .capacity_types(&["on-demand"])
        .return_to_spot(overrides)
        .build()
}

/// The seed's pools, the two-type catalog, and fallback node `f1` (on-demand since 0 s) with
/// pods `a` and `b`.
fn cluster() -> ClusterStateBuilder {
    cluster_with(ReturnToSpotOverrides::default())
}

fn cluster_with(overrides: ReturnToSpotOverrides) -> ClusterStateBuilder {
    state()
        .pool(spot_pool())
        .pool(fallback_pool(overrides))
        .instance_types(catalog())
        .claim_with_node(claim("f1", "batch-fallback").fallback(secs(0)), secs(0))
        .pod(bound(worker("a"), "f1"))
        .pod(bound(worker("b"), "f1"))
}

/// The cluster with a second fallback node `f2` (pod `c`).
fn two_fallbacks() -> ClusterStateBuilder {
    cluster()
        .claim_with_node(claim("f2", "batch-fallback").fallback(secs(0)), secs(0))
        .pod(bound(worker("c"), "f2"))
}

/// The seed's pools with only fallback node `f3` (pod `d`), launched at `at`.
fn fell_back_again(at: Duration) -> ClusterState {
    state()
        .pool(spot_pool())
        .pool(fallback_pool(ReturnToSpotOverrides::default()))
        .instance_types(catalog())
        .claim_with_node(
            claim("f3", "batch-fallback").created_at(at).fallback(at),
            at,
        )
        .pod(bound(worker("d"), "f3"))
        .build()
}

/// The cluster with pod `g` on `f1`, covered by a PodDisruptionBudget (`maxUnavailable:
/// <allowed>`) over its one pod.
fn guarded(allowed: u32) -> ClusterStateBuilder {
    cluster()
        .pod(bound(
            pod("g").cpu("100m").label("app", "guarded").build(),
            "f1",
        ))
        .pdb(pdb(
            "guarded",
            Budget::MaxUnavailable(Amount::Count(allowed)),
            1,
        ))
}

fn worker(name: &str) -> Pod {
    pod(name).cpu("500m").memory("1Gi").build()
}

/// The Spot replacement the controller plans for `f1` (its `n`th claim).
fn replacement(n: u32, fallback: &str) -> String {
    format!(
        "create batch-{n:05} pool=batch capacity=spot types=m5.large,m5.xlarge pods= fallback=false replaces={fallback}"
    )
}

fn drain(fallback: &str) -> String {
    describe(&delete(fallback, DisruptionReason::ReturnToSpot, None))
}

#[test]
fn return_to_spot_table() {
    let after = secs(10 * MINUTE);
    let r1_launched = |builder: ClusterStateBuilder| {
        builder.claim(
            claim("batch-00001", "batch")
                .spot_only()
                .replaces("f1")
                .spot(after),
        )
    };
    run(vec![
        Case {
            name: "a fallback node gets a Spot replacement once Spot has been quiet 5 min",
            policy: Policy::Spotter,
            steps: vec![step(after, cluster().build(), &[&replacement(1, "f1")])],
        },
        Case {
            name: "a fallback node younger than the minimum wait stays",
            policy: Policy::Spotter,
            steps: vec![step(secs(4 * MINUTE), cluster().build(), &[])],
        },
        Case {
            name: "Spot offerings that failed 4 min ago (out of the cache again) hold the return",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster()
                    .insufficient_capacity(
                        CapacityType::Spot,
                        "m5.large",
                        "zone-a",
                        after - secs(4 * MINUTE),
                    )
                    .insufficient_capacity(
                        CapacityType::Spot,
                        "m5.xlarge",
                        "zone-a",
                        after - secs(4 * MINUTE),
                    )
                    .build_with(|state| {
                        state.unavailable_offerings.expire(after);
                    }),
                &[],
            )],
        },
        Case {
            name: "an offering still out is left out of the replacement",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster()
                    .insufficient_capacity(
                        CapacityType::Spot,
                        "m5.large",
                        "zone-a",
                        after - secs(2 * MINUTE),
                    )
                    .build(),
                &[
                    "create batch-00001 pool=batch capacity=spot types=m5.xlarge pods= fallback=false replaces=f1",
                ],
            )],
        },
        Case {
            name: "an interruption of a Spot offering 2 min ago holds the return",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster()
                    .interrupted(
                        "m5.xlarge",
                        "zone-a",
                        "i-elsewhere",
                        after - secs(2 * MINUTE),
                    )
                    .build(),
                &[],
            )],
        },
        Case {
            name: "the Karpenter preset never returns",
            policy: Policy::Karpenter,
            steps: vec![step(after, cluster().build(), &[])],
        },
        Case {
            name: "a NodePool annotated spotter.dev/return-to-spot: false keeps its fallback nodes",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster_with(ReturnToSpotOverrides {
                    enabled: Some(false),
                    ..ReturnToSpotOverrides::default()
                })
                .build(),
                &[],
            )],
        },
        Case {
            name: "a NodePool's spotter.dev/return-to-spot-after lengthens the wait",
            policy: Policy::Spotter,
            steps: vec![
                step(
                    after,
                    cluster_with(ReturnToSpotOverrides {
                        min_spot_available: Some(secs(30 * MINUTE)),
                        ..ReturnToSpotOverrides::default()
                    })
                    .build(),
                    &[],
                ),
                step(
                    secs(31 * MINUTE),
                    cluster_with(ReturnToSpotOverrides {
                        min_spot_available: Some(secs(30 * MINUTE)),
                        ..ReturnToSpotOverrides::default()
                    })
                    .build(),
                    &[&replacement(1, "f1")],
                ),
            ],
        },
        Case {
            name: "a fallback node with a do-not-disrupt pod stays",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster()
                    .pod(bound(
                        pod("pinned").cpu("100m").do_not_disrupt().build(),
                        "f1",
                    ))
                    .build(),
                &[],
            )],
        },
        Case {
            name: "a replacement in flight is not doubled; once initialized the fallback drains",
            policy: Policy::Spotter,
            steps: vec![
                step(after, r1_launched(cluster()).build(), &[]),
                step(
                    after + secs(90),
                    cluster()
                        .claim_with_node(
                            claim("batch-00001", "batch")
                                .spot_only()
                                .replaces("f1")
                                .spot(after),
                            after + secs(90),
                        )
                        .build(),
                    &[&drain("f1")],
                ),
            ],
        },
        Case {
            name: "the fallback pool's disruption budget holds the drain",
            policy: Policy::Spotter,
            steps: vec![step(
                after,
                cluster()
                    .claim_with_node(
                        claim("batch-00001", "batch")
                            .spot_only()
                            .replaces("f1")
                            .spot(after),
                        after,
                    )
                    .build_with(|state| {
                        for pool in &mut state.node_pools {
                            for budget in &mut pool.disruption.budgets {
                                budget.nodes = BudgetNodes::Count(0);
                            }
                        }
                    }),
                &[],
            )],
        },
        Case {
            name: "while Spot is unproven a NodePool sends one probe at a time, 10 min after a failed one; a launched one lets the rest go",
            policy: Policy::Spotter,
            steps: vec![
                step(after, two_fallbacks().build(), &[&replacement(1, "f1")]),
                // The probe failed (it is gone); the next one waits twice the minimum wait.
                step(after + secs(MINUTE), two_fallbacks().build(), &[]),
                step(after + secs(5 * MINUTE), two_fallbacks().build(), &[]),
                step(
                    after + secs(10 * MINUTE),
                    two_fallbacks().build(),
                    &[&replacement(2, "f1")],
                ),
                // That probe launched: Spot is proven, the other fallback node follows.
                step(
                    after + secs(10 * MINUTE + 10),
                    two_fallbacks()
                        .claim(
                            claim("batch-00002", "batch")
                                .spot_only()
                                .replaces("f1")
                                .spot(after + secs(10 * MINUTE)),
                        )
                        .build(),
                    &[&replacement(3, "f2")],
                ),
            ],
        },
        Case {
            // Guards item 8 of issue 15: a long outage is probed ever less often.
            name: "probes that keep failing back off: 5, 10, then at most 15 min apart",
            policy: Policy::Spotter,
            steps: vec![
                step(after, cluster().build(), &[&replacement(1, "f1")]),
                step(after + secs(MINUTE), cluster().build(), &[]),
                step(after + secs(9 * MINUTE), cluster().build(), &[]),
                step(
                    after + secs(10 * MINUTE),
                    cluster().build(),
                    &[&replacement(2, "f1")],
                ),
                step(after + secs(11 * MINUTE), cluster().build(), &[]),
                step(after + secs(24 * MINUTE), cluster().build(), &[]),
                step(
                    after + secs(25 * MINUTE),
                    cluster().build(),
                    &[&replacement(3, "f1")],
                ),
                step(after + secs(26 * MINUTE), cluster().build(), &[]),
                step(after + secs(39 * MINUTE), cluster().build(), &[]),
                step(
                    after + secs(40 * MINUTE),
                    cluster().build(),
                    &[&replacement(4, "f1")],
                ),
                // That one launched: Spot is proven; once it is gone, probes start over at
                // the minimum wait.
                step(
                    after + secs(40 * MINUTE + 10),
                    cluster()
                        .claim(
                            claim("batch-00004", "batch")
                                .spot_only()
                                .replaces("f1")
                                .spot(after + secs(40 * MINUTE)),
                        )
                        .build(),
                    &[],
                ),
                step(
                    after + secs(45 * MINUTE),
                    cluster().build(),
                    &[&replacement(5, "f1")],
                ),
            ],
        },
        Case {
            name: "a Spot node launched since the last probe ends the backoff",
            policy: Policy::Spotter,
            steps: vec![
                step(after, cluster().build(), &[&replacement(1, "f1")]),
                step(after + secs(MINUTE), cluster().build(), &[]),
                step(
                    after + secs(5 * MINUTE),
                    cluster()
                        .claim(claim("s1", "batch").spot(after + secs(3 * MINUTE)))
                        .build(),
                    &[&replacement(2, "f1")],
                ),
            ],
        },
        Case {
            // Guards item 4 of issue 15: no replacement that could not be used.
            name: "a PodDisruptionBudget that allows no eviction of a fallback node's pod holds the return",
            policy: Policy::Spotter,
            steps: vec![step(after, guarded(0).build(), &[])],
        },
        Case {
            name: "a PodDisruptionBudget that allows an eviction lets the return start",
            policy: Policy::Spotter,
            steps: vec![step(after, guarded(1).build(), &[&replacement(1, "f1")])],
        },
        Case {
            // Guards item 4 of issue 15: a replacement does not run empty beside a fallback
            // node it cannot replace.
            name: "a replacement whose fallback node a budget blocks is released after 10 min",
            policy: Policy::Spotter,
            steps: vec![
                step(
                    after + secs(5 * MINUTE),
                    guarded(0)
                        .claim_with_node(
                            claim("batch-00001", "batch")
                                .created_at(after)
                                .spot_only()
                                .replaces("f1")
                                .spot(after),
                            after + secs(MINUTE),
                        )
                        .build(),
                    &[],
                ),
                step(
                    after + secs(10 * MINUTE),
                    guarded(0)
                        .claim_with_node(
                            claim("batch-00001", "batch")
                                .created_at(after)
                                .spot_only()
                                .replaces("f1")
                                .spot(after),
                            after + secs(MINUTE),
                        )
                        .build(),
                    &[&describe(&delete(
                        "batch-00001",
                        DisruptionReason::Empty,
                        None,
                    ))],
                ),
            ],
        },
        Case {
            name: "a NodePool that fell back again within an hour of a return waits out the hour",
            policy: Policy::Spotter,
            steps: vec![
                step(
                    after,
                    cluster()
                        .claim_with_node(
                            claim("batch-00001", "batch")
                                .spot_only()
                                .replaces("f1")
                                .spot(after),
                            after,
                        )
                        .build(),
                    &[&drain("f1")],
                ),
                // f1 is gone; f3 fell back 10 min after the return.
                step(
                    after + secs(30 * MINUTE),
                    fell_back_again(after + secs(10 * MINUTE)),
                    &[],
                ),
                step(
                    after + secs(61 * MINUTE),
                    fell_back_again(after + secs(10 * MINUTE)),
                    &[&replacement(1, "f3")],
                ),
            ],
        },
    ]);
}
