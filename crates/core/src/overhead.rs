//! Karpenter's default node overhead (AL2023, no blockDeviceMappings, default kube-reserved and
//! eviction thresholds): what a node keeps for the kubelet, the system and the hypervisor, and
//! so what stays allocatable for pods. These formulas reproduce every allocatable value in
//! Karpenter's instance-type documentation (the catalog generator checks that on every run).

use crate::resources::Resources;

/// Karpenter's default `evictionHard` `memory.available` threshold, MiB.
pub const EVICTION_THRESHOLD_MEMORY_MIB: u64 = 100;

/// The memory the hypervisor keeps, per mille of the instance memory (0.075).
pub const VM_MEMORY_OVERHEAD_PER_MILLE: u64 = 75;

/// Memory Karpenter's documentation subtracts on every arm64 type beyond the formula, MiB
/// (all 396 documented arm64 types differ by exactly this; all 967 amd64 types match).
pub const ARM64_EXTRA_MEMORY_MIB: u64 = 59;

/// Allocatable ephemeral storage on Karpenter's default 20 GiB root volume, GiB.
pub const EPHEMERAL_STORAGE_GIB: u64 = 17;

/// Kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4 and
/// 0.25 % of the rest, each range truncated to whole millicores.
pub fn kube_reserved_cpu_millicores(vcpus: u32) -> u64 {
    let millicores = u64::from(vcpus) * 1000;
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

/// Kube-reserved memory: 11 MiB per pod plus 255 MiB.
pub fn kube_reserved_memory_mib(max_pods: u32) -> u64 {
    11 * u64::from(max_pods) + 255
}

/// The memory the hypervisor keeps: 7.5 % of the instance memory, rounded up.
pub fn vm_memory_overhead_mib(memory_mib: u64) -> u64 {
    (memory_mib * VM_MEMORY_OVERHEAD_PER_MILLE).div_ceil(1000)
}

/// Allocatable CPU in millicores.
pub fn allocatable_cpu_millicores(vcpus: u32) -> u64 {
    u64::from(vcpus) * 1000 - kube_reserved_cpu_millicores(vcpus)
}

/// Allocatable memory in MiB.
pub fn allocatable_memory_mib(memory_mib: u64, max_pods: u32, arm64: bool) -> u64 {
    let reserved = kube_reserved_memory_mib(max_pods)
        + EVICTION_THRESHOLD_MEMORY_MIB
        + if arm64 { ARM64_EXTRA_MEMORY_MIB } else { 0 };
    (memory_mib - vm_memory_overhead_mib(memory_mib)).saturating_sub(reserved)
}

/// The allocatable resources of a machine of `vcpus`, `memory_mib` and `max_pods`.
pub fn karpenter_allocatable(vcpus: u32, memory_mib: u64, max_pods: u32, arm64: bool) -> Resources {
    const MIB: i64 = 1 << 20;
    Resources {
        cpu_millicores: allocatable_cpu_millicores(vcpus) as i64,
        memory_bytes: allocatable_memory_mib(memory_mib, max_pods, arm64) as i64 * MIB,
        pods: i64::from(max_pods),
        ephemeral_storage_bytes: EPHEMERAL_STORAGE_GIB as i64 * 1024 * MIB,
        extended: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_karpenter_documented_allocatable() {
        // (vcpus, memory MiB, pods, arm64, documented cpu millicores, memory MiB)
        let documented = [
            (2, 8192, 29, false, 1930, 6903),
            (4, 8192, 58, false, 3920, 6584),
            (72, 147_456, 737, false, 71750, 127_934),
            (8, 16384, 58, true, 7910, 14103),
            (96, 393_216, 737, false, 95690, 355_262),
        ];
        for (vcpus, memory, pods, arm64, cpu, allocatable_memory) in documented {
            let allocatable = karpenter_allocatable(vcpus, memory, pods, arm64);
            assert_eq!(allocatable.cpu_millicores, cpu, "{vcpus} vCPU");
            assert_eq!(
                allocatable.memory_bytes >> 20,
                allocatable_memory,
                "{memory} MiB"
            );
            assert_eq!(allocatable.pods, i64::from(pods));
        }
    }

    #[test]
    fn cpu_reservation_ranges_truncate() {
        let cases = [(1, 60), (2, 70), (4, 80), (5, 82), (8, 90)];
        for (vcpus, reserved) in cases {
            assert_eq!(kube_reserved_cpu_millicores(vcpus), reserved, "{vcpus}");
        }
    }
}
