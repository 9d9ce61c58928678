//! Drift: the NodePool template hash (what changes it and what never does), requirement
//! drift, and the drift method (replacement first, within `Drifted` budgets, held back by
//! `karpenter.sh/do-not-disrupt` and blocking PodDisruptionBudgets, no validation wait).

mod support;

use std::time::Duration;

use spotter_cloud::NodeClassDrift;
use spotter_controllers::Outcome;
use spotter_controllers::consolidation::{Consolidation, Scope};
use spotter_controllers::disruption_budgets::DisruptionPass;
use spotter_controllers::drift::{self, Drift};
use spotter_controllers::node_claim_names::NodeClaimNames;
use support::*;

/// A NodePool `batch` allowing Spot and on-demand, whose budgets let every node go.
fn pool() -> NodePool {
    let mut pool = node_pool("batch")
        .capacity_types(&["spot", "on-demand"])
        .build();
    pool.disruption.budgets = vec![budget(BudgetNodes::Percent(100), &[])];
    pool
}

#[test]
fn the_template_hash_changes_with_the_template_only() {
    let base = pool();
    let changed = |change: fn(&mut NodePool)| {
        let mut pool = pool();
        change(&mut pool);
        pool
    };
    let cases: [(&str, NodePool, bool); 12] = [
        ("the same pool", pool(), false),
        (
            "a template label",
            changed(|pool| {
                pool.labels.insert("team".into(), "a".into());
            }),
            true,
        ),
        (
            "a template annotation",
            changed(|pool| {
                pool.annotations.insert("note".into(), "x".into());
            }),
            true,
        ),
        (
            "a taint",
            changed(|pool| pool.taints.push(Taint::new("gpu", "", Effect::NoSchedule))),
            true,
        ),
        (
            "a startup taint",
            changed(|pool| {
                pool.startup_taints
                    .push(Taint::new("cni", "", Effect::NoSchedule));
            }),
            true,
        ),
        (
            "the node class",
            changed(|pool| pool.node_class = "other".into()),
            true,
        ),
        (
            "expireAfter",
            changed(|pool| pool.expire_after = Some(Duration::from_secs(3600))),
            true,
        ),
        (
            "terminationGracePeriod",
            changed(|pool| pool.termination_grace_period = Some(Duration::from_secs(60))),
            true,
        ),
        ("weight", changed(|pool| pool.weight = 50), false),
        (
            "limits",
            changed(|pool| *pool = node_pool("batch").limit("cpu", "100").build()),
            false,
        ),
        (
            "disruption",
            changed(|pool| pool.disruption.consolidate_after = None),
            false,
        ),
        (
            "requirements (checked apart)",
            changed(|pool| {
                pool.requirements
                    .add(labels::ZONE, Requirement::single("zone-b"));
            }),
            false,
        ),
    ];
    for (name, pool, drifts) in cases {
        assert_eq!(
            drift::node_pool_hash(&pool) != drift::node_pool_hash(&base),
            drifts,
            "case {name:?}"
        );
    }
}

#[test]
fn what_drifts() {
    let hash = drift::node_pool_hash(&pool());
    let node = |claim: ClaimBuilder, pool: NodePool| {
        state()
            .pool(pool)
            .instance_types(catalog())
            .claim_with_node(claim, secs(0))
            .build()
    };
    let spot_claim = || claim("c1", "batch").spot(secs(0));
    let cases = [
        (
            "same hash, requirements met",
            node(spot_claim().node_pool_hash(&hash), pool()),
            None,
        ),
        (
            "no hash recorded, requirements met",
            node(spot_claim(), pool()),
            None,
        ),
        (
            "the template changed",
            node(spot_claim().node_pool_hash("0000000000000000"), pool()),
            Some(Drift::NodePoolTemplate),
        ),
        (
            "the pool now wants on-demand: a Spot node drifted",
            node(
                spot_claim().node_pool_hash(&hash),
                node_pool("batch").capacity_types(&["on-demand"]).build(),
            ),
            Some(Drift::Requirements),
        ),
        (
            "the pool now wants another zone",
            node(spot_claim().node_pool_hash(&hash), {
                let mut pool = pool();
                pool.requirements
                    .add(labels::ZONE, Requirement::single("zone-b"));
                pool
            }),
            Some(Drift::Requirements),
        ),
        (
            "only the weight changed: not drifted",
            node(spot_claim().node_pool_hash(&hash), {
                let mut pool = pool();
                pool.weight = 90;
                pool
            }),
            None,
        ),
        (
            "the cloud says its AMI is no longer the node class's",
            node_class_drifted(
                node(spot_claim().node_pool_hash(&hash), pool()),
                NodeClassDrift::Ami,
            ),
            Some(Drift::NodeClass(NodeClassDrift::Ami)),
        ),
        (
            "the cloud says its security groups changed",
            node_class_drifted(
                node(spot_claim().node_pool_hash(&hash), pool()),
                NodeClassDrift::SecurityGroup,
            ),
            Some(Drift::NodeClass(NodeClassDrift::SecurityGroup)),
        ),
        (
            "a static field of its node class changed",
            node_class_hash(node(spot_claim().node_class_hash("aaaa"), pool()), "bbbb"),
            Some(Drift::NodeClassStatic),
        ),
        (
            "its node class's static fields are as they were",
            node_class_hash(node(spot_claim().node_class_hash("aaaa"), pool()), "aaaa"),
            None,
        ),
        (
            "no node class hash recorded (a claim of another hash version)",
            node_class_hash(node(spot_claim(), pool()), "bbbb"),
            None,
        ),
        (
            "its node class is gone: nothing to compare with",
            node(spot_claim().node_class_hash("aaaa"), pool()),
            None,
        ),
        (
            "the node class's static drift is told before the cloud's answer, as Karpenter's \
             AWS provider checks it first",
            node_class_drifted(
                node_class_hash(node(spot_claim().node_class_hash("aaaa"), pool()), "bbbb"),
                NodeClassDrift::Ami,
            ),
            Some(Drift::NodeClassStatic),
        ),
        (
            "requirements are checked before the node class",
            node_class_hash(
                node(
                    spot_claim().node_class_hash("aaaa"),
                    node_pool("batch").capacity_types(&["on-demand"]).build(),
                ),
                "bbbb",
            ),
            Some(Drift::Requirements),
        ),
        (
            "template drift is told before the cloud's answer, as Karpenter checks it first",
            node_class_drifted(
                node(spot_claim().node_pool_hash("0000000000000000"), pool()),
                NodeClassDrift::Subnet,
            ),
            Some(Drift::NodePoolTemplate),
        ),
    ];
    for (name, state, expected) in cases {
        assert_eq!(
            drift::drifted(&state, &state.node_claims["c1"]),
            expected,
            "case {name:?}"
        );
    }
}

/// `state` with the cloud's answer that claim `c1`'s instance drifted from its node class.
fn node_class_drifted(mut state: ClusterState, drift: NodeClassDrift) -> ClusterState {
    state.node_class_drift.insert("c1".to_string(), drift);
    state
}

/// `state` with `hash` as the static hash of the pool's node class now.
fn node_class_hash(mut state: ClusterState, hash: &str) -> ClusterState {
    assert!(state.node_class_applied(&pool().node_class, hash.to_string()));
    state
}

#[test]
fn drift_reasons_are_karpenters() {
    let cases = [
        (Drift::NodePoolTemplate, "NodePoolDrifted"),
        (Drift::Requirements, "RequirementsDrifted"),
        (Drift::NodeClassStatic, "NodeClassDrift"),
        (Drift::NodeClass(NodeClassDrift::Ami), "AMIDrift"),
        (Drift::NodeClass(NodeClassDrift::Subnet), "SubnetDrift"),
        (
            Drift::NodeClass(NodeClassDrift::SecurityGroup),
            "SecurityGroupDrift",
        ),
    ];
    for (drift, reason) in cases {
        assert_eq!(drift.reason(), reason);
    }
}

struct Case {
    name: &'static str,
    state: ClusterState,
    expected: Vec<String>,
}

/// A cluster with `pool` (whose template changed since every claim was created) and, per
/// `(name, capacity type, pods' CPU)`, a registered `m5.large` node running one pod each.
fn drifted_cluster(pool: NodePool, nodes: &[(&str, CapacityType, &[&str])]) -> ClusterStateBuilder {
    let mut builder = state().pool(pool).instance_types(catalog());
    for (name, capacity_type, pods) in nodes {
        builder = builder.claim_with_node(
            claim(name, "batch")
                .launched("m5.large", *capacity_type, "zone-a", secs(0))
                .node_pool_hash("old"),
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

/// [`pool`] with one budget: one node at a time.
fn budget_of_one() -> NodePool {
    let mut pool = pool();
    pool.disruption.budgets = vec![budget(BudgetNodes::Count(1), &[])];
    pool
}

fn drifted(claim: &str) -> String {
    describe(&delete(claim, DisruptionReason::Drifted, None))
}

#[test]
fn the_drift_method() {
    use CapacityType::Spot;
    let cases = vec![
        Case {
            name: "pods fit elsewhere: deleted as drifted at once (no validation)",
            state: drifted_cluster(pool(), &[("c1", Spot, &["500m"])])
                .claim_with_node(
                    claim("c2", "batch")
                        .spot(secs(0))
                        .node_pool_hash(&drift::node_pool_hash(&pool())),
                    secs(0),
                )
                .build(),
            expected: vec![drifted("c1")],
        },
        Case {
            name: "pods need a new node: replaced first, at any price",
            state: drifted_cluster(pool(), &[("c1", Spot, &["500m"])]).build(),
            expected: vec![
                "create batch-00001 pool=batch capacity=on-demand,spot types=m5.large,m5.xlarge \
                 pods= fallback=false replaces=c1"
                    .to_string(),
            ],
        },
        Case {
            name: "an empty drifted node is deleted",
            state: drifted_cluster(pool(), &[("c1", Spot, &[])]).build(),
            expected: vec![drifted("c1")],
        },
        Case {
            name: "a budget of 0 for Drifted holds it",
            state: drifted_cluster(
                {
                    let mut pool = pool();
                    pool.disruption
                        .budgets
                        .push(budget(BudgetNodes::Count(0), &["Drifted"]));
                    pool
                },
                &[("c1", Spot, &[])],
            )
            .build(),
            expected: vec![],
        },
        Case {
            name: "a node whose replacement is in flight uses the budget of 1: the next waits",
            state: drifted_cluster(
                budget_of_one(),
                &[("c1", Spot, &["500m"]), ("c2", Spot, &["500m"])],
            )
            .claim(claim("r1", "batch").spot(secs(300)).replaces("c1"))
            .build(),
            expected: vec![],
        },
        Case {
            name: "a budget of 2 lets the next one go beside the one in flight",
            state: drifted_cluster(
                {
                    let mut pool = pool();
                    pool.disruption.budgets = vec![budget(BudgetNodes::Count(2), &[])];
                    pool
                },
                &[("c1", Spot, &["500m"]), ("c2", Spot, &["500m"])],
            )
            .claim(claim("r1", "batch").spot(secs(300)).replaces("c1"))
            .build(),
            expected: vec![drifted("c2")],
        },
        Case {
            name: "a replacement being deleted holds no budget",
            state: drifted_cluster(
                budget_of_one(),
                &[("c1", Spot, &["500m"]), ("c2", Spot, &["500m"])],
            )
            .claim(
                claim("r1", "batch")
                    .spot(secs(300))
                    .replaces("c1")
                    .deleting(DisruptionReason::Empty, secs(400)),
            )
            .build(),
            expected: vec![drifted("c1")],
        },
        Case {
            name: "a do-not-disrupt pod holds it",
            state: drifted_cluster(pool(), &[("c1", Spot, &[])])
                .pod(bound(
                    pod("pinned").cpu("100m").do_not_disrupt().build(),
                    "c1",
                ))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a do-not-disrupt node is kept",
            state: drifted_cluster(pool(), &[("c1", Spot, &[])])
                .map_node("c1", |node| node.do_not_disrupt = true)
                .build(),
            expected: vec![],
        },
        Case {
            name: "a blocking PodDisruptionBudget holds it",
            state: drifted_cluster(pool(), &[("c1", Spot, &["500m"])])
                .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a node whose AMI drifted (the cloud's answer) is replaced the same way",
            state: node_class_drifted(
                state()
                    .pool(pool())
                    .instance_types(catalog())
                    .claim_with_node(
                        claim("c1", "batch")
                            .spot(secs(0))
                            .node_pool_hash(&drift::node_pool_hash(&pool())),
                        secs(0),
                    )
                    .build(),
                NodeClassDrift::Ami,
            ),
            expected: vec![drifted("c1")],
        },
        Case {
            name: "a node that has not drifted is left alone",
            state: state()
                .pool(pool())
                .instance_types(catalog())
                .claim_with_node(
                    claim("c1", "batch")
                        .spot(secs(0))
                        .node_pool_hash(&drift::node_pool_hash(&pool())),
                    secs(0),
                )
                .build(),
            expected: vec![],
        },
    ];
    let settings = Settings::default();
    let mut failures = Vec::new();
    for case in cases {
        let mut method = Consolidation::new(Scope::Drift, NodeClaimNames::new(7));
        let now = secs(600);
        let (actions, _) = method.decide(
            &mut DisruptionPass::new(&case.state, now),
            &case.state,
            now,
            &settings,
        );
        let actions = StableNames::default().describe_all(&actions);
        if actions != case.expected {
            failures.push(format!(
                "case {:?}:\n  expected {:#?}\n  actual   {:#?}",
                case.name, case.expected, actions
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_new_claim_records_its_pool_and_node_class_hashes() {
    let mut state = state().pool(pool()).instance_types(catalog()).build();
    let request = |name: &str| {
        Action::CreateNodeClaim(NodeClaimRequest {
            name: name.to_string(),
            node_pool: "batch".to_string(),
            requirements: Requirements::default(),
            instance_types: vec!["m5.large".to_string()],
            pods: Vec::new(),
            fallback: false,
            replaces: None,
        })
    };
    let settings = Settings::default();
    state.apply(&request("before"), Outcome::Done, secs(0), &settings);
    assert!(state.node_class_applied(&pool().node_class, "aaaa".to_string()));
    state.apply(&request("after"), Outcome::Done, secs(1), &settings);
    let before = &state.node_claims["before"];
    assert_eq!(before.node_pool_hash, Some(drift::node_pool_hash(&pool())));
    assert_eq!(before.node_class_hash, None, "the class was not known yet");
    assert_eq!(
        state.node_claims["after"].node_class_hash.as_deref(),
        Some("aaaa")
    );
    // A class applied again unchanged changes nothing; deleted, it is forgotten.
    assert!(!state.node_class_applied(&pool().node_class, "aaaa".to_string()));
    assert!(state.node_class_deleted(&pool().node_class));
    assert!(state.node_class_hashes.is_empty());
}
