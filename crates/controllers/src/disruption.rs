//! The disruption pipeline: the methods that remove or replace nodes voluntarily (emptiness,
//! Spotter's return to Spot, drift, multi-node and single-node consolidation; see
//! [`crate::disruption_methods`]) run in a fixed order, every [`crate::settings::Settings::disruption_poll`], through one
//! [`DisruptionPass`]: one budget count per NodePool for the whole pass, and a node taken by
//! one method is not offered to the next.

use std::fmt;
use std::time::Duration;

use crate::action::Action;
use crate::disruption_budgets::{DisruptionPass, next_budget_change};
use crate::settings::Settings;
use crate::state::ClusterState;

/// A way of disrupting nodes voluntarily.
pub trait DisruptionMethod: fmt::Debug + Send {
    /// Decides what to disrupt now, drawing from the pass's budgets for its own
    /// [`crate::disruption_budgets::BudgetReason`] (and taking each node it disrupts); returns
    /// the actions and when it wants to look again.
    fn disrupt(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>);

    /// The NodeClaims this method is replacing now that the state does not show as replaced
    /// (a multi-node command's candidates after the first): every pass counts them as
    /// disrupting before any method runs.
    fn replacing(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The methods, in the order they run.
#[derive(Debug)]
pub struct Pipeline {
    methods: Vec<Box<dyn DisruptionMethod>>,
}

impl Pipeline {
    /// A pipeline running `methods` in this order.
    pub fn new(methods: Vec<Box<dyn DisruptionMethod>>) -> Self {
        Self { methods }
    }

    /// Runs every method once over one shared pass; returns their actions in order and the
    /// earliest time one wants to look again. `deleted` names the NodeClaims other controllers
    /// delete in the same reconcile (expiry, interruptions), which the state does not show
    /// yet: they use their pools' budgets already.
    pub fn run(
        &mut self,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
        deleted: &[&str],
    ) -> (Vec<Action>, Option<Duration>) {
        let mut pass = DisruptionPass::new(state, now);
        for node_claim in deleted {
            pass.hold(state, node_claim);
        }
        for method in &self.methods {
            for node_claim in method.replacing() {
                pass.hold(state, &node_claim);
            }
        }
        let mut actions = Vec::new();
        // A scheduled budget opening or closing may let a method act, or stop it.
        let mut wake_at = next_budget_change(&state.node_pools, now);
        for method in &mut self.methods {
            let (more, wake) = method.disrupt(&mut pass, state, now, settings);
            actions.extend(more);
            if let Some(time) = wake {
                wake_at = Some(wake_at.map_or(time, |current| current.min(time)));
            }
        }
        (actions, wake_at)
    }
}
