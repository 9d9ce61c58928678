//! The well-known node labels of Karpenter v1 and its AWS provider, the normalisation of the
//! deprecated beta aliases to their stable keys, and the rules for which label keys a NodePool
//! may set (restricted domains).

/// `karpenter.sh/nodepool`: the NodePool a node belongs to.
pub const NODE_POOL: &str = "karpenter.sh/nodepool";
/// `karpenter.sh/capacity-type`: `spot`, `on-demand` or `reserved`.
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// `topology.kubernetes.io/zone`.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// `topology.kubernetes.io/region`.
pub const REGION: &str = "topology.kubernetes.io/region";
/// `topology.k8s.aws/zone-id`.
pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
/// `node.kubernetes.io/instance-type`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// `kubernetes.io/arch`.
pub const ARCH: &str = "kubernetes.io/arch";
/// `kubernetes.io/os`.
pub const OS: &str = "kubernetes.io/os";
/// `node.kubernetes.io/windows-build`.
pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
/// `kubernetes.io/hostname`: restricted, set by the kubelet.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// `karpenter.k8s.aws/ec2nodeclass`.
pub const EC2_NODE_CLASS: &str = "karpenter.k8s.aws/ec2nodeclass";

/// `karpenter.k8s.aws/instance-category` (`m`, `c`, `r`, ...).
pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
/// `karpenter.k8s.aws/instance-family` (`m5`, ...).
pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
/// `karpenter.k8s.aws/instance-generation` (`5`, ...).
pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
/// `karpenter.k8s.aws/instance-size` (`large`, ...).
pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
/// `karpenter.k8s.aws/instance-cpu`: vCPUs.
pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
/// `karpenter.k8s.aws/instance-cpu-manufacturer`.
pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
/// `karpenter.k8s.aws/instance-memory`: MiB.
pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
/// `karpenter.k8s.aws/instance-network-bandwidth`: Mbps.
pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
/// `karpenter.k8s.aws/instance-hypervisor`.
pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
/// `karpenter.k8s.aws/instance-gpu-name`.
pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
/// `karpenter.k8s.aws/instance-gpu-manufacturer`.
pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
/// `karpenter.k8s.aws/instance-gpu-count`.
pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
/// `karpenter.k8s.aws/instance-gpu-memory`: MiB.
pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
/// `karpenter.k8s.aws/instance-local-nvme`: GiB.
pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";

/// Capacity type values.
pub mod capacity_type {
    /// Spot capacity.
    pub const SPOT: &str = "spot";
    /// On-demand capacity.
    pub const ON_DEMAND: &str = "on-demand";
    /// Reserved capacity (capacity reservations).
    pub const RESERVED: &str = "reserved";
}

/// Every well-known label: a pod may select on these even when a NodePool does not name them
/// (their values come from the instance types and offerings).
pub const WELL_KNOWN: &[&str] = &[
    NODE_POOL,
    CAPACITY_TYPE,
    ZONE,
    REGION,
    ZONE_ID,
    INSTANCE_TYPE,
    ARCH,
    OS,
    WINDOWS_BUILD,
    EC2_NODE_CLASS,
    INSTANCE_CATEGORY,
    INSTANCE_FAMILY,
    INSTANCE_GENERATION,
    INSTANCE_SIZE,
    INSTANCE_CPU,
    INSTANCE_CPU_MANUFACTURER,
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    INSTANCE_MEMORY,
    "karpenter.k8s.aws/instance-ebs-bandwidth",
    INSTANCE_NETWORK_BANDWIDTH,
    INSTANCE_HYPERVISOR,
    "karpenter.k8s.aws/instance-encryption-in-transit-supported",
    INSTANCE_LOCAL_NVME,
    INSTANCE_GPU_NAME,
    INSTANCE_GPU_MANUFACTURER,
    INSTANCE_GPU_COUNT,
    INSTANCE_GPU_MEMORY,
    "karpenter.k8s.aws/instance-accelerator-name",
    "karpenter.k8s.aws/instance-accelerator-manufacturer",
    "karpenter.k8s.aws/instance-accelerator-count",
    "karpenter.k8s.aws/instance-capability-flex",
    "karpenter.k8s.aws/instance-tenancy",
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-type",
    "karpenter.k8s.aws/capacity-reservation-interruptible",
    "karpenter.k8s.aws/placement-group-id",
    "karpenter.k8s.aws/placement-group-partition",
];

/// Domains whose labels only Karpenter (or the kubelet) may set, except the well-known labels
/// and the exception domains below.
pub const RESTRICTED_DOMAINS: &[&str] = &[
    "kubernetes.io",
    "k8s.io",
    "karpenter.sh",
    "karpenter.k8s.aws",
];

/// Subdomains of restricted domains that users may set labels in.
pub const EXCEPTED_DOMAINS: &[&str] = &[
    "node.kubernetes.io",
    "node-restriction.kubernetes.io",
    "kops.k8s.io",
];

/// Labels no NodePool may set or require, whatever their domain.
pub const RESTRICTED_LABELS: &[&str] = &[NODE_POOL, HOSTNAME];

/// Whether `key` is a well-known label.
pub fn is_well_known(key: &str) -> bool {
    WELL_KNOWN.contains(&key)
}

/// Maps a deprecated alias (`beta.kubernetes.io/arch`, `failure-domain.beta.kubernetes.io/zone`,
/// ...) to its stable key; any other key is returned unchanged.
pub fn normalize(key: &str) -> &str {
    match key {
        "failure-domain.beta.kubernetes.io/zone" | "topology.ebs.csi.aws.com/zone" => ZONE,
        "failure-domain.beta.kubernetes.io/region" => REGION,
        "beta.kubernetes.io/arch" => ARCH,
        "beta.kubernetes.io/os" => OS,
        "beta.kubernetes.io/instance-type" => INSTANCE_TYPE,
        other => other,
    }
}

/// Why a NodePool may not use a label key, or `None` when it may.
pub fn restriction(key: &str) -> Option<String> {
    let key = normalize(key);
    if RESTRICTED_LABELS.contains(&key) {
        return Some(format!(
            "label {key:?} is restricted: it is set by Karpenter or the kubelet"
        ));
    }
    if is_well_known(key) {
        return None;
    }
    let domain = key.split_once('/').map(|(domain, _)| domain)?;
    let in_domain = |parent: &str| domain == parent || domain.ends_with(&format!(".{parent}"));
    if EXCEPTED_DOMAINS.iter().any(|excepted| in_domain(excepted)) {
        return None;
    }
    RESTRICTED_DOMAINS
        .iter()
        .find(|restricted| in_domain(restricted))
        .map(|restricted| {
            format!("label domain {restricted:?} is restricted: {key:?} is not a well-known label")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_beta_aliases() {
        let cases = [
            ("failure-domain.beta.kubernetes.io/zone", ZONE),
            ("beta.kubernetes.io/arch", ARCH),
            ("beta.kubernetes.io/os", OS),
            ("beta.kubernetes.io/instance-type", INSTANCE_TYPE),
            ("failure-domain.beta.kubernetes.io/region", REGION),
            ("team", "team"),
        ];
        for (alias, stable) in cases {
            assert_eq!(normalize(alias), stable);
        }
    }

    #[test]
    fn restricts_karpenter_and_kubernetes_domains() {
        let cases = [
            (NODE_POOL, true),
            (HOSTNAME, true),
            ("karpenter.sh/custom", true),
            ("karpenter.k8s.aws/whatever", true),
            ("kubernetes.io/made-up", true),
            ("sub.k8s.io/x", true),
            (CAPACITY_TYPE, false),
            (INSTANCE_FAMILY, false),
            ("node.kubernetes.io/lifecycle", false),
            ("kops.k8s.io/instancegroup", false),
            ("team", false),
            ("example.com/team", false),
        ];
        for (key, restricted) in cases {
            assert_eq!(restriction(key).is_some(), restricted, "{key}");
        }
    }
}
