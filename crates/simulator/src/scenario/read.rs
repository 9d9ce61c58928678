//! Reading a scenario file: parsing its shape, then checking and converting every part (the
//! region and duration, replica curves, Job arrivals, market settings, timing and faults)
//! into the scenario model. Every problem is reported with the file, the line and the field
//! path (through `reader`); the Kubernetes objects are left to `kubernetes`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::Value;
use spotter_catalog::Region;
use spotter_core::offering::CapacityType;

use super::duration::format_duration;
use super::kubernetes::{self, InlineWorkload};
use super::reader::{Reader, strip_location, strip_path};
use super::spec::{
    CurveSpec, DurationText, FaultSpec, MarketSpec, PoolSpec, ReplicasSpec, ScenarioSpec,
    TimingSpec, WorkloadSpec,
};
use super::{
    Change, ChangedObject, DEFAULT_PENDING_THRESHOLD, DeploymentWorkload, Fault, FaultKind,
    JobWorkload, MAX_DURATION, MAX_JOB_ARRIVALS, MarketSettings, PoolOverride, ReplicaCurve,
    Scenario, ScenarioError, Timing,
};
use spotter_api::locate::line_of;

/// Reads and checks the scenario in `text`.
pub(super) fn read(file: &str, text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
    match serde_yaml_ng::from_str::<Value>(text) {
        Err(error) => {
            let second_document = second_document_start(text);
            let (line, message) = match (error.location(), second_document) {
                (Some(location), _) => (Some(location.line()), strip_location(&error.to_string())),
                (None, Some(separator)) => (
                    Some(separator),
                    "a scenario is a single YAML document; remove this `---` and what follows, or move it into its own file".to_string(),
                ),
                (None, None) => (None, strip_location(&error.to_string())),
            };
            return Err(ScenarioError::Yaml {
                file: file.to_string(),
                line,
                message,
            });
        }
        Ok(Value::Mapping(_)) => {}
        Ok(Value::Null) => {
            return Err(ScenarioError::Invalid {
                file: file.to_string(),
                line: None,
                field: "(top level)".to_string(),
                message: "the scenario is empty: it needs at least region, duration and a NodePool"
                    .to_string(),
            });
        }
        Ok(_) => {
            return Err(ScenarioError::Invalid {
                file: file.to_string(),
                line: line_of(text, ""),
                field: "(top level)".to_string(),
                message: "expected a mapping with region, duration, nodePools, workloads, ..."
                    .to_string(),
            });
        }
    }
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let spec: ScenarioSpec = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let inner = error.inner();
        let path = error.path().to_string();
        let message = strip_path(&strip_location(&inner.to_string()), &path);
        ScenarioError::Invalid {
            file: file.to_string(),
            line: inner.location().map(|location| location.line()),
            field: field_of(&path, &message),
            message,
        }
    })?;
    let reader = Reader {
        file,
        text,
        base_dir,
    };
    reader.scenario(spec)
}

impl Reader<'_> {
    fn scenario(&self, spec: ScenarioSpec) -> Result<Scenario, ScenarioError> {
        let region = spotter_catalog::embedded()
            .region(&spec.region)
            .map_err(|error| self.invalid("region", error.to_string()))?;
        let duration = spec.duration.0;
        if duration.is_zero() || duration > MAX_DURATION {
            return Err(self.invalid(
                "duration",
                format!(
                    "must be more than 0 and at most {}, got {}",
                    format_duration(MAX_DURATION),
                    format_duration(duration)
                ),
            ));
        }
        let pending_threshold = match spec.pending_threshold {
            None => DEFAULT_PENDING_THRESHOLD,
            Some(DurationText(threshold)) if threshold.is_zero() => {
                return Err(self.invalid(
                    "pendingThreshold",
                    format!(
                        "must be more than 0: how long a pod may wait for a node before the run \
                         fails (default {})",
                        format_duration(DEFAULT_PENDING_THRESHOLD)
                    ),
                ));
            }
            Some(DurationText(threshold)) => threshold,
        };
        let name = match spec.name {
            Some(name) if name.trim().is_empty() => {
                return Err(self.invalid("name", "must not be empty"));
            }
            Some(name) => name,
            None => Path::new(self.file).file_stem().map_or_else(
                || "scenario".to_string(),
                |stem| stem.to_string_lossy().into(),
            ),
        };
        let cluster = kubernetes::read_cluster(
            self,
            &spec.manifests,
            &spec.node_pools,
            &spec.ec2_node_classes,
            &spec.daemon_sets,
        )?;
        let mut scenario = Scenario {
            name,
            region: region.name.clone(),
            duration,
            seed: spec.seed,
            pending_threshold,
            node_pools: cluster.node_pools,
            node_classes: cluster.node_classes,
            daemon_set_pods: cluster.daemon_set_pods,
            deployments: Vec::new(),
            jobs: Vec::new(),
            pod_disruption_budgets: Vec::new(),
            market: self.market(&spec.market, region)?,
            timing: self.timing(&spec.timing)?,
            faults: Vec::new(),
            changes: Vec::new(),
            warnings: cluster.warnings,
        };
        let mut names = BTreeSet::new();
        for (index, workload) in spec.workloads.iter().enumerate() {
            self.workload(index, workload, &mut scenario, &mut names)?;
        }
        let mut budget_names = BTreeSet::new();
        for (index, value) in spec.pod_disruption_budgets.iter().enumerate() {
            let field = format!("podDisruptionBudgets[{index}]");
            let budget = kubernetes::read_pod_disruption_budget(self, &field, value)?;
            if !budget_names.insert((budget.namespace.clone(), budget.name.clone())) {
                return Err(self.invalid(
                    format!("{field}.metadata.name"),
                    format!(
                        "PodDisruptionBudget {}/{} is defined twice",
                        budget.namespace, budget.name
                    ),
                ));
            }
            scenario.pod_disruption_budgets.push(budget);
        }
        let node_pools: Vec<String> = scenario
            .node_pools
            .iter()
            .map(|pool| pool.name.clone())
            .collect();
        for (index, fault) in spec.faults.iter().enumerate() {
            scenario.faults.push(self.fault(
                &format!("faults[{index}]"),
                fault,
                duration,
                region,
                &node_pools,
            )?);
        }
        for (index, change) in spec.changes.iter().enumerate() {
            let field = format!("changes[{index}]");
            if change.at.0 >= duration {
                return Err(self.invalid(
                    format!("{field}.at"),
                    format!(
                        "{} is past the end of the scenario ({})",
                        format_duration(change.at.0),
                        format_duration(duration)
                    ),
                ));
            }
            let object = match (&change.node_pool, &change.node_class) {
                (Some(node_pool), None) => ChangedObject::NodePool(kubernetes::read_node_pool(
                    self,
                    &format!("{field}.nodePool"),
                    node_pool,
                )?),
                (None, Some(node_class)) => {
                    let (name, version) = kubernetes::read_node_class(
                        self,
                        &format!("{field}.ec2NodeClass"),
                        node_class,
                    )?;
                    ChangedObject::NodeClass { name, version }
                }
                (Some(_), Some(_)) => {
                    return Err(self.invalid(
                        field,
                        "set nodePool or ec2NodeClass, not both: each change applies one object",
                    ));
                }
                (None, None) => {
                    return Err(self.invalid(
                        field,
                        "missing: set nodePool (a karpenter.sh/v1 NodePool) or ec2NodeClass (a karpenter.k8s.aws/v1 EC2NodeClass)",
                    ));
                }
            };
            scenario.changes.push(Change {
                at: change.at.0,
                object,
            });
        }
        Ok(scenario)
    }

    fn workload(
        &self,
        index: usize,
        workload: &WorkloadSpec,
        scenario: &mut Scenario,
        names: &mut BTreeSet<(&'static str, String, String)>,
    ) -> Result<(), ScenarioError> {
        let field = format!("workloads[{index}]");
        let job_fields = [
            ("every", workload.every.is_some()),
            ("at", workload.at.is_some()),
            ("start", workload.start.is_some()),
            ("runTime", workload.run_time.is_some()),
        ];
        match (&workload.deployment, &workload.job) {
            (Some(value), None) => {
                if let Some((name, _)) = job_fields.iter().find(|(_, set)| *set) {
                    return Err(self.invalid(
                        format!("{field}.{name}"),
                        "only a job has every, at, start and runTime; a deployment has replicas",
                    ));
                }
                let inline =
                    kubernetes::read_deployment(self, &format!("{field}.deployment"), value)?;
                self.remember(names, "Deployment", &inline, &field)?;
                let replicas = match &workload.replicas {
                    Some(replicas) => self.replica_curve(&format!("{field}.replicas"), replicas)?,
                    None => ReplicaCurve::Constant(inline.count),
                };
                scenario.deployments.push(DeploymentWorkload {
                    name: inline.name,
                    namespace: inline.namespace,
                    template: inline.template,
                    replicas,
                });
            }
            (None, Some(value)) => {
                if workload.replicas.is_some() {
                    return Err(self.invalid(
                        format!("{field}.replicas"),
                        "only a deployment has replicas; a job's pods per arrival come from its spec.parallelism",
                    ));
                }
                let inline = kubernetes::read_job(self, &format!("{field}.job"), value)?;
                self.remember(names, "Job", &inline, &field)?;
                let run_time = match workload.run_time {
                    Some(DurationText(run_time)) if !run_time.is_zero() => run_time,
                    Some(_) => {
                        return Err(self.invalid(format!("{field}.runTime"), "must be more than 0"));
                    }
                    None => {
                        return Err(self.invalid(
                            format!("{field}.runTime"),
                            "missing: a job needs runTime, how long each of its pods runs (e.g. 45m)",
                        ));
                    }
                };
                let arrivals = self.arrivals(&field, workload, scenario.duration)?;
                scenario.jobs.push(JobWorkload {
                    name: inline.name,
                    namespace: inline.namespace,
                    template: inline.template,
                    arrivals,
                    parallelism: inline.count,
                    run_time,
                });
            }
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    format!("{field}.job"),
                    "a workload is either a deployment or a job, not both; split it into two entries",
                ));
            }
            (None, None) => {
                return Err(self.invalid(
                    field,
                    "a workload needs a deployment (an inline apps/v1 Deployment) or a job (an inline batch/v1 Job)",
                ));
            }
        }
        Ok(())
    }

    fn remember(
        &self,
        names: &mut BTreeSet<(&'static str, String, String)>,
        kind: &'static str,
        inline: &InlineWorkload,
        field: &str,
    ) -> Result<(), ScenarioError> {
        if names.insert((kind, inline.namespace.clone(), inline.name.clone())) {
            return Ok(());
        }
        Err(self.invalid(
            format!("{field}.{}.metadata.name", kind.to_lowercase()),
            format!(
                "{kind} {}/{} is defined twice; give each workload its own name",
                inline.namespace, inline.name
            ),
        ))
    }

    fn replica_curve(
        &self,
        field: &str,
        replicas: &ReplicasSpec,
    ) -> Result<ReplicaCurve, ScenarioError> {
        let curve = match replicas {
            ReplicasSpec::Constant(count) => return Ok(ReplicaCurve::Constant(*count)),
            ReplicasSpec::Curve(curve) => curve,
        };
        match curve {
            CurveSpec {
                diurnal: Some(diurnal),
                steps: None,
            } => {
                if diurnal.min > diurnal.max {
                    return Err(self.invalid(
                        format!("{field}.diurnal.min"),
                        format!(
                            "min ({}) is more than max ({})",
                            diurnal.min, diurnal.max
                        ),
                    ));
                }
                if !(0.0..24.0).contains(&diurnal.peak_hour) {
                    return Err(self.invalid(
                        format!("{field}.diurnal.peakHour"),
                        format!(
                            "must be an hour of the day, from 0 up to (not including) 24, got {}",
                            diurnal.peak_hour
                        ),
                    ));
                }
                Ok(ReplicaCurve::Diurnal {
                    min: diurnal.min,
                    max: diurnal.max,
                    peak_hour: diurnal.peak_hour,
                })
            }
            CurveSpec {
                diurnal: None,
                steps: Some(steps),
            } => {
                if steps.is_empty() {
                    return Err(self.invalid(
                        format!("{field}.steps"),
                        "needs at least one step {at, replicas}",
                    ));
                }
                let mut previous: Option<Duration> = None;
                for (index, step) in steps.iter().enumerate() {
                    if let Some(previous) = previous.filter(|previous| step.at.0 <= *previous) {
                        return Err(self.invalid(
                            format!("{field}.steps[{index}].at"),
                            format!(
                                "the steps' times must increase: {} is not after the previous step's {}",
                                format_duration(step.at.0),
                                format_duration(previous)
                            ),
                        ));
                    }
                    previous = Some(step.at.0);
                }
                Ok(ReplicaCurve::Steps(
                    steps.iter().map(|step| (step.at.0, step.replicas)).collect(),
                ))
            }
            _ => Err(self.invalid(
                field,
                "expected a replica count, {diurnal: {min, max, peakHour}} or {steps: [{at, replicas}, ...]} (exactly one of diurnal and steps)",
            )),
        }
    }

    fn arrivals(
        &self,
        field: &str,
        workload: &WorkloadSpec,
        duration: Duration,
    ) -> Result<Vec<Duration>, ScenarioError> {
        let before_end = |at: Duration, path: String| {
            if at < duration {
                Ok(at)
            } else {
                Err(self.invalid(
                    path,
                    format!(
                        "{} is not before the end of the scenario ({})",
                        format_duration(at),
                        format_duration(duration)
                    ),
                ))
            }
        };
        let start = match workload.start {
            Some(DurationText(start)) => before_end(start, format!("{field}.start"))?,
            None => Duration::ZERO,
        };
        match (&workload.every, &workload.at) {
            (Some(_), Some(_)) => Err(self.invalid(
                format!("{field}.at"),
                "give either every (a period) or at (a list of times), not both",
            )),
            (Some(DurationText(every)), None) => {
                if every.is_zero() {
                    return Err(self.invalid(format!("{field}.every"), "must be more than 0"));
                }
                let count = (duration - start).as_secs_f64() / every.as_secs_f64();
                if count > MAX_JOB_ARRIVALS as f64 {
                    return Err(self.invalid(
                        format!("{field}.every"),
                        format!(
                            "every {} gives more than {MAX_JOB_ARRIVALS} arrivals over {}; use a longer period",
                            format_duration(*every),
                            format_duration(duration)
                        ),
                    ));
                }
                let mut arrivals = Vec::new();
                let mut next = Some(start);
                while let Some(at) = next.filter(|at| *at < duration) {
                    arrivals.push(at);
                    next = at.checked_add(*every);
                }
                Ok(arrivals)
            }
            (None, Some(times)) => {
                if workload.start.is_some() {
                    return Err(self.invalid(
                        format!("{field}.start"),
                        "start goes with every; with at, the times are absolute",
                    ));
                }
                if times.is_empty() {
                    return Err(self.invalid(format!("{field}.at"), "needs at least one time"));
                }
                let mut arrivals: Vec<Duration> = Vec::with_capacity(times.len());
                for (index, DurationText(at)) in times.iter().enumerate() {
                    let path = format!("{field}.at[{index}]");
                    if let Some(previous) = arrivals.last().filter(|previous| *at <= **previous) {
                        return Err(self.invalid(
                            path,
                            format!(
                                "the times must increase: {} is not after {}",
                                format_duration(*at),
                                format_duration(*previous)
                            ),
                        ));
                    }
                    arrivals.push(before_end(*at, path)?);
                }
                Ok(arrivals)
            }
            (None, None) => Ok(vec![start]),
        }
    }

    fn market(&self, spec: &MarketSpec, region: &Region) -> Result<MarketSettings, ScenarioError> {
        let defaults = MarketSettings::default();
        let mut market = MarketSettings {
            spot_ice_mean_interval: self
                .positive("market.spotIceMeanInterval", spec.spot_ice_mean_interval)?
                .unwrap_or(defaults.spot_ice_mean_interval),
            spot_ice_mean_duration: self
                .positive("market.spotIceMeanDuration", spec.spot_ice_mean_duration)?
                .unwrap_or(defaults.spot_ice_mean_duration),
            interruption_scale: self
                .scale("market.interruptionScale", spec.interruption_scale)?
                .unwrap_or(defaults.interruption_scale),
            pool_overrides: Vec::new(),
        };
        for (index, pool) in spec.pools.iter().enumerate() {
            market.pool_overrides.push(self.pool_override(
                &format!("market.pools[{index}]"),
                pool,
                region,
            )?);
        }
        Ok(market)
    }

    fn pool_override(
        &self,
        field: &str,
        pool: &PoolSpec,
        region: &Region,
    ) -> Result<PoolOverride, ScenarioError> {
        let capacity_type = match &pool.capacity_type {
            None => None,
            Some(text) => Some(CapacityType::parse(text).map_err(|error| {
                self.invalid(format!("{field}.capacityType"), error.to_string())
            })?),
        };
        let interruption_set =
            pool.interruption_scale.is_some() || pool.interruption_interval.is_some();
        if interruption_set && capacity_type.is_some_and(|kind| kind != CapacityType::Spot) {
            return Err(self.invalid(
                format!(
                    "{field}.{}",
                    if pool.interruption_scale.is_some() {
                        "interruptionScale"
                    } else {
                        "interruptionInterval"
                    }
                ),
                "only Spot capacity is interrupted; remove it or set capacityType: spot",
            ));
        }
        Ok(PoolOverride {
            instance_type: self.instance_type(
                &format!("{field}.instanceType"),
                &pool.instance_type,
                region,
            )?,
            zone: self.zone(&format!("{field}.zone"), &pool.zone, region)?,
            capacity_type,
            ice_mean_interval: self
                .positive(&format!("{field}.iceMeanInterval"), pool.ice_mean_interval)?,
            ice_mean_duration: self
                .positive(&format!("{field}.iceMeanDuration"), pool.ice_mean_duration)?,
            interruption_scale: self.scale(
                &format!("{field}.interruptionScale"),
                pool.interruption_scale,
            )?,
            interruption_interval: self.positive(
                &format!("{field}.interruptionInterval"),
                pool.interruption_interval,
            )?,
            interruption_until: match (&pool.interruption_until, &pool.interruption_interval) {
                (Some(_), None) => {
                    return Err(self.invalid(
                        format!("{field}.interruptionUntil"),
                        "bounds interruptionInterval: set it too",
                    ));
                }
                _ => self.positive(
                    &format!("{field}.interruptionUntil"),
                    pool.interruption_until,
                )?,
            },
        })
    }

    fn timing(&self, spec: &TimingSpec) -> Result<Timing, ScenarioError> {
        let defaults = Timing::default();
        let range = |field: &str, value: Option<(u32, u32)>, default: (u32, u32)| match value {
            None => Ok(default),
            Some((low, high)) if low <= high => Ok((low, high)),
            Some((low, high)) => Err(self.invalid(
                field,
                format!("the range [{low}, {high}] is reversed: write [shortest, longest]"),
            )),
        };
        Ok(Timing {
            launch_seconds: range(
                "timing.launchSeconds",
                spec.launch_seconds,
                defaults.launch_seconds,
            )?,
            registration_seconds: range(
                "timing.registrationSeconds",
                spec.registration_seconds,
                defaults.registration_seconds,
            )?,
        })
    }

    fn fault(
        &self,
        field: &str,
        fault: &FaultSpec,
        duration: Duration,
        region: &Region,
        node_pools: &[String],
    ) -> Result<Fault, ScenarioError> {
        let at = fault.at.0;
        if at >= duration {
            return Err(self.invalid(
                format!("{field}.at"),
                format!(
                    "{} is past the end of the scenario ({})",
                    format_duration(at),
                    format_duration(duration)
                ),
            ));
        }
        let every = self.positive(&format!("{field}.every"), fault.every)?;
        if every.is_some() && fault.controller_restart.is_none() {
            return Err(self.invalid(
                format!("{field}.every"),
                "only a controllerRestart fault repeats: remove every, or repeat the fault",
            ));
        }
        let kinds = [
            fault.spot_outage.is_some(),
            fault.on_demand_outage.is_some(),
            fault.interrupt_spot_nodes.is_some(),
            fault.controller_restart.is_some(),
            fault.cloud_api_errors.is_some(),
            fault.unregistered_nodes.is_some(),
            fault.interruption_delivery.is_some(),
            fault.delete_node_pool.is_some(),
            fault.watch_events.is_some(),
        ];
        if kinds.iter().filter(|set| **set).count() != 1 {
            return Err(self.invalid(
                field,
                "a fault needs exactly one of spotOutage, onDemandOutage, interruptSpotNodes, \
                 controllerRestart, cloudApiErrors, unregisteredNodes, interruptionDelivery, \
                 watchEvents and deleteNodePool",
            ));
        }
        let kind = if fault.controller_restart.is_some() {
            FaultKind::ControllerRestart { every }
        } else if let Some(outage) = fault
            .spot_outage
            .as_ref()
            .or(fault.on_demand_outage.as_ref())
        {
            let spot = fault.spot_outage.is_some();
            let path = format!(
                "{field}.{}",
                if spot { "spotOutage" } else { "onDemandOutage" }
            );
            let zone = self.zone(&format!("{path}.zone"), &outage.zone, region)?;
            let instance_type = self.instance_type(
                &format!("{path}.instanceType"),
                &outage.instance_type,
                region,
            )?;
            let length = self.length(&format!("{path}.duration"), outage.duration)?;
            if spot {
                FaultKind::SpotOutage {
                    zone,
                    instance_type,
                    duration: length,
                }
            } else {
                FaultKind::OnDemandOutage {
                    zone,
                    instance_type,
                    duration: length,
                }
            }
        } else if let Some(interrupt) = &fault.interrupt_spot_nodes {
            let path = format!("{field}.interruptSpotNodes");
            FaultKind::InterruptSpotNodes {
                fraction: self.share(
                    &format!("{path}.fraction"),
                    interrupt.fraction,
                    "a share of the running Spot nodes",
                )?,
                zone: self.zone(&format!("{path}.zone"), &interrupt.zone, region)?,
            }
        } else if let Some(errors) = &fault.cloud_api_errors {
            let path = format!("{field}.cloudApiErrors");
            FaultKind::CloudApiErrors {
                duration: self.length(&format!("{path}.duration"), errors.duration)?,
                throttled: self.share(
                    &format!("{path}.throttled"),
                    errors.throttled,
                    "a share of the launch calls",
                )?,
                server_errors: self.share(
                    &format!("{path}.serverErrors"),
                    errors.server_errors,
                    "a share of the launch calls",
                )?,
                unknown_outcome: self.share(
                    &format!("{path}.unknownOutcome"),
                    errors.unknown_outcome,
                    "a share of the launch calls",
                )?,
            }
        } else if let Some(unregistered) = &fault.unregistered_nodes {
            let path = format!("{field}.unregisteredNodes");
            FaultKind::UnregisteredNodes {
                duration: self.length(&format!("{path}.duration"), unregistered.duration)?,
                fraction: self.share(
                    &format!("{path}.fraction"),
                    unregistered.fraction,
                    "a share of the instances launched",
                )?,
            }
        } else if let Some(delivery) = &fault.interruption_delivery {
            let path = format!("{field}.interruptionDelivery");
            FaultKind::InterruptionDelivery {
                duration: self.length(&format!("{path}.duration"), delivery.duration)?,
                duplicate: self.share(
                    &format!("{path}.duplicate"),
                    delivery.duplicate,
                    "a share of the warnings",
                )?,
                late: self.share(
                    &format!("{path}.late"),
                    delivery.late,
                    "a share of the warnings",
                )?,
                delay: self.length(&format!("{path}.delay"), delivery.delay)?,
            }
        } else if let Some(watch) = &fault.watch_events {
            let path = format!("{field}.watchEvents");
            FaultKind::WatchEvents {
                duration: self.length(&format!("{path}.duration"), watch.duration)?,
                lost: self.share(&format!("{path}.lost"), watch.lost, "a share of the events")?,
                duplicated: self.share(
                    &format!("{path}.duplicated"),
                    watch.duplicated,
                    "a share of the events",
                )?,
                relist: self.length(&format!("{path}.relist"), watch.relist)?,
            }
        } else if let Some(deletion) = &fault.delete_node_pool {
            if !node_pools.contains(&deletion.name) {
                return Err(self.invalid(
                    format!("{field}.deleteNodePool.name"),
                    format!(
                        "no NodePool {:?} in the scenario; it has: {}",
                        deletion.name,
                        node_pools.join(", ")
                    ),
                ));
            }
            FaultKind::DeleteNodePool {
                name: deletion.name.clone(),
            }
        } else {
            return Err(self.invalid(field, "a fault needs a kind"));
        };
        Ok(Fault { at, kind })
    }

    /// A fault's length: more than 0.
    fn length(&self, field: &str, value: DurationText) -> Result<Duration, ScenarioError> {
        if value.0.is_zero() {
            return Err(self.invalid(field, "must be more than 0"));
        }
        Ok(value.0)
    }

    /// A share in `[0, 1]` of `what`.
    fn share(&self, field: &str, value: f64, what: &str) -> Result<f64, ScenarioError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(self.invalid(
                field,
                format!("must be between 0 and 1 ({what}), got {value}"),
            ));
        }
        Ok(value)
    }

    fn positive(
        &self,
        field: &str,
        value: Option<DurationText>,
    ) -> Result<Option<Duration>, ScenarioError> {
        match value {
            Some(DurationText(duration)) if duration.is_zero() => {
                Err(self.invalid(field, "must be more than 0"))
            }
            other => Ok(other.map(|DurationText(duration)| duration)),
        }
    }

    fn scale(&self, field: &str, value: Option<f64>) -> Result<Option<f64>, ScenarioError> {
        match value {
            Some(scale) if !scale.is_finite() || scale < 0.0 => Err(self.invalid(
                field,
                format!("must be a number of at least 0 (1 keeps the advisor's rate), got {scale}"),
            )),
            other => Ok(other),
        }
    }

    fn zone(
        &self,
        field: &str,
        zone: &Option<String>,
        region: &Region,
    ) -> Result<Option<String>, ScenarioError> {
        let Some(zone) = zone else {
            return Ok(None);
        };
        if region.zone(zone).is_some() {
            return Ok(Some(zone.clone()));
        }
        let known: Vec<&str> = region.zones.iter().map(|zone| zone.name.as_str()).collect();
        Err(self.invalid(
            field,
            format!(
                "unknown zone {zone:?} in {}; the catalog has: {}",
                region.name,
                known.join(", ")
            ),
        ))
    }

    fn instance_type(
        &self,
        field: &str,
        instance_type: &Option<String>,
        region: &Region,
    ) -> Result<Option<String>, ScenarioError> {
        let Some(instance_type) = instance_type else {
            return Ok(None);
        };
        if region.offering(instance_type).is_some() {
            return Ok(Some(instance_type.clone()));
        }
        Err(self.invalid(
            field,
            format!(
                "instance type {instance_type:?} is not offered in {} according to the embedded catalog",
                region.name
            ),
        ))
    }
}

/// The field a deserialisation error is about: the path, extended by the field an unknown- or
/// missing-field message names.
fn field_of(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "(top level)".to_string(),
        (path, Some(name)) if path != name && !path.ends_with(&format!(".{name}")) => {
            format!("{path}.{name}")
        }
        (path, _) => path.to_string(),
    }
}

/// The line of the `---` that starts a second YAML document, if there is one.
fn second_document_start(text: &str) -> Option<usize> {
    let mut content = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            if content {
                return Some(index + 1);
            }
        } else if !trimmed.trim_start().is_empty() && !trimmed.trim_start().starts_with('#') {
            content = true;
        }
    }
    None
}
