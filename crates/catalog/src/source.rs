//! The records of the public source files the generator reads
//! (`instance-types.json` and `prices-<region>.json`), with only the fields the
//! catalog uses.
//!
//! Unknown fields are ignored, except inside `karpenter_allocatable`, where a new
//! extended resource must not be dropped silently.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::{Arch, OnDemandSource};

/// `instance-types.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct InstanceTypesFile {
    pub(crate) meta: SourcesMeta,
    pub(crate) instance_types: Vec<SourceInstanceType>,
}

/// The `meta` of `instance-types.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct SourcesMeta {
    pub(crate) sources: BTreeMap<String, String>,
}

/// One row of `instance-types.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct SourceInstanceType {
    pub(crate) instance_type: String,
    pub(crate) family: String,
    pub(crate) category: String,
    pub(crate) generation: Option<u32>,
    pub(crate) size: String,
    pub(crate) vcpu: u32,
    pub(crate) memory_mib: u64,
    pub(crate) arch: Arch,
    pub(crate) cpu_manufacturer: Option<String>,
    pub(crate) gpu_count: u32,
    pub(crate) gpu_name: Option<String>,
    pub(crate) gpu_manufacturer: Option<String>,
    pub(crate) gpu_memory_mib: Option<u64>,
    pub(crate) accelerator_count: Option<u32>,
    pub(crate) accelerator_name: Option<String>,
    pub(crate) accelerator_manufacturer: Option<String>,
    pub(crate) local_nvme_gib: Option<u64>,
    pub(crate) network_bandwidth_mbps: Option<u64>,
    pub(crate) hypervisor: Option<String>,
    pub(crate) bare_metal: Option<bool>,
    pub(crate) max_pods_eni: Option<u32>,
    pub(crate) eks_ami_max_pods: Option<u32>,
    pub(crate) karpenter_allocatable: Option<SourceAllocatable>,
}

/// `karpenter_allocatable` of a row of `instance-types.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceAllocatable {
    pub(crate) cpu_millicores: u64,
    pub(crate) memory_mib: u64,
    pub(crate) pods: u32,
    pub(crate) ephemeral_storage_gib: f64,
    pub(crate) pod_eni: Option<u32>,
    pub(crate) efa: Option<u32>,
    pub(crate) nvidia_gpu: Option<u32>,
    pub(crate) amd_gpu: Option<u32>,
    pub(crate) neuron: Option<u32>,
    pub(crate) neuroncore: Option<u32>,
}

/// `prices-<region>.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct PricesFile {
    pub(crate) meta: PricesMeta,
    pub(crate) instance_types: Vec<SourcePrices>,
}

/// The `meta` of `prices-<region>.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct PricesMeta {
    pub(crate) region: String,
    pub(crate) az_ids_seen_in_spot_snapshot: Vec<String>,
    pub(crate) sources: BTreeMap<String, String>,
}

/// One row of `prices-<region>.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct SourcePrices {
    pub(crate) instance_type: String,
    pub(crate) on_demand_usd_per_hour: Option<f64>,
    pub(crate) on_demand_source: Option<OnDemandSource>,
    pub(crate) on_demand_2022_11_usd_per_hour: Option<f64>,
    pub(crate) spot_2022_07_12_usd_per_hour_by_az: BTreeMap<String, f64>,
    pub(crate) spot_2022_07_12_placement_score_by_az: BTreeMap<String, u8>,
    pub(crate) spot_advisor_2022_07: Option<SourceAdvisor>,
    pub(crate) spot_advisor_2025_06: Option<SourceAdvisor>,
}

/// A Spot Instance Advisor entry in `prices-<region>.json`.
#[derive(Debug, Deserialize)]
pub(crate) struct SourceAdvisor {
    pub(crate) savings_pct: u32,
    pub(crate) interruption_band: String,
}
