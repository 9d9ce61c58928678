//! The invariants checked all through a run: no pod lost (every pod that existed is running,
//! pending, completed or deleted by its owner), no NodePool over its limits, no instance
//! without a NodeClaim for longer than a grace period, no pod on a node when its instance
//! terminates, no eviction a PodDisruptionBudget did not allow; no two instances for one
//! NodeClaim, no instance without a NodeClaim left at the end of a run, every pending pod that
//! a NodePool can take running within [`PENDING_BOUND`], no voluntary disruption beyond a
//! NodePool's disruption budgets, no return-to-Spot flapping ([`FLAP_LIMIT`]). A violation is
//! recorded with the time and the event that caused it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spotter_cloud::Instance;
use spotter_controllers::ClusterState;
use spotter_controllers::disruption_budgets::{self, BudgetReason};
use spotter_controllers::state::{DisruptionReason, PodState};
use spotter_core::resources::{self, Resources};

use crate::recorder::Recorder;

/// How long an instance may exist without a NodeClaim before it counts as leaked.
pub const LEAK_GRACE: Duration = Duration::from_secs(120);

/// How long a pending pod may wait for a node when some NodePool can take it: from the
/// latest of its creation, the last fault of the run (or its end: an outage, a window of API
/// errors, a controller restart, a NodePool change, ...) and the last time the provisioner
/// said it could not place it (no NodePool can take it: requirements, taints, limits or no
/// capacity left). A pod the provisioner said it cannot place is not checked until it is
/// nominated to a NodeClaim again.
/// 30 minutes: a healthy run starts a pod within the batching window and a launch (a minute
/// or two), and one lost launch costs at most the 15-minute registration timeout and another
/// launch.
pub const PENDING_BOUND: Duration = Duration::from_secs(30 * 60);

/// Return-to-Spot flapping: a NodePool falls back to on-demand again after it returned to
/// Spot (counted once per return: a new fallback NodeClaim after one or more return drains)
/// more than this many times within [`FLAP_PERIOD`]. The hysteresis (`flap_window`, 1 h: a
/// pool that fell back again within the window waits it out before its next return) allows
/// two in an hour at most.
pub const FLAP_LIMIT: usize = 3;

/// The period [`FLAP_LIMIT`] counts in.
pub const FLAP_PERIOD: Duration = Duration::from_secs(3600);

/// How long a launched instance may exist without a NodeClaim before the driver's garbage
/// collector terminates it (Karpenter's 30 s), and how often the collector looks (2 min, the
/// AWS provider's interval). An instance left at the end of a run that the collector had
/// time to see is a leak.
pub const GC_GRACE: Duration = Duration::from_secs(30);

/// How often the simulated garbage collector runs.
pub const GC_INTERVAL: Duration = Duration::from_secs(120);

/// The checker's memory: every live pod by the ledger, and instances seen without a claim.
#[derive(Debug, Default)]
pub(crate) struct Invariants {
    ledger: BTreeSet<String>,
    orphaned_since: BTreeMap<String, Duration>,
    /// NodeClaims already reported for two instances.
    duplicated: BTreeSet<String>,
    /// When the provisioner last said it could not place each pod.
    unschedulable_at: BTreeMap<String, Duration>,
    /// Pods already reported for waiting too long.
    waited_too_long: BTreeSet<String>,
    /// Per NodePool: when it last drained a node to return to Spot, and the times it fell
    /// back again after a return.
    returns: BTreeMap<String, Returns>,
}

/// A NodePool's returns to Spot, for [`FLAP_LIMIT`].
#[derive(Debug, Default)]
struct Returns {
    /// The last return drain not followed by a fallback yet.
    pending_return: Option<Duration>,
    /// When the pool fell back after a return.
    fallbacks_after_return: Vec<Duration>,
}

impl Invariants {
    /// A pod was created by its owner.
    pub fn created(&mut self, pod: &str) {
        self.ledger.insert(pod.to_string());
    }

    /// A pod left through a legitimate path (owner, completion, eviction, loss already counted).
    pub fn forget(&mut self, pod: &str) {
        self.ledger.remove(pod);
        self.unschedulable_at.remove(pod);
        self.waited_too_long.remove(pod);
    }

    /// The provisioner said it cannot place `pod` now.
    pub fn unschedulable(&mut self, pod: &str, now: Duration) {
        self.unschedulable_at.insert(pod.to_string(), now);
    }

    /// The provisioner placed `pod` (a new NodeClaim or an existing node): a pod it could not
    /// place until now (it says so once, and tries again only once capacity changed) was
    /// unplaceable until now, so its wait counts from here.
    pub fn placed(&mut self, pod: &str, now: Duration) {
        if let Some(since) = self.unschedulable_at.get_mut(pod) {
            *since = now;
        }
    }

    /// No cloud instance may be the second one of a NodeClaim.
    pub fn check_duplicates<'a>(
        &mut self,
        instances: impl Iterator<Item = &'a Instance>,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let mut by_claim: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for instance in instances {
            by_claim
                .entry(instance.node_claim.as_str())
                .or_default()
                .push(instance.id.as_str());
        }
        for (claim, ids) in by_claim.into_iter().filter(|(_, ids)| ids.len() > 1) {
            if !self.duplicated.insert(claim.to_string()) {
                continue;
            }
            self.violation(
                recorder,
                now,
                "no duplicate instance for one NodeClaim",
                "periodic check of the cloud's instances",
                &format!("NodeClaim {claim} has instances {}", ids.join(", ")),
            );
        }
    }

    /// At the end of a run, no instance may be left without a NodeClaim once the garbage
    /// collector had time to see it ([`GC_GRACE`] + [`GC_INTERVAL`]).
    pub fn check_leaks_at_end<'a>(
        &mut self,
        instances: impl Iterator<Item = &'a Instance>,
        state: &ClusterState,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        for instance in instances {
            if state.node_claims.contains_key(&instance.node_claim)
                || instance.launched_at + GC_GRACE + GC_INTERVAL > now
            {
                continue;
            }
            self.violation(
                recorder,
                now,
                "no leaked instance at the end of a run",
                "end of the run",
                &format!(
                    "instance {} of NodeClaim {} (launched at {}) is still running without its NodeClaim",
                    instance.id,
                    instance.node_claim,
                    spotter_report::clock_duration(instance.launched_at.as_secs_f64())
                ),
            );
        }
    }

    /// Every pending pod runs within [`PENDING_BOUND`] of the latest of its creation, the
    /// last fault (`last_faulty`) and the last time the provisioner could not place it (until
    /// it placed it again).
    pub fn check_pending(
        &mut self,
        state: &ClusterState,
        last_faulty: Duration,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let late: Vec<(String, Duration)> = state
            .pending_pods()
            .filter(|(key, pod)| !pod.daemon && !self.waited_too_long.contains(*key))
            // The provisioner said it cannot place the pod, and has not nominated it since.
            .filter(|(key, pod)| {
                pod.nominated.is_some() || !self.unschedulable_at.contains_key(*key)
            })
            .filter_map(|(key, pod)| {
                let since = pod
                    .created_at
                    .max(last_faulty)
                    .max(self.unschedulable_at.get(key).copied().unwrap_or_default());
                (now.saturating_sub(since) > PENDING_BOUND).then(|| (key.clone(), since))
            })
            .collect();
        for (pod, since) in late {
            self.waited_too_long.insert(pod.clone());
            self.violation(
                recorder,
                now,
                "every pending pod that fits a NodePool runs within 30 minutes",
                "periodic check of the pending pods",
                &format!(
                    "pod {pod} has been pending since {} without the provisioner saying it cannot be placed",
                    spotter_report::clock_duration(since.as_secs_f64())
                ),
            );
        }
    }

    /// A voluntary disruption (`reason`) of `node_claim` must find room in its NodePool's
    /// disruption budgets: fewer of the pool's other nodes disrupting than the budgets allow.
    /// Forceful disruptions (interruptions, expiry, timeouts, deletions) are not budgeted.
    pub fn check_budget(
        &mut self,
        state: &ClusterState,
        node_claim: &str,
        reason: DisruptionReason,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let budget_reason = match reason {
            DisruptionReason::Empty => BudgetReason::Empty,
            DisruptionReason::Underutilized => BudgetReason::Underutilized,
            DisruptionReason::Drifted => BudgetReason::Drifted,
            DisruptionReason::ReturnToSpot => BudgetReason::ReturnToSpot,
            DisruptionReason::RebalanceRecommended => BudgetReason::Rebalance,
            _ => return,
        };
        let Some(claim) = state.node_claims.get(node_claim) else {
            return;
        };
        if claim.deletion.is_some() || !claim.initialized {
            return;
        }
        let Some(pool) = state.node_pool(&claim.node_pool) else {
            return;
        };
        let counts = disruption_budgets::pool_disruptions(state)
            .remove(&claim.node_pool)
            .unwrap_or_default();
        let allowed = disruption_budgets::allowed(pool, budget_reason, counts.total, now);
        // A node whose replacement was launched uses the budget already: its own deletion
        // only goes on with it.
        let others = counts
            .disrupting
            .saturating_sub(u32::from(disruption_budgets::uses_budget(
                state, node_claim,
            )));
        if others >= allowed {
            self.violation(
                recorder,
                now,
                "no NodePool disruption budget exceeded",
                &format!(
                    "{} disruption of NodeClaim {node_claim}",
                    budget_reason.as_str()
                ),
                &format!(
                    "NodePool {}: {others} other of its {} nodes disrupting already, its budgets \
                     allow {allowed}",
                    claim.node_pool, counts.total
                ),
            );
        }
    }

    /// A NodePool drained a fallback node to return to Spot.
    pub fn returned_to_spot(&mut self, node_pool: &str, now: Duration) {
        self.returns
            .entry(node_pool.to_string())
            .or_default()
            .pending_return = Some(now);
    }

    /// A NodePool launched a fallback node (not a replacement); after a return to Spot, that
    /// is one flap, and more than [`FLAP_LIMIT`] in [`FLAP_PERIOD`] is a violation.
    pub fn fell_back(&mut self, node_pool: &str, recorder: &mut Recorder, now: Duration) {
        let returns = self.returns.entry(node_pool.to_string()).or_default();
        if returns.pending_return.take().is_none() {
            return;
        }
        returns
            .fallbacks_after_return
            .retain(|time| now.saturating_sub(*time) < FLAP_PERIOD);
        returns.fallbacks_after_return.push(now);
        let flaps = returns.fallbacks_after_return.len();
        if flaps > FLAP_LIMIT {
            self.violation(
                recorder,
                now,
                "no return-to-Spot flapping",
                &format!("fallback launch in NodePool {node_pool}"),
                &format!(
                    "NodePool {node_pool} fell back to on-demand after a return to Spot {flaps} times within an hour (at most {FLAP_LIMIT})"
                ),
            );
        }
    }

    /// Records a violation.
    pub fn violation(
        &mut self,
        recorder: &mut Recorder,
        now: Duration,
        invariant: &str,
        event: &str,
        detail: &str,
    ) {
        recorder.violation(now, invariant, event, detail);
    }

    /// An eviction (not a forced deletion) must be one every PodDisruptionBudget covering the
    /// pod allows at that moment: its healthy pods (bound to a Ready node) must leave room.
    pub fn check_eviction(
        &mut self,
        state: &ClusterState,
        pod: &str,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let Some(evicted) = state.pods.get(pod) else {
            return;
        };
        for budget in &state.pod_disruption_budgets {
            if !budget.covers(&evicted.pod) {
                continue;
            }
            let healthy = state
                .pods
                .values()
                .filter(|candidate| {
                    budget.covers(&candidate.pod)
                        && candidate
                            .node
                            .as_ref()
                            .and_then(|node| state.nodes.get(node))
                            .is_some_and(|node| node.ready)
                })
                .count() as u32;
            if budget.allowed_disruptions(healthy) == 0 {
                self.violation(
                    recorder,
                    now,
                    "no PodDisruptionBudget violated",
                    &format!("eviction of pod {pod}"),
                    &format!(
                        "PodDisruptionBudget {}/{} allowed no disruption ({healthy} healthy of {} expected)",
                        budget.namespace, budget.name, budget.expected_pods
                    ),
                );
            }
        }
    }

    /// Every pod in the ledger must still exist.
    pub fn check_ledger(
        &mut self,
        live: &BTreeMap<String, PodState>,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        // Every pod the ledger holds is alive unless the counts differ.
        if self.ledger.len() == live.values().filter(|pod| !pod.daemon).count() {
            return;
        }
        let vanished: Vec<String> = self
            .ledger
            .iter()
            .filter(|pod| !live.contains_key(*pod))
            .cloned()
            .collect();
        for pod in vanished {
            self.ledger.remove(&pod);
            recorder.pod_lost();
            self.violation(
                recorder,
                now,
                "no pod lost",
                "periodic check of every pod ever created",
                &format!("pod {pod} disappeared without its owner deleting it, completing, or being evicted"),
            );
        }
    }

    /// No instance may stay without a NodeClaim for longer than [`LEAK_GRACE`].
    pub fn check_instances<'a>(
        &mut self,
        instances: impl Iterator<Item = &'a Instance>,
        state: &ClusterState,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let mut orphaned = BTreeMap::new();
        for instance in instances {
            if state.node_claims.contains_key(&instance.node_claim) {
                continue;
            }
            let since = self
                .orphaned_since
                .get(&instance.id)
                .copied()
                .unwrap_or(now);
            if now.saturating_sub(since) >= LEAK_GRACE {
                self.violation(
                    recorder,
                    now,
                    "no instance without a NodeClaim",
                    "periodic check of the cloud's instances",
                    &format!(
                        "instance {} has had no NodeClaim since {}",
                        instance.id,
                        spotter_report::clock_duration(since.as_secs_f64())
                    ),
                );
            } else {
                orphaned.insert(instance.id.clone(), since);
            }
        }
        self.orphaned_since = orphaned;
    }

    /// A NodePool's launched nodes must stay within its limits.
    pub fn check_limits(
        &mut self,
        state: &ClusterState,
        node_pool: &str,
        recorder: &mut Recorder,
        now: Duration,
    ) {
        let Some(pool) = state.node_pool(node_pool) else {
            return;
        };
        if pool.limits.is_empty() {
            return;
        }
        let mut usage = Resources::new();
        let mut nodes = 0;
        for claim in state
            .node_claims
            .values()
            .filter(|claim| claim.node_pool == node_pool)
        {
            let Some(instance) = claim.instance() else {
                continue;
            };
            if claim
                .deletion
                .as_ref()
                .is_some_and(|deletion| deletion.instance_terminated)
            {
                continue;
            }
            if let Some(instance_type) = state.instance_type(&instance.offering.instance_type) {
                usage.add(&instance_type.capacity);
                nodes += 1;
            }
        }
        if let Some(exceeded) = pool.limits.exceeded_by(&usage, nodes) {
            self.violation(
                recorder,
                now,
                "no NodePool over its limits",
                &format!("launch in NodePool {node_pool}"),
                &format!(
                    "NodePool {node_pool}: {exceeded} (cpu in use {})",
                    resources::format_amount(resources::CPU, usage.cpu_millicores)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spotter_cloud::OfferingKey;
    use spotter_controllers::Policy;
    use spotter_controllers::state::{Deletion, LaunchState, NodeClaim};
    use spotter_core::builders::{instance_type, node_pool, pod};
    use spotter_core::node_pool::{Budget, BudgetNodes};
    use spotter_core::offering::CapacityType;

    use super::*;
    use crate::baseline::Baseline;
    use crate::scenario::Scenario;

    fn minutes(minutes: u64) -> Duration {
        Duration::from_secs(minutes * 60)
    }

    fn recorder() -> Recorder {
        let mut scenario = Scenario::builtin_default();
        scenario.deployments.clear();
        scenario.jobs.clear();
        let baseline = Baseline::of(&scenario, &Arc::new(Vec::new()));
        Recorder::new(&scenario, Policy::Spotter, baseline)
    }

    fn invariants_fired(recorder: &Recorder) -> Vec<String> {
        recorder
            .violations()
            .iter()
            .map(|violation| violation.invariant.clone())
            .collect()
    }

    fn instance(id: &str, node_claim: &str, launched_at: Duration) -> Instance {
        Instance {
            id: id.to_string(),
            provider_id: format!("sim:///zone-a/{id}"),
            node_claim: node_claim.to_string(),
            node_pool: "batch".to_string(),
            offering: OfferingKey {
                capacity_type: CapacityType::Spot,
                instance_type: "m5.large".to_string(),
                zone: "zone-a".to_string(),
            },
            price_per_hour: 0.04,
            launched_at,
        }
    }

    fn claim(name: &str, instance: Option<Instance>) -> NodeClaim {
        NodeClaim {
            name: name.to_string(),
            node_pool: "batch".to_string(),
            requirements: Default::default(),
            instance_types: Vec::new(),
            created_at: Duration::ZERO,
            launch: match instance {
                Some(instance) => LaunchState::Launched {
                    instance,
                    unavailable: Vec::new(),
                },
                None => LaunchState::NotLaunched,
            },
            node: None,
            initialized: false,
            deletion: None,
            fallback: false,
            replaces: None,
            node_pool_hash: None,
            node_class_hash: None,
        }
    }

    #[test]
    fn two_instances_of_one_node_claim_are_a_duplicate_once() {
        let cases = [
            (vec![("i-1", "a"), ("i-2", "b")], 0),
            (vec![("i-1", "a"), ("i-2", "a"), ("i-3", "b")], 1),
            (
                vec![("i-1", "a"), ("i-2", "a"), ("i-3", "b"), ("i-4", "b")],
                2,
            ),
        ];
        for (instances, expected) in cases {
            let instances: Vec<Instance> = instances
                .iter()
                .map(|(id, claim)| instance(id, claim, Duration::ZERO))
                .collect();
            let mut invariants = Invariants::default();
            let mut recorder = recorder();
            for _ in 0..2 {
                invariants.check_duplicates(instances.iter(), &mut recorder, minutes(5));
            }
            let fired = invariants_fired(&recorder);
            assert_eq!(fired.len(), expected, "{instances:?}: {fired:?}");
            assert!(
                fired
                    .iter()
                    .all(|invariant| invariant == "no duplicate instance for one NodeClaim")
            );
        }
    }

    #[test]
    fn an_instance_without_its_node_claim_at_the_end_is_a_leak_once_the_collector_saw_it() {
        let end = minutes(60);
        let cases = [
            // (launched at, its claim exists, a leak)
            (minutes(10), false, true),
            (minutes(10), true, false),
            (end - minutes(1), false, false),
            (end - GC_GRACE - GC_INTERVAL, false, true),
        ];
        for (launched_at, claimed, leak) in cases {
            let leaked = instance("i-1", "batch-a", launched_at);
            let mut state = ClusterState::default();
            if claimed {
                state.node_claims.insert(
                    "batch-a".to_string(),
                    claim("batch-a", Some(leaked.clone())),
                );
            }
            let mut recorder = recorder();
            Invariants::default().check_leaks_at_end(
                std::iter::once(&leaked),
                &state,
                &mut recorder,
                end,
            );
            let expected: Vec<String> = if leak {
                vec!["no leaked instance at the end of a run".to_string()]
            } else {
                Vec::new()
            };
            assert_eq!(
                invariants_fired(&recorder),
                expected,
                "launched at {launched_at:?}, claimed {claimed}"
            );
        }
    }

    #[test]
    fn a_pod_pending_past_the_bound_fires_unless_a_fault_or_the_provisioner_explains_it() {
        let cases = [
            // (now, last faulty, said unschedulable at, placed at, nominated, fires)
            (minutes(31), Duration::ZERO, None, None, false, true),
            (minutes(29), Duration::ZERO, None, None, false, false),
            (minutes(31), minutes(10), None, None, false, false),
            (
                minutes(31),
                Duration::ZERO,
                Some(minutes(1)),
                None,
                false,
                false,
            ),
            (
                minutes(45),
                Duration::ZERO,
                Some(minutes(1)),
                None,
                true,
                true,
            ),
            (
                minutes(45),
                Duration::ZERO,
                Some(minutes(20)),
                None,
                true,
                false,
            ),
            // Unplaceable from 1 min until placed at 20: its wait counts from 20.
            (
                minutes(45),
                Duration::ZERO,
                Some(minutes(1)),
                Some(minutes(20)),
                true,
                false,
            ),
            (
                minutes(51),
                Duration::ZERO,
                Some(minutes(1)),
                Some(minutes(20)),
                true,
                true,
            ),
            // A placement of a pod never said unplaceable changes nothing.
            (
                minutes(31),
                Duration::ZERO,
                None,
                Some(minutes(20)),
                true,
                true,
            ),
        ];
        for (now, last_faulty, unschedulable, placed, nominated, fires) in cases {
            let mut state = ClusterState::default();
            state.pod_created(
                "default/web-1".to_string(),
                PodState {
                    pod: Arc::new(pod("web-1").cpu("1").build()),
                    node: None,
                    nominated: nominated.then(|| "batch-a".to_string()),
                    created_at: Duration::ZERO,
                    daemon: false,
                    retry_now: false,
                    terminating: false,
                },
            );
            let mut invariants = Invariants::default();
            if let Some(at) = unschedulable {
                invariants.unschedulable("default/web-1", at);
            }
            if let Some(at) = placed {
                invariants.placed("default/web-1", at);
            }
            let mut recorder = recorder();
            for _ in 0..2 {
                invariants.check_pending(&state, last_faulty, &mut recorder, now);
            }
            assert_eq!(
                invariants_fired(&recorder).len(),
                usize::from(fires),
                "now {now:?}, last faulty {last_faulty:?}, unschedulable {unschedulable:?}, \
                 placed {placed:?}, nominated {nominated}"
            );
        }
    }

    /// A pool of three initialized Ready nodes with a budget of one node.
    fn budgeted_state(deleting: usize) -> ClusterState {
        let mut pool = node_pool("batch").build();
        pool.disruption.budgets = vec![Budget {
            nodes: BudgetNodes::Count(1),
            schedule: None,
            duration: None,
            reasons: Vec::new(),
        }];
        let mut state = ClusterState {
            node_pools: vec![pool],
            instance_types: Arc::new(vec![
                instance_type("m5.large")
                    .offering(CapacityType::Spot, "zone-a", 0.04)
                    .build(),
            ]),
            ..ClusterState::default()
        };
        for index in 0..3 {
            let name = format!("batch-{index}");
            let launched = instance(&format!("i-{index}"), &name, Duration::ZERO);
            state
                .node_claims
                .insert(name.clone(), claim(&name, Some(launched)));
            state.node_registered(&name, &name, Resources::new(), Duration::ZERO);
            state.node_ready(&name, Duration::ZERO);
            state.startup_taints_removed(&name);
            if index < deleting
                && let Some(claim) = state.node_claims.get_mut(&name)
            {
                claim.deletion = Some(Deletion {
                    reason: DisruptionReason::Underutilized,
                    requested_at: Duration::ZERO,
                    deadline: None,
                    instance_terminating: false,
                    instance_terminated: false,
                });
            }
        }
        state
    }

    #[test]
    fn a_voluntary_disruption_beyond_the_budget_fires() {
        let cases = [
            (0, DisruptionReason::Underutilized, false),
            (1, DisruptionReason::Underutilized, true),
            (1, DisruptionReason::Empty, true),
            (1, DisruptionReason::ReturnToSpot, true),
            (1, DisruptionReason::SpotInterrupted, false),
            (1, DisruptionReason::Expired, false),
        ];
        for (deleting, reason, fires) in cases {
            let state = budgeted_state(deleting);
            assert!(
                state.node_claims["batch-2"].initialized,
                "the nodes are initialized"
            );
            let mut recorder = recorder();
            Invariants::default().check_budget(
                &state,
                "batch-2",
                reason,
                &mut recorder,
                minutes(5),
            );
            assert_eq!(
                invariants_fired(&recorder),
                if fires {
                    vec!["no NodePool disruption budget exceeded".to_string()]
                } else {
                    Vec::new()
                },
                "{deleting} deleting, {reason:?}"
            );
        }
    }

    #[test]
    fn falling_back_after_a_return_too_often_in_an_hour_is_flapping() {
        let cases = [
            // (minutes between cycles, cycles, fires)
            (10, FLAP_LIMIT, false),
            (10, FLAP_LIMIT + 1, true),
            (25, FLAP_LIMIT + 1, false),
        ];
        for (gap, cycles, fires) in cases {
            let mut invariants = Invariants::default();
            let mut recorder = recorder();
            for cycle in 0..cycles as u64 {
                let at = minutes(gap * cycle);
                invariants.returned_to_spot("batch", at);
                invariants.returned_to_spot("batch", at + minutes(1));
                invariants.fell_back("batch", &mut recorder, at + minutes(2));
                // A second fallback without a return in between is not another flap.
                invariants.fell_back("batch", &mut recorder, at + minutes(3));
            }
            assert_eq!(
                invariants_fired(&recorder),
                if fires {
                    vec!["no return-to-Spot flapping".to_string()]
                } else {
                    Vec::new()
                },
                "every {gap} min, {cycles} cycles"
            );
        }
    }
}
