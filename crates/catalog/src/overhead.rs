//! Karpenter's default node overheads, used to compute allocatable resources
//! for the instance types that Karpenter's docs do not list.
//!
//! The formulas reproduce every allocatable value in Karpenter's instance-type
//! docs (AL2023, no blockDeviceMappings, default kube-reserved and eviction
//! thresholds); the generator re-checks that on every run and records the result
//! in [`crate::Meta::allocatable_check`].

use crate::model::{Allocatable, Arch};

/// The kubelet's default `--max-pods`, used when no source gives a limit.
pub const KUBELET_DEFAULT_MAX_PODS: u32 = 110;

/// Karpenter's default `evictionHard` `memory.available` threshold, MiB.
pub const EVICTION_THRESHOLD_MEMORY_MIB: u64 = 100;

/// Karpenter's default VM memory overhead, per mille of the instance memory
/// (`vmMemoryOverheadPercent` = 0.075).
pub const VM_MEMORY_OVERHEAD_PER_MILLE: u64 = 75;

/// Memory that Karpenter's docs subtract on every arm64 type in addition to the
/// formula, MiB. Found in the data: all 396 arm64 types differ by exactly this
/// amount and all 967 amd64 types match without it.
pub const ARM64_EXTRA_MEMORY_MIB: u64 = 59;

/// Allocatable ephemeral storage on Karpenter's default 20 GiB AL2023 root
/// volume after its kube-reserved (1 GiB) and eviction (10 %) overheads, GiB.
pub const EPHEMERAL_STORAGE_GIB: f64 = 17.0;

/// Allocatable resources of an instance type with Karpenter's defaults:
/// capacity less VM overhead, kube-reserved and the eviction threshold.
/// Extended resources (GPUs, accelerators, EFA, pod ENIs) are left unset.
pub fn estimate_allocatable(vcpu: u32, memory_mib: u64, max_pods: u32, arch: Arch) -> Allocatable {
    let cpu_millicores = u64::from(vcpu) * 1000;
    let memory_capacity_mib = memory_mib - vm_memory_overhead_mib(memory_mib);
    let arch_extra_mib = match arch {
        Arch::Amd64 => 0,
        Arch::Arm64 => ARM64_EXTRA_MEMORY_MIB,
    };
    let reserved_memory_mib =
        kube_reserved_memory_mib(max_pods) + EVICTION_THRESHOLD_MEMORY_MIB + arch_extra_mib;
    Allocatable {
        cpu_millicores: cpu_millicores - kube_reserved_cpu_millicores(vcpu),
        memory_mib: memory_capacity_mib.saturating_sub(reserved_memory_mib),
        pods: max_pods,
        ephemeral_storage_gib: EPHEMERAL_STORAGE_GIB,
        nvidia_gpu: None,
        amd_gpu: None,
        neuron: None,
        neuroncore: None,
        efa: None,
        pod_eni: None,
    }
}

/// Karpenter's kube-reserved CPU: 6 % of the first core, 1 % of the second,
/// 0.5 % of cores 3–4 and 0.25 % of the rest, each range truncated to whole
/// millicores.
pub fn kube_reserved_cpu_millicores(vcpu: u32) -> u64 {
    let millicores = u64::from(vcpu) * 1000;
    // (start, end, parts per ten thousand)
    let ranges: [(u64, u64, u64); 4] = [
        (0, 1000, 600),
        (1000, 2000, 100),
        (2000, 4000, 50),
        (4000, u64::MAX, 25),
    ];
    ranges
        .iter()
        .filter(|(start, _, _)| millicores >= *start)
        .map(|(start, end, parts)| (millicores.min(*end) - start) * parts / 10_000)
        .sum()
}

/// Karpenter's kube-reserved memory: 11 MiB per pod plus 255 MiB.
pub fn kube_reserved_memory_mib(max_pods: u32) -> u64 {
    11 * u64::from(max_pods) + 255
}

/// The memory the hypervisor keeps: 7.5 % of the instance memory, rounded up
/// (so the capacity is `memory_mib × 0.925` rounded down).
pub fn vm_memory_overhead_mib(memory_mib: u64) -> u64 {
    (memory_mib * VM_MEMORY_OVERHEAD_PER_MILLE).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, vcpu, memory MiB, pods, arch, Karpenter docs cpu m, memory MiB),
    /// copied from the source data's `karpenter_allocatable`.
    const DOCUMENTED: [(&str, u32, u64, u32, Arch, u64, u64); 5] = [
        ("m5.large", 2, 8192, 29, Arch::Amd64, 1930, 6903),
        ("c5.xlarge", 4, 8192, 58, Arch::Amd64, 3920, 6584),
        ("c5.18xlarge", 72, 147_456, 737, Arch::Amd64, 71750, 127_934),
        ("a1.2xlarge", 8, 16384, 58, Arch::Arm64, 7910, 14103),
        ("m7g.metal", 64, 262_144, 737, Arch::Arm64, 63770, 233_962),
    ];

    #[test]
    fn reproduces_karpenter_documented_allocatable() {
        for (name, vcpu, memory_mib, pods, arch, cpu, memory) in DOCUMENTED {
            let allocatable = estimate_allocatable(vcpu, memory_mib, pods, arch);
            assert_eq!(allocatable.cpu_millicores, cpu, "{name} cpu");
            assert_eq!(allocatable.memory_mib, memory, "{name} memory");
            assert_eq!(allocatable.pods, pods, "{name} pods");
            assert_eq!(allocatable.ephemeral_storage_gib, 17.0, "{name} storage");
        }
    }

    #[test]
    fn cpu_reservation_ranges() {
        assert_eq!(kube_reserved_cpu_millicores(1), 60);
        assert_eq!(kube_reserved_cpu_millicores(2), 70);
        assert_eq!(kube_reserved_cpu_millicores(4), 80);
        assert_eq!(kube_reserved_cpu_millicores(5), 82);
        assert_eq!(kube_reserved_cpu_millicores(8), 90);
    }

    #[test]
    fn vm_overhead_rounds_capacity_down() {
        // 8192 × 0.925 = 7577.6 → capacity 7577.
        assert_eq!(8192 - vm_memory_overhead_mib(8192), 7577);
    }
}
