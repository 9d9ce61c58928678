//! Return to Spot: a fallback node (launched on-demand only because Spot was unavailable) is
//! replaced by Spot capacity once Spot is available again — the replacement first, then, once
//! it is initialized, the fallback node is drained like any other deleted node (PDBs, the
//! NodePool's disruption budgets and `karpenter.sh/do-not-disrupt` honoured).
//!
//! Hysteresis keeps it from flapping when capacity oscillates:
//! - a return starts only once the Spot offerings the replacement would use have gone without
//!   an insufficient-capacity answer or an interruption for the minimum time (and the fallback
//!   node has run that long);
//! - a NodePool sends one replacement (a probe) per minimum time until one launches, then
//!   has up to its limit in flight; while probes keep failing, the wait between them grows
//!   exponentially (Settings `probe_backoff_factor`, up to `max_probe_interval`) unless a
//!   Spot node launched since the last probe;
//! - a NodePool that falls back again within the flap window after a return waits out that
//!   window before its next return;
//! - replacements never launch into offerings that are unavailable or avoided for their
//!   interruptions; as probes, they ignore insufficient-capacity backoff beyond the TTL.
//!
//! A return never starts while a PodDisruptionBudget allows no eviction of a pod on the
//! fallback node (the replacement could not be used), and a replacement that waits for such a
//! node longer than `blocked_replacement_patience` is deleted.
//!
//! Each NodePool can turn it off or tune it with `spotter.dev/return-to-spot*` annotations.

use std::collections::BTreeMap;
use std::time::Duration;

use spotter_core::labels;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;
use spotter_core::requirements::{Requirement, Requirements};
use spotter_core::solver::{PreparedPools, SchedulingInput, solve_prepared};
use spotter_core::unavailable_offerings::UnavailableOfferings;

use crate::action::{Action, NodeClaimRequest};
use crate::consolidation::{blocked_by_pod_disruption_budget, blocking_budgets};
use crate::disruption::DisruptionMethod;
use crate::disruption_budgets::{BudgetReason, DisruptionPass};
use crate::node_claim_lifecycle::launch_offerings;
use crate::node_claim_names::NodeClaimNames;
use crate::node_pool_usage::limits_usage;
use crate::provisioner::solver_nodes;
use crate::settings::{ReturnToSpot as ReturnToSpotSettings, Settings};
use crate::state::{ClusterState, DisruptionReason, LaunchState, NodeClaim, ReturnToSpotRecord};

/// The return-to-Spot controller and what it remembers between reconciles.
#[derive(Debug, Default)]
pub struct ReturnToSpot {
    /// Copies of the NodePools that allow Spot, restricted to Spot, and what they were made
    /// from (names and requirements).
    spot_pools: Vec<NodePool>,
    source: Vec<(String, Requirements)>,
    prepared: PreparedPools,
    /// Fallback claims no Spot replacement could be planned for, with the capacity generation
    /// of that attempt: they are tried again once capacity may have changed.
    unplannable: BTreeMap<String, u64>,
    /// Fallback claims whose replacements' Spot offerings failed lately, with when they will
    /// have been quiet long enough.
    waiting: BTreeMap<String, Duration>,
    /// Where the replacements' names come from.
    names: NodeClaimNames,
    /// Each NodePool's probes: the claims of the one in flight, and how many failed in a row.
    probes: BTreeMap<String, Probes>,
}

/// A NodePool's probes while Spot is not proven back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Probes {
    /// The NodeClaims of the probe in flight (none launched yet).
    in_flight: Vec<String>,
    /// Probes in a row that never launched.
    failures: u32,
}

/// The settings that apply to one NodePool's fallback nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolReturnSettings {
    /// How long Spot must have been available first.
    pub min_spot_available: Duration,
    /// Replacements in flight at once, once Spot has proven available.
    pub max_concurrent: u32,
    /// The flap window.
    pub flap_window: Duration,
    /// How much longer each probe after a failed one waits.
    pub probe_backoff_factor: u32,
    /// The longest wait between probes.
    pub max_probe_interval: Duration,
}

/// When the latest Spot instance of the cluster was launched, if any runs.
fn latest_spot_launch_of(state: &ClusterState) -> Option<Duration> {
    state
        .node_claims
        .values()
        .filter_map(NodeClaim::instance)
        .filter(|instance| instance.offering.capacity_type == CapacityType::Spot)
        .map(|instance| instance.launched_at)
        .max()
}

/// The NodePool's effective settings, or `None` when it does not return to Spot.
pub fn pool_settings(pool: &NodePool, settings: &Settings) -> Option<PoolReturnSettings> {
    let defaults: &ReturnToSpotSettings = settings.return_to_spot.as_ref()?;
    let overrides = &pool.return_to_spot;
    if overrides.enabled == Some(false) {
        return None;
    }
    Some(PoolReturnSettings {
        min_spot_available: overrides
            .min_spot_available
            .unwrap_or(defaults.min_spot_available),
        max_concurrent: overrides.max_concurrent.unwrap_or(defaults.max_concurrent),
        flap_window: defaults.flap_window,
        probe_backoff_factor: defaults.probe_backoff_factor,
        max_probe_interval: defaults.max_probe_interval,
    })
}

impl PoolReturnSettings {
    /// The wait before the next probe after `failures` failed probes in a row: the minimum
    /// wait, times the factor for each failure, at most the longest interval (and never less
    /// than the minimum wait).
    pub fn probe_interval(&self, failures: u32) -> Duration {
        let longest = self.max_probe_interval.max(self.min_spot_available);
        let factor = self
            .probe_backoff_factor
            .max(1)
            .checked_pow(failures)
            .unwrap_or(u32::MAX);
        self.min_spot_available
            .checked_mul(factor)
            .map_or(longest, |interval| interval.min(longest))
    }
}

impl DisruptionMethod for ReturnToSpot {
    fn disrupt(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        self.decide(pass, state, now, settings)
    }
}

impl ReturnToSpot {
    /// A controller naming its replacements from `names`.
    pub fn with_names(names: NodeClaimNames) -> Self {
        Self {
            names,
            ..Self::default()
        }
    }

    /// Decides the returns to start and the fallback nodes to drain, alone in a disruption
    /// pass; returns when to look again.
    pub fn reconcile(
        &mut self,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        self.decide(&mut DisruptionPass::new(state, now), state, now, settings)
    }

    /// Decides the returns to start and the fallback nodes to drain within the pass's
    /// budgets.
    fn decide(
        &mut self,
        pass: &mut DisruptionPass,
        state: &ClusterState,
        now: Duration,
        settings: &Settings,
    ) -> (Vec<Action>, Option<Duration>) {
        self.unplannable
            .retain(|claim, _| state.node_claims.contains_key(claim));
        self.waiting
            .retain(|claim, until| *until > now && state.node_claims.contains_key(claim));
        if settings.return_to_spot.is_none() {
            return (Vec::new(), None);
        }
        self.follow_probes(state);
        let fallbacks: Vec<&NodeClaim> = state
            .node_claims
            .values()
            .filter(|claim| {
                claim.fallback && claim.deletion.is_none() && !pass.is_taken(&claim.name)
            })
            .collect();
        if fallbacks.is_empty() {
            return (Vec::new(), None);
        }
        let mut actions = Vec::new();
        let mut wake_at: Option<Duration> = None;
        let mut wake = |time: Duration| {
            wake_at = Some(wake_at.map_or(time, |current: Duration| current.min(time)));
        };

        // Replacements in flight, by the fallback claim they are for.
        let mut replacements: BTreeMap<&str, Vec<&NodeClaim>> = BTreeMap::new();
        for claim in state.node_claims.values() {
            if let (Some(fallback), None) = (&claim.replaces, &claim.deletion) {
                replacements
                    .entry(fallback.as_str())
                    .or_default()
                    .push(claim);
            }
        }
        let mut in_flight: BTreeMap<&str, (u32, bool)> = BTreeMap::new();
        for fallback in &fallbacks {
            if let Some(claims) = replacements.get(fallback.name.as_str()) {
                let entry = in_flight.entry(fallback.node_pool.as_str()).or_default();
                entry.0 += 1;
                entry.1 |= claims
                    .iter()
                    .any(|claim| matches!(claim.launch, LaunchState::Launched { .. }));
            }
        }
        // A launched replacement proves Spot back: the pool's failed probes are forgotten.
        for (node_pool, (_, proven)) in &in_flight {
            if *proven {
                self.probes.remove(*node_pool);
            }
        }

        // Fallback nodes a PodDisruptionBudget keeps from being drained now.
        let blocking = blocking_budgets(state);
        let blocked = |fallback: &NodeClaim| {
            fallback
                .node
                .as_deref()
                .is_some_and(|node| blocked_by_pod_disruption_budget(state, node, &blocking))
        };

        // Drain the fallback nodes whose replacements are all initialized, within budgets;
        // release the replacements of a node a PodDisruptionBudget has blocked too long.
        // The pools' return history as this pass changes it; written back by action.
        let mut records = state.return_to_spot.clone();
        let patience = settings
            .return_to_spot
            .as_ref()
            .map_or(Duration::ZERO, |defaults| {
                defaults.blocked_replacement_patience
            });
        for fallback in &fallbacks {
            let Some(claims) = replacements.get(fallback.name.as_str()) else {
                continue;
            };
            if blocked(fallback) {
                for claim in claims {
                    let release_at = claim.created_at + patience;
                    if release_at <= now {
                        actions.push(Action::DeleteNodeClaim {
                            node_claim: claim.name.clone(),
                            reason: DisruptionReason::Empty,
                            deadline: None,
                        });
                    } else {
                        wake(release_at);
                    }
                }
                continue;
            }
            if !claims.iter().all(|claim| claim.initialized) || !state.disruptable(fallback) {
                continue;
            }
            let Some(pool) = state.node_pool(&fallback.node_pool) else {
                continue;
            };
            if pass.room(pool, BudgetReason::ReturnToSpot) == 0
                || !pass.take(&fallback.node_pool, &fallback.name)
            {
                continue;
            }
            records
                .entry(fallback.node_pool.clone())
                .or_default()
                .last_return = Some(now);
            actions.push(Action::DeleteNodeClaim {
                node_claim: fallback.name.clone(),
                reason: DisruptionReason::ReturnToSpot,
                deadline: None,
            });
        }

        // Start new returns.
        let mut probe_view: Option<UnavailableOfferings> = None;
        let mut latest_spot_launch: Option<Option<Duration>> = None;
        for fallback in &fallbacks {
            if replacements.contains_key(fallback.name.as_str())
                || !fallback.initialized
                || !state.disruptable(fallback)
                || blocked(fallback)
                || self
                    .unplannable
                    .get(&fallback.name)
                    .is_some_and(|generation| *generation == state.capacity_generation)
            {
                continue;
            }
            let Some(instance) = fallback.instance() else {
                continue;
            };
            if instance.offering.capacity_type != CapacityType::OnDemand {
                continue;
            }
            let Some(pool) = state.node_pool(&fallback.node_pool) else {
                continue;
            };
            let Some(pool_settings) = pool_settings(pool, settings) else {
                continue;
            };
            if let Some(until) = self.held_until(state, &records, pool, &pool_settings, now) {
                wake(until);
                continue;
            }
            let ready_at = (instance.launched_at + pool_settings.min_spot_available).max(
                self.waiting
                    .get(&fallback.name)
                    .copied()
                    .unwrap_or_default(),
            );
            if ready_at > now {
                wake(ready_at);
                continue;
            }
            let (count, proven) = in_flight
                .get(fallback.node_pool.as_str())
                .copied()
                .unwrap_or_default();
            let limit = if proven {
                pool_settings.max_concurrent
            } else {
                1
            };
            if count >= limit {
                continue;
            }
            if !proven {
                // One probe per NodePool per minimum wait, longer after each failed one: a
                // failed probe says Spot is not back.
                // A Spot node launched since the last probe says Spot may be back: no backoff.
                let last_probe = records
                    .get(&fallback.node_pool)
                    .and_then(|record| record.last_probe);
                let spot_launched_since = last_probe.is_some_and(|last| {
                    *latest_spot_launch.get_or_insert_with(|| latest_spot_launch_of(state))
                        > Some(last)
                });
                let failures = if spot_launched_since {
                    0
                } else {
                    self.probes
                        .get(&fallback.node_pool)
                        .map_or(0, |probes| probes.failures)
                };
                if let Some(next) = last_probe
                    .map(|last| last + pool_settings.probe_interval(failures))
                    .filter(|next| *next > now)
                {
                    wake(next);
                    continue;
                }
            }
            let probe =
                probe_view.get_or_insert_with(|| state.unavailable_offerings.probe_view(now));
            let Some(planned) = self.plan(state, fallback, probe) else {
                self.unplannable
                    .insert(fallback.name.clone(), state.capacity_generation);
                continue;
            };
            // Spot must have been quiet on every offering the replacements would try.
            let quiet_since = planned
                .iter()
                .flat_map(|claim| launch_offerings(state, claim, probe, now, settings))
                .filter_map(|offering| {
                    state
                        .unavailable_offerings
                        .record(
                            &offering.offering.instance_type,
                            offering.offering.capacity_type,
                            &offering.offering.zone,
                        )
                        .and_then(|record| record.last_failure)
                })
                .max();
            if let Some(until) = quiet_since
                .map(|last| last + pool_settings.min_spot_available)
                .filter(|until| *until > now)
            {
                self.waiting.insert(fallback.name.clone(), until);
                wake(until);
                continue;
            }
            let entry = in_flight.entry(fallback.node_pool.as_str()).or_default();
            entry.0 += 1;
            if !entry.1 {
                records
                    .entry(fallback.node_pool.clone())
                    .or_default()
                    .last_probe = Some(now);
                self.probes
                    .entry(fallback.node_pool.clone())
                    .or_default()
                    .in_flight = planned.iter().map(|claim| claim.name.clone()).collect();
            }
            for claim in planned {
                actions.push(Action::CreateNodeClaim(NodeClaimRequest {
                    name: claim.name,
                    node_pool: claim.node_pool,
                    requirements: claim.requirements,
                    instance_types: claim.instance_types,
                    pods: Vec::new(),
                    fallback: false,
                    replaces: Some(fallback.name.clone()),
                }));
            }
        }
        for (node_pool, record) in records {
            if state.return_to_spot.get(&node_pool) != Some(&record) {
                actions.push(Action::RecordReturnToSpot { node_pool, record });
            }
        }
        (actions, wake_at)
    }

    /// Follows each NodePool's probe in flight: one that launched proves Spot back (the
    /// failures are forgotten); one whose claims are gone, or failed, without launching is a
    /// failure.
    fn follow_probes(&mut self, state: &ClusterState) {
        for probes in self.probes.values_mut() {
            if probes.in_flight.is_empty() {
                continue;
            }
            let claims: Vec<Option<&NodeClaim>> = probes
                .in_flight
                .iter()
                .map(|name| state.node_claims.get(name))
                .collect();
            let launched = claims.iter().flatten().any(|claim| {
                matches!(claim.launch, LaunchState::Launched { .. }) || claim.node.is_some()
            });
            let failed = claims.iter().all(|claim| {
                claim.is_none_or(|claim| {
                    matches!(claim.launch, LaunchState::InsufficientCapacity { .. })
                        || claim.deletion.is_some()
                })
            });
            if launched {
                *probes = Probes::default();
            } else if failed {
                probes.in_flight.clear();
                probes.failures = probes.failures.saturating_add(1);
            }
        }
    }

    /// Until when a NodePool waits after flapping: it fell back again within the flap window
    /// of its last return.
    fn held_until(
        &self,
        state: &ClusterState,
        records: &BTreeMap<String, ReturnToSpotRecord>,
        pool: &NodePool,
        pool_settings: &PoolReturnSettings,
        now: Duration,
    ) -> Option<Duration> {
        let last = records.get(&pool.name)?.last_return?;
        let until = last + pool_settings.flap_window;
        if until <= now {
            return None;
        }
        let fell_back_again = state.node_claims.values().any(|claim| {
            claim.fallback
                && claim.node_pool == pool.name
                && claim.created_at > last
                && claim.replaces.is_none()
        });
        fell_back_again.then_some(until)
    }

    /// Spot NodeClaims (not created yet) that would take every pod of the fallback claim's
    /// node, or `None` when Spot cannot take them all now.
    fn plan(
        &mut self,
        state: &ClusterState,
        fallback: &NodeClaim,
        unavailable: &UnavailableOfferings,
    ) -> Option<Vec<NodeClaim>> {
        self.refresh_pools(state);
        let node = fallback.node.as_deref()?;
        let pods: Vec<Pod> = state
            .workload_pods_on(node)
            .map(|(_, pod)| (*pod.pod).clone())
            .collect();
        if pods.is_empty() {
            return None;
        }
        // The other nodes count for topology; none takes the pods (the replacement
        // is new Spot capacity).
        let (mut nodes, _) = solver_nodes(state, |candidate| candidate.name != node);
        for candidate in &mut nodes {
            candidate.unschedulable = true;
        }
        // The replacements launch while the fallback node still runs; the limits count every
        // instance of the Spot pools.
        let pool_usage = limits_usage(state, &self.spot_pools);
        let input = SchedulingInput {
            pods: &pods,
            nodes: &nodes,
            node_pools: &self.spot_pools,
            instance_types: &state.instance_types,
            daemon_set_pods: &state.daemon_set_pods,
            unavailable,
            pool_usage: Some(&pool_usage),
        };
        let plan = solve_prepared(&input, &self.prepared);
        if !plan.unschedulable.is_empty() || !plan.existing_nodes.is_empty() {
            return None;
        }
        let mut claims = Vec::new();
        for planned in plan.node_claims {
            let launch = planned.launch.as_ref()?;
            if launch.capacity_type != CapacityType::Spot {
                return None;
            }
            let name = self.names.next(&planned.node_pool, state);
            let mut requirements = planned.requirements;
            requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::single(CapacityType::Spot.as_str()),
            );
            claims.push(NodeClaim {
                name,
                node_pool: planned.node_pool,
                requirements,
                instance_types: planned.instance_types,
                created_at: Duration::ZERO,
                launch: LaunchState::NotLaunched,
                node: None,
                initialized: false,
                deletion: None,
                fallback: false,
                replaces: Some(fallback.name.clone()),
                node_pool_hash: None,
                node_class_hash: None,
            });
        }
        (!claims.is_empty()).then_some(claims)
    }

    /// Rebuilds the Spot-only copies of the NodePools when the pools changed.
    fn refresh_pools(&mut self, state: &ClusterState) {
        let node_pools = state.launchable_node_pools();
        let source: Vec<(String, Requirements)> = node_pools
            .iter()
            .map(|pool| (pool.name.clone(), pool.requirements.clone()))
            .collect();
        if source == self.source
            && self
                .prepared
                .is_for(&self.spot_pools, &state.instance_types)
        {
            return;
        }
        self.spot_pools = node_pools
            .iter()
            .filter(|pool| {
                pool.requirements
                    .allows(labels::CAPACITY_TYPE, CapacityType::Spot.as_str())
            })
            .map(|pool| {
                let mut spot = pool.clone();
                spot.requirements.add(
                    labels::CAPACITY_TYPE,
                    Requirement::single(CapacityType::Spot.as_str()),
                );
                spot
            })
            .collect();
        self.prepared = PreparedPools::new(&self.spot_pools, &state.instance_types);
        self.source = source;
    }
}
