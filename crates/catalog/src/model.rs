//! The typed catalog: instance-type specifications, regions with their zones,
//! and the per-region prices of every instance type offered there.
//!
//! This module owns the public data types and their look-up methods. It does no
//! I/O and no parsing: `format` turns the data file into these types, and
//! `embedded` hands out the copy compiled into the binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// The whole catalog: provenance, regions and instance types.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Provenance, computed ratios and estimation notes.
    pub meta: Meta,
    pub(crate) regions: Vec<Region>,
    pub(crate) instance_types: Vec<Arc<InstanceTypeSpec>>,
}

impl Catalog {
    /// The region called `name` (e.g. `us-east-1`). The error for an unknown
    /// region lists the regions the catalog has.
    pub fn region(&self, name: &str) -> Result<&Region, CatalogError> {
        self.regions
            .iter()
            .find(|region| region.name == name)
            .ok_or_else(|| CatalogError::UnknownRegion {
                name: name.to_owned(),
                known: self.regions().collect::<Vec<_>>().join(", "),
            })
    }

    /// The names of all regions, sorted.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.iter().map(|region| region.name.as_str())
    }

    /// The specification of the instance type called `name` (e.g. `m5.large`),
    /// if it is offered in at least one region of the catalog.
    pub fn instance_type(&self, name: &str) -> Option<&InstanceTypeSpec> {
        self.instance_types
            .binary_search_by(|spec| spec.name.as_str().cmp(name))
            .ok()
            .map(|index| self.instance_types[index].as_ref())
    }

    /// All instance types, sorted by name.
    pub fn instance_types(&self) -> impl Iterator<Item = &InstanceTypeSpec> {
        self.instance_types.iter().map(|spec| spec.as_ref())
    }
}

/// One AWS region: its zones and the instance types offered there with their
/// prices.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Region name, e.g. `ap-northeast-2`.
    pub name: String,
    /// The zones, sorted by name. On-demand capacity is assumed in every zone.
    pub zones: Vec<Zone>,
    pub(crate) offerings: Vec<(Arc<InstanceTypeSpec>, RegionalPrices)>,
}

impl Region {
    /// Every instance type offered in this region with its prices, sorted by
    /// instance-type name.
    pub fn offerings(&self) -> impl Iterator<Item = (&InstanceTypeSpec, &RegionalPrices)> {
        self.offerings
            .iter()
            .map(|(spec, prices)| (spec.as_ref(), prices))
    }

    /// The offering of the instance type called `instance_type`, if this
    /// region offers it.
    pub fn offering(&self, instance_type: &str) -> Option<(&InstanceTypeSpec, &RegionalPrices)> {
        self.offerings
            .binary_search_by(|(spec, _)| spec.name.as_str().cmp(instance_type))
            .ok()
            .map(|index| {
                let (spec, prices) = &self.offerings[index];
                (spec.as_ref(), prices)
            })
    }

    /// The zone called `name` (e.g. `ap-northeast-2a`).
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|zone| zone.name == name)
    }
}

/// An Availability Zone. The name is derived from the ID by a fixed rule
/// (`use1-az1` → `us-east-1a`, …); real accounts map names to IDs differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// Zone name as used in `topology.kubernetes.io/zone`, e.g. `us-east-1a`.
    pub name: String,
    /// Zone ID as used in `topology.k8s.aws/zone-id`, e.g. `use1-az1`.
    pub id: String,
}

/// The prices and Spot signals of one instance type in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalPrices {
    /// On-demand price, offered in every zone of the region.
    pub on_demand: OnDemandPrice,
    /// Spot Instance Advisor interruption band and savings, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption: Option<Interruption>,
    /// Spot price per zone name. Empty when the type is not offered as Spot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spot: BTreeMap<String, SpotPrice>,
}

impl RegionalPrices {
    /// Whether the type is offered as Spot in at least one zone.
    pub fn spot_offered(&self) -> bool {
        !self.spot.is_empty()
    }

    /// The Spot price in the zone called `zone`, if the type is offered as Spot
    /// there.
    pub fn spot_price(&self, zone: &str) -> Option<&SpotPrice> {
        self.spot.get(zone)
    }
}

/// An on-demand price in USD per instance-hour (Linux/UNIX, shared tenancy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandPrice {
    /// USD per instance-hour (`usd` in the data file).
    #[serde(rename = "usd")]
    pub usd_per_hour: f64,
    /// Where the price comes from.
    pub source: OnDemandSource,
    /// True when the price is not a source value but an estimate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub estimated: bool,
}

/// The origin of an on-demand price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnDemandSource {
    /// Karpenter's generated us-east-1 price list of 2026-07-20.
    #[serde(rename = "karpenter-2026-07-20")]
    Karpenter20260720,
    /// The AWS Price List as of 2022-11-22 (via `tedivm/ec2details`).
    #[serde(rename = "ec2details-2022-11-22")]
    Ec2details20221122,
    /// Estimated: the base region's price × the median regional price ratio
    /// recorded in [`Meta::on_demand_ratios`].
    #[serde(rename = "estimated-from-base-region-ratio")]
    EstimatedFromBaseRegionRatio,
}

/// A Spot price in one zone, USD per instance-hour (Linux/UNIX).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotPrice {
    /// USD per instance-hour (`usd` in the data file).
    #[serde(rename = "usd")]
    pub usd_per_hour: f64,
    /// True when estimated as on-demand × (1 − savings_pct / 100) because no
    /// 2022 Spot pool was seen for this type in the region.
    #[serde(default, skip_serializing_if = "is_false")]
    pub estimated: bool,
    /// Spot Placement Score (1..3 in the 2022-07-12 snapshot), when measured
    /// (`score` in the data file).
    #[serde(default, rename = "score", skip_serializing_if = "Option::is_none")]
    pub placement_score: Option<u8>,
}

/// The Spot Instance Advisor's interruption band and savings for a type in a
/// region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interruption {
    /// Band label: `<5%`, `5-10%`, `10-15%`, `15-20%` or `>20%`.
    pub band: String,
    /// Band index 0..=4 in the order of [`INTERRUPTION_BANDS`].
    pub band_index: u8,
    /// Savings of Spot over on-demand, percent.
    pub savings_pct: u32,
    /// Which advisor snapshot the values come from.
    pub source: AdvisorSource,
}

/// The Spot Instance Advisor interruption band labels, index 0..=4.
pub const INTERRUPTION_BANDS: [&str; 5] = ["<5%", "5-10%", "10-15%", "15-20%", ">20%"];

/// The snapshot an [`Interruption`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdvisorSource {
    /// The Spot Instance Advisor feed of 2025-06-28.
    #[serde(rename = "spot-advisor-2025-06")]
    SpotAdvisor202506,
    /// The advisor values in the SpotLake snapshot of 2022-07-12 (fallback).
    #[serde(rename = "spot-advisor-2022-07")]
    SpotAdvisor202207,
}

/// CPU architecture, with Kubernetes names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86_64.
    Amd64,
    /// 64-bit ARM (Graviton).
    Arm64,
}

/// The specification of one EC2 instance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeSpec {
    /// Instance type name, e.g. `m5.large`.
    pub name: String,
    /// Family, e.g. `m5`.
    pub family: String,
    /// Category, e.g. `m`.
    pub category: String,
    /// Generation, e.g. `5`; unknown for a few types (`u-*tb1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// Size, e.g. `large`.
    pub size: String,
    /// Number of vCPUs.
    pub vcpu: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// CPU architecture.
    pub arch: Arch,
    /// `intel`, `amd` or `aws`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_manufacturer: Option<String>,
    /// Number of GPUs (0 when none, or when the GPU is fractional).
    pub gpu_count: u32,
    /// GPU model, e.g. `h100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_name: Option<String>,
    /// GPU manufacturer, e.g. `nvidia`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_manufacturer: Option<String>,
    /// Memory per GPU in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mib: Option<u64>,
    /// Number of Inferentia/Trainium (or other) accelerators; unknown for
    /// types with partial specifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_count: Option<u32>,
    /// Accelerator model, e.g. `inferentia`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_name: Option<String>,
    /// Accelerator manufacturer, e.g. `aws`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_manufacturer: Option<String>,
    /// Local instance-store NVMe in GiB; `None` when there is none or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_nvme_gib: Option<u64>,
    /// Baseline network bandwidth in Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bandwidth_mbps: Option<u64>,
    /// `nitro` or `xen`; `None` for bare metal or when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypervisor: Option<String>,
    /// Whether the type is bare metal, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_metal: Option<bool>,
    /// Maximum pods per node with Karpenter's defaults.
    pub max_pods: u32,
    /// Where [`InstanceTypeSpec::max_pods`] comes from (absent from the data
    /// file when it is [`MaxPodsSource::Karpenter`]).
    #[serde(default, skip_serializing_if = "MaxPodsSource::is_karpenter")]
    pub max_pods_source: MaxPodsSource,
    /// What Karpenter reports as allocatable after its default overheads.
    pub allocatable: Allocatable,
    /// True when [`InstanceTypeSpec::allocatable`] was computed here with
    /// Karpenter's default overhead formulas instead of taken from its docs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allocatable_estimated: bool,
}

/// The origin of [`InstanceTypeSpec::max_pods`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxPodsSource {
    /// Karpenter's documented allocatable pods.
    #[default]
    Karpenter,
    /// The VPC CNI formula `enis × (ipv4_per_eni − 1) + 2`.
    VpcCniEniLimit,
    /// The EKS AMI's `eni-max-pods.txt`.
    EksAmi,
    /// No source has a value: the kubelet default of 110.
    KubeletDefault,
}

impl MaxPodsSource {
    /// Whether this is [`MaxPodsSource::Karpenter`].
    pub fn is_karpenter(&self) -> bool {
        *self == Self::Karpenter
    }
}

/// Allocatable resources of a node of one instance type, as Karpenter computes
/// them for AL2023 with its default overheads and root volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocatable {
    /// CPU in millicores.
    pub cpu_millicores: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Pods.
    pub pods: u32,
    /// Ephemeral storage in GiB.
    pub ephemeral_storage_gib: f64,
    /// `nvidia.com/gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_gpu: Option<u32>,
    /// `amd.com/gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd_gpu: Option<u32>,
    /// `aws.amazon.com/neuron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neuron: Option<u32>,
    /// `aws.amazon.com/neuroncore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neuroncore: Option<u32>,
    /// `vpc.amazonaws.com/efa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efa: Option<u32>,
    /// `vpc.amazonaws.com/pod-eni` (security groups for pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_eni: Option<u32>,
}

/// Provenance and the values the generator computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Version of the data-file format.
    pub format_version: u32,
    /// Source key → repository, path, commit and date, copied from the inputs.
    pub sources: BTreeMap<String, String>,
    /// Region → the ratio used to estimate its missing on-demand prices.
    pub on_demand_ratios: BTreeMap<String, OnDemandRatio>,
    /// How the allocatable formula compared with Karpenter's documented values.
    pub allocatable_check: AllocatableCheck,
    /// Offerings left out, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedOffering>,
    /// The zone-naming and estimation rules, in words.
    pub notes: Vec<String>,
}

/// The ratio used to estimate a region's missing on-demand prices from the
/// base region's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandRatio {
    /// The region whose prices are multiplied, e.g. `us-east-1`.
    pub base_region: String,
    /// Median of region price / base-region price, rounded to 6 decimals.
    pub median: f64,
    /// Number of instance types the median was taken over.
    pub pairs: u32,
    /// Which prices were compared.
    pub basis: String,
}

/// The result of checking the allocatable formula against Karpenter's docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocatableCheck {
    /// Types with a documented allocatable that were compared.
    pub compared: u32,
    /// Of those, types where the formula reproduced cpu, memory, pods and
    /// ephemeral storage exactly.
    pub exact: u32,
}

/// An instance type left out of a region, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DroppedOffering {
    /// Region name.
    pub region: String,
    /// Instance type name.
    pub instance_type: String,
    /// Why it was left out.
    pub reason: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}
