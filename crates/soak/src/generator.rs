//! The random scenario generator: from a soak seed and a scenario index, one small cluster
//! scenario (1 to 3 days, 5 to 60 pods) with random NodePools (weights, limits, capacity
//! types, instance categories, taints, disruption budgets, `spotter.dev/` return-to-Spot
//! settings), workloads (Deployments with constant, diurnal or stepped replica curves, Jobs;
//! random sizes, zone spread, hostname anti-affinity, node selectors and tolerations that some
//! NodePool satisfies; PodDisruptionBudgets), a market from the embedded regions, faults (every
//! kind the simulator has) and NodePool edits. The same seed and index always give the same scenario.
//!
//! The scenario is kept as its parts (manifests as YAML values, faults typed) so that the
//! shrinker can drop parts; [`GeneratedScenario::to_yaml`] writes it as an ordinary scenario
//! file, and [`GeneratedScenario::scenario`] reads that file back with the simulator's reader.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use spotter_core::random::Random;
use spotter_simulator::Scenario;
use spotter_simulator::scenario::{Fault, FaultKind, format_duration};

/// Why a generated scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The YAML could not be written (a bug of the generator).
    #[error("failed to write generated scenario {name} as YAML: {source}")]
    Yaml {
        /// The scenario's name.
        name: String,
        /// The serializer's error.
        source: serde_yaml_ng::Error,
    },
    /// The simulator's reader refused the generated YAML (a bug of the generator).
    #[error("the simulator refused generated scenario {name}: {source}")]
    Scenario {
        /// The scenario's name.
        name: String,
        /// The reader's error.
        source: Box<spotter_simulator::scenario::ScenarioError>,
    },
}

/// The regions scenarios are drawn from (the embedded catalog's).
pub const REGIONS: [&str; 2] = ["ap-northeast-2", "us-east-1"];

/// One generated scenario, as parts.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedScenario {
    /// The soak seed it was drawn from.
    pub soak_seed: u64,
    /// Its index in the soak.
    pub index: u64,
    /// The simulation's own seed.
    pub seed: u64,
    /// The region.
    pub region: String,
    /// How long it runs.
    pub duration: Duration,
    /// `karpenter.sh/v1` NodePools.
    pub node_pools: Vec<Value>,
    /// Workloads, each with its PodDisruptionBudget if it has one.
    pub workloads: Vec<Workload>,
    /// The `market` section.
    pub market: Value,
    /// Faults, typed.
    pub faults: Vec<Fault>,
    /// `changes` entries (NodePool edits).
    pub changes: Vec<Value>,
}

/// One workload entry and its PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// The `workloads` entry (`deployment` + `replicas`, or `job` + `every` + `runTime`).
    pub entry: Value,
    /// Its PodDisruptionBudget.
    pub budget: Option<Value>,
}

/// A NodePool as drawn, before it is written.
struct PoolPlan {
    name: String,
    capacity_types: Vec<&'static str>,
    categories: Vec<&'static str>,
    taint: Option<String>,
}

/// Draws scenario `index` of the soak seeded with `soak_seed`.
pub fn generate(soak_seed: u64, index: u64) -> GeneratedScenario {
    let mut random = Random::new(soak_seed).fork(index.wrapping_add(1));
    // us-east-1 has three times ap-northeast-2's offerings, and a run's cost is mostly the
    // market's (its Spot placement scores are read over every pool every 5 minutes): one
    // scenario in twenty there keeps 1,000 cluster-days under 10 minutes on one core.
    let region = REGIONS[usize::from(chance(&mut random, 0.05))].to_string();
    let zones = zones_of(&region);
    let duration = Duration::from_secs(random.between(1, 3) * 86_400);
    let pools = pool_plans(&mut random);
    let node_pools: Vec<Value> = pools
        .iter()
        .map(|plan| node_pool(&mut random, plan))
        .collect();
    let mut workloads = Vec::new();
    let mut pods_left: u64 = random.between(5, 60);
    let deployments = random.between(1, 4);
    for number in 0..deployments {
        if pods_left == 0 {
            break;
        }
        let replicas = if number + 1 == deployments {
            pods_left
        } else {
            random.between(1, pods_left)
        };
        pods_left -= replicas;
        workloads.push(deployment(
            &mut random,
            &format!("app-{number}"),
            replicas as u32,
            &pools,
            duration,
        ));
    }
    for number in 0..random.between(0, 2) {
        workloads.push(job(&mut random, &format!("job-{number}"), &pools));
    }
    let market = json!({
        "spotIceMeanInterval": format_duration(Duration::from_secs(3600 * random.between(12, 72))),
        "spotIceMeanDuration": format_duration(Duration::from_secs(60 * random.between(5, 60))),
        "interruptionScale": round(0.5 + 2.5 * random.unit()),
    });
    let faults = faults(&mut random, duration, &zones, &pools);
    let changes = changes(&mut random, duration, &pools);
    GeneratedScenario {
        soak_seed,
        index,
        seed: random.next_u64() % 1_000_000,
        region,
        duration,
        node_pools,
        workloads,
        market,
        faults,
        changes,
    }
}

impl GeneratedScenario {
    /// The scenario's name: the soak seed and the index.
    pub fn name(&self) -> String {
        format!("soak-{}-{}", self.soak_seed, self.index)
    }

    /// The scenario as a scenario file the simulator reads.
    pub fn to_yaml(&self) -> Result<String, GeneratorError> {
        let mut budgets = Vec::new();
        let mut workloads = Vec::new();
        for workload in &self.workloads {
            workloads.push(workload.entry.clone());
            budgets.extend(workload.budget.clone());
        }
        let document = json!({
            "name": self.name(),
            "region": self.region,
            "duration": format_duration(self.duration),
            "seed": self.seed,
            "nodePools": self.node_pools,
            "ec2NodeClasses": [node_class()],
            "daemonSets": [daemon_set()],
            "workloads": workloads,
            "podDisruptionBudgets": budgets,
            "market": self.market,
            "faults": self.faults.iter().filter_map(fault_entry).collect::<Vec<Value>>(),
            "changes": self.changes,
        });
        let body = serde_yaml_ng::to_string(&document).map_err(|source| GeneratorError::Yaml {
            name: self.name(),
            source,
        })?;
        Ok(format!(
            "# Generated by `spotter soak --seed {} --scenario {}`.\n{body}",
            self.soak_seed, self.index
        ))
    }

    /// The scenario as the simulator reads it from [`GeneratedScenario::to_yaml`].
    pub fn scenario(&self) -> Result<Scenario, GeneratorError> {
        let text = self.to_yaml()?;
        Scenario::parse(&format!("{}.yaml", self.name()), &text, Path::new(".")).map_err(|source| {
            GeneratorError::Scenario {
                name: self.name(),
                source: Box::new(source),
            }
        })
    }
}

/// The zones of an embedded region.
pub fn zones_of(region: &str) -> Vec<String> {
    spotter_catalog::embedded()
        .region(region)
        .map(|region| region.zones.iter().map(|zone| zone.name.clone()).collect())
        .unwrap_or_default()
}

fn pick(random: &mut Random, count: usize) -> usize {
    random.between(0, count.saturating_sub(1) as u64) as usize
}

fn chance(random: &mut Random, share: f64) -> bool {
    random.unit() < share
}

/// Two decimals: shares and scales written and read back exactly.
fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// One to three NodePools; the last one always allows on-demand and has no taint, so that
/// every pod fits some pool.
fn pool_plans(random: &mut Random) -> Vec<PoolPlan> {
    let count = random.between(1, 3) as usize;
    let categories = [
        vec!["c", "m", "r"],
        vec!["c", "m"],
        vec!["m"],
        vec!["m", "r"],
    ];
    (0..count)
        .map(|number| {
            let last = number + 1 == count;
            let capacity_types = match (last, pick(random, 3)) {
                (true, 0) | (true, 1) => vec!["spot", "on-demand"],
                (true, _) => vec!["on-demand"],
                (false, 0) => vec!["spot"],
                (false, 1) => vec!["spot", "on-demand"],
                (false, _) => vec!["on-demand"],
            };
            let taint = (!last && chance(random, 0.3)).then(|| format!("pool-{number}"));
            PoolPlan {
                name: format!("pool-{number}"),
                capacity_types,
                categories: categories[pick(random, categories.len())].clone(),
                taint,
            }
        })
        .collect()
}

fn node_pool(random: &mut Random, plan: &PoolPlan) -> Value {
    let mut annotations = serde_json::Map::new();
    if chance(random, 0.2) {
        annotations.insert("spotter.dev/return-to-spot".into(), json!("false"));
    } else if chance(random, 0.3) {
        annotations.insert(
            "spotter.dev/return-to-spot-after".into(),
            json!(format!("{}m", random.between(2, 20))),
        );
        annotations.insert(
            "spotter.dev/return-to-spot-max-concurrent".into(),
            json!(random.between(1, 10).to_string()),
        );
    }
    let mut spec = serde_json::Map::new();
    let version = format!("v{}", random.between(1, 9));
    spec.insert("template".into(), pool_template(random, plan, &version));
    if chance(random, 0.7) {
        spec.insert("weight".into(), json!(random.between(1, 100)));
    }
    if chance(random, 0.4) {
        spec.insert(
            "limits".into(),
            json!({ "cpu": (100 * random.between(1, 10)).to_string() }),
        );
    }
    let mut disruption = serde_json::Map::new();
    disruption.insert(
        "consolidationPolicy".into(),
        json!(if chance(random, 0.7) {
            "WhenEmptyOrUnderutilized"
        } else {
            "WhenEmpty"
        }),
    );
    disruption.insert(
        "consolidateAfter".into(),
        json!(format!("{}s", 30 * random.between(0, 20))),
    );
    if chance(random, 0.6) {
        let nodes = match pick(random, 4) {
            0 => "1".to_string(),
            1 => format!("{}%", 10 * random.between(1, 5)),
            2 => "0".to_string(),
            _ => random.between(2, 5).to_string(),
        };
        let mut budget = serde_json::Map::new();
        budget.insert("nodes".into(), json!(nodes));
        if chance(random, 0.3) {
            let reason = ["Underutilized", "Empty", "Drifted"][pick(random, 3)];
            budget.insert("reasons".into(), json!([reason]));
        }
        disruption.insert("budgets".into(), json!([budget]));
    }
    spec.insert("disruption".into(), Value::Object(disruption));
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), json!(plan.name));
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": metadata,
        "spec": spec,
    })
}

/// A NodePool's `spec.template`; `version` is a template label (changing it drifts nodes).
fn pool_template(random: &mut Random, plan: &PoolPlan, version: &str) -> Value {
    let mut spec = serde_json::Map::new();
    spec.insert(
        "nodeClassRef".into(),
        json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}),
    );
    spec.insert(
        "requirements".into(),
        json!([
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": plan.capacity_types},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": plan.categories},
            {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["4"]},
        ]),
    );
    if let Some(taint) = &plan.taint {
        spec.insert(
            "taints".into(),
            json!([{"key": "dedicated", "value": taint, "effect": "NoSchedule"}]),
        );
    }
    if chance(random, 0.2) {
        spec.insert(
            "expireAfter".into(),
            json!(format!("{}h", random.between(6, 48))),
        );
    }
    json!({
        "metadata": {"labels": {"pool-version": version}},
        "spec": spec,
    })
}

/// A pod template: random requests and constraints some pool satisfies; `app` labels it.
fn pod_spec(random: &mut Random, app: &str, pools: &[PoolPlan], job: bool) -> Value {
    let mut spec = serde_json::Map::new();
    let cpu = 100 * random.between(1, 30);
    let memory = 128 * random.between(1, 48);
    spec.insert(
        "containers".into(),
        json!([{
            "name": "main",
            "image": "public.ecr.aws/docker/library/busybox:stable",
            "resources": {"requests": {"cpu": format!("{cpu}m"), "memory": format!("{memory}Mi")}},
        }]),
    );
    if job {
        spec.insert("restartPolicy".into(), json!("Never"));
    }
    // Target one pool, the untainted ones, or (rarely) only those allowing a capacity type.
    let target = &pools[pick(random, pools.len())];
    match pick(random, 3) {
        0 => {
            spec.insert(
                "nodeSelector".into(),
                json!({"karpenter.sh/nodepool": target.name}),
            );
            if let Some(taint) = &target.taint {
                spec.insert(
                    "tolerations".into(),
                    json!([{"key": "dedicated", "operator": "Equal", "value": taint, "effect": "NoSchedule"}]),
                );
            }
        }
        1 if target.taint.is_some() => {
            spec.insert(
                "tolerations".into(),
                json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
            );
        }
        _ => {}
    }
    let mut affinity = serde_json::Map::new();
    if !job && chance(random, 0.15) {
        affinity.insert(
            "podAntiAffinity".into(),
            json!({"requiredDuringSchedulingIgnoredDuringExecution": [{
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app": app}},
            }]}),
        );
    }
    if !affinity.is_empty() {
        spec.insert("affinity".into(), Value::Object(affinity));
    }
    if !job && chance(random, 0.4) {
        spec.insert(
            "topologySpreadConstraints".into(),
            json!([{
                "maxSkew": random.between(1, 2),
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": if chance(random, 0.5) { "ScheduleAnyway" } else { "DoNotSchedule" },
                "labelSelector": {"matchLabels": {"app": app}},
            }]),
        );
    }
    json!({"metadata": {"labels": {"app": app}}, "spec": spec})
}

fn deployment(
    random: &mut Random,
    name: &str,
    replicas: u32,
    pools: &[PoolPlan],
    duration: Duration,
) -> Workload {
    let template = pod_spec(random, name, pools, false);
    let curve = match pick(random, 3) {
        0 => json!(replicas),
        1 => json!({"diurnal": {
            "min": replicas / 4,
            "max": replicas,
            "peakHour": random.between(0, 23),
        }}),
        _ => {
            let hours = duration.as_secs() / 3600;
            let mut at = 0;
            let mut steps = Vec::new();
            while at < hours {
                steps.push(json!({
                    "at": format_duration(Duration::from_secs(at * 3600)),
                    "replicas": random.between(0, u64::from(replicas)),
                }));
                at += random.between(2, 12);
            }
            json!({"steps": steps})
        }
    };
    let entry = json!({
        "deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": template,
            },
        },
        "replicas": curve,
    });
    let budget = chance(random, 0.5).then(|| {
        let limit = match pick(random, 3) {
            0 => json!({"maxUnavailable": 1}),
            1 => json!({"maxUnavailable": format!("{}%", 10 * random.between(1, 5))}),
            _ => json!({"minAvailable": format!("{}%", 10 * random.between(3, 8))}),
        };
        let mut spec = limit;
        if let Value::Object(spec) = &mut spec {
            spec.insert("selector".into(), json!({"matchLabels": {"app": name}}));
        }
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": spec,
        })
    });
    Workload { entry, budget }
}

fn job(random: &mut Random, name: &str, pools: &[PoolPlan]) -> Workload {
    let template = pod_spec(random, name, pools, true);
    let entry = json!({
        "job": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {"parallelism": random.between(1, 10), "template": template},
        },
        "every": format!("{}h", random.between(2, 8)),
        "start": format!("{}m", random.between(0, 120)),
        "runTime": format!("{}m", 10 * random.between(1, 12)),
    });
    Workload {
        entry,
        budget: None,
    }
}

/// A time in the run, leaving its last hour free (so that the run can settle).
fn time_in(random: &mut Random, duration: Duration) -> Duration {
    let last = duration.as_secs().saturating_sub(3600).max(60) / 60;
    Duration::from_secs(60 * random.between(1, last))
}

fn share(random: &mut Random, low: f64, high: f64) -> f64 {
    round(low + (high - low) * random.unit())
}

fn faults(
    random: &mut Random,
    duration: Duration,
    zones: &[String],
    pools: &[PoolPlan],
) -> Vec<Fault> {
    let mut faults = Vec::new();
    for _ in 0..random.between(0, 5) {
        let at = time_in(random, duration);
        let zone = (!zones.is_empty() && chance(random, 0.5))
            .then(|| zones[pick(random, zones.len())].clone());
        let minutes = |random: &mut Random, low: u64, high: u64| {
            Duration::from_secs(60 * random.between(low, high))
        };
        let kind = match pick(random, 9) {
            0 => FaultKind::SpotOutage {
                zone,
                instance_type: None,
                duration: minutes(random, 10, 180),
            },
            1 => FaultKind::OnDemandOutage {
                zone: zone.or_else(|| zones.first().cloned()),
                instance_type: None,
                duration: minutes(random, 5, 60),
            },
            2 => FaultKind::InterruptSpotNodes {
                fraction: share(random, 0.1, 1.0),
                zone,
            },
            3 => FaultKind::ControllerRestart {
                every: chance(random, 0.3).then(|| minutes(random, 60, 480)),
            },
            4 => FaultKind::CloudApiErrors {
                duration: minutes(random, 5, 90),
                throttled: share(random, 0.0, 0.6),
                server_errors: share(random, 0.0, 0.5),
                unknown_outcome: share(random, 0.0, 0.5),
            },
            5 => FaultKind::UnregisteredNodes {
                duration: minutes(random, 5, 90),
                fraction: share(random, 0.1, 1.0),
            },
            6 => FaultKind::InterruptionDelivery {
                duration: minutes(random, 30, 600),
                duplicate: share(random, 0.0, 1.0),
                late: share(random, 0.0, 1.0),
                delay: Duration::from_secs(random.between(5, 100)),
            },
            7 => FaultKind::WatchEvents {
                duration: minutes(random, 10, 120),
                lost: share(random, 0.0, 0.8),
                duplicated: share(random, 0.0, 0.8),
                relist: minutes(random, 1, 10),
            },
            _ if pools.len() > 1 => FaultKind::DeleteNodePool {
                name: pools[pick(random, pools.len() - 1)].name.clone(),
            },
            _ => FaultKind::SpotOutage {
                zone: None,
                instance_type: None,
                duration: minutes(random, 10, 60),
            },
        };
        faults.push(Fault { at, kind });
    }
    faults.sort_by_key(|fault| fault.at);
    faults
}

/// NodePool edits: a new template label (drift) and perhaps other categories.
fn changes(random: &mut Random, duration: Duration, pools: &[PoolPlan]) -> Vec<Value> {
    let mut changes = Vec::new();
    for _ in 0..random.between(0, 2) {
        let at = time_in(random, duration);
        let plan = &pools[pick(random, pools.len())];
        let mut node_pool = node_pool(random, plan);
        if let Some(template) = node_pool.pointer_mut("/spec/template") {
            *template = pool_template(random, plan, &format!("edit-{}", at.as_secs()));
        }
        changes.push(json!({"at": format_duration(at), "nodePool": node_pool}));
    }
    changes
}

/// A scenario fault as a `faults` entry (`None` for the test-only kind no file can name).
pub fn fault_entry(fault: &Fault) -> Option<Value> {
    let at = format_duration(fault.at);
    let optional = |map: &mut serde_json::Map<String, Value>, key: &str, value: &Option<String>| {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    };
    let entry = match &fault.kind {
        FaultKind::SpotOutage {
            zone,
            instance_type,
            duration,
        }
        | FaultKind::OnDemandOutage {
            zone,
            instance_type,
            duration,
        } => {
            let mut outage = serde_json::Map::new();
            outage.insert("duration".into(), json!(format_duration(*duration)));
            optional(&mut outage, "zone", zone);
            optional(&mut outage, "instanceType", instance_type);
            let key = if matches!(fault.kind, FaultKind::SpotOutage { .. }) {
                "spotOutage"
            } else {
                "onDemandOutage"
            };
            json!({"at": at, key: outage})
        }
        FaultKind::InterruptSpotNodes { fraction, zone } => {
            let mut interrupt = serde_json::Map::new();
            interrupt.insert("fraction".into(), json!(fraction));
            optional(&mut interrupt, "zone", zone);
            json!({"at": at, "interruptSpotNodes": interrupt})
        }
        FaultKind::ControllerRestart { every } => match every {
            Some(every) => {
                json!({"at": at, "controllerRestart": {}, "every": format_duration(*every)})
            }
            None => json!({"at": at, "controllerRestart": {}}),
        },
        FaultKind::CloudApiErrors {
            duration,
            throttled,
            server_errors,
            unknown_outcome,
        } => json!({"at": at, "cloudApiErrors": {
            "duration": format_duration(*duration),
            "throttled": throttled,
            "serverErrors": server_errors,
            "unknownOutcome": unknown_outcome,
        }}),
        FaultKind::UnregisteredNodes { duration, fraction } => {
            json!({"at": at, "unregisteredNodes": {
                "duration": format_duration(*duration),
                "fraction": fraction,
            }})
        }
        FaultKind::InterruptionDelivery {
            duration,
            duplicate,
            late,
            delay,
        } => json!({"at": at, "interruptionDelivery": {
            "duration": format_duration(*duration),
            "duplicate": duplicate,
            "late": late,
            "delay": format_duration(*delay),
        }}),
        FaultKind::WatchEvents {
            duration,
            lost,
            duplicated,
            relist,
        } => json!({"at": at, "watchEvents": {
            "duration": format_duration(*duration),
            "lost": lost,
            "duplicated": duplicated,
            "relist": format_duration(*relist),
        }}),
        FaultKind::DeleteNodePool { name } => json!({"at": at, "deleteNodePool": {"name": name}}),
        FaultKind::TestOnlyDropPod => return None,
    };
    Some(entry)
}

fn node_class() -> Value {
    json!({
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "default"},
        "spec": {
            "role": "KarpenterNodeRole-soak",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "soak"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "soak"}}],
        },
    })
}

fn daemon_set() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-agent", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "node-agent"}},
            "template": {
                "metadata": {"labels": {"app": "node-agent"}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{
                        "name": "agent",
                        "image": "public.ecr.aws/docker/library/busybox:stable",
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    }],
                },
            },
        },
    })
}
