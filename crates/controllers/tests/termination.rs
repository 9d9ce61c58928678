//! Termination: taint, cordon, drain within PodDisruptionBudgets, force before a deadline,
//! terminate the instance, remove the claim.

mod support;

use std::time::Duration;

use spotter_controllers::termination;
use support::*;

struct Case {
    name: &'static str,
    state: ClusterState,
    now: Duration,
    expected: Vec<Action>,
    wake_at: Option<Duration>,
}

fn cluster() -> ClusterStateBuilder {
    state()
        .pool(node_pool("batch").build())
        .instance_types(catalog())
}

/// A Spot claim with its Ready node, being deleted for `reason` since 100 s.
fn deleting(name: &str, reason: DisruptionReason) -> ClaimBuilder {
    claim(name, "batch")
        .spot(secs(0))
        .deleting(reason, secs(100))
}

/// The node already tainted `karpenter.sh/disrupted:NoSchedule` and cordoned.
fn disrupted(node: &mut NodeState) {
    node.unschedulable = true;
    node.taints
        .push(Taint::new(DISRUPTED_TAINT_KEY, "", Effect::NoSchedule));
}

fn web(name: &str) -> Pod {
    pod(name).cpu("100m").label("app", "web").build()
}

fn other(name: &str) -> Pod {
    pod(name).cpu("100m").label("app", "other").build()
}

fn agent(node: &str) -> PodState {
    daemon(pod(&format!("agent-{node}")).cpu("50m").build(), node).build()
}

const RECLAIMED: &str = "the instance is about to be reclaimed";
const GRACE: &str = "terminationGracePeriod elapsed";

#[test]
fn draining() {
    let max_unavailable = |count| pdb("web", Budget::MaxUnavailable(Amount::Count(count)), 2);
    let two_web_pods = || {
        cluster()
            .claim_with_node(deleting("c1", DisruptionReason::Empty), secs(0))
            .pod(bound(web("a"), "c1"))
            .pod(bound(web("b"), "c1"))
            .pod(agent("c1"))
    };
    let two_nodes = || {
        cluster()
            .claim_with_node(deleting("c1", DisruptionReason::Empty), secs(0))
            .claim_with_node(deleting("c2", DisruptionReason::Empty), secs(0))
            .pod(bound(web("a"), "c1"))
            .pod(bound(web("b"), "c2"))
            .pod(bound(other("x"), "c2"))
    };
    run(vec![
        Case {
            name: "a deleting claim's Ready node is tainted, cordoned and drained, DaemonSet pods kept",
            state: two_web_pods().build(),
            now: secs(100),
            expected: vec![
                taint_disrupted("c1"),
                cordon("c1"),
                evict("default/a"),
                evict("default/b"),
            ],
            wake_at: None,
        },
        Case {
            name: "a node already tainted and cordoned is only drained",
            state: two_web_pods().map_node("c1", disrupted).build(),
            now: secs(101),
            expected: vec![evict("default/a"), evict("default/b")],
            wake_at: None,
        },
        Case {
            name: "a node not being deleted is left alone",
            state: cluster()
                .claim_with_node(claim("c1", "batch").spot(secs(0)), secs(0))
                .pod(bound(web("a"), "c1"))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a PDB with maxUnavailable 0 blocks every eviction",
            state: two_web_pods().pdb(max_unavailable(0)).build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1")],
            wake_at: None,
        },
        Case {
            name: "a PDB with maxUnavailable 1 allows one eviction on a node",
            state: two_web_pods().pdb(max_unavailable(1)).build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1"), evict("default/a")],
            wake_at: None,
        },
        Case {
            name: "a PDB with maxUnavailable 1 allows one eviction per pass across nodes; other pods go",
            state: two_nodes().pdb(max_unavailable(1)).build(),
            now: secs(100),
            expected: vec![
                taint_disrupted("c1"),
                cordon("c1"),
                evict("default/a"),
                taint_disrupted("c2"),
                cordon("c2"),
                evict("default/x"),
            ],
            wake_at: None,
        },
        Case {
            name: "a PDB whose covered pod is already down allows nothing more",
            state: two_web_pods()
                .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(1)), 3))
                .pod(pending(web("c")))
                .build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1")],
            wake_at: None,
        },
        Case {
            name: "a PDB with minAvailable 1 over two healthy pods allows one eviction",
            state: two_web_pods()
                .pdb(pdb("web", Budget::MinAvailable(Amount::Count(1)), 2))
                .build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1"), evict("default/a")],
            wake_at: None,
        },
    ]);
}

#[test]
fn deadlines() {
    // Interrupted at 100 s, reclaimed at 220 s: pods still there at 200 s are deleted.
    let interrupted = || {
        cluster()
            .claim_with_node(
                deleting("c1", DisruptionReason::SpotInterrupted).deadline(secs(220)),
                secs(0),
            )
            .pod(bound(web("a"), "c1"))
            .pod(bound(web("b"), "c1"))
            .pod(agent("c1"))
            .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 2))
    };
    let graceful = || {
        let mut pool = node_pool("batch").build();
        pool.termination_grace_period = Some(secs(60));
        state()
            .pool(pool)
            .instance_types(catalog())
            .claim_with_node(deleting("c1", DisruptionReason::Empty), secs(0))
            .pod(bound(web("a"), "c1"))
            .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
    };
    run(vec![
        Case {
            name: "before the deadline: PDBs hold and the controller wakes at deadline - 20 s",
            state: interrupted().build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1")],
            wake_at: Some(secs(200)),
        },
        Case {
            name: "just before deadline - 20 s: still waiting",
            state: interrupted().map_node("c1", disrupted).build(),
            now: secs(200) - millis(1),
            expected: vec![],
            wake_at: Some(secs(200)),
        },
        Case {
            name: "at deadline - 20 s: remaining pods are deleted regardless of PDBs",
            state: interrupted().map_node("c1", disrupted).build(),
            now: secs(200),
            expected: vec![
                delete_pod("default/a", RECLAIMED),
                delete_pod("default/b", RECLAIMED),
            ],
            wake_at: None,
        },
        Case {
            name: "an interrupted node keeps a pod until its replacement is launched",
            state: cluster()
                .claim_with_node(
                    deleting("c1", DisruptionReason::SpotInterrupted).deadline(secs(220)),
                    secs(0),
                )
                .map_node("c1", disrupted)
                .claim(claim("c2", "batch"))
                .pod(bound(web("a"), "c1").nominated("c2"))
                .build(),
            now: secs(150),
            expected: vec![],
            wake_at: Some(secs(200)),
        },
        Case {
            name: "evictions before the deadline still wake the controller for the rest",
            state: cluster()
                .claim_with_node(
                    deleting("c1", DisruptionReason::SpotInterrupted).deadline(secs(220)),
                    secs(0),
                )
                .map_node("c1", disrupted)
                .claim(claim("c2", "batch").spot(secs(101)))
                .pod(bound(web("a"), "c1").nominated("c2"))
                .pod(bound(web("b"), "c1"))
                .build(),
            now: secs(150),
            expected: vec![evict("default/a")],
            wake_at: Some(secs(200)),
        },
        Case {
            name: "a deadline with only DaemonSet pods left: terminate, no wake",
            state: cluster()
                .claim_with_node(
                    deleting("c1", DisruptionReason::SpotInterrupted).deadline(secs(220)),
                    secs(0),
                )
                .map_node("c1", disrupted)
                .pod(agent("c1"))
                .build(),
            now: secs(150),
            expected: vec![terminate("c1")],
            wake_at: None,
        },
        Case {
            name: "before terminationGracePeriod: PDBs hold and the controller wakes when it ends",
            state: graceful().map_node("c1", disrupted).build(),
            now: secs(130),
            expected: vec![],
            wake_at: Some(secs(160)),
        },
        Case {
            name: "after terminationGracePeriod: remaining pods are deleted regardless of PDBs",
            state: graceful().map_node("c1", disrupted).build(),
            now: secs(160),
            expected: vec![delete_pod("default/a", GRACE)],
            wake_at: None,
        },
    ]);
}

#[test]
fn instance_and_claim_removal() {
    let spot_a = offering(CapacityType::Spot, "m5.large", "zone-a");
    run(vec![
        Case {
            name: "no workload pod left: the instance is terminated",
            state: cluster()
                .claim_with_node(deleting("c1", DisruptionReason::Empty), secs(0))
                .map_node("c1", disrupted)
                .pod(agent("c1"))
                .build(),
            now: secs(110),
            expected: vec![terminate("c1")],
            wake_at: None,
        },
        Case {
            name: "a fresh deletion of an empty node taints, cordons and terminates in one pass",
            state: cluster()
                .claim_with_node(deleting("c1", DisruptionReason::Empty), secs(0))
                .build(),
            now: secs(100),
            expected: vec![taint_disrupted("c1"), cordon("c1"), terminate("c1")],
            wake_at: None,
        },
        Case {
            name: "an instance already terminating is not terminated again",
            state: cluster()
                .claim_with_node(
                    deleting("c1", DisruptionReason::Empty).instance_terminating(),
                    secs(0),
                )
                .map_node("c1", disrupted)
                .build(),
            now: secs(110),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "once the instance is gone the claim is removed",
            state: cluster()
                .claim_with_node(
                    deleting("c1", DisruptionReason::Empty).instance_terminated(),
                    secs(0),
                )
                .map_node("c1", disrupted)
                .build(),
            now: secs(120),
            expected: vec![remove("c1")],
            wake_at: None,
        },
        Case {
            name: "a claim whose launch found no capacity is removed at once",
            state: cluster()
                .claim(
                    claim("c1", "batch")
                        .insufficient_capacity(vec![spot_a.clone()])
                        .deleting(DisruptionReason::InsufficientCapacity, secs(5)),
                )
                .build(),
            now: secs(5),
            expected: vec![remove("c1")],
            wake_at: None,
        },
        Case {
            name: "a claim never launched is removed at once",
            state: cluster()
                .claim(claim("c1", "batch").deleting(DisruptionReason::LaunchTimeout, secs(300)))
                .build(),
            now: secs(300),
            expected: vec![remove("c1")],
            wake_at: None,
        },
        Case {
            name: "a launched claim whose node never registered has its instance terminated",
            state: cluster()
                .claim(
                    claim("c1", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::RegistrationTimeout, secs(900)),
                )
                .build(),
            now: secs(900),
            expected: vec![terminate("c1")],
            wake_at: None,
        },
        Case {
            name: "... and nothing more while it terminates",
            state: cluster()
                .claim(
                    claim("c1", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::RegistrationTimeout, secs(900))
                        .instance_terminating(),
                )
                .build(),
            now: secs(901),
            expected: vec![],
            wake_at: None,
        },
    ]);
}

fn run(cases: Vec<Case>) {
    let settings = Settings::default();
    let mut failures = Vec::new();
    for case in cases {
        let (actions, wake_at) = termination::reconcile(&case.state, case.now, &settings);
        if actions != case.expected || wake_at != case.wake_at {
            failures.push(format!(
                "case {:?} at {:?}:\n  expected {:#?} wake_at {:?}\n  actual   {:#?} wake_at {:?}",
                case.name, case.now, case.expected, case.wake_at, actions, wake_at
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
