//! Consolidation with Karpenter v1's semantics, as two disruption methods: multi-node (several
//! underutilised nodes removed at once, replaced by at most one node) and single-node (one
//! node deleted, or replaced by one cheaper node); drift ([`Scope::Drift`]), which moves
//! drifted nodes' pods the same way without the price rule and the validation; and Spotter's
//! rebalance replacement ([`Scope::Rebalance`]), which moves the pods of a node EC2
//! recommended rebalancing the same way, ahead of its interruption.
//!
//! A node is a candidate once it is initialized, its NodePool's policy is
//! `WhenEmptyOrUnderutilized` and no pod came or went for the pool's `consolidateAfter` (the
//! `Consolidatable` condition), it runs workload pods (empty nodes are
//! [`crate::emptiness`]'s), none of them is annotated `karpenter.sh/do-not-disrupt` or covered by
//! a PodDisruptionBudget that allows no disruption now, the node itself is not annotated
//! `karpenter.sh/do-not-disrupt`, and its pool's budgets for
//! `Underutilized` have room. Candidates are tried cheapest to disrupt first (fewest pods).
//!
//! A command is found by solving the candidates' pods against the other nodes and the NodePools:
//! when they all fit elsewhere the candidates are deleted; when exactly one new node is needed it
//! replaces them only if it is cheaper, judged by the *worst-case* price of each of its instance
//! types' compatible offerings (never one node split into two). An on-demand node replaced by a
//! replacement that may be Spot is pinned to Spot; a Spot node is replaced by Spot only behind the
//! `SpotToSpotConsolidation` gate ([`crate::settings::Settings::spot_to_spot_consolidation`]),
//! and single-node needs 15 cheaper instance types for it (the launch gets the 15 cheapest).
//! A command waits [`crate::settings::Settings::consolidation_validation`] (15 s) and is
//! computed again before it runs; it runs only if it still holds.
//!
//! A replacement launches first (a NodeClaim that `replaces` the first candidate, held empty for
//! it); once it is initialized the candidates are deleted. A replacement that fails to launch
//! leaves the candidates alone. With Spotter's return to Spot on for a pool, its fallback nodes
//! are only ever deleted here, never replaced: replacing them is return to Spot's job.
//!
//! Searching costs a scheduling simulation per try, so it is paced: a look that finds nothing
//! is followed by the next one after [`LOOK_INTERVAL`], doubling up to [`MAX_LOOK_INTERVAL`]
//! while looks stay in vain; a candidate simulated in vain is simulated again only once the
//! cluster is better for it ([`Snapshot`]: capacity freed somewhere, a new node, new prices or
//! offerings); and one look simulates at most [`SINGLE_NODE_MAX_TRIES`] single-node candidates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use spotter_core::labels;
use spotter_core::node_pool::ConsolidationPolicy;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;
use spotter_core::requirements::{Requirement, Requirements};
use spotter_core::solver::{PlannedNodeClaim, PreparedPools, SchedulingInput, solve_prepared};

use crate::action::{Action, NodeClaimRequest};
use crate::disruption::DisruptionMethod;
use crate::disruption_budgets::{BudgetReason, DisruptionPass};
use crate::drift;
use crate::node_claim_names::NodeClaimNames;
use crate::node_pool_usage::limits_usage;
use crate::provisioner::solver_nodes;
use crate::return_to_spot::pool_settings;
use crate::settings::Settings;
use crate::state::{ClusterState, DisruptionReason, LaunchState, NodeClaim, NoticeKind};

/// Spot-to-Spot single-node consolidation needs at least this many cheaper instance types,
/// and launches the cheapest this many.
pub const SPOT_TO_SPOT_MIN_TYPES: usize = 15;
/// Multi-node consolidation considers at most this many candidates.
pub const MULTI_NODE_MAX_CANDIDATES: usize = 100;
/// Single-node consolidation tries at most this many candidates in one look, the next ones in
/// the next look: Spotter's stand-in for Karpenter's 3-minute single-node timeout, which in a
/// large cluster also ends a pass before every candidate is simulated.
pub const SINGLE_NODE_MAX_TRIES: usize = 20;
/// How long after a look that found nothing the next one waits, whatever changed; it doubles
/// with each further look in vain, up to [`MAX_LOOK_INTERVAL`], and is back to this once a
/// look finds a command.
pub const LOOK_INTERVAL: Duration = Duration::from_secs(60);
/// The longest wait between looks in vain.
pub const MAX_LOOK_INTERVAL: Duration = Duration::from_secs(16 * 60);

/// Which consolidation a method does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Several nodes at once (at least two), replaced by at most one.
    MultiNode,
    /// One node, deleted or replaced by one cheaper node.
    SingleNode,
    /// Drift ([`crate::drift`]): one drifted node at a time, without validation, deleted when
    /// its pods fit elsewhere, else replaced by one node at any price (replacement first); a
    /// node whose pods need more than one new node is deleted and its pods provisioned for
    /// as it drains, like any deleting node's.
    Drift,
    /// Rebalance replacement (when [`Settings::rebalance_replacement`] is on): one node with an
    /// EC2 rebalance recommendation at a time, without validation; deleted when its pods fit
    /// elsewhere, else replaced by one node of another instance type than its own where the
    /// pool allows one (replacement first: the node is drained only once the replacement is
    /// initialized). A node whose pods need more than one new node is left for its
    /// interruption warning, should one come.
    Rebalance,
}

impl Scope {
    /// Whether its commands run at once, without the price rule and the validation (drift and
    /// rebalance: the node must go whatever it costs).
    pub fn replaces_at_once(self) -> bool {
        matches!(self, Scope::Drift | Scope::Rebalance)
    }

    /// The budget reason its disruptions draw from, and the reason they are recorded under.
    pub fn reasons(self) -> (BudgetReason, DisruptionReason) {
        match self {
            Scope::MultiNode | Scope::SingleNode => {
                (BudgetReason::Underutilized, DisruptionReason::Underutilized)
            }
            Scope::Drift => (BudgetReason::Drifted, DisruptionReason::Drifted),
            Scope::Rebalance => (
                BudgetReason::Rebalance,
                DisruptionReason::RebalanceRecommended,
            ),
        }
    }
}

/// A consolidation method and what it remembers between passes.
#[derive(Debug)]
pub struct Consolidation {
    scope: Scope,
    names: NodeClaimNames,
    prepared: PreparedPools,
    /// A command found, waiting for its validation.
    pending: Option<Pending>,
    /// Replacements launched, waiting to be initialized.
    replacing: Vec<Replacing>,
    /// The candidates and the cluster when the last search found nothing: no new search
    /// until the candidates change or the cluster is better for them (see [`Snapshot`]).
    settled: Option<(Vec<String>, Snapshot)>,
    /// Single-node: the candidates simulated in vain, with the cluster then; one is simulated
    /// again only once the cluster is better for it.
    fruitless: BTreeMap<String, Snapshot>,
    /// Where the next single-node look starts among the candidates not simulated in vain.
    next_try: usize,
    /// No new look before this time after one that found nothing.
    next_look: Option<Duration>,
    /// Looks in vain since the last command found.
    looks_in_vain: u32,
}

/// What a search found.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Delete the candidates: their pods fit elsewhere.
    Delete {
        /// The candidates' NodeClaims.
        candidates: Vec<String>,
    },
    /// Replace the candidates with one cheaper NodeClaim.
    Replace {
        /// The candidates' NodeClaims.
        candidates: Vec<String>,
        /// The replacement (its name not drawn yet).
        replacement: NodeClaimRequest,
    },
}

#[derive(Debug)]
struct Pending {
    candidates: Vec<String>,
    replace: bool,
    due: Duration,
}

#[derive(Debug)]
struct Replacing {
    replacement: String,
    candidates: Vec<String>,
}

impl Command {
    /// The candidates it disrupts.
    pub fn candidates(&self) -> &[String] {
        match self {
            Command::Delete { candidates } | Command::Replace { candidates, .. } => candidates,
        }
    }
}

impl DisruptionMethod for Consolidation {
    fn disrupt(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        self.decide(pass, state, now, settings)
    }

    fn replacing(&self) -> Vec<String> {
        self.replacing
            .iter()
            .flat_map(|replacing| replacing.candidates.iter().cloned())
            .collect()
    }
}

impl Consolidation {
    /// A consolidation method of `scope` naming its replacements from `names`.
    pub fn new(scope: Scope, names: NodeClaimNames) -> Self {
        Self {
            scope,
            names,
            prepared: PreparedPools::default(),
            pending: None,
            replacing: Vec::new(),
            settled: None,
            fruitless: BTreeMap::new(),
            next_try: 0,
            next_look: None,
            looks_in_vain: 0,
        }
    }

    /// Decides within the pass's budgets: finishes replacements, runs a validated command or
    /// looks for a new one; returns the actions and when to look again.
    pub fn decide(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        // The candidates of replacements in flight use their pools' budgets (the pipeline
        // holds them already; a pass made for this method alone does not).
        for node_claim in DisruptionMethod::replacing(self) {
            pass.hold(state, &node_claim);
        }
        let mut actions = self.finish_replacements(pass, state);
        if let Some(pending) = self.pending.take() {
            if pending.due > now {
                let due = pending.due;
                self.pending = Some(pending);
                return (actions, Some(due));
            }
            // The validation: the same candidates must still give a command of the same kind.
            let candidates: Vec<&NodeClaim> = pending
                .candidates
                .iter()
                .filter_map(|name| state.node_claims.get(name))
                .collect();
            let still_candidates = candidates.len() == pending.candidates.len()
                && {
                    let look = Look::new(state);
                    candidates.iter().all(|claim| {
                        !pass.is_taken(&claim.name)
                            && self.is_candidate(state, claim, now, &look).is_ok()
                    })
                }
                && within_budgets(pass, state, &candidates, self.scope.reasons().0);
            if still_candidates
                && let Some(command) = self.command(state, &candidates, settings)
                && matches!(command, Command::Replace { .. }) == pending.replace
            {
                actions.extend(self.execute(command, pass, state));
            }
            self.settled = None;
            return (actions, None);
        }
        // A look that found nothing is not repeated for a while, however busy the cluster (the
        // simulation's cost; Karpenter's passes are paced by their own timeouts).
        if let Some(next_look) = self.next_look.filter(|next_look| *next_look > now) {
            return (actions, Some(next_look));
        }
        let (candidates, wake_at) = self.candidates(pass, state, now);
        if candidates.is_empty() {
            return (actions, wake_at);
        }
        let snapshot = Snapshot::new(state);
        let names: Vec<String> = candidates.iter().map(|claim| claim.name.clone()).collect();
        if let Some((settled_names, settled)) = &self.settled
            && *settled_names == names
            && snapshot.no_better_than(settled)
        {
            return (actions, wake_at);
        }
        let found = match self.scope {
            Scope::Drift | Scope::Rebalance => candidates
                .iter()
                .find_map(|candidate| self.command(state, &[candidate], settings)),
            Scope::SingleNode => {
                self.fruitless
                    .retain(|name, _| state.node_claims.contains_key(name));
                let untried: Vec<&NodeClaim> = candidates
                    .iter()
                    .copied()
                    .filter(|candidate| {
                        self.fruitless
                            .get(&candidate.name)
                            .is_none_or(|then| !snapshot.no_better_than(then))
                    })
                    .collect();
                let free = FreeCapacity::new(state);
                let mut found = None;
                // Each look goes on where the last one stopped, so that every candidate is
                // simulated in turn however many there are.
                let start = self.next_try % untried.len().max(1);
                let tries = untried.len().min(SINGLE_NODE_MAX_TRIES);
                let in_turn = (0..tries).map(|offset| untried[(start + offset) % untried.len()]);
                for candidate in in_turn {
                    found = if free.worth_solving(state, candidate, settings) {
                        self.command(state, &[candidate], settings)
                    } else {
                        None
                    };
                    if found.is_some() {
                        break;
                    }
                    self.fruitless
                        .insert(candidate.name.clone(), snapshot.clone());
                }
                self.next_try = if found.is_some() { 0 } else { start + tries };
                if found.is_none() && untried.len() > SINGLE_NODE_MAX_TRIES {
                    // The rest of the candidates in the next look (a round not finished yet is
                    // not a look in vain).
                    self.next_look = Some(now + LOOK_INTERVAL);
                    return (actions, wake_at);
                }
                found
            }
            Scope::MultiNode => self.first_n(state, &candidates, settings),
        };
        let Some(command) = found else {
            self.settled = Some((names, snapshot));
            self.next_look = Some(now + self.look_in_vain());
            return (actions, wake_at);
        };
        self.looks_in_vain = 0;
        if self.scope.replaces_at_once() {
            actions.extend(self.execute(command, pass, state));
            return (actions, wake_at);
        }
        let due = now + settings.consolidation_validation;
        self.pending = Some(Pending {
            candidates: command.candidates().to_vec(),
            replace: matches!(command, Command::Replace { .. }),
            due,
        });
        (actions, Some(wake_at.map_or(due, |time| time.min(due))))
    }

    /// The command for exactly these candidates, if any.
    pub fn command(
        &mut self,
        state: &ClusterState,
        candidates: &[&NodeClaim],
        settings: &Settings,
    ) -> Option<Command> {
        let names: Vec<String> = candidates.iter().map(|claim| claim.name.clone()).collect();
        let nodes: BTreeSet<&str> = candidates
            .iter()
            .filter_map(|claim| claim.node.as_deref())
            .collect();
        let pods: Vec<Pod> = nodes
            .iter()
            .flat_map(|node| state.workload_pods_on(node))
            .map(|(_, pod)| (*pod.pod).clone())
            .collect();
        let (others, _) = solver_nodes(state, |node| !nodes.contains(node.name.as_str()));
        let node_pools = state.launchable_node_pools();
        if !self.prepared.is_for(&node_pools, &state.instance_types) {
            self.prepared = PreparedPools::new(&node_pools, &state.instance_types);
        }
        // A replacement launches while the candidates still run: the limits count them, and
        // every other instance of the pool.
        let pool_usage = limits_usage(state, &node_pools);
        let input = SchedulingInput {
            pods: &pods,
            nodes: &others,
            node_pools: &node_pools,
            instance_types: &state.instance_types,
            daemon_set_pods: &state.daemon_set_pods,
            unavailable: &state.unavailable_offerings,
            pool_usage: Some(&pool_usage),
        };
        let plan = solve_prepared(&input, &self.prepared);
        if !plan.unschedulable.is_empty() {
            return None;
        }
        let mut planned = plan.node_claims;
        if self.scope == Scope::Rebalance {
            return match (planned.len(), planned.pop()) {
                (0, _) => Some(Command::Delete { candidates: names }),
                (1, Some(planned)) => Some(Command::Replace {
                    replacement: away_from(candidates, planned),
                    candidates: names,
                }),
                _ => None,
            };
        }
        if self.scope == Scope::Drift {
            return Some(match (planned.len(), planned.pop()) {
                (1, Some(planned)) => Command::Replace {
                    replacement: NodeClaimRequest {
                        name: String::new(),
                        node_pool: planned.node_pool,
                        requirements: planned.requirements,
                        instance_types: planned.instance_types,
                        pods: Vec::new(),
                        fallback: false,
                        replaces: candidates.first().map(|claim| claim.name.clone()),
                    },
                    candidates: names,
                },
                _ => Command::Delete { candidates: names },
            });
        }
        match planned.len() {
            0 => Some(Command::Delete { candidates: names }),
            1 => {
                let may_replace = candidates
                    .iter()
                    .all(|claim| !returns_to_spot(state, claim, settings));
                let planned = planned.pop()?;
                let replacement = self.replacement(state, candidates, planned, settings)?;
                may_replace.then_some(Command::Replace {
                    candidates: names,
                    replacement,
                })
            }
            // Never one node split into two (nor several into more than one).
            _ => None,
        }
    }

    /// The replacement for the candidates, if one of the planned claim's instance types is
    /// cheaper at its worst-case price than the candidates together.
    fn replacement(
        &self,
        state: &ClusterState,
        candidates: &[&NodeClaim],
        planned: PlannedNodeClaim,
        settings: &Settings,
    ) -> Option<NodeClaimRequest> {
        let current: f64 = candidates
            .iter()
            .map(|claim| current_price(state, claim))
            .sum::<Option<f64>>()?;
        let mut requirements = planned.requirements;
        let mut instance_types: Vec<String> = planned
            .instance_types
            .into_iter()
            .filter(|name| {
                worst_launch_price(state, name, &requirements).is_some_and(|price| price < current)
            })
            .collect();
        if instance_types.is_empty() {
            return None;
        }
        let capacity_types = requirements.get(labels::CAPACITY_TYPE).cloned();
        let allows = |capacity_type: CapacityType| {
            capacity_types
                .as_ref()
                .is_none_or(|requirement| requirement.has(capacity_type.as_str()))
        };
        let all_spot = candidates.iter().all(|claim| {
            claim
                .instance()
                .is_some_and(|instance| instance.offering.capacity_type == CapacityType::Spot)
        });
        if all_spot && allows(CapacityType::Spot) {
            // Spot to Spot: behind its gate; one node needs enough cheaper types to choose from.
            if !settings.spot_to_spot_consolidation {
                return None;
            }
            if candidates.len() == 1 {
                if instance_types.len() < SPOT_TO_SPOT_MIN_TYPES {
                    return None;
                }
                instance_types.truncate(SPOT_TO_SPOT_MIN_TYPES);
            }
            requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::single(CapacityType::Spot.as_str()),
            );
        } else if allows(CapacityType::Spot) && allows(CapacityType::OnDemand) {
            // Priced as Spot, so launched as Spot only: never a dearer on-demand node instead.
            requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::single(CapacityType::Spot.as_str()),
            );
        }
        Some(NodeClaimRequest {
            name: String::new(),
            node_pool: planned.node_pool,
            requirements,
            instance_types,
            pods: Vec::new(),
            fallback: false,
            replaces: candidates.first().map(|claim| claim.name.clone()),
        })
    }

    /// The candidates of this pass, cheapest to disrupt first, at most as many per pool as its
    /// budgets allow; and when the next node becomes consolidatable.
    fn candidates<'a>(
        &self,
        pass: &DisruptionPass,
        state: &'a ClusterState,
        now: Duration,
    ) -> (Vec<&'a NodeClaim>, Option<Duration>) {
        // Pods waiting for capacity come first: consolidating now could take what they need.
        let waiting = state
            .pending_pods()
            .any(|(_, pod)| !pod.daemon && pod.nominated.is_none());
        if waiting {
            return (Vec::new(), None);
        }
        let mut wake_at: Option<Duration> = None;
        let mut candidates: Vec<(usize, &NodeClaim)> = Vec::new();
        let look = Look::new(state);
        for claim in state.node_claims.values() {
            if pass.is_taken(&claim.name) || self.is_replacing(&claim.name) {
                continue;
            }
            match self.is_candidate(state, claim, now, &look) {
                Ok(pods) => candidates.push((pods, claim)),
                Err(Some(eligible_at)) => {
                    wake_at = Some(wake_at.map_or(eligible_at, |time| time.min(eligible_at)));
                }
                Err(None) => {}
            }
        }
        candidates.sort_by(|left, right| left.0.cmp(&right.0).then(left.1.name.cmp(&right.1.name)));
        let mut per_pool: BTreeMap<&str, u32> = BTreeMap::new();
        let candidates = candidates
            .into_iter()
            .map(|(_, claim)| claim)
            .filter(|claim| {
                let Some(pool) = state.node_pool(&claim.node_pool) else {
                    return false;
                };
                let used = per_pool.entry(claim.node_pool.as_str()).or_default();
                if *used >= pass.room(pool, self.scope.reasons().0) {
                    return false;
                }
                *used += 1;
                true
            })
            .collect();
        (candidates, wake_at)
    }

    /// Whether a NodeClaim is a candidate now (with its workload pod count); if not,
    /// `Err(Some(time))` when it becomes one by waiting.
    fn is_candidate(
        &self,
        state: &ClusterState,
        claim: &NodeClaim,
        now: Duration,
        look: &Look,
    ) -> Result<usize, Option<Duration>> {
        if claim.deletion.is_some()
            || !claim.initialized
            || !matches!(claim.launch, LaunchState::Launched { .. })
            || state.reserved_for(claim).is_some()
            || look.replaced.contains(&claim.name)
        {
            return Err(None);
        }
        let node = claim
            .node
            .as_ref()
            .and_then(|node| state.nodes.get(node))
            .ok_or(None)?;
        let pool = state.node_pool(&claim.node_pool).ok_or(None)?;
        if self.scope.replaces_at_once() {
            let flagged = match self.scope {
                Scope::Drift => drift::drifted(state, claim).is_some(),
                Scope::Rebalance => rebalance_recommended(state, claim),
                Scope::MultiNode | Scope::SingleNode => false,
            };
            let movable = node.ready
                && !node.do_not_disrupt
                && flagged
                && state.disruptable(claim)
                && !blocked_by_pod_disruption_budget(state, &node.name, &look.blocking);
            return if movable {
                Ok(node.workload_pods())
            } else {
                Err(None)
            };
        }
        if pool.disruption.consolidation_policy != ConsolidationPolicy::WhenEmptyOrUnderutilized
            || !node.ready
            || node.workload_pods() == 0
        {
            return Err(None);
        }
        let consolidate_after = pool.disruption.consolidate_after.ok_or(None)?;
        let eligible_at = node.last_pod_event + consolidate_after;
        if eligible_at > now {
            return Err(Some(eligible_at));
        }
        if node.do_not_disrupt
            || !state.disruptable(claim)
            || blocked_by_pod_disruption_budget(state, &node.name, &look.blocking)
        {
            return Err(None);
        }
        Ok(node.workload_pods())
    }

    /// Multi-node: the largest prefix of the candidates (at least two, at most 100) that gives
    /// a command, found by binary search as Karpenter does.
    fn first_n(
        &mut self,
        state: &ClusterState,
        candidates: &[&NodeClaim],
        settings: &Settings,
    ) -> Option<Command> {
        let max = candidates.len().min(MULTI_NODE_MAX_CANDIDATES);
        if max < 2 {
            return None;
        }
        let (mut low, mut high) = (2, max);
        let mut best = None;
        while low <= high {
            let middle = (low + high) / 2;
            match self.command(state, &candidates[..middle], settings) {
                Some(command) => {
                    best = Some(command);
                    low = middle + 1;
                }
                None => high = middle - 1,
            }
        }
        best
    }

    /// Performs a validated command.
    fn execute(
        &mut self,
        command: Command,
        pass: &mut DisruptionPass,
        state: &ClusterState,
    ) -> Vec<Action> {
        let pools: Vec<(String, String)> = command
            .candidates()
            .iter()
            .filter_map(|name| state.node_claims.get(name))
            .map(|claim| (claim.node_pool.clone(), claim.name.clone()))
            .collect();
        for (node_pool, claim) in &pools {
            pass.take(node_pool, claim);
        }
        match command {
            Command::Delete { candidates } => candidates
                .into_iter()
                .map(|node_claim| Action::DeleteNodeClaim {
                    node_claim,
                    reason: self.scope.reasons().1,
                    deadline: None,
                })
                .collect(),
            Command::Replace {
                candidates,
                mut replacement,
            } => {
                self.names.forget_issued();
                replacement.name = self.names.next(&replacement.node_pool, state);
                self.replacing.push(Replacing {
                    replacement: replacement.name.clone(),
                    candidates,
                });
                vec![Action::CreateNodeClaim(replacement)]
            }
        }
    }

    /// Deletes the candidates of replacements now initialized; forgets replacements that
    /// failed (their candidates stay). A replacement whose command was forgotten (a restart)
    /// still frees the claim it replaces once initialized.
    fn finish_replacements(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let reason = self.scope.reasons().1;
        let delete = |claim: &NodeClaim, pass: &mut DisruptionPass, actions: &mut Vec<Action>| {
            if claim.deletion.is_none() && pass.take(&claim.node_pool, &claim.name) {
                actions.push(Action::DeleteNodeClaim {
                    node_claim: claim.name.clone(),
                    reason,
                    deadline: None,
                });
            }
        };
        self.replacing.retain(|replacing| {
            let Some(replacement) = state.node_claims.get(&replacing.replacement) else {
                return false;
            };
            if replacement.deletion.is_some() {
                return false;
            }
            if !replacement.initialized {
                return true;
            }
            for name in &replacing.candidates {
                if let Some(claim) = state.node_claims.get(name) {
                    delete(claim, pass, &mut actions);
                }
            }
            false
        });
        if self.scope == Scope::SingleNode {
            for replacement in state.node_claims.values() {
                let Some(replaced) = replacement
                    .replaces
                    .as_ref()
                    .and_then(|name| state.node_claims.get(name))
                else {
                    continue;
                };
                if replacement.initialized
                    && replacement.deletion.is_none()
                    && !replaced.fallback
                    && !pass.is_taken(&replaced.name)
                {
                    delete(replaced, pass, &mut actions);
                }
            }
        }
        actions
    }

    /// Counts a look that found nothing; returns the wait before the next one.
    fn look_in_vain(&mut self) -> Duration {
        let wait = LOOK_INTERVAL
            .saturating_mul(1 << self.looks_in_vain.min(4))
            .min(MAX_LOOK_INTERVAL);
        self.looks_in_vain = self.looks_in_vain.saturating_add(1);
        wait
    }

    fn is_replacing(&self, claim: &str) -> bool {
        self.replacing
            .iter()
            .any(|replacing| replacing.candidates.iter().any(|name| name == claim))
            || self
                .pending
                .as_ref()
                .is_some_and(|pending| pending.candidates.iter().any(|name| name == claim))
    }
}

/// Whether the pools' budgets for `reason` have room for all these claims in the pass.
fn within_budgets(
    pass: &DisruptionPass,
    state: &ClusterState,
    claims: &[&NodeClaim],
    reason: BudgetReason,
) -> bool {
    let mut per_pool: BTreeMap<&str, u32> = BTreeMap::new();
    for claim in claims {
        *per_pool.entry(claim.node_pool.as_str()).or_default() += 1;
    }
    per_pool.into_iter().all(|(pool, count)| {
        state
            .node_pool(pool)
            .is_some_and(|pool| pass.room(pool, reason) >= count)
    })
}

/// Whether EC2 recommended rebalancing the NodeClaim's instance (a notice from the queue or
/// the node's agent).
fn rebalance_recommended(state: &ClusterState, claim: &NodeClaim) -> bool {
    claim.instance().is_some_and(|instance| {
        state.interruption_notices.iter().any(|notice| {
            notice.instance_id == instance.id && notice.kind == NoticeKind::RebalanceRecommendation
        })
    })
}

/// The replacement of a node EC2 recommended rebalancing: the planned claim without the
/// node's own instance type, the pool in the recommendation's danger, unless it is the only
/// type the plan allows.
fn away_from(candidates: &[&NodeClaim], planned: PlannedNodeClaim) -> NodeClaimRequest {
    let current: BTreeSet<&str> = candidates
        .iter()
        .filter_map(|claim| claim.instance())
        .map(|instance| instance.offering.instance_type.as_str())
        .collect();
    let mut instance_types = planned.instance_types;
    if instance_types
        .iter()
        .any(|name| !current.contains(name.as_str()))
    {
        instance_types.retain(|name| !current.contains(name.as_str()));
    }
    NodeClaimRequest {
        name: String::new(),
        node_pool: planned.node_pool,
        requirements: planned.requirements,
        instance_types,
        pods: Vec::new(),
        fallback: false,
        replaces: candidates.first().map(|claim| claim.name.clone()),
    }
}

/// Whether Spotter's return to Spot looks after this fallback NodeClaim.
fn returns_to_spot(state: &ClusterState, claim: &NodeClaim, settings: &Settings) -> bool {
    claim.fallback
        && state
            .node_pool(&claim.node_pool)
            .and_then(|pool| pool_settings(pool, settings))
            .is_some()
}

/// What every candidate check of one look shares, computed once: the PodDisruptionBudgets
/// that allow no disruption now, and the NodeClaims a live replacement stands for.
struct Look {
    blocking: Vec<usize>,
    replaced: BTreeSet<String>,
}

impl Look {
    fn new(state: &ClusterState) -> Self {
        Self {
            blocking: blocking_budgets(state),
            replaced: state
                .node_claims
                .values()
                .filter(|claim| claim.deletion.is_none())
                .filter_map(|claim| claim.replaces.clone())
                .collect(),
        }
    }
}

/// Free CPU and memory on the nodes pods may move to (Ready, not cordoned, not being
/// deleted), per node and in total: a cheap necessary condition checked before a single-node
/// solve, which only skips commands that cannot exist.
struct FreeCapacity {
    per_node: BTreeMap<String, (i64, i64)>,
    total: (i64, i64),
}

impl FreeCapacity {
    fn new(state: &ClusterState) -> Self {
        let mut per_node = BTreeMap::new();
        let mut total = (0, 0);
        for node in state.nodes.values() {
            if !node.ready || node.unschedulable || state.node_is_deleting(&node.name) {
                continue;
            }
            let (mut cpu, mut memory) = (
                node.allocatable.cpu_millicores,
                node.allocatable.memory_bytes,
            );
            for pod in node.pods.values() {
                cpu -= pod.requests.cpu_millicores;
                memory -= pod.requests.memory_bytes;
            }
            let free = (cpu.max(0), memory.max(0));
            total = (total.0 + free.0, total.1 + free.1);
            per_node.insert(node.name.clone(), free);
        }
        Self { per_node, total }
    }

    /// Whether a single-node command may exist for the candidate: its pods' requests fit in
    /// the free capacity of the other nodes (needed to delete it), or it may be replaced
    /// (not a Spot node with Spot-to-Spot consolidation off).
    fn worth_solving(&self, state: &ClusterState, claim: &NodeClaim, settings: &Settings) -> bool {
        let spot = claim
            .instance()
            .is_some_and(|instance| instance.offering.capacity_type == CapacityType::Spot);
        if !spot || settings.spot_to_spot_consolidation {
            return true;
        }
        let Some(node) = claim.node.as_deref() else {
            return false;
        };
        let own = self.per_node.get(node).copied().unwrap_or((0, 0));
        let elsewhere = (self.total.0 - own.0, self.total.1 - own.1);
        let (cpu, memory) = state
            .workload_pods_on(node)
            .fold((0, 0), |(cpu, memory), (_, pod)| {
                (
                    cpu + pod.pod.requests.cpu_millicores,
                    memory + pod.pod.requests.memory_bytes,
                )
            });
        cpu <= elsewhere.0 && memory <= elsewhere.1
    }
}

/// The PodDisruptionBudgets (their indices) that allow no disruption now.
pub fn blocking_budgets(state: &ClusterState) -> Vec<usize> {
    state
        .pod_disruption_budgets
        .iter()
        .enumerate()
        .filter(|(index, budget)| {
            budget.allowed_disruptions(crate::termination::healthy_pods(state, *index)) == 0
        })
        .map(|(index, _)| index)
        .collect()
}

/// Whether a pod on the node is covered by one of the `blocking` PodDisruptionBudgets (see
/// [`blocking_budgets`]).
pub fn blocked_by_pod_disruption_budget(
    state: &ClusterState,
    node: &str,
    blocking: &[usize],
) -> bool {
    !blocking.is_empty()
        && state.workload_pods_on(node).any(|(_, pod)| {
            blocking
                .iter()
                .any(|&index| state.pod_disruption_budgets[index].covers(&pod.pod))
        })
}

/// What the NodeClaim's offering costs now (the catalog's price; the launch price if the
/// offering is not listed).
pub fn current_price(state: &ClusterState, claim: &NodeClaim) -> Option<f64> {
    let instance = claim.instance()?;
    let listed = state
        .instance_type(&instance.offering.instance_type)
        .and_then(|instance_type| {
            instance_type.offerings.iter().find(|offering| {
                offering.capacity_type == instance.offering.capacity_type
                    && offering.zone == instance.offering.zone
            })
        })
        .map(|offering| offering.price_per_hour);
    Some(listed.unwrap_or(instance.price_per_hour))
}

/// Karpenter's worst-case launch price of an instance type under `requirements`: the dearest
/// available compatible Spot offering when the requirements allow Spot and one exists, else the
/// dearest available compatible on-demand one; `None` when none is available.
pub fn worst_launch_price(
    state: &ClusterState,
    instance_type: &str,
    requirements: &Requirements,
) -> Option<f64> {
    let instance_type = state.instance_type(instance_type)?;
    let dearest = |capacity_type: CapacityType| {
        if !requirements.allows(labels::CAPACITY_TYPE, capacity_type.as_str()) {
            return None;
        }
        instance_type
            .offerings
            .iter()
            .filter(|offering| {
                offering.capacity_type == capacity_type
                    && offering.available
                    && spotter_core::instance_type::offering_allowed(offering, requirements)
                    && !state.unavailable_offerings.contains(
                        &instance_type.name,
                        offering.capacity_type,
                        &offering.zone,
                    )
            })
            .map(|offering| offering.price_per_hour)
            .max_by(f64::total_cmp)
    };
    dearest(CapacityType::Spot).or_else(|| dearest(CapacityType::OnDemand))
}

/// What a search depends on, besides the candidates: the free CPU and memory of every node pods
/// may move to, and what new nodes would be made of (the capacity generation, the instance
/// types and their prices, the unavailable offerings, the DaemonSets).
///
/// A cluster is *no better* for a search than an earlier one when no node has more free
/// capacity than then, no node is new, and the rest is the same: a search that found nothing
/// then finds nothing now. Pods that arrive only take capacity, so a busy cluster is simulated
/// again only when something left. (One thing is not followed: pods that arrive elsewhere
/// can loosen a topology spread constraint; the next freed capacity brings the search back.)
#[derive(Clone, Debug)]
pub struct Snapshot {
    free: Arc<BTreeMap<String, (i64, i64)>>,
    generation: (u64, usize, usize, usize),
}

impl Snapshot {
    /// The cluster now.
    pub fn new(state: &ClusterState) -> Self {
        Self {
            free: Arc::new(FreeCapacity::new(state).per_node),
            generation: (
                state.capacity_generation,
                Arc::as_ptr(&state.instance_types) as usize,
                state.unavailable_offerings.len(),
                state.daemon_set_pods.len(),
            ),
        }
    }

    /// Whether this cluster is no better for a search than `earlier` (see [`Snapshot`]).
    pub fn no_better_than(&self, earlier: &Snapshot) -> bool {
        self.generation == earlier.generation
            && (Arc::ptr_eq(&self.free, &earlier.free)
                || self.free.iter().all(|(node, (cpu, memory))| {
                    earlier
                        .free
                        .get(node)
                        .is_some_and(|(then_cpu, then_memory)| {
                            cpu <= then_cpu && memory <= then_memory
                        })
                }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(free: &[(&str, i64, i64)], generation: u64) -> Snapshot {
        Snapshot {
            free: Arc::new(
                free.iter()
                    .map(|(node, cpu, memory)| (node.to_string(), (*cpu, *memory)))
                    .collect(),
            ),
            generation: (generation, 0, 0, 0),
        }
    }

    #[test]
    fn a_cluster_is_better_for_a_search_only_when_capacity_was_freed_or_the_rest_changed() {
        let earlier = snapshot(&[("a", 1000, 4096), ("b", 500, 1024)], 1);
        let cases = [
            (
                "the same",
                snapshot(&[("a", 1000, 4096), ("b", 500, 1024)], 1),
                true,
            ),
            (
                "pods arrived",
                snapshot(&[("a", 200, 1024), ("b", 500, 512)], 1),
                true,
            ),
            ("a node went away", snapshot(&[("a", 1000, 4096)], 1), true),
            (
                "a pod left",
                snapshot(&[("a", 1000, 4096), ("b", 600, 1024)], 1),
                false,
            ),
            (
                "memory freed",
                snapshot(&[("a", 1000, 8192), ("b", 500, 1024)], 1),
                false,
            ),
            (
                "a new node",
                snapshot(&[("a", 1000, 4096), ("b", 500, 1024), ("c", 0, 0)], 1),
                false,
            ),
            (
                "the capacity generation moved",
                snapshot(&[("a", 1000, 4096)], 2),
                false,
            ),
        ];
        for (case, now, no_better) in cases {
            assert_eq!(now.no_better_than(&earlier), no_better, "{case}");
        }
    }

    #[test]
    fn looks_in_vain_wait_longer_each_time_up_to_the_maximum() {
        let mut consolidation = Consolidation::new(Scope::SingleNode, NodeClaimNames::default());
        let waits: Vec<u64> = (0..7)
            .map(|_| consolidation.look_in_vain().as_secs() / 60)
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 16, 16]);
    }
}
