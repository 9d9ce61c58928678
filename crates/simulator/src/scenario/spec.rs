//! The scenario file's shape as written (camelCase, unknown fields rejected), before any
//! check that needs more than one field: durations already parsed, inline Kubernetes objects
//! kept as YAML values for the API layer, replica curves read from an integer or a mapping.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_yaml_ng::Value;

use super::duration::parse_duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ScenarioSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub region: String,
    pub duration: DurationText,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub pending_threshold: Option<DurationText>,
    #[serde(default)]
    pub manifests: Vec<String>,
    #[serde(default)]
    pub node_pools: Vec<Value>,
    #[serde(default, rename = "ec2NodeClasses")]
    pub ec2_node_classes: Vec<Value>,
    #[serde(default)]
    pub daemon_sets: Vec<Value>,
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    pub pod_disruption_budgets: Vec<Value>,
    #[serde(default)]
    pub market: MarketSpec,
    #[serde(default)]
    pub timing: TimingSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub changes: Vec<ChangeSpec>,
}

/// One `changes` entry: a new version of a NodePool or an EC2NodeClass applied at a time.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChangeSpec {
    pub at: DurationText,
    #[serde(default)]
    pub node_pool: Option<Value>,
    #[serde(default, rename = "ec2NodeClass")]
    pub node_class: Option<Value>,
}

/// One `workloads` entry: a Deployment with its replica curve, or a Job with its arrivals.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct WorkloadSpec {
    #[serde(default)]
    pub deployment: Option<Value>,
    #[serde(default)]
    pub replicas: Option<ReplicasSpec>,
    #[serde(default)]
    pub job: Option<Value>,
    #[serde(default)]
    pub every: Option<DurationText>,
    #[serde(default)]
    pub at: Option<Vec<DurationText>>,
    #[serde(default)]
    pub start: Option<DurationText>,
    #[serde(default)]
    pub run_time: Option<DurationText>,
}

/// `replicas`: an integer, `{diurnal: ...}` or `{steps: [...]}`.
#[derive(Debug)]
pub(super) enum ReplicasSpec {
    Constant(u32),
    Curve(CurveSpec),
}

/// The mapping form of `replicas`; exactly one field must be set (checked later).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CurveSpec {
    #[serde(default)]
    pub diurnal: Option<DiurnalSpec>,
    #[serde(default)]
    pub steps: Option<Vec<StepSpec>>,
}

/// `replicas.diurnal`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DiurnalSpec {
    pub min: u32,
    pub max: u32,
    pub peak_hour: f64,
}

/// One `replicas.steps` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct StepSpec {
    pub at: DurationText,
    pub replicas: u32,
}

/// `market`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct MarketSpec {
    #[serde(default)]
    pub spot_ice_mean_interval: Option<DurationText>,
    #[serde(default)]
    pub spot_ice_mean_duration: Option<DurationText>,
    #[serde(default)]
    pub interruption_scale: Option<f64>,
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
}

/// One `market.pools` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PoolSpec {
    #[serde(default)]
    pub instance_type: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub capacity_type: Option<String>,
    #[serde(default)]
    pub ice_mean_interval: Option<DurationText>,
    #[serde(default)]
    pub ice_mean_duration: Option<DurationText>,
    #[serde(default)]
    pub interruption_scale: Option<f64>,
    #[serde(default)]
    pub interruption_interval: Option<DurationText>,
    #[serde(default)]
    pub interruption_until: Option<DurationText>,
}

/// `timing`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TimingSpec {
    #[serde(default)]
    pub launch_seconds: Option<(u32, u32)>,
    #[serde(default)]
    pub registration_seconds: Option<(u32, u32)>,
}

/// One `faults` entry: `at` and exactly one kind (checked later).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FaultSpec {
    pub at: DurationText,
    #[serde(default)]
    pub spot_outage: Option<OutageSpec>,
    #[serde(default)]
    pub on_demand_outage: Option<OutageSpec>,
    #[serde(default)]
    pub interrupt_spot_nodes: Option<InterruptSpec>,
    #[serde(default)]
    pub controller_restart: Option<RestartSpec>,
    #[serde(default)]
    pub cloud_api_errors: Option<ApiErrorsSpec>,
    #[serde(default)]
    pub unregistered_nodes: Option<UnregisteredSpec>,
    #[serde(default)]
    pub interruption_delivery: Option<DeliverySpec>,
    #[serde(default)]
    pub delete_node_pool: Option<DeletePoolSpec>,
    #[serde(default)]
    pub watch_events: Option<WatchSpec>,
    /// Repeats the fault (controller restarts only).
    #[serde(default)]
    pub every: Option<DurationText>,
}

/// `controllerRestart` (no settings: `{}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RestartSpec {}

/// `cloudApiErrors`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApiErrorsSpec {
    pub duration: DurationText,
    #[serde(default)]
    pub throttled: f64,
    #[serde(default)]
    pub server_errors: f64,
    #[serde(default)]
    pub unknown_outcome: f64,
}

/// `unregisteredNodes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UnregisteredSpec {
    pub duration: DurationText,
    pub fraction: f64,
}

/// `interruptionDelivery`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DeliverySpec {
    pub duration: DurationText,
    #[serde(default)]
    pub duplicate: f64,
    #[serde(default)]
    pub late: f64,
    pub delay: DurationText,
}

/// `watchEvents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct WatchSpec {
    pub duration: DurationText,
    #[serde(default)]
    pub lost: f64,
    #[serde(default)]
    pub duplicated: f64,
    pub relist: DurationText,
}

/// `deleteNodePool`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DeletePoolSpec {
    pub name: String,
}

/// `spotOutage` and `onDemandOutage`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct OutageSpec {
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub instance_type: Option<String>,
    pub duration: DurationText,
}

/// `interruptSpotNodes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InterruptSpec {
    pub fraction: f64,
    #[serde(default)]
    pub zone: Option<String>,
}

/// A duration written as text (`1h30m`, `14d`); a bare `0` is accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl DurationVisitor {
    fn number<E: de::Error>(self, text: String) -> Result<DurationText, E> {
        if text == "0" {
            return Ok(DurationText(Duration::ZERO));
        }
        Err(E::custom(format!(
            "{text} has no unit: write a duration such as {text}s, {text}m, {text}h or {text}d"
        )))
    }
}

impl Visitor<'_> for DurationVisitor {
    type Value = DurationText;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a duration such as 30s, 5m, 2h, 1h30m or 14d")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<DurationText, E> {
        parse_duration(value).map(DurationText).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<DurationText, E> {
        self.number(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<DurationText, E> {
        self.number(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<DurationText, E> {
        self.number(value.to_string())
    }
}

impl<'de> Deserialize<'de> for ReplicasSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReplicasVisitor)
    }
}

struct ReplicasVisitor;

impl<'de> Visitor<'de> for ReplicasVisitor {
    type Value = ReplicasSpec;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(
            "a replica count, {diurnal: {min, max, peakHour}} or {steps: [{at, replicas}, ...]}",
        )
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ReplicasSpec, E> {
        u32::try_from(value)
            .map(ReplicasSpec::Constant)
            .map_err(|_| E::custom(format!("{value} replicas is too many")))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<ReplicasSpec, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!(
                "must not be negative, got {value} replicas"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ReplicasSpec, A::Error> {
        CurveSpec::deserialize(MapAccessDeserializer::new(map)).map(ReplicasSpec::Curve)
    }
}
