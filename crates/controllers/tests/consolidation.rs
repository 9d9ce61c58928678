//! Consolidation with Karpenter v1's semantics: single-node (delete, or replace with one
//! cheaper node) and multi-node (several nodes deleted, or replaced by at most one), judged by
//! the replacement's worst-case price, never splitting one node into two, held back by
//! `karpenter.sh/do-not-disrupt` pods and nodes, blocking PodDisruptionBudgets, a pending
//! `consolidateAfter` and budgets; Spot-to-Spot only behind its gate and with 15 cheaper
//! types; a command runs only after its 15 s validation, and a replacement that fails to launch
//! leaves the node alone.

mod support;

use std::time::Duration;

use spotter_cloud::CloudError;
use spotter_controllers::consolidation::{Consolidation, Scope};
use spotter_controllers::disruption_budgets::DisruptionPass;
use spotter_controllers::node_claim_lifecycle;
use spotter_controllers::node_claim_names::NodeClaimNames;
use spotter_controllers::transitions::Outcome;
use spotter_core::node_pool::ConsolidationPolicy;
use spotter_core::pod::DO_NOT_DISRUPT_ANNOTATION;
use support::*;

/// When every case looks first.
const NOW: Duration = Duration::from_secs(600);

struct Case {
    name: &'static str,
    scope: Scope,
    state: ClusterState,
    settings: Settings,
    /// What the method does once the command is validated, described.
    expected: Vec<String>,
    /// When the first look asks to be woken.
    wake_at: Option<Duration>,
}

/// A NodePool `batch` allowing Spot and on-demand, consolidating underutilised nodes at once,
/// whose budgets let every node go.
fn pool() -> NodePool {
    let mut pool = node_pool("batch")
        .capacity_types(&["spot", "on-demand"])
        .build();
    pool.disruption.consolidate_after = Some(Duration::ZERO);
    pool.disruption.budgets = vec![budget(BudgetNodes::Percent(100), &[])];
    pool
}

/// `pool()` changed by `change`.
fn pool_with(change: impl FnOnce(&mut NodePool)) -> NodePool {
    let mut pool = pool();
    change(&mut pool);
    pool
}

/// A cluster with `pool` and, per `(name, instance type, capacity type, pods' CPU)`, a
/// registered node (last pod event at 0 s) running one pod `<name>-<i>` of that CPU each,
/// labelled `app=web`.
fn cluster(
    pool: NodePool,
    instance_types: Vec<InstanceType>,
    nodes: &[(&str, &str, CapacityType, &[&str])],
) -> ClusterStateBuilder {
    let mut builder = state().pool(pool).instance_types(instance_types);
    for (name, instance_type, capacity_type, pods) in nodes {
        builder = builder.claim_with_node(
            claim(name, "batch").launched(instance_type, *capacity_type, "zone-a", secs(0)),
            secs(0),
        );
        for (index, cpu) in pods.iter().enumerate() {
            builder = builder.pod(bound(
                pod(&format!("{name}-{index}"))
                    .cpu(cpu)
                    .label("app", "web")
                    .build(),
                name,
            ));
        }
    }
    builder
}

fn underutilized(claim: &str) -> String {
    describe(&delete(claim, DisruptionReason::Underutilized, None))
}

fn replacement(types: &str, capacity: &str, replaces: &str) -> String {
    format!(
        "create batch-00001 pool=batch capacity={capacity} types={types} pods= fallback=false replaces={replaces}"
    )
}

/// Settings with the `SpotToSpotConsolidation` gate on.
fn spot_to_spot() -> Settings {
    Settings {
        spot_to_spot_consolidation: true,
        ..Settings::default()
    }
}

/// `count` small Spot types (`small-01`, ...; 2 vCPU) priced 0.01, 0.02, ... and one large
/// Spot type `large` (16 vCPU, 1.00).
fn many_types(count: usize) -> Vec<InstanceType> {
    let mut types: Vec<InstanceType> = (1..=count)
        .map(|index| {
            instance_type(&format!("small-{index:02}"))
                .cpu(2)
                .memory_gib(8)
                .offering(CapacityType::Spot, "zone-a", 0.01 * index as f64)
                .build()
        })
        .collect();
    types.push(
        instance_type("large")
            .cpu(16)
            .memory_gib(64)
            .offering(CapacityType::Spot, "zone-a", 1.0)
            .build(),
    );
    types
}

fn small_types(count: usize) -> String {
    (1..=count)
        .map(|index| format!("small-{index:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs the method at [`NOW`] (it must only find a command) and after the validation (when
/// it acts); returns the described actions and the first look's wake.
fn consolidate(case: &Case) -> (Vec<String>, Option<Duration>, Vec<String>) {
    let mut method = Consolidation::new(case.scope, NodeClaimNames::new(7));
    let mut names = StableNames::default();
    let (first, wake_at) = method.decide(
        &mut DisruptionPass::new(&case.state, NOW),
        &case.state,
        NOW,
        &case.settings,
    );
    let later = NOW + case.settings.consolidation_validation;
    let (actions, _) = method.decide(
        &mut DisruptionPass::new(&case.state, later),
        &case.state,
        later,
        &case.settings,
    );
    (
        names.describe_all(&actions),
        wake_at,
        names.describe_all(&first),
    )
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in cases {
        let (actions, wake_at, first) = consolidate(&case);
        if !first.is_empty() {
            failures.push(format!(
                "case {:?}: acted before the validation: {first:#?}",
                case.name
            ));
        }
        if actions != case.expected || wake_at != case.wake_at {
            failures.push(format!(
                "case {:?}:\n  expected {:#?} wake_at {:?}\n  actual   {:#?} wake_at {:?}",
                case.name, case.expected, case.wake_at, actions, wake_at
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const VALIDATED: Option<Duration> = Some(Duration::from_secs(615));

#[test]
fn single_node_consolidation() {
    use CapacityType::{OnDemand, Spot};
    run(vec![
        Case {
            name: "pods fit on another node: the emptier node is deleted",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                catalog(),
                &[
                    ("c1", "m5.large", Spot, &["500m"]),
                    ("c2", "m5.large", Spot, &["500m", "200m"]),
                ],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![underutilized("c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "on-demand node replaced by one cheaper node, pinned to Spot",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![replacement("m5.large,m5.xlarge", "spot", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "on-demand-only pool: replaced by a cheaper on-demand node",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.requirements.add(
                        labels::CAPACITY_TYPE,
                        Requirement::single(OnDemand.as_str()),
                    );
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![replacement("m5.large", "on-demand", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "on-demand-only pool, the pods need the same type: kept",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.requirements.add(
                        labels::CAPACITY_TYPE,
                        Requirement::single(OnDemand.as_str()),
                    );
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["3"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "worst-case price: a replacement dear in some zone it may launch in is not \
                   cheaper",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                vec![
                    instance_type("m5.large")
                        .cpu(2)
                        .memory_gib(8)
                        .offering(Spot, "zone-a", 0.04)
                        .offering(Spot, "zone-b", 0.30)
                        .offering(OnDemand, "zone-a", 0.2)
                        .build(),
                ],
                &[("c1", "m5.large", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "never one node split into two",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.requirements
                        .add(labels::INSTANCE_TYPE, Requirement::single("m5.large"));
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["1500m", "1500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a do-not-disrupt pod holds its node",
            scope: Scope::SingleNode,
            state: cluster(pool(), catalog(), &[("c2", "m5.large", Spot, &["500m"])])
                .claim_with_node(claim("c1", "batch").spot(secs(0)), secs(0))
                .pod(bound(
                    pod("pinned").cpu("100m").do_not_disrupt().build(),
                    "c1",
                ))
                .build(),
            settings: Settings::default(),
            expected: vec![underutilized("c2")],
            wake_at: VALIDATED,
        },
        Case {
            name: "a do-not-disrupt node is kept",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                catalog(),
                &[
                    ("c1", "m5.large", Spot, &["500m"]),
                    ("c2", "m5.large", Spot, &["500m", "200m"]),
                ],
            )
            .map_node("c1", |node| node.do_not_disrupt = true)
            .build(),
            settings: Settings::default(),
            expected: vec![underutilized("c2")],
            wake_at: VALIDATED,
        },
        Case {
            name: "a PodDisruptionBudget allowing no eviction blocks it",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "consolidateAfter not yet passed: kept, woken when it has",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| pool.disruption.consolidate_after = Some(secs(900))),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: Some(secs(900)),
        },
        Case {
            name: "WhenEmpty: underutilised nodes are not consolidated",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.disruption.consolidation_policy = ConsolidationPolicy::WhenEmpty;
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a budget of 0 for Underutilized blocks it",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.disruption
                        .budgets
                        .push(budget(BudgetNodes::Count(0), &["Underutilized"]));
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "a budget of 0 for Drifted only does not",
            scope: Scope::SingleNode,
            state: cluster(
                pool_with(|pool| {
                    pool.disruption
                        .budgets
                        .push(budget(BudgetNodes::Count(0), &["Drifted"]));
                }),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![replacement("m5.large,m5.xlarge", "spot", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "pods waiting for capacity: nothing is consolidated",
            scope: Scope::SingleNode,
            state: cluster(
                pool(),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .pod(pending(pod("waiting").cpu("100m").build()))
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
    ]);
}

#[test]
fn spot_to_spot_consolidation() {
    let spot_pool = || {
        pool_with(|pool| {
            pool.requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::single(CapacityType::Spot.as_str()),
            );
        })
    };
    let large = |count| {
        cluster(
            spot_pool(),
            many_types(count),
            &[("c1", "large", CapacityType::Spot, &["500m"])],
        )
        .build()
    };
    run(vec![
        Case {
            name: "Spot to Spot without the gate: refused",
            scope: Scope::SingleNode,
            state: large(20),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "with the gate but only 14 cheaper types: refused",
            scope: Scope::SingleNode,
            state: large(14),
            settings: spot_to_spot(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "with the gate and 15 cheaper types: replaced",
            scope: Scope::SingleNode,
            state: large(15),
            settings: spot_to_spot(),
            expected: vec![replacement(&small_types(15), "spot", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "with the gate and 20 cheaper types: the launch gets the 15 cheapest",
            scope: Scope::SingleNode,
            state: large(20),
            settings: spot_to_spot(),
            expected: vec![replacement(&small_types(15), "spot", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "multi-node Spot to Spot has no 15-type rule",
            scope: Scope::MultiNode,
            state: cluster(
                spot_pool(),
                many_types(2),
                &[
                    ("c1", "large", CapacityType::Spot, &["500m"]),
                    ("c2", "large", CapacityType::Spot, &["500m"]),
                ],
            )
            .build(),
            settings: spot_to_spot(),
            expected: vec![replacement(
                &format!("{},large", small_types(2)),
                "spot",
                "c1",
            )],
            wake_at: VALIDATED,
        },
    ]);
}

#[test]
fn multi_node_consolidation() {
    use CapacityType::{OnDemand, Spot};
    run(vec![
        Case {
            name: "three on-demand nodes replaced by one Spot node",
            scope: Scope::MultiNode,
            state: cluster(
                pool(),
                catalog(),
                &[
                    ("c1", "m5.large", OnDemand, &["300m"]),
                    ("c2", "m5.large", OnDemand, &["300m"]),
                    ("c3", "m5.large", OnDemand, &["300m"]),
                ],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![replacement("m5.large,m5.xlarge", "spot", "c1")],
            wake_at: VALIDATED,
        },
        Case {
            name: "the largest prefix that gives a command: two deleted onto the third",
            scope: Scope::MultiNode,
            state: cluster(
                pool(),
                catalog(),
                &[
                    ("c1", "m5.xlarge", Spot, &["500m"]),
                    ("c2", "m5.xlarge", Spot, &["500m"]),
                    ("c3", "m5.xlarge", Spot, &["500m", "500m"]),
                ],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![underutilized("c1"), underutilized("c2")],
            wake_at: VALIDATED,
        },
        Case {
            name: "one candidate only: multi-node does nothing",
            scope: Scope::MultiNode,
            state: cluster(
                pool(),
                catalog(),
                &[("c1", "m5.xlarge", OnDemand, &["500m"])],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
        Case {
            name: "budgets cap the candidates: one node at a time leaves multi-node nothing",
            scope: Scope::MultiNode,
            state: cluster(
                pool_with(|pool| {
                    pool.disruption.budgets = vec![budget(BudgetNodes::Count(1), &[])];
                }),
                catalog(),
                &[
                    ("c1", "m5.large", OnDemand, &["300m"]),
                    ("c2", "m5.large", OnDemand, &["300m"]),
                ],
            )
            .build(),
            settings: Settings::default(),
            expected: vec![],
            wake_at: None,
        },
    ]);
}

/// The replacement's fate after the command: initialized, the node is deleted; failed for
/// capacity, the node is left alone.
#[test]
fn a_replacement_that_fails_to_launch_leaves_the_node() {
    let settings = Settings::default();
    for (name, launch_fails, expected_deleted) in [
        ("replacement initialized: the node goes", false, true),
        (
            "replacement failed for capacity: the node stays",
            true,
            false,
        ),
    ] {
        let mut state = cluster(
            pool(),
            catalog(),
            &[("c1", "m5.xlarge", CapacityType::OnDemand, &["500m"])],
        )
        .build();
        let mut method = Consolidation::new(Scope::SingleNode, NodeClaimNames::new(7));
        let mut at = NOW;
        let decide = |state: &ClusterState, at: Duration, method: &mut Consolidation| {
            method
                .decide(&mut DisruptionPass::new(state, at), state, at, &settings)
                .0
        };
        assert!(decide(&state, at, &mut method).is_empty(), "case {name:?}");
        at += settings.consolidation_validation;
        let actions = decide(&state, at, &mut method);
        let [Action::CreateNodeClaim(request)] = actions.as_slice() else {
            panic!("case {name:?}: expected a replacement, got {actions:#?}");
        };
        let replacement = request.name.clone();
        state.apply(&actions[0], Outcome::Done, at, &settings);
        at += secs(1);
        if launch_fails {
            let offerings = vec![offering(CapacityType::Spot, "m5.large", "zone-a")];
            state.launch_completed(
                &replacement,
                Err(CloudError::InsufficientCapacity { offerings }),
                at,
            );
            for action in node_claim_lifecycle::reconcile(&state, at, &settings) {
                state.apply(&action, Outcome::Done, at, &settings);
            }
        } else {
            let claim = claim(&replacement, "batch")
                .launched("m5.large", CapacityType::Spot, "zone-a", at)
                .build();
            let node = node_for(&claim, &state.instance_types, at);
            state.nodes.insert(node.name.clone(), node);
            let entry = state
                .node_claims
                .get_mut(&replacement)
                .expect("the replacement claim");
            entry.launch = claim.launch;
            entry.node = Some(replacement.clone());
            entry.initialized = true;
        }
        at += secs(10);
        let actions = decide(&state, at, &mut method);
        let deleted = actions.contains(&delete("c1", DisruptionReason::Underutilized, None));
        assert_eq!(deleted, expected_deleted, "case {name:?}: {actions:#?}");
        assert!(
            state.node_claims["c1"].deletion.is_none(),
            "case {name:?}: the node must not be deleted before the method says so"
        );
    }
}

/// A node whose NodePool's template annotations say `karpenter.sh/do-not-disrupt: "true"`
/// registers with the annotation; one without does not.
#[test]
fn node_do_not_disrupt_comes_from_the_template() {
    for (name, annotation, expected) in [
        ("annotated true", Some("true"), true),
        ("annotated false", Some("false"), false),
        ("not annotated", None, false),
    ] {
        let mut pool = pool();
        if let Some(value) = annotation {
            pool.annotations
                .insert(DO_NOT_DISRUPT_ANNOTATION.into(), value.into());
        }
        let mut state = state()
            .pool(pool)
            .instance_types(catalog())
            .claim(claim("c1", "batch").spot(secs(0)))
            .build();
        let node = state
            .node_registered("c1", "c1", Default::default(), secs(1))
            .expect("registered");
        assert_eq!(node.do_not_disrupt, expected, "case {name:?}");
    }
}
