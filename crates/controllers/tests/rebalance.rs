//! Rebalance replacement ([`Settings::rebalance_replacement`]): a node EC2 recommended
//! rebalancing is replaced before its interruption (replacement first, of another instance
//! type, drained only once the replacement is initialized), within the budgets that cover
//! `Drifted`, held back by `karpenter.sh/do-not-disrupt` and blocking PodDisruptionBudgets;
//! with the setting off (the default, as Karpenter) the recommendation changes nothing.

mod support;

use std::time::Duration;

use spotter_controllers::consolidation::{Consolidation, Scope};
use spotter_controllers::disruption_budgets::DisruptionPass;
use spotter_controllers::node_claim_names::NodeClaimNames;
use spotter_controllers::transitions::Outcome;
use support::*;

const NOW: Duration = Duration::from_secs(600);

/// A NodePool `batch` allowing Spot and on-demand, whose budgets let every node go.
fn pool() -> NodePool {
    let mut pool = node_pool("batch")
        .capacity_types(&["spot", "on-demand"])
        .build();
    pool.disruption.budgets = vec![budget(BudgetNodes::Percent(100), &[])];
    pool
}

/// A cluster with `pool` and, per `(name, pods' CPU)`, a registered Spot `m5.large` node
/// running one `web` pod per entry.
fn cluster(pool: NodePool, nodes: &[(&str, &[&str])]) -> ClusterStateBuilder {
    let mut builder = state().pool(pool).instance_types(catalog());
    for (name, pods) in nodes {
        builder = builder.claim_with_node(
            claim(name, "batch").launched("m5.large", CapacityType::Spot, "zone-a", secs(0)),
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

fn rebalance(claim: &str) -> InterruptionNotice {
    notice(claim, NoticeKind::RebalanceRecommendation, secs(590))
}

fn rebalanced(claim: &str) -> String {
    describe(&delete(claim, DisruptionReason::RebalanceRecommended, None))
}

fn replacement_of(claim: &str, types: &str) -> String {
    format!(
        "create batch-00001 pool=batch capacity=on-demand,spot types={types} pods= \
         fallback=false replaces={claim}"
    )
}

struct Case {
    name: &'static str,
    state: ClusterState,
    expected: Vec<String>,
}

#[test]
fn the_rebalance_method() {
    let cases = vec![
        Case {
            name: "pods need a new node: replaced first, by another instance type",
            state: cluster(pool(), &[("c1", &["500m"])])
                .notice(rebalance("c1"))
                .build(),
            expected: vec![replacement_of("c1", "m5.xlarge")],
        },
        Case {
            name: "pods fit on another node: deleted at once (no validation)",
            state: cluster(pool(), &[("c1", &["500m"]), ("c2", &[])])
                .notice(rebalance("c1"))
                .build(),
            expected: vec![rebalanced("c1")],
        },
        Case {
            name: "the pool allows only the node's own type: replaced by that type",
            state: cluster(
                {
                    let mut pool = pool();
                    pool.requirements
                        .add(labels::INSTANCE_TYPE, Requirement::single("m5.large"));
                    pool
                },
                &[("c1", &["500m"])],
            )
            .notice(rebalance("c1"))
            .build(),
            expected: vec![replacement_of("c1", "m5.large")],
        },
        Case {
            name: "pods that need two new nodes: left for the interruption warning",
            state: cluster(pool(), &[("c1", &["3500m", "3500m"])])
                .notice(rebalance("c1"))
                .build(),
            expected: vec![],
        },
        Case {
            name: "no recommendation: left alone",
            state: cluster(pool(), &[("c1", &["500m"])]).build(),
            expected: vec![],
        },
        Case {
            name: "a scheduled change is not a recommendation (the interruption controller's)",
            state: cluster(pool(), &[("c1", &["500m"])])
                .notice(notice("c1", NoticeKind::ScheduledChange, secs(590)))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a recommendation for another instance",
            state: cluster(pool(), &[("c1", &["500m"])])
                .notice(rebalance("c9"))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a budget of 0 for Drifted covers it",
            state: cluster(
                {
                    let mut pool = pool();
                    pool.disruption
                        .budgets
                        .push(budget(BudgetNodes::Count(0), &["Drifted"]));
                    pool
                },
                &[("c1", &["500m"])],
            )
            .notice(rebalance("c1"))
            .build(),
            expected: vec![],
        },
        Case {
            name: "a budget of 0 for Underutilized does not",
            state: cluster(
                {
                    let mut pool = pool();
                    pool.disruption
                        .budgets
                        .push(budget(BudgetNodes::Count(0), &["Underutilized"]));
                    pool
                },
                &[("c1", &["500m"])],
            )
            .notice(rebalance("c1"))
            .build(),
            expected: vec![replacement_of("c1", "m5.xlarge")],
        },
        Case {
            name: "a do-not-disrupt node is kept",
            state: cluster(pool(), &[("c1", &["500m"])])
                .map_node("c1", |node| node.do_not_disrupt = true)
                .notice(rebalance("c1"))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a blocking PodDisruptionBudget holds it",
            state: cluster(pool(), &[("c1", &["500m"])])
                .pdb(pdb("web", Budget::MaxUnavailable(Amount::Count(0)), 1))
                .notice(rebalance("c1"))
                .build(),
            expected: vec![],
        },
        Case {
            name: "a node being deleted already is left to its deletion",
            state: cluster(pool(), &[])
                .claim_with_node(
                    claim("c1", "batch")
                        .launched("m5.large", CapacityType::Spot, "zone-a", secs(0))
                        .deleting(DisruptionReason::Underutilized, secs(500)),
                    secs(0),
                )
                .notice(rebalance("c1"))
                .build(),
            expected: vec![],
        },
    ];
    let settings = Settings {
        rebalance_replacement: true,
        ..Settings::default()
    };
    let mut failures = Vec::new();
    for case in cases {
        let mut method = Consolidation::new(Scope::Rebalance, NodeClaimNames::new(7));
        let (actions, _) = method.decide(
            &mut DisruptionPass::new(&case.state, NOW),
            &case.state,
            NOW,
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

/// The node is drained only once its replacement is initialized: launched and registered is
/// not enough.
#[test]
fn the_node_is_drained_only_once_its_replacement_is_initialized() {
    let settings = Settings {
        rebalance_replacement: true,
        ..Settings::default()
    };
    let mut state = cluster(pool(), &[("c1", &["500m"])])
        .notice(rebalance("c1"))
        .build();
    let mut method = Consolidation::new(Scope::Rebalance, NodeClaimNames::new(7));
    let mut decide = |state: &ClusterState, at: Duration| {
        method
            .decide(&mut DisruptionPass::new(state, at), state, at, &settings)
            .0
    };
    let actions = decide(&state, NOW);
    let [Action::CreateNodeClaim(request)] = actions.as_slice() else {
        panic!("expected a replacement, got {actions:#?}");
    };
    let replacement = request.name.clone();
    state.apply(&actions[0], Outcome::Done, NOW, &settings);

    let launched = claim(&replacement, "batch")
        .launched("m5.xlarge", CapacityType::Spot, "zone-a", NOW + secs(5))
        .build();
    let node = node_for(&launched, &state.instance_types, NOW + secs(5));
    state.nodes.insert(node.name.clone(), node);
    let entry = state
        .node_claims
        .get_mut(&replacement)
        .expect("the replacement claim");
    entry.launch = launched.launch;
    entry.node = Some(replacement.clone());
    assert_eq!(
        decide(&state, NOW + secs(10)),
        vec![],
        "registered but not initialized: the node stays"
    );

    state
        .node_claims
        .get_mut(&replacement)
        .expect("the replacement claim")
        .initialized = true;
    assert_eq!(
        decide(&state, NOW + secs(20)),
        vec![delete("c1", DisruptionReason::RebalanceRecommended, None)],
        "initialized: the node is drained"
    );
}

/// The setting decides whether the controllers run the method at all.
#[test]
fn the_setting_turns_the_method_on_and_off() {
    let state = cluster(pool(), &[("c1", &["500m"])])
        .notice(rebalance("c1"))
        .build();
    for (policy, rebalance_replacement, replaced) in [
        (Policy::Spotter, false, false),
        (Policy::Karpenter, false, false),
        (Policy::Spotter, true, true),
        (Policy::Karpenter, true, true),
    ] {
        let settings = Settings {
            rebalance_replacement,
            ..Settings::for_policy(policy)
        };
        let reconciled = Controllers::new(settings).reconcile(&state, NOW);
        let creates = reconciled
            .actions
            .iter()
            .filter(|action| {
                matches!(action, Action::CreateNodeClaim(request)
                    if request.replaces.as_deref() == Some("c1"))
            })
            .count();
        assert_eq!(
            creates,
            usize::from(replaced),
            "{policy} with rebalance_replacement={rebalance_replacement}: {:#?}",
            reconciled.actions
        );
    }
    assert!(!Settings::default().rebalance_replacement);
    assert!(!Settings::for_policy(Policy::Karpenter).rebalance_replacement);
}
