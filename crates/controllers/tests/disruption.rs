//! The disruption pipeline: its methods (emptiness, then return to Spot) draw from one budget
//! count per NodePool per pass, and a node taken by one is not offered to the next. Each
//! method alone sees the whole budget; together they share it. A fallback node whose return to
//! Spot is in flight uses no budget until it drains; a node a method is replacing uses it
//! from the launch of its replacement.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spotter_controllers::disruption::{DisruptionMethod, Pipeline};
use spotter_controllers::disruption_budgets::{BudgetReason, DisruptionPass};
use spotter_controllers::emptiness::{self, Emptiness};
use spotter_controllers::return_to_spot::ReturnToSpot;
use spotter_core::node_pool::Budget as NodePoolBudget;
use support::*;

/// Which methods a case runs.
#[derive(Clone, Copy, Debug)]
enum Methods {
    /// The pipeline: emptiness, then return to Spot, sharing one pass.
    Pipeline,
    /// Emptiness alone.
    EmptinessAlone,
    /// Return to Spot alone.
    ReturnToSpotAlone,
}

struct Case {
    name: &'static str,
    budget_nodes: BudgetNodes,
    methods: Methods,
    expected: Vec<Action>,
}

/// The fallback pool (on-demand, `consolidateAfter: 0s`, one budget of `nodes`) with an
/// empty node `e1` and a fallback node `f1` (pods `a`, `b`) whose Spot replacement `r1` in
/// `batch` is initialized: emptiness wants `e1`, return to Spot wants `f1`.
fn cluster(nodes: BudgetNodes) -> ClusterState {
    let mut fallback_pool = node_pool("batch-fallback")
        .weight(10)
        .capacity_types(&["on-demand"])
        .build();
    fallback_pool.disruption.consolidate_after = Some(Duration::ZERO);
    fallback_pool.disruption.budgets = vec![NodePoolBudget {
        nodes,
        schedule: None,
        duration: None,
        reasons: Vec::new(),
    }];
    state()
        .pool(
            node_pool("batch")
                .weight(100)
                .capacity_types(&["spot"])
                .build(),
        )
        .pool(fallback_pool)
        .instance_types(catalog())
        .claim_with_node(claim("e1", "batch-fallback").fallback(secs(0)), secs(0))
        .claim_with_node(claim("f1", "batch-fallback").fallback(secs(0)), secs(0))
        .pod(bound(pod("a").cpu("500m").build(), "f1"))
        .pod(bound(pod("b").cpu("500m").build(), "f1"))
        .claim_with_node(claim("r1", "batch").spot(secs(60)).replaces("f1"), secs(60))
        .build()
}

fn run(case: &Case) -> Vec<Action> {
    let state = cluster(case.budget_nodes);
    let settings = Settings::default();
    let now = secs(600);
    match case.methods {
        Methods::Pipeline => {
            let methods: Vec<Box<dyn DisruptionMethod>> =
                vec![Box::new(Emptiness), Box::new(ReturnToSpot::default())];
            Pipeline::new(methods).run(&state, now, &settings, &[]).0
        }
        Methods::EmptinessAlone => emptiness::reconcile(&state, now).0,
        Methods::ReturnToSpotAlone => ReturnToSpot::default().reconcile(&state, now, &settings).0,
    }
    .into_iter()
    .filter(|action| matches!(action, Action::DeleteNodeClaim { .. }))
    .collect()
}

#[test]
fn methods_share_one_budget_per_pass() {
    let empty = || delete("e1", DisruptionReason::Empty, None);
    let returned = || delete("f1", DisruptionReason::ReturnToSpot, None);
    let cases = [
        Case {
            name: "alone, emptiness takes the budget of 1",
            budget_nodes: BudgetNodes::Count(1),
            methods: Methods::EmptinessAlone,
            expected: vec![empty()],
        },
        Case {
            name: "alone, return to Spot takes the budget of 1 too",
            budget_nodes: BudgetNodes::Count(1),
            methods: Methods::ReturnToSpotAlone,
            expected: vec![returned()],
        },
        Case {
            name: "together, the first method in order takes the only disruption the budget allows",
            budget_nodes: BudgetNodes::Count(1),
            methods: Methods::Pipeline,
            expected: vec![empty()],
        },
        Case {
            name: "together, a budget of 2 lets both act",
            budget_nodes: BudgetNodes::Count(2),
            methods: Methods::Pipeline,
            expected: vec![empty(), returned()],
        },
        Case {
            name: "together, a budget of 0 stops both",
            budget_nodes: BudgetNodes::Count(0),
            methods: Methods::Pipeline,
            expected: vec![],
        },
    ];
    for case in &cases {
        assert_eq!(
            describe_all(&run(case)),
            describe_all(&case.expected),
            "case {:?}",
            case.name
        );
    }
}

/// A method that is replacing `e1` (as a multi-node command's later candidates are known only
/// to their method) and records the room it finds.
#[derive(Debug, Default)]
struct Replacing {
    room: Arc<Mutex<Option<u32>>>,
}

impl DisruptionMethod for Replacing {
    fn disrupt(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        _now: Duration,
        _settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        let pool = state.node_pool("batch-fallback").expect("the pool");
        *self.room.lock().expect("the room") = Some(pass.room(pool, BudgetReason::Empty));
        (Vec::new(), None)
    }

    fn replacing(&self) -> Vec<String> {
        vec!["e1".to_string()]
    }
}

#[test]
fn the_pipeline_counts_what_its_methods_are_replacing_before_any_runs() {
    let cases = [
        // e1, held by the method, uses one; f1, its return to Spot in flight, none.
        (BudgetNodes::Count(3), 2),
        (BudgetNodes::Count(2), 1),
        (BudgetNodes::Count(1), 0),
    ];
    for (budget_nodes, room) in cases {
        let state = cluster(budget_nodes);
        let method = Replacing::default();
        let seen = Arc::clone(&method.room);
        Pipeline::new(vec![Box::new(method)]).run(&state, secs(600), &Settings::default(), &[]);
        assert_eq!(
            *seen.lock().expect("the room"),
            Some(room),
            "budget {budget_nodes:?}"
        );
    }
}

#[test]
fn a_node_held_twice_uses_the_budget_once() {
    let state = cluster(BudgetNodes::Count(3));
    let pool = state.node_pool("batch-fallback").expect("the pool");
    let mut pass = DisruptionPass::new(&state, secs(600));
    assert_eq!(
        pass.room(pool, BudgetReason::Empty),
        3,
        "f1's return to Spot in flight uses none"
    );
    pass.hold(&state, "e1");
    pass.hold(&state, "e1");
    pass.hold(&state, "f1");
    assert_eq!(pass.room(pool, BudgetReason::Empty), 1);
    assert!(pass.uses_budget("e1") && pass.uses_budget("f1"));
    assert!(pass.take("batch-fallback", "e1"), "held, not taken");
    assert_eq!(
        pass.room(pool, BudgetReason::Empty),
        1,
        "taking a held node adds nothing"
    );
    assert!(!pass.take("batch-fallback", "e1"), "taken once");
}

#[test]
fn a_node_another_controller_deletes_in_the_same_reconcile_uses_the_budget() {
    // Expiry or an interruption deleting f1 in the reconcile that runs the pipeline: the state
    // does not show it yet, the pass does.
    let empty = || delete("e1", DisruptionReason::Empty, None);
    let cases: [(&str, &[&str], Vec<Action>); 2] = [
        (
            "nothing else deleted: emptiness takes the budget of 1",
            &[],
            vec![empty()],
        ),
        (
            "f1 deleted beside: the budget of 1 is used",
            &["f1"],
            vec![],
        ),
    ];
    for (name, deleted, expected) in cases {
        let state = cluster(BudgetNodes::Count(1));
        let methods: Vec<Box<dyn DisruptionMethod>> = vec![Box::new(Emptiness)];
        let (actions, _) =
            Pipeline::new(methods).run(&state, secs(600), &Settings::default(), deleted);
        assert_eq!(
            describe_all(&actions),
            describe_all(&expected),
            "case {name:?}"
        );
    }
}
