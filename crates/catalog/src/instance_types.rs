//! The embedded catalog as the core sees it: one [`spotter_core::instance_type::InstanceType`]
//! per type offered in a region, labelled with Karpenter's well-known labels, with on-demand
//! offerings in every zone and Spot offerings in the zones that have a Spot price.

use std::collections::BTreeMap;

use spotter_core::instance_type::InstanceType;
use spotter_core::labels;
use spotter_core::offering::{CapacityType, Offering};
use spotter_core::requirements::Requirement;
use spotter_core::resources::Resources;

use crate::model::{Arch, InstanceTypeSpec, Region, RegionalPrices};

const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;

/// Every instance type of `region`, all offerings available.
pub fn instance_types(region: &Region) -> Vec<InstanceType> {
    region
        .offerings()
        .map(|(spec, prices)| instance_type(region, spec, prices))
        .collect()
}

fn instance_type(
    region: &Region,
    spec: &InstanceTypeSpec,
    prices: &RegionalPrices,
) -> InstanceType {
    let mut node_labels = BTreeMap::new();
    let mut label = |key: &str, value: String| {
        node_labels.insert(key.to_string(), value);
    };
    label(
        labels::ARCH,
        match spec.arch {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
        .to_string(),
    );
    label(labels::OS, "linux".to_string());
    label(labels::REGION, region.name.clone());
    label(labels::INSTANCE_CATEGORY, spec.category.clone());
    label(labels::INSTANCE_FAMILY, spec.family.clone());
    if let Some(generation) = spec.generation {
        label(labels::INSTANCE_GENERATION, generation.to_string());
    }
    label(labels::INSTANCE_SIZE, spec.size.clone());
    label(labels::INSTANCE_CPU, spec.vcpu.to_string());
    label(labels::INSTANCE_MEMORY, spec.memory_mib.to_string());
    if let Some(manufacturer) = &spec.cpu_manufacturer {
        label(labels::INSTANCE_CPU_MANUFACTURER, manufacturer.clone());
    }
    if let Some(hypervisor) = &spec.hypervisor {
        label(labels::INSTANCE_HYPERVISOR, hypervisor.clone());
    }
    if let Some(bandwidth) = spec.network_bandwidth_mbps {
        label(labels::INSTANCE_NETWORK_BANDWIDTH, bandwidth.to_string());
    }
    if let Some(nvme) = spec.local_nvme_gib {
        label(labels::INSTANCE_LOCAL_NVME, nvme.to_string());
    }
    if spec.gpu_count > 0 {
        label(labels::INSTANCE_GPU_COUNT, spec.gpu_count.to_string());
        if let Some(name) = &spec.gpu_name {
            label(labels::INSTANCE_GPU_NAME, name.clone());
        }
        if let Some(manufacturer) = &spec.gpu_manufacturer {
            label(labels::INSTANCE_GPU_MANUFACTURER, manufacturer.clone());
        }
        if let Some(memory) = spec.gpu_memory_mib {
            label(labels::INSTANCE_GPU_MEMORY, memory.to_string());
        }
    }

    let mut extended = Vec::new();
    let allocatable = &spec.allocatable;
    for (name, value) in [
        ("amazon.com/neuron", allocatable.neuron),
        ("amazon.com/neuroncore", allocatable.neuroncore),
        ("amd.com/gpu", allocatable.amd_gpu),
        ("nvidia.com/gpu", allocatable.nvidia_gpu),
        ("vpc.amazonaws.com/efa", allocatable.efa),
        ("vpc.amazonaws.com/pod-eni", allocatable.pod_eni),
    ] {
        if let Some(value) = value.filter(|value| *value > 0) {
            extended.push((name.to_string(), i64::from(value)));
        }
    }
    let ephemeral_storage_bytes = (allocatable.ephemeral_storage_gib * GIB as f64) as i64;
    let capacity = Resources {
        cpu_millicores: i64::from(spec.vcpu) * 1000,
        memory_bytes: spec.memory_mib as i64 * MIB,
        pods: i64::from(spec.max_pods),
        ephemeral_storage_bytes: 20 * GIB,
        extended: extended.clone(),
    };
    let allocatable = Resources {
        cpu_millicores: allocatable.cpu_millicores as i64,
        memory_bytes: allocatable.memory_mib as i64 * MIB,
        pods: i64::from(allocatable.pods),
        ephemeral_storage_bytes,
        extended,
    };

    let band = prices
        .interruption
        .as_ref()
        .map(|interruption| interruption.band_index);
    let mut offerings = Vec::new();
    for zone in &region.zones {
        if let Some(spot) = prices.spot_price(&zone.name) {
            offerings.push(Offering {
                capacity_type: CapacityType::Spot,
                zone: zone.name.clone(),
                zone_id: Some(zone.id.clone()),
                price_per_hour: spot.usd_per_hour,
                price_estimated: spot.estimated,
                available: true,
                interruption_band: band,
            });
        }
        offerings.push(Offering {
            capacity_type: CapacityType::OnDemand,
            zone: zone.name.clone(),
            zone_id: Some(zone.id.clone()),
            price_per_hour: prices.on_demand.usd_per_hour,
            price_estimated: prices.on_demand.estimated,
            available: true,
            interruption_band: None,
        });
    }
    let mut instance_type = InstanceType::new(
        spec.name.clone(),
        node_labels,
        capacity,
        allocatable,
        offerings,
    );
    // Keys a type does not have are DoesNotExist, so that a pod asking for a GPU never lands on
    // a type without one.
    for key in [
        labels::INSTANCE_GPU_COUNT,
        labels::INSTANCE_GPU_NAME,
        labels::INSTANCE_GPU_MANUFACTURER,
        labels::INSTANCE_GPU_MEMORY,
        labels::INSTANCE_LOCAL_NVME,
    ] {
        if !instance_type.requirements.has_key(key) {
            instance_type
                .requirements
                .add(key, Requirement::does_not_exist());
        }
    }
    instance_type
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_core::requirements::Requirements;

    #[test]
    fn converts_m5_large_in_seoul() {
        let Ok(region) = crate::embedded().region("ap-northeast-2") else {
            panic!("ap-northeast-2 is embedded");
        };
        let types = instance_types(region);
        let Some(m5_large) = types
            .iter()
            .find(|instance_type| instance_type.name == "m5.large")
        else {
            panic!("m5.large is offered in Seoul");
        };
        assert_eq!(m5_large.capacity.cpu_millicores, 2000);
        assert_eq!(m5_large.allocatable.cpu_millicores, 1930);
        assert_eq!(m5_large.allocatable.pods, 29);
        assert!(m5_large.requirements.allows(labels::INSTANCE_FAMILY, "m5"));
        assert!(
            m5_large
                .requirements
                .allows(labels::ZONE, "ap-northeast-2a")
        );
        assert!(
            !m5_large
                .requirements
                .allows(labels::INSTANCE_GPU_NAME, "t4")
        );
        let spot = Requirements::from_labels(&BTreeMap::from([(
            labels::CAPACITY_TYPE.to_string(),
            "spot".to_string(),
        )]));
        let cheapest_spot = m5_large.cheapest_offering(&spot);
        assert!(cheapest_spot.is_some_and(|offering| offering.price_per_hour < 0.118));
        assert_eq!(
            m5_large
                .offerings
                .iter()
                .filter(|offering| offering.capacity_type == CapacityType::OnDemand)
                .count(),
            region.zones.len()
        );
    }
}
