//! What a run measured: node-hours and cost per capacity type and NodePool (and of the nodes
//! whose pods could all have run on Spot) against the all-on-demand baseline, counters
//! (launches, fallbacks, interruptions, ICE, pods disrupted and lost), how long pods waited
//! (those that started, those that never did and why, those displaced by an interruption),
//! notable events, and the series sampled over time. At the end it becomes the [`Report`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spotter_cloud::{Instance, OfferingKey};
use spotter_controllers::{ClusterState, Policy};
use spotter_core::offering::CapacityType;
use spotter_core::unavailable_offerings::{AvoidLevel, UnavailableReason};
use spotter_report::{
    Event, EventKind, NodeHours, NodePoolSummary, Report, Series, Summary, Violation,
    clock_duration, iso8601_duration, percentiles, spread,
};

use crate::baseline::Baseline;
use crate::scenario::Scenario;

/// The measurements of one run.
#[derive(Debug)]
pub(crate) struct Recorder {
    policy: Policy,
    /// Running instances: when they started, their price and on-demand price.
    running: BTreeMap<String, RunningInstance>,
    pools: BTreeMap<String, PoolTotals>,
    events: Vec<Event>,
    violations: Vec<Violation>,
    pending_seconds: Vec<f64>,
    /// How long a pod may wait before the run is not OK.
    pending_threshold: Duration,
    /// Seconds pods spent pending, all pods together.
    pending_pod_seconds: f64,
    /// Pods that waited longer than the threshold.
    over_pending_threshold: u64,
    /// The provisioner's last reason for each pod it could not place.
    unschedulable_reasons: BTreeMap<String, String>,
    /// Pods that never ran, by reason.
    never_scheduled: BTreeMap<String, u64>,
    pods_pending_at_end: u64,
    /// Pods created to replace pods evicted from (or lost with) an interrupted node.
    displaced_by_interruption: BTreeSet<String>,
    interruption_pending_seconds: f64,
    /// The instance behind each running NodeClaim.
    instance_of_claim: BTreeMap<String, String>,
    /// The all-on-demand baseline.
    baseline: Baseline,
    fallbacks: u64,
    interruptions: u64,
    ice_events: u64,
    pods_disrupted: u64,
    pods_lost: u64,
    pods_created: u64,
    launches: u64,
    terminations: u64,
    peak_nodes: u64,
    series: Series,
    returns_to_spot: u64,
    fallback_node_hours: f64,
    time_to_fallback: Vec<f64>,
    time_to_return: Vec<f64>,
    /// NodeClaims disrupted, by reason label.
    disruptions: BTreeMap<String, u64>,
    /// Pods left pending by an insufficient-capacity answer, and when the first one came.
    left_pending_by_ice: BTreeMap<String, Duration>,
    /// Spot replacements requested for fallback nodes whose launch has not answered yet.
    return_requests: BTreeMap<String, ReturnRequest>,
    /// Each NodePool's run of refused Spot replacements, told as one event when it ends.
    refusals: BTreeMap<String, Refusals>,
}

/// A Spot replacement requested for a fallback node.
#[derive(Debug, Clone)]
struct ReturnRequest {
    node_pool: String,
    fallback: String,
    requested_at: Duration,
}

/// Spot replacements of one NodePool refused in a row (insufficient capacity).
#[derive(Debug, Clone)]
struct Refusals {
    count: u64,
    first: Duration,
    last: Duration,
    fallback: String,
}

/// How long a pod left pending by an insufficient-capacity answer is remembered for its time
/// to fallback.
const ICE_MEMORY: Duration = Duration::from_secs(1800);

/// What became of a fallback node: when compatible Spot capacity was back (the market's
/// truth) and whether it was returned to Spot (by return to Spot or consolidation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FallbackOutcome {
    pub spot_back_at: Option<Duration>,
    pub returned: bool,
}

#[derive(Debug)]
struct RunningInstance {
    node_claim: String,
    node_pool: String,
    capacity_type: CapacityType,
    started: Duration,
    price: f64,
    fallback: bool,
    /// Whether every pod it held could have run on Spot.
    eligible: bool,
}

#[derive(Debug, Default)]
struct PoolTotals {
    spot_hours: f64,
    on_demand_hours: f64,
    cost: f64,
    /// Node-hours of the nodes whose pods could all have run on Spot, and of those on Spot.
    eligible_hours: f64,
    eligible_spot_hours: f64,
    launches: u64,
    fallbacks: u64,
    interruptions: u64,
    returns_to_spot: u64,
    fallback_node_hours: f64,
}

impl Recorder {
    pub fn new(scenario: &Scenario, policy: Policy, baseline: Baseline) -> Self {
        let mut recorder = Self {
            policy,
            running: BTreeMap::new(),
            pools: BTreeMap::new(),
            events: Vec::new(),
            violations: Vec::new(),
            pending_seconds: Vec::new(),
            pending_threshold: scenario.pending_threshold,
            pending_pod_seconds: 0.0,
            over_pending_threshold: 0,
            unschedulable_reasons: BTreeMap::new(),
            never_scheduled: BTreeMap::new(),
            pods_pending_at_end: 0,
            displaced_by_interruption: BTreeSet::new(),
            interruption_pending_seconds: 0.0,
            instance_of_claim: BTreeMap::new(),
            baseline,
            fallbacks: 0,
            interruptions: 0,
            ice_events: 0,
            pods_disrupted: 0,
            pods_lost: 0,
            pods_created: 0,
            launches: 0,
            terminations: 0,
            peak_nodes: 0,
            returns_to_spot: 0,
            fallback_node_hours: 0.0,
            time_to_fallback: Vec::new(),
            time_to_return: Vec::new(),
            disruptions: BTreeMap::new(),
            left_pending_by_ice: BTreeMap::new(),
            return_requests: BTreeMap::new(),
            refusals: BTreeMap::new(),
            series: Series {
                interval_seconds: 0.0,
                time_seconds: Vec::new(),
                spot_nodes: Vec::new(),
                on_demand_nodes: Vec::new(),
                spot_share: Vec::new(),
                cost_per_hour: Vec::new(),
                on_demand_baseline_per_hour: Vec::new(),
                pending_pods: Vec::new(),
                nodes_by_node_pool: BTreeMap::new(),
                avoided_offerings: Vec::new(),
                avoided_families: Vec::new(),
                avoided_zones: Vec::new(),
            },
        };
        for pool in &scenario.node_pools {
            recorder
                .pools
                .insert(pool.name.clone(), PoolTotals::default());
            recorder
                .series
                .nodes_by_node_pool
                .insert(pool.name.clone(), Vec::new());
        }
        recorder
    }

    /// The run's all-on-demand baseline.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    pub fn event(
        &mut self,
        now: Duration,
        kind: EventKind,
        node_pool: Option<String>,
        node: Option<String>,
        detail: String,
    ) {
        self.events.push(Event {
            time: iso8601_duration(now.as_secs_f64()),
            time_seconds: now.as_secs_f64(),
            kind,
            node_pool,
            node,
            detail,
        });
    }

    pub fn launched(
        &mut self,
        now: Duration,
        instance: &Instance,
        fallback: bool,
        pods: &[String],
    ) {
        self.launches += 1;
        let left_pending_at = pods
            .iter()
            .filter_map(|pod| self.left_pending_by_ice.remove(pod))
            .min();
        if let Some(request) = self.return_requests.remove(&instance.node_claim) {
            self.flush_refusals(&request.node_pool);
            self.return_event(&request, &instance.node_claim);
        }
        let totals = self.pools.entry(instance.node_pool.clone()).or_default();
        totals.launches += 1;
        if fallback {
            if let Some(at) = left_pending_at {
                self.time_to_fallback
                    .push(now.saturating_sub(at).as_secs_f64());
            }
            self.fallbacks += 1;
            totals.fallbacks += 1;
            self.event(
                now,
                EventKind::Fallback,
                Some(instance.node_pool.clone()),
                Some(instance.node_claim.clone()),
                format!(
                    "on-demand {} in {} instead of Spot",
                    instance.offering.instance_type, instance.offering.zone
                ),
            );
        }
        self.event(
            now,
            EventKind::Launch,
            Some(instance.node_pool.clone()),
            Some(instance.node_claim.clone()),
            format!(
                "{} {} {} at ${:.4}/h",
                instance.offering.capacity_type,
                instance.offering.instance_type,
                instance.offering.zone,
                instance.price_per_hour
            ),
        );
        self.running.insert(
            instance.id.clone(),
            RunningInstance {
                node_claim: instance.node_claim.clone(),
                node_pool: instance.node_pool.clone(),
                capacity_type: instance.offering.capacity_type,
                started: now,
                price: instance.price_per_hour,
                fallback,
                eligible: true,
            },
        );
        self.instance_of_claim
            .insert(instance.node_claim.clone(), instance.id.clone());
        self.peak_nodes = self.peak_nodes.max(self.running.len() as u64);
    }

    pub fn instance_gone(
        &mut self,
        instance_id: &str,
        now: Duration,
        outcome: Option<FallbackOutcome>,
    ) {
        let Some(instance) = self.running.remove(instance_id) else {
            return;
        };
        self.instance_of_claim.remove(&instance.node_claim);
        self.terminations += 1;
        self.account(&instance, now);
        let Some(outcome) = outcome.filter(|_| instance.fallback) else {
            return;
        };
        self.account_fallback(&instance, now, outcome);
        if outcome.returned {
            self.returns_to_spot += 1;
            if let Some(totals) = self.pools.get_mut(&instance.node_pool) {
                totals.returns_to_spot += 1;
            }
            if let Some(back) = outcome.spot_back_at {
                self.time_to_return
                    .push(now.saturating_sub(back).as_secs_f64());
            }
            self.event(
                now,
                EventKind::ReturnToSpot,
                Some(instance.node_pool.clone()),
                Some(instance.node_claim.clone()),
                format!(
                    "fallback node removed, returned to Spot {} after Spot was back",
                    outcome.spot_back_at.map_or_else(
                        || "(Spot never seen back)".to_string(),
                        |back| clock_duration(now.saturating_sub(back).as_secs_f64())
                    )
                ),
            );
        }
    }

    /// On-demand hours a fallback node ran while compatible Spot was back.
    fn account_fallback(
        &mut self,
        instance: &RunningInstance,
        until: Duration,
        outcome: FallbackOutcome,
    ) {
        let Some(back) = outcome.spot_back_at else {
            return;
        };
        let hours = until
            .saturating_sub(back.max(instance.started))
            .as_secs_f64()
            / 3600.0;
        self.fallback_node_hours += hours;
        if let Some(totals) = self.pools.get_mut(&instance.node_pool) {
            totals.fallback_node_hours += hours;
        }
    }

    /// Pods a launch's insufficient-capacity answer left pending (the start of their time to
    /// fallback). Pods still waiting after [`ICE_MEMORY`] are forgotten.
    pub fn left_pending_by_ice(&mut self, now: Duration, pods: &[String]) {
        self.left_pending_by_ice
            .retain(|_, since| now.saturating_sub(*since) < ICE_MEMORY);
        for pod in pods {
            self.left_pending_by_ice.entry(pod.clone()).or_insert(now);
        }
    }

    /// The provisioner placed `pod` on an existing or in-flight NodeClaim (`fallback` if that
    /// claim is a fallback one). If an insufficient-capacity answer had left it pending, that
    /// answer has been dealt with: on a fallback claim its time to fallback ends now; on any
    /// other claim it needed no fallback, and a fallback it gets later (displaced from that
    /// claim's node by other pods) is not the answer's.
    pub fn provisioned_on_existing(&mut self, now: Duration, pod: &str, fallback: bool) {
        if let Some(since) = self.left_pending_by_ice.remove(pod)
            && fallback
        {
            self.time_to_fallback
                .push(now.saturating_sub(since).as_secs_f64());
        }
    }

    /// Whether some pods wait for capacity since an insufficient-capacity answer.
    pub fn waits_since_ice(&self) -> bool {
        !self.left_pending_by_ice.is_empty()
    }

    /// A NodeClaim not being deleted before was disrupted for `reason` (its label).
    pub fn disrupted(&mut self, reason: &str) {
        *self.disruptions.entry(reason.to_string()).or_default() += 1;
    }

    /// A Spot replacement requested for a fallback node (of `node_pool`). Its event waits
    /// for the launch's answer: refused ones in a row are told as one event.
    pub fn return_started(
        &mut self,
        now: Duration,
        node_pool: &str,
        fallback: &str,
        replacement: &str,
    ) {
        self.return_requests.insert(
            replacement.to_string(),
            ReturnRequest {
                node_pool: node_pool.to_string(),
                fallback: fallback.to_string(),
                requested_at: now,
            },
        );
    }

    /// The event of a Spot replacement requested (at its request time).
    fn return_event(&mut self, request: &ReturnRequest, replacement: &str) {
        self.event(
            request.requested_at,
            EventKind::ReturnToSpot,
            Some(request.node_pool.clone()),
            Some(request.fallback.clone()),
            format!("Spot replacement {replacement} requested"),
        );
    }

    /// Tells a NodePool's run of refused Spot replacements as one event, at the first.
    fn flush_refusals(&mut self, node_pool: &str) {
        let Some(refusals) = self.refusals.remove(node_pool) else {
            return;
        };
        let detail = if refusals.count == 1 {
            "Spot replacement requested, refused: insufficient capacity".to_string()
        } else {
            format!(
                "Spot replacement requested {} times from {} to {}, refused each time: \
                 insufficient capacity",
                refusals.count,
                clock_duration(refusals.first.as_secs_f64()),
                clock_duration(refusals.last.as_secs_f64())
            )
        };
        self.event(
            refusals.first,
            EventKind::ReturnToSpot,
            Some(node_pool.to_string()),
            Some(refusals.fallback),
            detail,
        );
    }

    /// A fallback node drained because its Spot replacement is initialized.
    pub fn return_draining(&mut self, now: Duration, node_pool: &str, fallback: &str) {
        self.event(
            now,
            EventKind::ReturnToSpot,
            Some(node_pool.to_string()),
            Some(fallback.to_string()),
            "Spot replacement initialized: draining the fallback node".to_string(),
        );
    }

    /// An offering, or its family in its zone or its zone (`wider`), avoided for
    /// interrupting too often.
    pub fn avoided(
        &mut self,
        now: Duration,
        offering: &OfferingKey,
        wider: Option<&AvoidLevel>,
        until: Duration,
    ) {
        let lasting = clock_duration(until.saturating_sub(now).as_secs_f64());
        let detail = match wider {
            None => format!("{offering} interrupted too often: avoided for {lasting}"),
            Some(AvoidLevel::FamilyInZone { family }) => format!(
                "{family} family interrupted too often in {} ({} {}): avoided there for {lasting}",
                offering.zone, offering.capacity_type, offering.instance_type
            ),
            Some(AvoidLevel::Zone) => format!(
                "{} {} interrupted too often (last: {}): zone avoided for {lasting}; soft zone spreads (ScheduleAnyway) leave it out meanwhile",
                offering.zone, offering.capacity_type, offering.instance_type
            ),
        };
        self.event(now, EventKind::Avoid, None, None, detail);
    }

    fn account(&mut self, instance: &RunningInstance, until: Duration) {
        let hours = until.saturating_sub(instance.started).as_secs_f64() / 3600.0;
        let totals = self.pools.entry(instance.node_pool.clone()).or_default();
        match instance.capacity_type {
            CapacityType::Spot => totals.spot_hours += hours,
            _ => totals.on_demand_hours += hours,
        }
        totals.cost += hours * instance.price;
        if instance.eligible {
            totals.eligible_hours += hours;
            if instance.capacity_type == CapacityType::Spot {
                totals.eligible_spot_hours += hours;
            }
        }
    }

    /// The launch of `node_claim` was refused for want of capacity: if it was a Spot
    /// replacement for a fallback node, it joins its NodePool's run of refusals.
    pub fn launch_refused(&mut self, node_claim: &str) {
        let Some(request) = self.return_requests.remove(node_claim) else {
            return;
        };
        let refusals = self
            .refusals
            .entry(request.node_pool.clone())
            .or_insert_with(|| Refusals {
                count: 0,
                first: request.requested_at,
                last: request.requested_at,
                fallback: request.fallback.clone(),
            });
        refusals.count += 1;
        refusals.last = request.requested_at;
    }

    /// One insufficient-capacity answer to a launch, naming the offerings that had none.
    pub fn ice(
        &mut self,
        now: Duration,
        node_pool: &str,
        node_claim: &str,
        offerings: &[OfferingKey],
    ) {
        self.ice_events += 1;
        let named: Vec<String> = offerings.iter().take(3).map(ToString::to_string).collect();
        let more = offerings.len().saturating_sub(named.len());
        let detail = if more > 0 {
            format!(
                "insufficient capacity for {} (+{more} more offerings)",
                named.join(", ")
            )
        } else {
            format!("insufficient capacity for {}", named.join(", "))
        };
        self.event(
            now,
            EventKind::Ice,
            Some(node_pool.to_string()),
            Some(node_claim.to_string()),
            detail,
        );
    }

    pub fn interruption(&mut self, node_pool: Option<&str>) {
        self.interruptions += 1;
        if let Some(totals) = node_pool.and_then(|pool| self.pools.get_mut(pool)) {
            totals.interruptions += 1;
        }
    }

    pub fn pod_created(&mut self) {
        self.pods_created += 1;
    }

    /// A pod started on the node of `node_claim` after waiting `waited`; `may_run_on_spot`
    /// says whether it could have run on Spot (a node that held one that could not is not
    /// Spot-eligible).
    pub fn pod_started(
        &mut self,
        pod: &str,
        node_claim: &str,
        may_run_on_spot: bool,
        waited: Duration,
    ) {
        self.pending_seconds.push(waited.as_secs_f64());
        self.waited(pod, waited);
        self.unschedulable_reasons.remove(pod);
        if !may_run_on_spot
            && let Some(instance) = self
                .instance_of_claim
                .get(node_claim)
                .and_then(|id| self.running.get_mut(id))
        {
            instance.eligible = false;
        }
    }

    /// A pod that never started was removed (scaled down) after waiting `waited`.
    pub fn pod_removed_pending(&mut self, pod: &str, waited: Duration) {
        self.waited(pod, waited);
        let reason = self.unschedulable_reasons.remove(pod).map_or_else(
            || "removed while pending".to_string(),
            |reason| format!("removed while pending ({reason})"),
        );
        *self.never_scheduled.entry(reason).or_default() += 1;
    }

    /// The provisioner cannot place `pod`, for `reason` (the last reason counts).
    pub fn pod_unschedulable(&mut self, pod: &str, reason: &str) {
        if self.unschedulable_reasons.get(pod).map(String::as_str) != Some(reason) {
            self.unschedulable_reasons
                .insert(pod.to_string(), reason.to_string());
        }
    }

    /// `pod` replaces one evicted from (or lost with) an interrupted node: its wait counts as
    /// interruption impact.
    pub fn displaced_by_interruption(&mut self, pod: String) {
        self.displaced_by_interruption.insert(pod);
    }

    /// A pod's wait ended (it started, was removed, or the run ended): it counts in the
    /// pending pod-hours, against the threshold, and as interruption impact if it replaced a
    /// pod of an interrupted node.
    fn waited(&mut self, pod: &str, waited: Duration) {
        self.pending_pod_seconds += waited.as_secs_f64();
        if waited > self.pending_threshold {
            self.over_pending_threshold += 1;
        }
        if self.displaced_by_interruption.remove(pod) {
            self.interruption_pending_seconds += waited.as_secs_f64();
        }
    }

    pub fn pod_disrupted(&mut self) {
        self.pods_disrupted += 1;
    }

    pub fn pod_lost(&mut self) {
        self.pods_lost += 1;
    }

    /// The violations recorded so far (for the invariants' tests).
    #[cfg(test)]
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn violation(&mut self, now: Duration, invariant: &str, event: &str, detail: &str) {
        self.violations.push(Violation {
            time: iso8601_duration(now.as_secs_f64()),
            time_seconds: now.as_secs_f64(),
            invariant: invariant.to_string(),
            event: event.to_string(),
            detail: detail.to_string(),
        });
        self.event(
            now,
            EventKind::Violation,
            None,
            None,
            format!("{invariant}: {detail}"),
        );
    }

    /// Records one point of every series.
    pub fn sample(&mut self, now: Duration, state: &ClusterState) {
        let mut spot = 0u32;
        let mut on_demand = 0u32;
        let mut cost = 0.0;
        let mut by_pool: BTreeMap<&str, u32> = BTreeMap::new();
        for instance in self.running.values() {
            match instance.capacity_type {
                CapacityType::Spot => spot += 1,
                _ => on_demand += 1,
            }
            cost += instance.price;
            *by_pool.entry(instance.node_pool.as_str()).or_default() += 1;
        }
        let series = &mut self.series;
        series.time_seconds.push(now.as_secs_f64());
        series.spot_nodes.push(spot);
        series.on_demand_nodes.push(on_demand);
        let total = spot + on_demand;
        series.spot_share.push(if total == 0 {
            0.0
        } else {
            f64::from(spot) / f64::from(total)
        });
        series.cost_per_hour.push(cost);
        series
            .on_demand_baseline_per_hour
            .push(self.baseline.per_hour_at(now));
        series
            .pending_pods
            .push(state.pending_pods().filter(|(_, pod)| !pod.daemon).count() as u32);
        for (pool, values) in &mut series.nodes_by_node_pool {
            values.push(by_pool.get(pool.as_str()).copied().unwrap_or(0));
        }
        let cache = &state.unavailable_offerings;
        series.avoided_offerings.push(
            cache
                .active()
                .filter(|(_, _, _, record)| record.reason == UnavailableReason::InterruptionProne)
                .count() as u32,
        );
        let families = cache
            .avoided()
            .iter()
            .filter(|avoided| matches!(avoided.level, AvoidLevel::FamilyInZone { .. }))
            .count() as u32;
        series.avoided_families.push(families);
        series
            .avoided_zones
            .push(cache.avoided().len() as u32 - families);
    }

    /// The run's report at `end`: `fallback_outcomes` for the fallback nodes still running (by
    /// instance), `still_pending` the pods pending then (with their creation times and, when
    /// nominated, their NodeClaim).
    pub fn finish(
        mut self,
        scenario: &Scenario,
        end: Duration,
        fallback_outcomes: &BTreeMap<String, FallbackOutcome>,
        still_pending: &[(String, Duration, Option<String>)],
    ) -> Report {
        for (pod, created_at, nominated) in still_pending {
            let waited = end.saturating_sub(*created_at);
            self.pending_seconds.push(waited.as_secs_f64());
            self.waited(pod, waited);
            self.pods_pending_at_end += 1;
            let reason = match (self.unschedulable_reasons.remove(pod), nominated) {
                (Some(reason), _) => reason,
                (None, Some(node_claim)) => {
                    format!("waiting for its NodeClaim ({node_claim} was not Ready)")
                }
                (None, None) => "never placed by the provisioner".to_string(),
            };
            *self.never_scheduled.entry(reason).or_default() += 1;
        }
        // Requests still unanswered, then runs of refusals, are told; events go in time order.
        let requests = std::mem::take(&mut self.return_requests);
        for (replacement, request) in &requests {
            self.return_event(request, replacement);
        }
        let pools: Vec<String> = self.refusals.keys().cloned().collect();
        for node_pool in pools {
            self.flush_refusals(&node_pool);
        }
        self.events
            .sort_by(|left, right| left.time_seconds.total_cmp(&right.time_seconds));
        let running = std::mem::take(&mut self.running);
        for (instance_id, instance) in &running {
            self.account(instance, end);
            if let Some(outcome) = fallback_outcomes
                .get(instance_id)
                .filter(|_| instance.fallback)
            {
                self.account_fallback(instance, end, *outcome);
            }
        }
        let spot_hours: f64 = self.pools.values().map(|totals| totals.spot_hours).sum();
        let on_demand_hours: f64 = self
            .pools
            .values()
            .map(|totals| totals.on_demand_hours)
            .sum();
        let cost: f64 = self.pools.values().map(|totals| totals.cost).sum();
        let baseline = self.baseline.cost_until(end);
        let eligible_hours: f64 = self
            .pools
            .values()
            .map(|totals| totals.eligible_hours)
            .sum();
        let eligible_spot_hours: f64 = self
            .pools
            .values()
            .map(|totals| totals.eligible_spot_hours)
            .sum();
        let total_hours = spot_hours + on_demand_hours;
        self.series.interval_seconds = if self.series.time_seconds.len() > 1 {
            self.series.time_seconds[1] - self.series.time_seconds[0]
        } else {
            0.0
        };
        let summary = Summary {
            spot_share_of_node_hours: if total_hours > 0.0 {
                spot_hours / total_hours
            } else {
                0.0
            },
            spot_share_of_eligible_node_hours: if eligible_hours > 0.0 {
                eligible_spot_hours / eligible_hours
            } else {
                0.0
            },
            node_hours: NodeHours {
                spot: round(spot_hours, 3),
                on_demand: round(on_demand_hours, 3),
            },
            fallbacks: self.fallbacks,
            interruptions: self.interruptions,
            ice_events: self.ice_events,
            pods_disrupted: self.pods_disrupted,
            pods_lost: self.pods_lost,
            invariant_violations: self.violations.len() as u64,
            cost_usd: round(cost, 2),
            on_demand_baseline_cost_usd: round(baseline, 2),
            savings_pct: if baseline > 0.0 {
                round((1.0 - cost / baseline) * 100.0, 2)
            } else {
                0.0
            },
            pending_seconds: percentiles(&mut self.pending_seconds),
            pods_pending_at_end: self.pods_pending_at_end,
            pending_pod_hours: round(self.pending_pod_seconds / 3600.0, 3),
            pods_never_scheduled: self.never_scheduled.values().sum(),
            pods_never_scheduled_reasons: std::mem::take(&mut self.never_scheduled),
            pending_threshold_seconds: self.pending_threshold.as_secs_f64(),
            pods_over_pending_threshold: self.over_pending_threshold,
            interruption_pending_pod_seconds: round(self.interruption_pending_seconds, 1),
            launches: self.launches,
            terminations: self.terminations,
            pods_created: self.pods_created,
            peak_nodes: self.peak_nodes,
            returns_to_spot: self.returns_to_spot,
            fallback_node_hours: round(self.fallback_node_hours, 3),
            time_to_fallback_seconds: spread(&mut self.time_to_fallback),
            time_to_return_seconds: spread(&mut self.time_to_return),
            disruptions: std::mem::take(&mut self.disruptions),
        };
        let node_pools = self
            .pools
            .iter()
            .map(|(name, totals)| NodePoolSummary {
                name: name.clone(),
                node_hours: NodeHours {
                    spot: round(totals.spot_hours, 3),
                    on_demand: round(totals.on_demand_hours, 3),
                },
                cost_usd: round(totals.cost, 2),
                launches: totals.launches,
                fallbacks: totals.fallbacks,
                interruptions: totals.interruptions,
                returns_to_spot: totals.returns_to_spot,
                fallback_node_hours: round(totals.fallback_node_hours, 3),
            })
            .collect();
        Report {
            scenario: scenario.name.clone(),
            region: scenario.region.clone(),
            policy: self.policy.as_str().to_string(),
            seed: scenario.seed,
            duration_hours: end.as_secs_f64() / 3600.0,
            summary,
            node_pools,
            invariant_violations: self.violations,
            events: self.events,
            series: self.series,
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests {
    use spotter_controllers::Policy;

    /// Guards the report's own list of preset names (it does not depend on the controllers):
    /// a comparison shows the presets in the order of `Policy::ALL`, under the names the
    /// recorder writes.
    #[test]
    fn the_report_orders_the_presets_as_policy_all() {
        let names: Vec<&str> = Policy::ALL.iter().map(|policy| policy.as_str()).collect();
        assert_eq!(names, spotter_report::POLICY_ORDER);
    }
}
