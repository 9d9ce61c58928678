//! What a node needs to join the cluster, found as Karpenter finds it: EKS `DescribeCluster`
//! gives the API endpoint, the CA bundle and the service CIDR (nodeadm's `NodeConfig` needs
//! all three). Each can be set instead (`--cluster-endpoint`, `--cluster-ca-bundle`,
//! `--service-cidr`); when all three are set, EKS is not called at all, so that a cluster
//! that is not EKS (or a role without `eks:DescribeCluster`) still works.

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::cluster::ClusterSettings;

/// The EKS operation this module calls, with the IAM action that allows it (checked against
/// `docs/iam-policy.json` with the EC2 ones).
pub const OPERATIONS: [(&str, &str); 1] = [("DescribeCluster", "eks:DescribeCluster")];

/// Values set by the user, which win over what EKS answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterOverrides {
    /// The API endpoint nodes join (`https://…`).
    pub endpoint: Option<String>,
    /// The cluster CA bundle, base64-encoded PEM.
    pub certificate_authority: Option<String>,
    /// The service CIDR.
    pub service_cidr: Option<String>,
}

impl ClusterOverrides {
    /// Whether every value is set (then EKS is not asked).
    pub fn is_complete(&self) -> bool {
        self.endpoint.is_some()
            && self.certificate_authority.is_some()
            && self.service_cidr.is_some()
    }
}

/// What `DescribeCluster` answered that nodes need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescribedCluster {
    /// `cluster.endpoint`.
    pub endpoint: Option<String>,
    /// `cluster.certificateAuthority.data`.
    pub certificate_authority: Option<String>,
    /// `cluster.kubernetesNetworkConfig.serviceIpv4Cidr` (else `serviceIpv6Cidr`).
    pub service_cidr: Option<String>,
}

/// Why the cluster's settings could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// EKS has no cluster of that name in the region.
    #[error(
        "failed to describe EKS cluster `{cluster}` in {region}: no such cluster; check --cluster-name (CLUSTER_NAME) and the region (AWS_REGION)"
    )]
    NotFound {
        /// The cluster name.
        cluster: String,
        /// The region asked.
        region: String,
    },
    /// The controller's role may not call `eks:DescribeCluster`.
    #[error(
        "failed to describe EKS cluster `{cluster}` in {region}: not permitted ({message}); allow eks:DescribeCluster on the cluster to the controller's role (see docs/iam-policy.json), or set --cluster-endpoint, --cluster-ca-bundle and --service-cidr"
    )]
    PermissionDenied {
        /// The cluster name.
        cluster: String,
        /// The region asked.
        region: String,
        /// What EKS said.
        message: String,
    },
    /// Any other failure of the call.
    #[error(
        "failed to describe EKS cluster `{cluster}` in {region}: {message}; set --cluster-endpoint, --cluster-ca-bundle and --service-cidr to start without it"
    )]
    Call {
        /// The cluster name.
        cluster: String,
        /// The region asked.
        region: String,
        /// What went wrong.
        message: String,
    },
    /// Neither the user nor EKS gave a value nodes need.
    #[error("EKS cluster `{cluster}` has no {field} in DescribeCluster's answer; set {flag}")]
    Missing {
        /// The cluster name.
        cluster: String,
        /// What is missing (`service CIDR`).
        field: &'static str,
        /// The flag (and variable) that sets it.
        flag: &'static str,
    },
}

/// The settings of cluster `name`: the overrides, completed from `DescribeCluster` when one
/// is missing. `kubernetes_version` is the API server's (`1.34`), which picks the AMIs.
pub async fn discover(
    eks: &aws_sdk_eks::Client,
    name: &str,
    overrides: &ClusterOverrides,
    kubernetes_version: &str,
) -> Result<ClusterSettings, DiscoveryError> {
    let described = if overrides.is_complete() {
        DescribedCluster::default()
    } else {
        describe(eks, name).await?
    };
    settings(name, overrides, &described, kubernetes_version)
}

/// Calls `DescribeCluster` for `name`.
pub async fn describe(
    eks: &aws_sdk_eks::Client,
    name: &str,
) -> Result<DescribedCluster, DiscoveryError> {
    let region = eks
        .config()
        .region()
        .map_or_else(|| "(no region)".to_string(), ToString::to_string);
    match eks.describe_cluster().name(name).send().await {
        Ok(answer) => {
            let cluster = answer.cluster();
            let network = cluster.and_then(|cluster| cluster.kubernetes_network_config());
            Ok(DescribedCluster {
                endpoint: cluster
                    .and_then(|cluster| cluster.endpoint())
                    .map(str::to_string),
                certificate_authority: cluster
                    .and_then(|cluster| cluster.certificate_authority())
                    .and_then(|authority| authority.data())
                    .map(str::to_string),
                service_cidr: network
                    .and_then(|network| network.service_ipv4_cidr())
                    .or_else(|| network.and_then(|network| network.service_ipv6_cidr()))
                    .map(str::to_string),
            })
        }
        Err(error) => {
            let message = error
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| DisplayErrorContext(&error).to_string());
            Err(match error.code() {
                Some("ResourceNotFoundException") => DiscoveryError::NotFound {
                    cluster: name.to_string(),
                    region,
                },
                Some("AccessDeniedException" | "UnauthorizedOperation" | "AccessDenied") => {
                    DiscoveryError::PermissionDenied {
                        cluster: name.to_string(),
                        region,
                        message,
                    }
                }
                _ => DiscoveryError::Call {
                    cluster: name.to_string(),
                    region,
                    message,
                },
            })
        }
    }
}

/// The settings from the overrides, then what EKS answered; an empty value counts as
/// missing.
pub fn settings(
    name: &str,
    overrides: &ClusterOverrides,
    described: &DescribedCluster,
    kubernetes_version: &str,
) -> Result<ClusterSettings, DiscoveryError> {
    let pick = |own: &Option<String>,
                answered: &Option<String>,
                field: &'static str,
                flag: &'static str| {
        own.iter()
            .chain(answered)
            .map(|value| value.trim())
            .find(|value| !value.is_empty())
            .map(str::to_string)
            .ok_or_else(|| DiscoveryError::Missing {
                cluster: name.to_string(),
                field,
                flag,
            })
    };
    let endpoint = pick(
        &overrides.endpoint,
        &described.endpoint,
        "endpoint",
        "--cluster-endpoint (CLUSTER_ENDPOINT)",
    )?;
    let certificate_authority = pick(
        &overrides.certificate_authority,
        &described.certificate_authority,
        "certificate authority",
        "--cluster-ca-bundle (CLUSTER_CA_BUNDLE)",
    )?;
    let service_cidr = pick(
        &overrides.service_cidr,
        &described.service_cidr,
        "service CIDR",
        "--service-cidr (SERVICE_CIDR)",
    )?;
    Ok(ClusterSettings::new(
        name,
        endpoint,
        certificate_authority,
        service_cidr,
        kubernetes_version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    #[test]
    fn overrides_win_and_eks_fills_the_rest() {
        let described = DescribedCluster {
            endpoint: some("https://eks.example"),
            certificate_authority: some("RUtT"),
            service_cidr: some("172.20.0.0/16"),
        };
        let cases = [
            (
                ClusterOverrides::default(),
                Ok(("https://eks.example", "RUtT", "172.20.0.0/16")),
            ),
            (
                ClusterOverrides {
                    endpoint: some("https://private.example"),
                    ..ClusterOverrides::default()
                },
                Ok(("https://private.example", "RUtT", "172.20.0.0/16")),
            ),
            (
                ClusterOverrides {
                    service_cidr: some(" "),
                    certificate_authority: some("T1dO"),
                    ..ClusterOverrides::default()
                },
                Ok(("https://eks.example", "T1dO", "172.20.0.0/16")),
            ),
        ];
        for (overrides, expected) in cases {
            let settings = settings("seed", &overrides, &described, "1.34").map(|settings| {
                (
                    settings.endpoint,
                    settings.certificate_authority,
                    settings.service_cidr,
                )
            });
            let expected = expected.map(|(endpoint, authority, cidr): (&str, &str, &str)| {
                (
                    endpoint.to_string(),
                    authority.to_string(),
                    cidr.to_string(),
                )
            });
            assert_eq!(settings, expected, "{overrides:?}");
        }
    }

    #[test]
    fn a_value_nobody_gives_names_the_flag_that_sets_it() {
        let described = DescribedCluster {
            endpoint: some("https://eks.example"),
            certificate_authority: some("RUtT"),
            service_cidr: None,
        };
        let error = settings("seed", &ClusterOverrides::default(), &described, "1.34")
            .expect_err("no service CIDR");
        assert_eq!(
            error,
            DiscoveryError::Missing {
                cluster: "seed".to_string(),
                field: "service CIDR",
                flag: "--service-cidr (SERVICE_CIDR)",
            }
        );
        assert!(error.to_string().contains("--service-cidr"), "{error}");
    }

    #[test]
    fn complete_overrides_need_no_call() {
        let overrides = ClusterOverrides {
            endpoint: some("https://a"),
            certificate_authority: some("b"),
            service_cidr: some("10.100.0.0/16"),
        };
        assert!(overrides.is_complete());
        assert!(!ClusterOverrides::default().is_complete());
    }
}
