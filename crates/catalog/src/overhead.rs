//! Karpenter's default node overheads, used to compute allocatable resources
//! for the instance types that Karpenter's docs do not list.
//!
//! The formulas reproduce every allocatable value in Karpenter's instance-type
//! docs (AL2023, no blockDeviceMappings, default kube-reserved and eviction
//! thresholds); the generator re-checks that on every run and records the result
//! in [`crate::Meta::allocatable_check`].

use spotter_core::overhead;

use crate::model::{Allocatable, Arch};

/// The kubelet's default `--max-pods`, used when no source gives a limit.
pub const KUBELET_DEFAULT_MAX_PODS: u32 = 110;

/// Allocatable resources of an instance type with Karpenter's defaults (the formulas live in
/// [`spotter_core::overhead`]). Extended resources (GPUs, accelerators, EFA, pod ENIs) are
/// left unset.
pub fn estimate_allocatable(vcpu: u32, memory_mib: u64, max_pods: u32, arch: Arch) -> Allocatable {
    Allocatable {
        cpu_millicores: overhead::allocatable_cpu_millicores(vcpu),
        memory_mib: overhead::allocatable_memory_mib(memory_mib, max_pods, arch == Arch::Arm64),
        pods: max_pods,
        ephemeral_storage_gib: overhead::EPHEMERAL_STORAGE_GIB as f64,
        nvidia_gpu: None,
        amd_gpu: None,
        neuron: None,
        neuroncore: None,
        efa: None,
        pod_eni: None,
    }
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
}
