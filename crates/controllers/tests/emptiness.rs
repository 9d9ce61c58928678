//! Emptiness: empty nodes go after `consolidateAfter`, within the NodePool's disruption budgets
//! counted as Karpenter counts them (initialized nodes; every node NotReady or being deleted
//! uses the budget).

mod support;

use std::time::Duration;

use spotter_controllers::emptiness;
use spotter_core::node_pool::Budget as NodePoolBudget;
use support::*;

struct Case {
    name: &'static str,
    state: ClusterState,
    now: Duration,
    expected: Vec<Action>,
    wake_at: Option<Duration>,
}

/// A NodePool `batch` with `consolidateAfter` and budgets.
fn pool(consolidate_after: Option<Duration>, budgets: Vec<NodePoolBudget>) -> NodePool {
    let mut pool = node_pool("batch").build();
    pool.disruption.consolidate_after = consolidate_after;
    pool.disruption.budgets = budgets;
    pool
}

fn no_limit() -> Vec<NodePoolBudget> {
    vec![budget(BudgetNodes::Percent(100), &[])]
}

/// A cluster with `pool` and one registered Spot claim per `(name, last pod event)`.
fn cluster(pool: NodePool, nodes: &[(&str, u64)]) -> ClusterStateBuilder {
    let mut builder = state().pool(pool).instance_types(catalog());
    for (name, last_pod_event) in nodes {
        builder =
            builder.claim_with_node(claim(name, "batch").spot(secs(0)), secs(*last_pod_event));
    }
    builder
}

fn empty(claim: &str) -> Action {
    delete(claim, DisruptionReason::Empty, None)
}

#[test]
fn consolidate_after() {
    let thirty = || pool(Some(secs(30)), no_limit());
    run(vec![
        Case {
            name: "empty for less than consolidateAfter: kept, wake when it becomes eligible",
            state: cluster(thirty(), &[("c1", 100)]).build(),
            now: secs(110),
            expected: vec![],
            wake_at: Some(secs(130)),
        },
        Case {
            name: "empty for consolidateAfter: deleted as empty",
            state: cluster(thirty(), &[("c1", 100)]).build(),
            now: secs(130),
            expected: vec![empty("c1")],
            wake_at: None,
        },
        Case {
            name: "consolidateAfter 0s: deleted at once",
            state: cluster(pool(Some(Duration::ZERO), no_limit()), &[("c1", 100)]).build(),
            now: secs(100),
            expected: vec![empty("c1")],
            wake_at: None,
        },
        Case {
            name: "consolidateAfter Never: never deleted, never woken",
            state: cluster(pool(None, no_limit()), &[("c1", 100)]).build(),
            now: secs(100_000),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "the earliest of several nodes sets the wake",
            state: cluster(thirty(), &[("c1", 100), ("c2", 90), ("c3", 20)]).build(),
            now: secs(110),
            expected: vec![empty("c3")],
            wake_at: Some(secs(120)),
        },
    ]);
}

#[test]
fn what_counts_as_empty() {
    let zero = || pool(Some(Duration::ZERO), no_limit());
    run(vec![
        Case {
            name: "a node with only DaemonSet pods is empty",
            state: cluster(zero(), &[("c1", 100)])
                .pod(daemon(pod("agent-c1").cpu("50m").build(), "c1"))
                .build(),
            now: secs(100),
            expected: vec![empty("c1")],
            wake_at: None,
        },
        Case {
            name: "a node with a workload pod is not empty",
            state: cluster(zero(), &[("c1", 100)])
                .pod(bound(pod("a").build(), "c1"))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a node that a pending pod is nominated to is not empty",
            state: cluster(zero(), &[("c1", 100)])
                .pod(pending(pod("a").build()).nominated("c1"))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a node that a pod draining from a deleting node is nominated to is not empty",
            state: cluster(zero(), &[("c1", 100)])
                .claim_with_node(
                    claim("old", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::SpotInterrupted, secs(90))
                        .deadline(secs(210)),
                    secs(0),
                )
                .pod(bound(pod("a").build(), "old").nominated("c1"))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a node whose claim is not initialized is not a candidate",
            state: state()
                .pool(zero())
                .instance_types(catalog())
                .claim_with_node(claim("c1", "batch").spot(secs(0)), secs(100))
                .build_with(|state| {
                    if let Some(claim) = state.node_claims.get_mut("c1") {
                        claim.initialized = false;
                    }
                }),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a claim already being deleted is not deleted again",
            state: state()
                .pool(zero())
                .instance_types(catalog())
                .claim_with_node(
                    claim("c1", "batch")
                        .spot(secs(0))
                        .deleting(DisruptionReason::Empty, secs(100)),
                    secs(100),
                )
                .build(),
            now: secs(101),
            expected: vec![],
            wake_at: None,
        },
    ]);
}

#[test]
fn disruption_budgets() {
    let three = [("c1", 50), ("c2", 10), ("c3", 30)];
    let with_budgets = |budgets: Vec<NodePoolBudget>| pool(Some(Duration::ZERO), budgets);
    let one = || with_budgets(vec![budget(BudgetNodes::Count(1), &[])]);
    let being_deleted = |reason: DisruptionReason| {
        claim("c0", "batch")
            .spot(secs(0))
            .deleting(reason, secs(90))
    };
    run(vec![
        Case {
            name: "nodes: 1 with 3 empty nodes deletes 1, the longest empty",
            state: cluster(one(), &three).build(),
            now: secs(100),
            expected: vec![empty("c2")],
            wake_at: None,
        },
        Case {
            name: "nodes: 1 with a claim already being deleted for emptiness deletes none",
            state: cluster(one(), &three)
                .claim_with_node(being_deleted(DisruptionReason::Empty), secs(0))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "nodes: 1 with a claim being deleted for a Spot interruption deletes none (Karpenter counts every deleting node)",
            state: cluster(one(), &three)
                .claim_with_node(
                    being_deleted(DisruptionReason::SpotInterrupted).deadline(secs(210)),
                    secs(0),
                )
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "nodes: 1 with a NotReady node deletes none (Karpenter counts it as disrupting)",
            state: cluster(one(), &three)
                .claim_with_node(claim("c0", "batch").spot(secs(0)), secs(0))
                .map_node("c0", |node| node.ready = false)
                .pod(bound(pod("a").build(), "c0"))
                .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "nodes: 2 counts a claim being deleted for emptiness: 1 more",
            state: cluster(
                with_budgets(vec![budget(BudgetNodes::Count(2), &[])]),
                &three,
            )
            .claim_with_node(being_deleted(DisruptionReason::Empty), secs(0))
            .build(),
            now: secs(100),
            expected: vec![empty("c2")],
            wake_at: None,
        },
        Case {
            name: "a budget restricted to Drifted does not limit emptiness",
            state: cluster(
                with_budgets(vec![budget(BudgetNodes::Count(0), &["Drifted"])]),
                &three,
            )
            .build(),
            now: secs(100),
            expected: vec![empty("c2"), empty("c3"), empty("c1")],
            wake_at: None,
        },
        Case {
            name: "a budget restricted to Empty does",
            state: cluster(
                with_budgets(vec![
                    budget(BudgetNodes::Count(0), &["Drifted"]),
                    budget(BudgetNodes::Count(0), &["Empty"]),
                ]),
                &three,
            )
            .build(),
            now: secs(100),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "the most restrictive budget wins",
            state: cluster(
                with_budgets(vec![
                    budget(BudgetNodes::Count(3), &[]),
                    budget(BudgetNodes::Count(2), &["Empty", "Underutilized"]),
                ]),
                &three,
            )
            .build(),
            now: secs(100),
            expected: vec![empty("c2"), empty("c3")],
            wake_at: None,
        },
        Case {
            name: "the default 10% budget rounds up: 1 of 3",
            state: cluster(
                pool(Some(Duration::ZERO), NodePool::default().disruption.budgets),
                &three,
            )
            .build(),
            now: secs(100),
            expected: vec![empty("c2")],
            wake_at: None,
        },
        Case {
            name: "10% counts initialized nodes only: 10 nodes and an in-flight claim allow 1",
            state: {
                let names: Vec<String> = (0..10).map(|index| format!("n{index}")).collect();
                let nodes: Vec<(&str, u64)> = names
                    .iter()
                    .enumerate()
                    .map(|(index, name)| (name.as_str(), index as u64))
                    .collect();
                cluster(
                    with_budgets(vec![budget(BudgetNodes::Percent(10), &[])]),
                    &nodes,
                )
                .claim(claim("c-new", "batch").spot(secs(99)))
                .build()
            },
            now: secs(100),
            expected: vec![empty("n0")],
            wake_at: None,
        },
        Case {
            name: "budgets are per NodePool",
            state: cluster(one(), &three)
                .pool({
                    let mut other = node_pool("other").build();
                    other.disruption.consolidate_after = Some(Duration::ZERO);
                    other.disruption.budgets = vec![budget(BudgetNodes::Count(1), &[])];
                    other
                })
                .claim_with_node(claim("o1", "other").spot(secs(0)), secs(0))
                .build(),
            now: secs(100),
            expected: vec![empty("c2"), empty("o1")],
            wake_at: None,
        },
    ]);
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let (actions, wake_at) = emptiness::reconcile(&case.state, case.now);
        if actions != case.expected || wake_at != case.wake_at {
            failures.push(format!(
                "case {:?} at {:?}:\n  expected {:#?} wake_at {:?}\n  actual   {:#?} wake_at {:?}",
                case.name, case.now, case.expected, case.wake_at, actions, wake_at
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
