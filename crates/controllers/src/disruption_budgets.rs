//! NodePool disruption budgets as Karpenter counts them (the most restrictive budget active at
//! the time, see [`crate::budget_schedule`], among those covering the reason), and one
//! disruption pass's shared view of them. A pool's nodes are its initialized nodes whose
//! instance is not terminating yet, and every one of them that is NotReady, being deleted (for
//! any reason) or being replaced by a consolidation, drift or rebalance command uses the
//! budget: as in Karpenter, where a command's candidates are marked for deletion when it
//! starts, such a node uses the budget from the launch of its replacement, not only once it is
//! deleted. Spotter's return to Spot is the exception: its fallback node keeps running
//! untouched while the Spot replacement launches, and uses the budget only from its drain
//! ([`crate::return_to_spot`] checks the room then).
//! The disruption methods of one pass ([`crate::disruption`]) all draw from one
//! [`DisruptionPass`]: one count per NodePool, and a node taken by one method is not offered
//! to the next.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spotter_core::node_pool::NodePool;

use crate::budget_schedule;
use crate::state::{ClusterState, NodeClaim, NodeState};

/// A pool's nodes as its budgets count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolDisruptions {
    /// Initialized nodes whose instance is not terminating.
    pub total: u32,
    /// Those of them NotReady or being deleted.
    pub disrupting: u32,
}

/// Why a disruption method disrupts nodes, as NodePool budgets name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BudgetReason {
    /// The node is empty (Karpenter's `Empty`).
    Empty,
    /// The node is underutilised (Karpenter's `Underutilized`).
    Underutilized,
    /// The node drifted from its NodePool or node class (Karpenter's `Drifted`).
    Drifted,
    /// Spotter's own: a fallback node replaced by Spot capacity. Karpenter's schema accepts
    /// only its three names in `budgets[].reasons`, so a budget that lists `Underutilized`
    /// covers returns to Spot too (both replace a node to cut its cost).
    ReturnToSpot,
    /// Spotter's own: a node EC2 recommended rebalancing replaced ahead of its interruption
    /// ([`crate::settings::Settings::rebalance_replacement`]). A budget that lists `Drifted`
    /// covers it too (both replace a node for what happened to it, not for its cost).
    Rebalance,
}

impl BudgetReason {
    /// The name a budget's `reasons` lists it by (`ReturnToSpot` and `Rebalance` are
    /// Spotter's).
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetReason::Empty => "Empty",
            BudgetReason::Underutilized => "Underutilized",
            BudgetReason::Drifted => "Drifted",
            BudgetReason::ReturnToSpot => "ReturnToSpot",
            BudgetReason::Rebalance => "Rebalance",
        }
    }

    /// Whether a budget that lists `listed` among its reasons covers this reason.
    pub fn covered_by(self, listed: &str) -> bool {
        listed == self.as_str()
            || (self == BudgetReason::ReturnToSpot
                && listed == BudgetReason::Underutilized.as_str())
            || (self == BudgetReason::Rebalance && listed == BudgetReason::Drifted.as_str())
    }
}

/// Every pool's counts, by pool name.
pub fn pool_disruptions(state: &ClusterState) -> BTreeMap<String, PoolDisruptions> {
    count(state).0
}

/// Whether the NodeClaim uses its pool's budget already, as the state shows it: it is counted
/// among the pool's nodes and is NotReady, being deleted, or being replaced (see
/// [`replaced`]).
pub fn uses_budget(state: &ClusterState, node_claim: &str) -> bool {
    count(state).1.contains(node_claim)
}

/// The NodeClaims being replaced as the state shows it: those a NodeClaim not being deleted
/// `replaces`, but for fallback nodes, whose replacements are returns to Spot (a
/// consolidation command that replaces a fallback node, where return to Spot is off, is
/// known to its method: [`crate::disruption::DisruptionMethod::replacing`]).
fn replaced(state: &ClusterState) -> BTreeSet<&str> {
    state
        .node_claims
        .values()
        .filter(|claim| claim.deletion.is_none())
        .filter_map(|claim| claim.replaces.as_deref())
        .filter(|name| {
            state
                .node_claims
                .get(*name)
                .is_some_and(|replaced| !replaced.fallback)
        })
        .collect()
}

/// The counts, and the NodeClaims counted as disrupting.
fn count(state: &ClusterState) -> (BTreeMap<String, PoolDisruptions>, BTreeSet<String>) {
    let replaced = replaced(state);
    let mut pools: BTreeMap<String, PoolDisruptions> = BTreeMap::new();
    let mut counted = BTreeSet::new();
    for claim in state.node_claims.values() {
        let Some(node) = budgeted_node(state, claim) else {
            continue;
        };
        let entry = pools.entry(claim.node_pool.clone()).or_default();
        entry.total += 1;
        if disrupting(claim, node) || replaced.contains(claim.name.as_str()) {
            entry.disrupting += 1;
            counted.insert(claim.name.clone());
        }
    }
    (pools, counted)
}

/// The node of a NodeClaim its pool's budgets count: initialized, its instance not
/// terminating.
fn budgeted_node<'a>(state: &'a ClusterState, claim: &NodeClaim) -> Option<&'a NodeState> {
    let instance_terminating = claim
        .deletion
        .as_ref()
        .is_some_and(|deletion| deletion.instance_terminating);
    if !claim.initialized || instance_terminating {
        return None;
    }
    claim.node.as_ref().and_then(|node| state.nodes.get(node))
}

/// Whether a counted NodeClaim is disrupting by its own state: being deleted, or NotReady.
fn disrupting(claim: &NodeClaim, node: &NodeState) -> bool {
    claim.deletion.is_some() || !node.ready
}

/// How many of the pool's `total` nodes its budgets let be disrupting at `now` for `reason`:
/// the most restrictive active budget that covers the reason (a budget whose schedule cannot
/// be read allows none, as in Karpenter; the API refuses such a NodePool anyway).
pub fn allowed(pool: &NodePool, reason: BudgetReason, total: u32, now: Duration) -> u32 {
    pool.disruption
        .budgets
        .iter()
        .filter(|budget| {
            budget.reasons.is_empty()
                || budget
                    .reasons
                    .iter()
                    .any(|listed| reason.covered_by(listed))
        })
        .filter_map(|budget| match budget_schedule::is_active(budget, now) {
            Ok(true) => Some(budget.nodes.allowed(total)),
            Ok(false) => None,
            Err(_) => Some(0),
        })
        .min()
        .unwrap_or(u32::MAX)
}

/// How many more of the pool's nodes may be disrupted at `now` for `reason`: what the most
/// restrictive active budget that covers the reason allows, less the nodes already
/// disrupting.
pub fn room(pool: &NodePool, reason: BudgetReason, counts: PoolDisruptions, now: Duration) -> u32 {
    allowed(pool, reason, counts.total, now).saturating_sub(counts.disrupting)
}

/// The next time after `now` at which one of the pools' scheduled budgets opens or closes.
pub fn next_budget_change(pools: &[NodePool], now: Duration) -> Option<Duration> {
    pools
        .iter()
        .flat_map(|pool| &pool.disruption.budgets)
        .filter_map(|budget| budget_schedule::next_change(budget, now))
        .min()
}

/// One disruption pass's budgets: the count every method of the pass draws from, the nodes
/// counted as disrupting, and the nodes already taken.
#[derive(Debug, Default)]
pub struct DisruptionPass {
    counts: BTreeMap<String, PoolDisruptions>,
    counted: BTreeSet<String>,
    taken: BTreeSet<String>,
    now: Duration,
}

impl DisruptionPass {
    /// The budgets as the state has them at the start of a pass at `now` (which decides the
    /// scheduled budgets that are active).
    pub fn new(state: &ClusterState, now: Duration) -> Self {
        let (counts, counted) = count(state);
        Self {
            counts,
            counted,
            taken: BTreeSet::new(),
            now,
        }
    }

    /// How many more of the pool's nodes may be disrupted in this pass for `reason`.
    pub fn room(&self, pool: &NodePool, reason: BudgetReason) -> u32 {
        room(
            pool,
            reason,
            self.counts.get(&pool.name).copied().unwrap_or_default(),
            self.now,
        )
    }

    /// Counts a NodeClaim a method is replacing (a command in flight that the state does not
    /// show, such as a multi-node command's candidates after the first) as disrupting, once.
    pub fn hold(&mut self, state: &ClusterState, node_claim: &str) {
        let Some(claim) = state.node_claims.get(node_claim) else {
            return;
        };
        if budgeted_node(state, claim).is_none() || !self.counted.insert(claim.name.clone()) {
            return;
        }
        self.counts
            .entry(claim.node_pool.clone())
            .or_default()
            .disrupting += 1;
    }

    /// Whether the NodeClaim uses its pool's budget already (being deleted, NotReady, replaced,
    /// held or taken): finishing its disruption needs no more room.
    pub fn uses_budget(&self, node_claim: &str) -> bool {
        self.counted.contains(node_claim)
    }

    /// Takes a NodeClaim of `node_pool` for disruption: it uses the pool's budget (unless it
    /// does already) and no later method is offered it. False if a method took it already.
    pub fn take(&mut self, node_pool: &str, node_claim: &str) -> bool {
        if !self.taken.insert(node_claim.to_string()) {
            return false;
        }
        if self.counted.insert(node_claim.to_string()) {
            self.counts
                .entry(node_pool.to_string())
                .or_default()
                .disrupting += 1;
        }
        true
    }

    /// Whether a method of this pass took the NodeClaim.
    pub fn is_taken(&self, node_claim: &str) -> bool {
        self.taken.contains(node_claim)
    }
}
