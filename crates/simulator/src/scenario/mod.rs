//! Scenarios: what one simulator run simulates, read from a YAML file (the format is described
//! in `examples/scenarios/README.md`). This module owns the scenario model (the region,
//! duration and seed; NodePools and DaemonSets read through the API layer exactly as
//! `spotter plan` reads them; Deployments with replica curves, Jobs with arrivals and
//! PodDisruptionBudgets; market settings, launch timing and injected faults), reading and
//! checking a scenario file with errors that name the file, the line and the field path, and
//! the built-in default scenario.

mod duration;
mod kubernetes;
mod read;
mod reader;
mod spec;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use spotter_api::node_class_version::NodeClassVersion;
use spotter_core::label_selector::LabelSelector;
use spotter_core::node_pool::NodePool;
use spotter_core::offering::CapacityType;
use spotter_core::pod::Pod;

pub use duration::{format_duration, parse_duration};

/// The built-in default scenario's text (`examples/scenarios/default.yaml`): the seed cluster
/// in ap-northeast-2 with a diurnal batch Deployment for 14 days. It is self-contained: every
/// manifest is inline.
pub const DEFAULT_SCENARIO_YAML: &str = include_str!("../../../../examples/scenarios/default.yaml");

/// The longest scenario the simulator accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// The most arrivals one Job may have over a scenario.
pub const MAX_JOB_ARRIVALS: usize = 100_000;

/// How often a diurnal replica curve is re-evaluated.
pub const DIURNAL_STEP: Duration = Duration::from_secs(300);

/// How long a pod may wait for a node before a run is not OK, unless the scenario says.
pub const DEFAULT_PENDING_THRESHOLD: Duration = Duration::from_secs(15 * 60);

/// One simulation scenario, read and checked.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's name (the file's `name`, or the file name without its extension).
    pub name: String,
    /// The AWS region, one of the embedded catalog's.
    pub region: String,
    /// How much simulated time the run covers.
    pub duration: Duration,
    /// The seed of the run's random number generator.
    pub seed: u64,
    /// How long a pod may wait for a node before the run's headline is no longer OK (and
    /// `spotter simulate` fails): `pendingThreshold`, [`DEFAULT_PENDING_THRESHOLD`] unless set.
    pub pending_threshold: Duration,
    /// The NodePools, converted by the API layer.
    pub node_pools: Vec<NodePool>,
    /// One pod per DaemonSet: every node runs one of each.
    pub daemon_set_pods: Vec<Pod>,
    /// Deployments and their replica curves.
    pub deployments: Vec<DeploymentWorkload>,
    /// Jobs and their arrival times.
    pub jobs: Vec<JobWorkload>,
    /// PodDisruptionBudgets.
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// How the simulated EC2 market behaves.
    pub market: MarketSettings,
    /// How long instances take to launch and register.
    pub timing: Timing,
    /// Faults injected at given times.
    pub faults: Vec<Fault>,
    /// The EC2NodeClasses at the start, as drift compares them.
    pub node_classes: BTreeMap<String, NodeClassVersion>,
    /// New versions of NodePools and EC2NodeClasses applied at given times (to exercise
    /// drift).
    pub changes: Vec<Change>,
    /// Things worth telling the user that do not stop the run (from the API layer, e.g. a
    /// NodePool that refers to an EC2NodeClass that is not among the inputs).
    pub warnings: Vec<String>,
}

/// A Deployment: a pod template and how many replicas it wants over time.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentWorkload {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// The pod template, converted (its name is the Deployment's).
    pub template: Pod,
    /// The number of replicas over time.
    pub replicas: ReplicaCurve,
}

/// How many replicas a Deployment wants over time.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaCurve {
    /// Always this many.
    Constant(u32),
    /// A smooth daily cycle: a cosine between `min` and `max` with a period of 24 hours and
    /// its maximum `peak_hour` hours after the start of each day (the run starts at 00:00).
    Diurnal {
        /// The fewest replicas, 12 hours from the peak.
        min: u32,
        /// The most replicas, at the peak.
        max: u32,
        /// The hour of the peak, in `[0, 24)`.
        peak_hour: f64,
    },
    /// Piecewise constant: each step holds from its time until the next; 0 before the first.
    /// The times are strictly increasing.
    Steps(Vec<(Duration, u32)>),
}

/// A Job: a pod template started `parallelism` times at each arrival, each pod running for
/// `run_time`.
#[derive(Clone, Debug, PartialEq)]
pub struct JobWorkload {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// The pod template, converted (its name is the Job's).
    pub template: Pod,
    /// When an instance of the Job starts, sorted, all before the end of the run.
    pub arrivals: Vec<Duration>,
    /// Pods per instance: `spec.parallelism` (1 when unset), capped by `spec.completions`.
    pub parallelism: u32,
    /// How long each pod runs once started.
    pub run_time: Duration,
}

/// A `policy/v1` PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq)]
pub struct PodDisruptionBudget {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when unset); the budget covers pods of this namespace.
    pub namespace: String,
    /// The pods the budget covers.
    pub selector: LabelSelector,
    /// How many of them may be unavailable.
    pub budget: DisruptionBudget,
}

/// A PodDisruptionBudget's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisruptionBudget {
    /// `spec.maxUnavailable`.
    MaxUnavailable(IntOrPercent),
    /// `spec.minAvailable`.
    MinAvailable(IntOrPercent),
}

/// A count or a percentage (`10%`, at most 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOrPercent {
    /// A number of pods.
    Count(u32),
    /// A percentage of the pods.
    Percent(u32),
}

/// How the simulated EC2 market behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketSettings {
    /// The mean time between capacity shortages (ICE) of one Spot pool (instance type × zone).
    pub spot_ice_mean_interval: Duration,
    /// The mean length of a shortage.
    pub spot_ice_mean_duration: Duration,
    /// Multiplies the monthly interruption rate of each Spot pool's advisor band.
    pub interruption_scale: f64,
    /// Per-pool changes, applied in order (a later match overrides an earlier one).
    pub pool_overrides: Vec<PoolOverride>,
}

/// Changes to the pools that match (an unset matcher matches every pool).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolOverride {
    /// The instance type matched, if any.
    pub instance_type: Option<String>,
    /// The zone matched, if any.
    pub zone: Option<String>,
    /// The capacity type matched, if any.
    pub capacity_type: Option<CapacityType>,
    /// The mean time between shortages of each matching pool.
    pub ice_mean_interval: Option<Duration>,
    /// The mean length of a shortage of each matching pool.
    pub ice_mean_duration: Option<Duration>,
    /// Multiplies the matching Spot pools' interruption rate (instead of the market's scale).
    pub interruption_scale: Option<f64>,
    /// Deterministic interruptions: each Spot node of a matching pool gets its 2-minute warning
    /// this long after launch.
    pub interruption_interval: Option<Duration>,
    /// ... if launched before this time into the run (`interruptionUntil`: the pool recovers
    /// then); `None`: for the whole run.
    pub interruption_until: Option<Duration>,
}

/// How long instances take to come up, in seconds, each drawn uniformly from a closed range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// From the launch request to a running instance.
    pub launch_seconds: (u32, u32),
    /// From a running instance to a Ready node.
    pub registration_seconds: (u32, u32),
}

/// A NodePool or EC2NodeClass change applied at a given time.
#[derive(Clone, Debug)]
pub struct Change {
    /// When, from the start of the run (before its end).
    pub at: Duration,
    /// What is applied.
    pub object: ChangedObject,
}

/// The object a [`Change`] applies: it replaces the object of the same name, or is added.
#[derive(Clone, Debug)]
pub enum ChangedObject {
    /// A NodePool.
    NodePool(NodePool),
    /// An EC2NodeClass, as drift compares it.
    NodeClass {
        /// Its name.
        name: String,
        /// Its new version.
        version: NodeClassVersion,
    },
}

/// A fault injected into the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// When, from the start of the run (before its end).
    pub at: Duration,
    /// What happens.
    pub kind: FaultKind,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Every matching Spot pool has no capacity for `duration`.
    SpotOutage {
        /// The zone, or every zone.
        zone: Option<String>,
        /// The instance type, or every type.
        instance_type: Option<String>,
        /// How long the outage lasts.
        duration: Duration,
    },
    /// Every matching on-demand pool has no capacity for `duration`.
    OnDemandOutage {
        /// The zone, or every zone.
        zone: Option<String>,
        /// The instance type, or every type.
        instance_type: Option<String>,
        /// How long the outage lasts.
        duration: Duration,
    },
    /// That share of the running Spot nodes (in the zone, or everywhere) gets a 2-minute
    /// interruption warning at the fault's time.
    InterruptSpotNodes {
        /// The share, in `[0, 1]`.
        fraction: f64,
        /// The zone, or every zone.
        zone: Option<String>,
    },
    /// The controller restarts: its memory is dropped and rebuilt from the objects alone,
    /// again every `every` if set.
    ControllerRestart {
        /// The time between restarts, if they repeat.
        every: Option<Duration>,
    },
    /// For `duration`, the cloud's launch calls fail: each one is throttled with the share
    /// `throttled`, else answers a server error (5xx) with the share `server_errors`, else
    /// launches the instance but loses the answer (the call times out: the caller cannot tell
    /// whether the instance exists) with the share `unknown_outcome`. The shares are drawn in
    /// that order, each of what is left.
    CloudApiErrors {
        /// How long the cloud misbehaves.
        duration: Duration,
        /// The share of launch calls throttled, in `[0, 1]`.
        throttled: f64,
        /// The share of the others that answer a server error, in `[0, 1]`.
        server_errors: f64,
        /// The share of the others that launch but time out, in `[0, 1]`.
        unknown_outcome: f64,
    },
    /// For `duration`, that share of the instances launched never register their node (a
    /// broken AMI or bootstrap): the NodeClaim's registration timeout must clean them up.
    UnregisteredNodes {
        /// How long launches are affected.
        duration: Duration,
        /// The share of the launched instances whose node never registers, in `[0, 1]`.
        fraction: f64,
    },
    /// For `duration`, Spot interruption warnings are delivered twice (a second copy `delay`
    /// later) with the share `duplicate`, and late (only `delay` after EC2 sent them, so
    /// with less of the 2 minutes left) with the share `late`.
    InterruptionDelivery {
        /// How long deliveries are affected.
        duration: Duration,
        /// The share of warnings delivered twice, in `[0, 1]`.
        duplicate: f64,
        /// The share of warnings delivered late, in `[0, 1]`.
        late: f64,
        /// How late the late copy (or the second copy) arrives.
        delay: Duration,
    },
    /// For `duration`, the watch events of nodes (registered, Ready) are lost with the share
    /// `lost` (the driver sees the change at its next relist, `relist` later) and delivered
    /// twice with the share `duplicated`.
    WatchEvents {
        /// How long events are affected.
        duration: Duration,
        /// The share of events lost until the next relist, in `[0, 1]`.
        lost: f64,
        /// The share of events delivered twice, in `[0, 1]`.
        duplicated: f64,
        /// How long after a lost event the relist shows the change.
        relist: Duration,
    },
    /// The NodePool is deleted: its NodeClaims are deleted with it (Karpenter's owner
    /// references), drained and terminated.
    DeleteNodePool {
        /// The NodePool's name.
        name: String,
    },
    /// Test only: makes a pod vanish (for the invariants checker's test).
    #[doc(hidden)]
    TestOnlyDropPod,
}

/// Why a scenario cannot be read. Every variant names the scenario file; the line is given
/// when it is known.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("failed to read scenario {file}: {source}")]
    Read {
        /// The file as given.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{}: failed to parse YAML: {message}", position(.file, .line))]
    Yaml {
        /// The file.
        file: String,
        /// The line, from 1.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A field is missing, unknown or not allowed, including inside an inline manifest.
    #[error("{}: field {field}: {message}", position(.file, .line))]
    Invalid {
        /// The file.
        file: String,
        /// The line, from 1.
        line: Option<usize>,
        /// The field path (`workloads[1].replicas.diurnal.min`).
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A manifest file listed under `manifests` is invalid; the API layer's error names the
    /// manifest file, its line and field.
    #[error("{}: field {field}: {source}", position(.file, .line))]
    Manifest {
        /// The scenario file.
        file: String,
        /// The line of the `manifests` entry.
        line: Option<usize>,
        /// The `manifests` entry (`manifests[0]`).
        field: String,
        /// The API layer's error.
        source: Box<spotter_api::ManifestError>,
    },
}

impl ScenarioError {
    /// The scenario file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ScenarioError::Read { file, .. }
            | ScenarioError::Yaml { file, .. }
            | ScenarioError::Invalid { file, .. }
            | ScenarioError::Manifest { file, .. } => file,
        }
    }

    /// The line in the scenario file, from 1, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::Yaml { line, .. }
            | ScenarioError::Invalid { line, .. }
            | ScenarioError::Manifest { line, .. } => *line,
        }
    }
}

impl FaultKind {
    /// How long the fault lasts, for the kinds that last (outages and misbehaving windows).
    pub fn duration(&self) -> Option<Duration> {
        match self {
            FaultKind::SpotOutage { duration, .. }
            | FaultKind::OnDemandOutage { duration, .. }
            | FaultKind::CloudApiErrors { duration, .. }
            | FaultKind::UnregisteredNodes { duration, .. }
            | FaultKind::InterruptionDelivery { duration, .. }
            | FaultKind::WatchEvents { duration, .. } => Some(*duration),
            FaultKind::InterruptSpotNodes { .. }
            | FaultKind::ControllerRestart { .. }
            | FaultKind::DeleteNodePool { .. }
            | FaultKind::TestOnlyDropPod => None,
        }
    }
}

impl Scenario {
    /// Reads the scenario file at `path`; the manifest files it lists are relative to its
    /// folder.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: file.clone(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Scenario::parse(&file, &text, base_dir)
    }

    /// Reads a scenario from `text`, naming it `file_name` in errors; the manifest files it
    /// lists are relative to `base_dir`.
    pub fn parse(file_name: &str, text: &str, base_dir: &Path) -> Result<Scenario, ScenarioError> {
        read::read(file_name, text, base_dir)
    }

    /// The built-in default scenario ([`DEFAULT_SCENARIO_YAML`]).
    pub fn builtin_default() -> Scenario {
        #[allow(clippy::expect_used)]
        Scenario::parse("default.yaml", DEFAULT_SCENARIO_YAML, Path::new("."))
            .expect("the embedded default scenario is valid (a unit test parses it)")
    }
}

impl ReplicaCurve {
    /// The number of replicas wanted `elapsed` after the start of the run.
    pub fn replicas_at(&self, elapsed: Duration) -> u32 {
        match self {
            ReplicaCurve::Constant(count) => *count,
            ReplicaCurve::Diurnal {
                min,
                max,
                peak_hour,
            } => {
                let (low, high) = (f64::from(*min.min(max)), f64::from(*min.max(max)));
                let hours = elapsed.as_secs_f64() / 3600.0;
                let phase = (hours - peak_hour) / 24.0 * std::f64::consts::TAU;
                let value = low + (high - low) * (1.0 + phase.cos()) / 2.0;
                if value.is_finite() {
                    value.round().clamp(low, high) as u32
                } else {
                    *min
                }
            }
            ReplicaCurve::Steps(steps) => steps
                .iter()
                .take_while(|(at, _)| *at <= elapsed)
                .last()
                .map_or(0, |(_, count)| *count),
        }
    }

    /// The times, from 0 and before `until`, at which the simulator should re-evaluate the
    /// curve: every [`DIURNAL_STEP`] for a diurnal curve, 0 and the step times for steps, just
    /// 0 for a constant. Always starts with 0; `until` is capped at [`MAX_DURATION`].
    pub fn change_times(&self, until: Duration) -> Vec<Duration> {
        match self {
            ReplicaCurve::Constant(_) => vec![Duration::ZERO],
            ReplicaCurve::Diurnal { .. } => {
                let mut times = vec![Duration::ZERO];
                let mut next = DIURNAL_STEP;
                while next < until.min(MAX_DURATION) {
                    times.push(next);
                    next += DIURNAL_STEP;
                }
                times
            }
            ReplicaCurve::Steps(steps) => {
                let mut times = vec![Duration::ZERO];
                times.extend(
                    steps
                        .iter()
                        .map(|(at, _)| *at)
                        .filter(|at| !at.is_zero() && *at < until),
                );
                times.sort();
                times.dedup();
                times
            }
        }
    }
}

impl Default for MarketSettings {
    fn default() -> Self {
        MarketSettings {
            spot_ice_mean_interval: Duration::from_secs(24 * 3600),
            spot_ice_mean_duration: Duration::from_secs(30 * 60),
            interruption_scale: 1.0,
            pool_overrides: Vec::new(),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            launch_seconds: (20, 60),
            registration_seconds: (30, 90),
        }
    }
}

/// `file:line`, or `file` when the line is not known.
fn position(file: &str, line: &Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    }
}
