//! What the AWS provider must know of the cluster it launches nodes for: its name (tags,
//! user data), API endpoint, CA and service CIDR (nodeadm), Kubernetes version (the AMI
//! parameters), and where the EKS-optimized AMI parameters live in SSM.

/// The SSM path under which EKS publishes its optimized AMI IDs.
pub const DEFAULT_AMI_PARAMETER_PREFIX: &str = "/aws/service/eks/optimized-ami";

/// The cluster the provider serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The EKS cluster name (tags `kubernetes.io/cluster/<name>`, `eks:eks-cluster-name`).
    pub name: String,
    /// The API server endpoint (`https://…`).
    pub endpoint: String,
    /// The cluster CA bundle, base64-encoded (as EKS's DescribeCluster answers it).
    pub certificate_authority: String,
    /// The service CIDR (`10.100.0.0/16`).
    pub service_cidr: String,
    /// The Kubernetes minor version (`1.34`), which picks the AMI parameters.
    pub kubernetes_version: String,
    /// The SSM path prefix of the AMI parameters ([`DEFAULT_AMI_PARAMETER_PREFIX`]).
    pub ami_parameter_prefix: String,
}

impl ClusterSettings {
    /// Settings with the default AMI parameter prefix.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        certificate_authority: impl Into<String>,
        service_cidr: impl Into<String>,
        kubernetes_version: impl Into<String>,
    ) -> Self {
        ClusterSettings {
            name: name.into(),
            endpoint: endpoint.into(),
            certificate_authority: certificate_authority.into(),
            service_cidr: service_cidr.into(),
            kubernetes_version: kubernetes_version.into(),
            ami_parameter_prefix: DEFAULT_AMI_PARAMETER_PREFIX.to_string(),
        }
    }

    /// The tag key every resource Spotter creates for this cluster carries (value `owned`).
    pub fn cluster_tag_key(&self) -> String {
        format!("kubernetes.io/cluster/{}", self.name)
    }
}
