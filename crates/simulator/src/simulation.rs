//! The discrete-event engine: a virtual clock, an event queue, the simulated cloud, the cluster
//! state the controllers read, and the loop that runs the real controllers against them.
//!
//! Deterministic: every random draw comes from generators seeded by the scenario's seed, every
//! collection that is iterated is ordered, and events at the same instant run in the order they
//! were scheduled.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spotter_cloud::ready::now_or_never;
use spotter_cloud::{CloudProvider, OfferingKey};
use spotter_controllers::pod_disruption_budget::{Amount, Budget, PodDisruptionBudget};
use spotter_controllers::state::{DisruptionReason, InterruptionNotice, NoticeKind};
use spotter_controllers::{ClusterState, Controllers, Policy, ReconcileLoop, Settings};
use spotter_core::interruption_history::InterruptionHistory;
use spotter_core::offering::CapacityType;
use spotter_core::random::Random;
use spotter_core::unavailable_offerings::UnavailableOfferings;
use spotter_market::{CloudEvent, MarketModel, Outage, PoolOverride, SimulatedCloud};
use spotter_report::{Comparison, EventKind, Report};

use crate::baseline::Baseline;
use crate::faults::{InjectedFaults, WatchFault};
use crate::invariants::{GC_GRACE, GC_INTERVAL, Invariants};
use crate::node_classes::NodeClasses;
use crate::observer::{NoObserver, Observer};
use crate::recorder::{FallbackOutcome, Recorder};
use crate::scenario::{self, ChangedObject, FaultKind, Scenario};
use crate::workloads::Workloads;

/// How a run is shaped beyond its scenario.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Replaces the scenario's seed.
    pub seed: Option<u64>,
    /// Replaces the scenario's duration.
    pub duration: Option<Duration>,
    /// The policy preset the controllers run with.
    pub policy: Policy,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// The scenario's region is not in the embedded catalog.
    #[error("failed to start the simulation: {0}")]
    Catalog(#[from] spotter_catalog::CatalogError),
}

/// Runs a scenario to its end; `progress` is called now and then with the share done (0..=1).
pub fn run(
    scenario: &Scenario,
    options: &Options,
    progress: &mut dyn FnMut(f64),
) -> Result<Report, SimulationError> {
    run_observed(scenario, options, progress, Box::new(NoObserver))
}

/// Runs a scenario to its end, telling `observer` what happens as it happens (the report is
/// the same as [`run`]'s).
pub fn run_observed(
    scenario: &Scenario,
    options: &Options,
    progress: &mut dyn FnMut(f64),
    observer: Box<dyn Observer>,
) -> Result<Report, SimulationError> {
    let mut simulation = Simulation::new(scenario, options, None)?;
    simulation.observer = observer;
    simulation.run(progress);
    Ok(simulation.finish())
}

/// Runs a scenario once per policy, with the same seed, for a side-by-side comparison;
/// `progress` gets the share of all the runs done.
pub fn compare(
    scenario: &Scenario,
    options: &Options,
    policies: &[Policy],
    progress: &mut dyn FnMut(f64),
) -> Result<Comparison, SimulationError> {
    let mut reports = BTreeMap::new();
    let runs = policies.len().max(1) as f64;
    let mut first: Option<Report> = None;
    // The baseline depends on the scenario only: computed once for every run.
    let mut baseline: Option<Baseline> = None;
    for (index, &policy) in policies.iter().enumerate() {
        let options = Options {
            policy,
            ..options.clone()
        };
        let mut simulation = Simulation::new(scenario, &options, baseline.clone())?;
        baseline = Some(simulation.recorder.baseline().clone());
        simulation.run(&mut |done| {
            progress((index as f64 + done) / runs);
        });
        let report = simulation.finish();
        if first.is_none() {
            first = Some(report.clone());
        }
        reports.insert(policy.as_str().to_string(), report);
    }
    let (name, region, seed, duration_hours) = match &first {
        Some(report) => (
            report.scenario.clone(),
            report.region.clone(),
            report.seed,
            report.duration_hours,
        ),
        None => (
            scenario.name.clone(),
            scenario.region.clone(),
            options.seed.unwrap_or(scenario.seed),
            options.duration.unwrap_or(scenario.duration).as_secs_f64() / 3600.0,
        ),
    };
    Ok(Comparison {
        scenario: name,
        region,
        seed,
        duration_hours,
        policies: reports,
    })
}

/// Something scheduled on the virtual clock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// Run the controllers.
    Reconcile,
    /// Run the kube-scheduler stand-in.
    SchedulePods,
    /// Re-evaluate a Deployment's replica curve.
    ScaleDeployment(usize),
    /// A Job's pods arrive.
    StartJob(usize),
    /// A Job pod finishes (if it is still the same run).
    CompletePod { pod: String, run: u64 },
    /// The instance of a NodeClaim is running and its node registers.
    RegisterNode(String),
    /// A node becomes Ready.
    NodeReady(String),
    /// A scenario fault.
    Fault(usize),
    /// A scenario change: a new version of a NodePool.
    Change(usize),
    /// A Spot interruption warning reaches the controllers (late or a second time, when an
    /// `interruptionDelivery` fault says so).
    DeliverInterruption {
        instance_id: String,
        terminate_at: Duration,
    },
    /// The driver's garbage collector: instances without a NodeClaim are terminated.
    CollectGarbage,
    /// A node's watch event lost earlier, seen at the relist.
    Relisted(Box<Event>),
    /// Record a sample of the series.
    Sample,
    /// Check the invariants that are checked periodically.
    Sweep,
}

/// The whole simulated world.
pub(crate) struct Simulation {
    pub now: Duration,
    pub end: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64, Event)>>,
    sequence: u64,
    next_reconcile: Option<Duration>,
    schedule_pending: bool,
    pub state: ClusterState,
    pub controllers: Controllers,
    pub cloud: SimulatedCloud,
    pub random: Random,
    pub scenario: Scenario,
    pub workloads: Workloads,
    pub recorder: Recorder,
    pub invariants: Invariants,
    /// The lasting faults and their draws.
    pub injected: InjectedFaults,
    /// NodeClaims by the instance behind them, for cloud events (the tags a real cloud has).
    pub claim_of_instance: BTreeMap<String, String>,
    /// The EC2NodeClasses, and which version each instance was launched from.
    node_classes: NodeClasses,
    /// Controller restarts so far (each restarted controller draws other NodeClaim names).
    pub restarts: u64,
    pub sample_interval: Duration,
    /// Told what happens ([`NoObserver`] unless the run is observed).
    pub observer: Box<dyn Observer>,
}

/// Periodic reconcile, so that timeouts are noticed even when nothing happens.
const RECONCILE_PERIOD: Duration = Duration::from_secs(60);
/// Periodic invariant sweep.
const SWEEP_PERIOD: Duration = Duration::from_secs(300);
/// Samples in a run's series, at most.
const SAMPLES: u64 = 2_000;

impl Simulation {
    /// The world at the start of a run of `scenario` shaped by `options`; `baseline` is the
    /// scenario's all-on-demand baseline when it is known already (computed otherwise).
    pub fn new(
        scenario: &Scenario,
        options: &Options,
        baseline: Option<Baseline>,
    ) -> Result<Self, SimulationError> {
        let mut scenario = scenario.clone();
        if let Some(seed) = options.seed {
            scenario.seed = seed;
        }
        if let Some(duration) = options.duration {
            scenario.duration = duration;
        }
        let region = spotter_catalog::embedded().region(&scenario.region)?;
        let instance_types = Arc::new(spotter_catalog::instance_types::instance_types(region));
        let settings = Settings::for_policy(options.policy);
        let market = market_model(&scenario.market);
        let cloud = SimulatedCloud::new(&instance_types, market, scenario.seed);
        let mut state = ClusterState {
            node_pools: scenario.node_pools.clone(),
            instance_types,
            daemon_set_pods: scenario.daemon_set_pods.clone(),
            pod_disruption_budgets: scenario
                .pod_disruption_budgets
                .iter()
                .map(|budget| PodDisruptionBudget {
                    name: budget.name.clone(),
                    namespace: budget.namespace.clone(),
                    selector: budget.selector.clone(),
                    budget: match budget.budget {
                        scenario::DisruptionBudget::MaxUnavailable(amount) => {
                            Budget::MaxUnavailable(amount_of(amount))
                        }
                        scenario::DisruptionBudget::MinAvailable(amount) => {
                            Budget::MinAvailable(amount_of(amount))
                        }
                    },
                    expected_pods: 0,
                })
                .collect(),
            unavailable_offerings: UnavailableOfferings::with_settings(settings.cache_settings()),
            interruption_history: InterruptionHistory::new(settings.interruption_memory()),
            ..ClusterState::default()
        };
        let node_classes = NodeClasses::new(&scenario.node_classes, &mut state);
        let end = scenario.duration;
        let sample_interval = Duration::from_secs((end.as_secs() / SAMPLES).max(300));
        let workloads = Workloads::new(&scenario);
        let random = Random::new(scenario.seed).fork(0x5EED);
        let baseline = baseline.unwrap_or_else(|| Baseline::of(&scenario, &state.instance_types));
        let mut simulation = Self {
            now: Duration::ZERO,
            end,
            queue: BinaryHeap::new(),
            sequence: 0,
            next_reconcile: None,
            schedule_pending: false,
            state,
            controllers: Controllers::with_seed(settings, scenario.seed),
            cloud,
            random,
            recorder: Recorder::new(&scenario, options.policy, baseline),
            invariants: Invariants::default(),
            injected: InjectedFaults::new(
                &scenario.faults,
                scenario.changes.iter().map(|change| change.at).collect(),
                scenario.seed,
            ),
            workloads,
            scenario,
            claim_of_instance: BTreeMap::new(),
            node_classes,
            restarts: 0,
            sample_interval,
            observer: Box::new(NoObserver),
        };
        simulation.schedule_start();
        Ok(simulation)
    }

    fn schedule_start(&mut self) {
        for index in 0..self.scenario.deployments.len() {
            for time in self.scenario.deployments[index]
                .replicas
                .change_times(self.end)
            {
                self.at(time, Event::ScaleDeployment(index));
            }
        }
        for index in 0..self.scenario.jobs.len() {
            for &time in &self.scenario.jobs[index].arrivals.clone() {
                if time < self.end {
                    self.at(time, Event::StartJob(index));
                }
            }
        }
        for index in 0..self.scenario.faults.len() {
            let fault = self.scenario.faults[index].clone();
            if let FaultKind::SpotOutage {
                zone,
                instance_type,
                duration,
            }
            | FaultKind::OnDemandOutage {
                zone,
                instance_type,
                duration,
            } = &fault.kind
            {
                let capacity_type = if matches!(fault.kind, FaultKind::SpotOutage { .. }) {
                    CapacityType::Spot
                } else {
                    CapacityType::OnDemand
                };
                self.cloud.add_outage(Outage {
                    capacity_type: Some(capacity_type),
                    zone: zone.clone(),
                    instance_type: instance_type.clone(),
                    start: fault.at,
                    end: fault.at + *duration,
                });
            }
            self.at(fault.at, Event::Fault(index));
        }
        for index in 0..self.scenario.changes.len() {
            self.at(self.scenario.changes[index].at, Event::Change(index));
        }
        self.at(Duration::ZERO, Event::Sample);
        self.at(SWEEP_PERIOD, Event::Sweep);
        self.at(GC_INTERVAL, Event::CollectGarbage);
        self.request_reconcile(Duration::ZERO);
    }

    /// Schedules an event.
    pub fn at(&mut self, time: Duration, event: Event) {
        self.sequence += 1;
        self.queue.push(Reverse((time, self.sequence, event)));
    }

    /// Asks for a reconcile at `time` (at most one is pending at a time, the earliest).
    pub fn request_reconcile(&mut self, time: Duration) {
        let time = time.max(self.now);
        if self.next_reconcile.is_some_and(|next| next <= time) {
            return;
        }
        self.next_reconcile = Some(time);
        self.at(time, Event::Reconcile);
    }

    /// Asks for a kube-scheduler pass now.
    pub fn request_scheduling(&mut self) {
        if !self.schedule_pending {
            self.schedule_pending = true;
            self.at(self.now, Event::SchedulePods);
        }
    }

    fn run(&mut self, progress: &mut dyn FnMut(f64)) {
        let mut steps: u64 = 0;
        loop {
            let queued = self.queue.peek().map(|Reverse((time, _, _))| *time);
            let cloud = self.cloud.next_event_time();
            let next = match (queued, cloud) {
                (Some(queued), Some(cloud)) => queued.min(cloud),
                (Some(time), None) | (None, Some(time)) => time,
                (None, None) => break,
            };
            if next >= self.end {
                break;
            }
            self.observer.advancing(self.now, next, &self.state);
            self.now = next;
            for event in self.cloud.advance(self.now) {
                self.handle_cloud_event(event);
            }
            while let Some(Reverse((time, _, _))) = self.queue.peek() {
                if *time > self.now {
                    break;
                }
                let Some(Reverse((_, _, event))) = self.queue.pop() else {
                    break;
                };
                self.handle(event);
            }
            steps += 1;
            if steps.is_multiple_of(4096) {
                progress(self.now.as_secs_f64() / self.end.as_secs_f64().max(1.0));
            }
        }
        self.now = self.end;
        self.observer.finished(self.end, &self.state);
        progress(1.0);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Reconcile => {
                if self.next_reconcile != Some(self.now) {
                    return;
                }
                self.next_reconcile = None;
                self.reconcile();
            }
            Event::SchedulePods => {
                self.schedule_pending = false;
                self.schedule_pods();
            }
            Event::ScaleDeployment(index) => self.scale_deployment(index),
            Event::StartJob(index) => self.start_job(index),
            Event::CompletePod { pod, run } => self.complete_pod(&pod, run),
            Event::RegisterNode(_) | Event::NodeReady(_) => self.watch_event(event),
            Event::Fault(index) => self.fault(index),
            Event::Change(index) => {
                let detail = match self.scenario.changes[index].object.clone() {
                    ChangedObject::NodePool(node_pool) => {
                        let detail = format!("NodePool {} applied", node_pool.name);
                        self.state.node_pool_applied(node_pool);
                        detail
                    }
                    ChangedObject::NodeClass { name, version } => {
                        let drifted = self.node_classes.applied(&name, version, &mut self.state);
                        format!(
                            "EC2NodeClass {name} applied ({drifted} instances no longer match its selectors)"
                        )
                    }
                };
                self.recorder
                    .event(self.now, EventKind::Fault, None, None, detail);
                self.request_reconcile(self.now);
            }
            Event::Sample => {
                self.recorder.sample(self.now, &self.state);
                let next = self.now + self.sample_interval;
                if next < self.end {
                    self.at(next, Event::Sample);
                }
            }
            Event::Sweep => {
                self.sweep();
                self.at(self.now + SWEEP_PERIOD, Event::Sweep);
            }
            Event::DeliverInterruption {
                instance_id,
                terminate_at,
            } => {
                self.recorder.event(
                    self.now,
                    EventKind::Fault,
                    None,
                    None,
                    format!(
                        "Spot interruption warning for {instance_id} delivered late or again, {} before its end",
                        scenario::format_duration(terminate_at.saturating_sub(self.now))
                    ),
                );
                self.deliver_interruption(instance_id, terminate_at);
            }
            Event::Relisted(event) => self.deliver_watch_event(&event),
            Event::CollectGarbage => {
                self.collect_garbage();
                self.at(self.now + GC_INTERVAL, Event::CollectGarbage);
            }
        }
    }

    /// Runs the controllers' reconcile loop: the simulated world performs each action, the
    /// state machine applies what came of it.
    fn reconcile(&mut self) {
        let mut passes = ReconcileLoop::new(self.now);
        loop {
            let started = self.observer.measures_wall_time().then(Instant::now);
            let Some(actions) = passes.next_pass(&mut self.controllers, &mut self.state) else {
                break;
            };
            self.observer
                .reconciled(self.now, &actions, started.map(|started| started.elapsed()));
            for action in actions {
                self.observer.applying(self.now, &action, &self.state);
                let (outcome, before) = self.perform(&action);
                let applied =
                    self.state
                        .apply(&action, outcome, self.now, self.controllers.settings());
                passes.applied(&applied);
                self.performed(&action, before, &applied);
            }
        }
        if let Some(wake_at) = passes.wake_at(&self.state) {
            self.request_reconcile(wake_at);
        }
        self.request_reconcile(self.now + RECONCILE_PERIOD);
    }

    fn handle_cloud_event(&mut self, event: CloudEvent) {
        match event {
            CloudEvent::SpotInterruptionWarning {
                instance_id,
                terminate_at,
            } => {
                let claim = self.claim_of_instance.get(&instance_id).cloned();
                let node_pool = claim
                    .as_ref()
                    .and_then(|claim| self.state.node_claims.get(claim))
                    .map(|claim| claim.node_pool.clone());
                self.recorder.interruption(node_pool.as_deref());
                self.recorder.event(
                    self.now,
                    EventKind::Interruption,
                    node_pool,
                    claim,
                    format!(
                        "Spot interruption warning for {instance_id}; EC2 reclaims it in 2 minutes"
                    ),
                );
                let delivery = self.injected.delivery(self.now);
                for delay in delivery.delays {
                    if delay.is_zero() {
                        self.deliver_interruption(instance_id.clone(), terminate_at);
                    } else {
                        self.at(
                            self.now + delay,
                            Event::DeliverInterruption {
                                instance_id: instance_id.clone(),
                                terminate_at,
                            },
                        );
                    }
                }
            }
            CloudEvent::InstanceTerminated { instance_id } => {
                self.instance_terminated(&instance_id)
            }
        }
    }

    /// A node's watch event (registered, Ready) reaches the driver: lost until the next
    /// relist, or delivered twice, when a `watchEvents` fault says so.
    fn watch_event(&mut self, event: Event) {
        match self.injected.watch_fault(self.now) {
            Some(WatchFault::Lost(relist)) => {
                self.recorder.event(
                    self.now,
                    EventKind::Fault,
                    None,
                    None,
                    format!("watch event lost until the relist: {event:?}"),
                );
                self.at(self.now + relist, Event::Relisted(Box::new(event)));
                return;
            }
            Some(WatchFault::Duplicated) => {
                self.recorder.event(
                    self.now,
                    EventKind::Fault,
                    None,
                    None,
                    format!("watch event delivered twice: {event:?}"),
                );
                self.deliver_watch_event(&event);
            }
            None => {}
        }
        self.deliver_watch_event(&event);
    }

    fn deliver_watch_event(&mut self, event: &Event) {
        match event {
            Event::RegisterNode(claim) => self.register_node(claim),
            Event::NodeReady(node) => self.node_ready(node),
            _ => {}
        }
    }

    /// A Spot interruption warning reaches the controllers.
    fn deliver_interruption(&mut self, instance_id: String, terminate_at: Duration) {
        let notice = InterruptionNotice {
            instance_id,
            kind: NoticeKind::SpotInterruption { terminate_at },
            received_at: self.now,
        };
        self.observer.interruption_received(self.now, &notice);
        self.state.interruption_received(notice, self.now);
        self.request_reconcile(self.now);
    }

    /// The driver's garbage collector (the AWS provider's: every [`GC_INTERVAL`]): an
    /// instance without a NodeClaim launched more than [`GC_GRACE`] ago is terminated (a
    /// launch whose answer was lost, and whose NodeClaim went away before a retry found it).
    fn collect_garbage(&mut self) {
        let leaked: Vec<String> = self
            .cloud
            .instances()
            .filter(|instance| {
                instance.launched_at + GC_GRACE <= self.now
                    && !self.state.node_claims.contains_key(&instance.node_claim)
            })
            .map(|instance| instance.id.clone())
            .collect();
        for instance_id in leaked {
            if now_or_never(self.cloud.delete(&instance_id)).is_some_and(|deleted| deleted.is_ok())
            {
                self.recorder.event(
                    self.now,
                    EventKind::Terminate,
                    None,
                    None,
                    format!(
                        "garbage collection: terminating {instance_id}, which has no NodeClaim"
                    ),
                );
            }
        }
    }

    fn instance_terminated(&mut self, instance_id: &str) {
        let Some(claim_name) = self.claim_of_instance.remove(instance_id) else {
            return;
        };
        let claim = self.state.node_claims.get(&claim_name).cloned();
        let interrupted = claim
            .as_ref()
            .and_then(|claim| claim.deletion.as_ref())
            .is_some_and(|deletion| deletion.reason == DisruptionReason::SpotInterrupted);
        let outcome = claim.and_then(|claim| self.fallback_outcome(&claim, self.now));
        self.recorder.instance_gone(instance_id, self.now, outcome);
        let applied = self.state.instance_terminated(&claim_name, self.now);
        // A node's machine is gone: any pod still on it is lost.
        for (pod, state) in &applied.removed_pods {
            if state.daemon {
                continue;
            }
            let node_name = state.node.as_deref().unwrap_or_default();
            self.invariants.violation(
                &mut self.recorder,
                self.now,
                "no pod on a node when its instance terminates",
                &format!("instance of node {node_name} terminated"),
                &format!("pod {pod} was still running on {node_name} and was killed"),
            );
        }
        self.pods_left_with_node(&applied.removed_pods, interrupted);
        self.request_reconcile(self.now);
    }

    /// A controller restart: every controller's memory is dropped and rebuilt from what the
    /// objects and the cloud tell (a scenario fault).
    fn restart_controllers(&mut self) -> String {
        self.restarts += 1;
        let settings = self.controllers.settings().clone();
        self.state.forget_memory(&settings, self.now);
        self.controllers = Controllers::with_seed(settings, self.scenario.seed ^ self.restarts);
        format!(
            "controller restart {}: memory dropped, state rebuilt from the objects",
            self.restarts
        )
    }

    /// A NodePool is deleted, and its NodeClaims with it (owner references).
    fn delete_node_pool(&mut self, name: &str) -> String {
        self.state.node_pool_deleted(name);
        let claims: Vec<String> = self
            .state
            .node_claims
            .values()
            .filter(|claim| claim.node_pool == name)
            .map(|claim| claim.name.clone())
            .collect();
        let settings = self.controllers.settings().clone();
        for claim in &claims {
            let applied = self
                .state
                .node_claim_deletion_requested(claim, self.now, &settings);
            self.pods_left_with_node(&applied.removed_pods, false);
        }
        format!(
            "NodePool {name} deleted with its {} NodeClaims",
            claims.len()
        )
    }

    fn fault(&mut self, index: usize) {
        let fault = self.scenario.faults[index].clone();
        let detail = match &fault.kind {
            FaultKind::SpotOutage {
                zone,
                instance_type,
                duration,
            } => format!(
                "Spot outage for {} in {} for {}",
                instance_type.as_deref().unwrap_or("every instance type"),
                zone.as_deref().unwrap_or("every zone"),
                scenario::format_duration(*duration)
            ),
            FaultKind::OnDemandOutage {
                zone,
                instance_type,
                duration,
            } => format!(
                "on-demand outage for {} in {} for {}",
                instance_type.as_deref().unwrap_or("every instance type"),
                zone.as_deref().unwrap_or("every zone"),
                scenario::format_duration(*duration)
            ),
            FaultKind::InterruptSpotNodes { fraction, zone } => {
                let instances: Vec<String> = self
                    .cloud
                    .spot_instances()
                    .into_iter()
                    .filter(|instance| {
                        zone.as_deref()
                            .is_none_or(|zone| zone == instance.offering.zone)
                    })
                    .map(|instance| instance.id.clone())
                    .collect();
                let mut interrupted = 0;
                for instance in &instances {
                    if self.cloud.draw_unit() < *fraction {
                        self.cloud.interrupt(instance, self.now);
                        interrupted += 1;
                    }
                }
                format!(
                    "interrupting {interrupted} of {} Spot instances",
                    instances.len()
                )
            }
            FaultKind::ControllerRestart { every } => {
                if let Some(next) = every
                    .map(|every| self.now + every)
                    .filter(|next| *next < self.end)
                {
                    self.at(next, Event::Fault(index));
                }
                self.restart_controllers()
            }
            FaultKind::CloudApiErrors {
                duration,
                throttled,
                server_errors,
                unknown_outcome,
            } => format!(
                "cloud API errors for {}: {:.0}% of launches throttled, {:.0}% server errors, {:.0}% time out after launching",
                scenario::format_duration(*duration),
                throttled * 100.0,
                server_errors * 100.0,
                unknown_outcome * 100.0
            ),
            FaultKind::UnregisteredNodes { duration, fraction } => format!(
                "for {}, {:.0}% of the instances launched never register",
                scenario::format_duration(*duration),
                fraction * 100.0
            ),
            FaultKind::InterruptionDelivery {
                duration,
                duplicate,
                late,
                delay,
            } => format!(
                "for {}, {:.0}% of the Spot interruption warnings delivered twice and {:.0}% late, by {}",
                scenario::format_duration(*duration),
                duplicate * 100.0,
                late * 100.0,
                scenario::format_duration(*delay)
            ),
            FaultKind::WatchEvents {
                duration,
                lost,
                duplicated,
                relist,
            } => format!(
                "for {}, {:.0}% of the nodes' watch events lost until the relist ({} later) and {:.0}% delivered twice",
                scenario::format_duration(*duration),
                lost * 100.0,
                scenario::format_duration(*relist),
                duplicated * 100.0
            ),
            FaultKind::DeleteNodePool { name } => self.delete_node_pool(name),
            FaultKind::TestOnlyDropPod => {
                let victim = self
                    .state
                    .pods
                    .iter()
                    .find(|(_, pod)| !pod.daemon && pod.node.is_some())
                    .map(|(key, _)| key.clone());
                match victim {
                    Some(pod) => {
                        self.state.pod_removed(&pod, self.now);
                        format!("test-only: pod {pod} dropped without its owner")
                    }
                    None => "test-only: no pod to drop".to_string(),
                }
            }
        };
        self.recorder
            .event(self.now, EventKind::Fault, None, None, detail);
        self.request_reconcile(self.now);
    }

    /// For a fallback NodeClaim: when Spot capacity compatible with it was back (the market's
    /// truth, from its launch to `until`) and whether it was returned to Spot.
    fn fallback_outcome(
        &mut self,
        claim: &spotter_controllers::state::NodeClaim,
        until: Duration,
    ) -> Option<FallbackOutcome> {
        if !claim.fallback {
            return None;
        }
        let launched_at = claim.instance()?.launched_at;
        let offerings: Vec<OfferingKey> = claim
            .instance_types
            .iter()
            .filter_map(|name| self.state.instance_type(name))
            .flat_map(|instance_type| {
                instance_type
                    .offerings
                    .iter()
                    .filter(|offering| {
                        offering.capacity_type == CapacityType::Spot
                            && claim
                                .requirements
                                .allows(spotter_core::labels::ZONE, &offering.zone)
                    })
                    .map(|offering| OfferingKey {
                        capacity_type: offering.capacity_type,
                        instance_type: instance_type.name.clone(),
                        zone: offering.zone.clone(),
                    })
            })
            .collect();
        // The Spot offerings its replacements launched into are compatible too, whatever
        // types and zones the fallback claim listed: a return proves Spot back.
        let mut offerings = offerings;
        offerings.extend(
            self.state
                .node_claims
                .values()
                .filter(|other| other.replaces.as_deref() == Some(claim.name.as_str()))
                .filter_map(|other| other.instance())
                .filter(|instance| instance.offering.capacity_type == CapacityType::Spot)
                .map(|instance| instance.offering.clone()),
        );
        let spot_back_at = self.cloud.capacity_since(&offerings, launched_at, until);
        Some(FallbackOutcome {
            spot_back_at,
            // Returned: by Spotter's return to Spot, or by consolidation once Spot is back
            // (Karpenter's only way back: a cheaper Spot replacement, or its pods moved to
            // other nodes). A fallback node consolidated away while Spot is still out is only
            // removed, not returned.
            returned: claim
                .deletion
                .as_ref()
                .is_some_and(|deletion| match deletion.reason {
                    DisruptionReason::ReturnToSpot => true,
                    DisruptionReason::Underutilized => spot_back_at.is_some(),
                    _ => false,
                }),
        })
    }

    fn sweep(&mut self) {
        self.state.prune_interruption_history(self.now);
        // What EC2 would say up front (Spot placement scores), read as often as the sweep.
        let scores = self.cloud.placement_scores(self.now);
        self.state.placement_scores_observed(scores);
        self.invariants
            .check_ledger(&self.state.pods, &mut self.recorder, self.now);
        self.invariants.check_instances(
            self.cloud.instances(),
            &self.state,
            &mut self.recorder,
            self.now,
        );
        self.invariants
            .check_duplicates(self.cloud.instances(), &mut self.recorder, self.now);
        let last_faulty = self.injected.last_faulty(self.now);
        self.invariants
            .check_pending(&self.state, last_faulty, &mut self.recorder, self.now);
    }

    fn finish(mut self) -> Report {
        self.sweep();
        self.invariants.check_leaks_at_end(
            self.cloud.instances(),
            &self.state,
            &mut self.recorder,
            self.now,
        );
        let running: Vec<spotter_controllers::state::NodeClaim> = self
            .state
            .node_claims
            .values()
            .filter(|claim| claim.fallback)
            .cloned()
            .collect();
        let mut outcomes = BTreeMap::new();
        for claim in running {
            if let (Some(instance), Some(outcome)) = (
                claim.instance().map(|instance| instance.id.clone()),
                self.fallback_outcome(&claim, self.end),
            ) {
                outcomes.insert(instance, outcome);
            }
        }
        let still_pending: Vec<(String, Duration, Option<String>)> = self
            .state
            .pending_pods()
            .filter(|(_, pod)| !pod.daemon)
            .map(|(key, pod)| (key.clone(), pod.created_at, pod.nominated.clone()))
            .collect();
        let scenario = self.scenario.clone();
        self.recorder
            .finish(&scenario, self.end, &outcomes, &still_pending)
    }
}

fn amount_of(amount: scenario::IntOrPercent) -> Amount {
    match amount {
        scenario::IntOrPercent::Count(count) => Amount::Count(count),
        scenario::IntOrPercent::Percent(percent) => Amount::Percent(percent),
    }
}

fn market_model(market: &scenario::MarketSettings) -> MarketModel {
    MarketModel {
        spot_ice_mean_interval: market.spot_ice_mean_interval,
        spot_ice_mean_duration: market.spot_ice_mean_duration,
        interruption_scale: market.interruption_scale,
        overrides: market
            .pool_overrides
            .iter()
            .map(|pool| PoolOverride {
                capacity_type: pool.capacity_type,
                instance_type: pool.instance_type.clone(),
                zone: pool.zone.clone(),
                ice_mean_interval: pool.ice_mean_interval,
                ice_mean_duration: pool.ice_mean_duration,
                interruption_scale: pool.interruption_scale,
                interruption_interval: pool.interruption_interval,
                interruption_until: pool.interruption_until,
            })
            .collect(),
    }
}
