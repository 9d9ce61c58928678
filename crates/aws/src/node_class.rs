//! EC2NodeClass resolution: the selector terms of a spec become concrete subnets, security
//! groups and AMIs (through DescribeSubnets, DescribeSecurityGroups, DescribeImages and the
//! SSM parameters of `alias` terms), with the instance profile, block devices, metadata
//! options and tags settled, into a [`ResolvedNodeClass`]. A selector that matches nothing is
//! an error that names it.

use std::collections::BTreeMap;

use crate::cluster::ClusterSettings;
use crate::ec2::{BlockDevice, Ec2, Ec2Error, Filter, MetadataOptions, Subnet, Tags};
use crate::instance_profile::{ensure_instance_profile, instance_profile_name};
use crate::node_class_spec::{
    AmiSelectorTerm, Ec2NodeClassSpec, SecurityGroupSelectorTerm, SubnetSelectorTerm,
};

/// A CPU architecture an AMI is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Architecture {
    /// x86_64.
    Amd64,
    /// arm64 (Graviton).
    Arm64,
}

impl Architecture {
    /// From EC2's name (`x86_64`, `arm64`).
    pub fn from_ec2(name: &str) -> Option<Self> {
        match name {
            "x86_64" | "x86_64_mac" => Some(Architecture::Amd64),
            "arm64" | "arm64_mac" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    /// EC2's name (`x86_64`, `arm64`).
    pub fn ec2_name(self) -> &'static str {
        match self {
            Architecture::Amd64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// An AMI a node class launches, per architecture.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResolvedAmi {
    /// `ami-…`.
    pub id: String,
    /// Its architecture.
    pub architecture: Architecture,
}

/// An EC2NodeClass with every selector resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedNodeClass {
    /// The EC2NodeClass name.
    pub name: String,
    /// Subnets, sorted by zone then most free addresses first.
    pub subnets: Vec<Subnet>,
    /// Security group IDs, sorted.
    pub security_group_ids: Vec<String>,
    /// One AMI per architecture, sorted by architecture.
    pub amis: Vec<ResolvedAmi>,
    /// The instance profile.
    pub instance_profile: String,
    /// The node class's own user data.
    pub user_data: Option<String>,
    /// Block devices.
    pub block_devices: Vec<BlockDevice>,
    /// Metadata options.
    pub metadata: MetadataOptions,
    /// Detailed monitoring.
    pub detailed_monitoring: bool,
    /// The node class's tags.
    pub tags: Tags,
}

impl ResolvedNodeClass {
    /// The subnets in `zone`, most free addresses first.
    pub fn subnets_in<'a>(&'a self, zone: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets
            .iter()
            .filter(move |subnet| subnet.zone == zone)
    }

    /// The AMI for `architecture`, if the node class has one.
    pub fn ami(&self, architecture: Architecture) -> Option<&ResolvedAmi> {
        self.amis
            .iter()
            .find(|ami| ami.architecture == architecture)
    }
}

/// Why a node class could not be resolved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NodeClassError {
    /// No subnet matched any term.
    #[error(
        "failed to resolve EC2NodeClass {node_class}: subnetSelectorTerms {terms} matched no subnet; tag the subnets or fix the terms"
    )]
    NoSubnets {
        /// The node class.
        node_class: String,
        /// The terms, as written.
        terms: String,
    },
    /// No security group matched any term.
    #[error(
        "failed to resolve EC2NodeClass {node_class}: securityGroupSelectorTerms {terms} matched no security group; tag the groups or fix the terms"
    )]
    NoSecurityGroups {
        /// The node class.
        node_class: String,
        /// The terms, as written.
        terms: String,
    },
    /// No AMI matched any term.
    #[error(
        "failed to resolve EC2NodeClass {node_class}: amiSelectorTerms {terms} matched no AMI{detail}"
    )]
    NoAmis {
        /// The node class.
        node_class: String,
        /// The terms, as written.
        terms: String,
        /// What was looked up.
        detail: String,
    },
    /// A field is invalid.
    #[error("failed to resolve EC2NodeClass {node_class}: {field}: {reason}")]
    InvalidField {
        /// The node class.
        node_class: String,
        /// The field (`amiSelectorTerms[0].alias`).
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A call failed.
    #[error("failed to resolve EC2NodeClass {node_class}: {source}")]
    Call {
        /// The node class.
        node_class: String,
        /// The failed call.
        source: Ec2Error,
    },
}

/// Resolves the node class `name` with `spec` for `cluster`.
pub async fn resolve<E: Ec2>(
    ec2: &E,
    cluster: &ClusterSettings,
    region: &str,
    name: &str,
    spec: &Ec2NodeClassSpec,
) -> Result<ResolvedNodeClass, NodeClassError> {
    let subnets = resolve_subnets(ec2, name, &spec.subnet_selector_terms).await?;
    let security_group_ids =
        resolve_security_groups(ec2, name, &spec.security_group_selector_terms).await?;
    let amis = resolve_amis(ec2, cluster, name, &spec.ami_selector_terms).await?;
    let instance_profile = match (&spec.instance_profile, &spec.role) {
        (Some(profile), _) if !profile.is_empty() => profile.clone(),
        (_, Some(role)) if !role.is_empty() => {
            let profile = instance_profile_name(&cluster.name, region, name);
            ensure_instance_profile(ec2, cluster, name, &profile, role)
                .await
                .map_err(|source| NodeClassError::Call {
                    node_class: name.to_string(),
                    source,
                })?;
            profile
        }
        _ => {
            return Err(NodeClassError::InvalidField {
                node_class: name.to_string(),
                field: "role".to_string(),
                reason: "neither role nor instanceProfile is set: set one".to_string(),
            });
        }
    };
    let block_devices = block_devices(name, spec)?;
    let defaults = MetadataOptions::default();
    let metadata = match &spec.metadata_options {
        None => defaults,
        Some(options) => MetadataOptions {
            http_endpoint: options
                .http_endpoint
                .clone()
                .unwrap_or(defaults.http_endpoint),
            http_protocol_ipv6: options
                .http_protocol_ipv6
                .clone()
                .unwrap_or(defaults.http_protocol_ipv6),
            http_put_response_hop_limit: options
                .http_put_response_hop_limit
                .unwrap_or(defaults.http_put_response_hop_limit),
            http_tokens: options.http_tokens.clone().unwrap_or(defaults.http_tokens),
        },
    };
    Ok(ResolvedNodeClass {
        name: name.to_string(),
        subnets,
        security_group_ids,
        amis,
        instance_profile,
        user_data: spec
            .user_data
            .clone()
            .filter(|text| !text.trim().is_empty()),
        block_devices,
        metadata,
        detailed_monitoring: spec.detailed_monitoring.unwrap_or(false),
        tags: spec.tags.clone(),
    })
}

/// The SSM parameter names of an `alias` term (one per architecture).
pub fn alias_parameters(
    cluster: &ClusterSettings,
    alias: &str,
) -> Result<Vec<(Architecture, String)>, String> {
    let (family, version) = alias
        .split_once('@')
        .ok_or_else(|| format!("{alias:?} is not family@version (al2023@latest)"))?;
    if family != "al2023" {
        return Err(format!(
            "family {family:?} is not supported yet: use al2023, or select AMIs by id, name or tags"
        ));
    }
    let prefix = cluster.ami_parameter_prefix.trim_end_matches('/');
    let kubernetes = &cluster.kubernetes_version;
    Ok([Architecture::Amd64, Architecture::Arm64]
        .into_iter()
        .map(|architecture| {
            let arch = architecture.ec2_name();
            let leaf = if version == "latest" {
                "recommended".to_string()
            } else {
                format!("amazon-eks-node-al2023-{arch}-standard-{kubernetes}-{version}")
            };
            (
                architecture,
                format!("{prefix}/{kubernetes}/amazon-linux-2023/{arch}/standard/{leaf}/image_id"),
            )
        })
        .collect())
}

fn tag_filters(tags: &BTreeMap<String, String>) -> Vec<Filter> {
    tags.iter()
        .map(|(key, value)| {
            if value == "*" {
                Filter::new("tag-key", [key.clone()])
            } else {
                Filter::new(format!("tag:{key}"), [value.clone()])
            }
        })
        .collect()
}

fn render_terms<T: serde::Serialize>(terms: &[T]) -> String {
    serde_json::to_string(terms).unwrap_or_else(|_| format!("({} terms)", terms.len()))
}

async fn resolve_subnets<E: Ec2>(
    ec2: &E,
    name: &str,
    terms: &[SubnetSelectorTerm],
) -> Result<Vec<Subnet>, NodeClassError> {
    let mut found: BTreeMap<String, Subnet> = BTreeMap::new();
    for term in terms {
        let mut filters = tag_filters(&term.tags);
        if let Some(id) = &term.id {
            filters.push(Filter::new("subnet-id", [id.clone()]));
        }
        if filters.is_empty() {
            continue;
        }
        let subnets =
            ec2.describe_subnets(&filters)
                .await
                .map_err(|source| NodeClassError::Call {
                    node_class: name.to_string(),
                    source,
                })?;
        for subnet in subnets {
            found.insert(subnet.id.clone(), subnet);
        }
    }
    if found.is_empty() {
        return Err(NodeClassError::NoSubnets {
            node_class: name.to_string(),
            terms: render_terms(terms),
        });
    }
    let mut subnets: Vec<Subnet> = found.into_values().collect();
    subnets.sort_by(|left, right| {
        left.zone
            .cmp(&right.zone)
            .then(
                right
                    .available_ip_addresses
                    .cmp(&left.available_ip_addresses),
            )
            .then(left.id.cmp(&right.id))
    });
    Ok(subnets)
}

async fn resolve_security_groups<E: Ec2>(
    ec2: &E,
    name: &str,
    terms: &[SecurityGroupSelectorTerm],
) -> Result<Vec<String>, NodeClassError> {
    let mut found: Vec<String> = Vec::new();
    for term in terms {
        let mut filters = tag_filters(&term.tags);
        if let Some(id) = &term.id {
            filters.push(Filter::new("group-id", [id.clone()]));
        }
        if let Some(group_name) = &term.name {
            filters.push(Filter::new("group-name", [group_name.clone()]));
        }
        if filters.is_empty() {
            continue;
        }
        let groups = ec2
            .describe_security_groups(&filters)
            .await
            .map_err(|source| NodeClassError::Call {
                node_class: name.to_string(),
                source,
            })?;
        found.extend(groups.into_iter().map(|group| group.id));
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Err(NodeClassError::NoSecurityGroups {
            node_class: name.to_string(),
            terms: render_terms(terms),
        });
    }
    Ok(found)
}

async fn resolve_amis<E: Ec2>(
    ec2: &E,
    cluster: &ClusterSettings,
    name: &str,
    terms: &[AmiSelectorTerm],
) -> Result<Vec<ResolvedAmi>, NodeClassError> {
    let call = |source: Ec2Error| NodeClassError::Call {
        node_class: name.to_string(),
        source,
    };
    // Alias terms win; otherwise the newest image per architecture: (creation date, id).
    let mut from_alias: BTreeMap<Architecture, String> = BTreeMap::new();
    let mut newest: BTreeMap<Architecture, (String, String)> = BTreeMap::new();
    let mut looked_up: Vec<String> = Vec::new();
    for (index, term) in terms.iter().enumerate() {
        if let Some(alias) = &term.alias {
            let parameters = alias_parameters(cluster, alias).map_err(|reason| {
                NodeClassError::InvalidField {
                    node_class: name.to_string(),
                    field: format!("amiSelectorTerms[{index}].alias"),
                    reason,
                }
            })?;
            for (architecture, parameter) in parameters {
                match ec2.get_parameter(&parameter).await {
                    Ok(image_id) if !image_id.trim().is_empty() => {
                        from_alias
                            .entry(architecture)
                            .or_insert_with(|| image_id.trim().to_string());
                    }
                    Ok(_) => looked_up.push(format!("{parameter} (empty)")),
                    Err(error) if error.code.as_deref() == Some("ParameterNotFound") => {
                        looked_up.push(format!("{parameter} (not found)"));
                    }
                    Err(error) => return Err(call(error)),
                }
            }
            continue;
        }
        let mut filters = tag_filters(&term.tags);
        if let Some(id) = &term.id {
            filters.push(Filter::new("image-id", [id.clone()]));
        }
        if let Some(image_name) = &term.name {
            filters.push(Filter::new("name", [image_name.clone()]));
        }
        if let Some(owner) = &term.owner {
            let key = if owner.chars().all(|character| character.is_ascii_digit()) {
                "owner-id"
            } else {
                "owner-alias"
            };
            filters.push(Filter::new(key, [owner.clone()]));
        }
        if filters.is_empty() {
            continue;
        }
        for image in ec2.describe_images(&filters).await.map_err(call)? {
            let Some(architecture) = Architecture::from_ec2(&image.architecture) else {
                continue;
            };
            let candidate = (image.creation_date.clone(), image.id.clone());
            let replace = newest
                .get(&architecture)
                .is_none_or(|current| candidate > *current);
            if replace {
                newest.insert(architecture, candidate);
            }
        }
    }
    for (architecture, id) in from_alias {
        newest.insert(architecture, (String::new(), id));
    }
    if newest.is_empty() {
        return Err(NodeClassError::NoAmis {
            node_class: name.to_string(),
            terms: render_terms(terms),
            detail: if looked_up.is_empty() {
                String::new()
            } else {
                format!(" (SSM parameters {})", looked_up.join(", "))
            },
        });
    }
    Ok(newest
        .into_iter()
        .map(|(architecture, (_, id))| ResolvedAmi { id, architecture })
        .collect())
}

fn block_devices(name: &str, spec: &Ec2NodeClassSpec) -> Result<Vec<BlockDevice>, NodeClassError> {
    if spec.block_device_mappings.is_empty() {
        return Ok(vec![BlockDevice {
            device_name: "/dev/xvda".to_string(),
            volume_size_gib: Some(20),
            volume_type: Some("gp3".to_string()),
            iops: None,
            throughput: None,
            encrypted: Some(true),
            kms_key_id: None,
            delete_on_termination: Some(true),
            snapshot_id: None,
        }]);
    }
    spec.block_device_mappings
        .iter()
        .enumerate()
        .map(|(index, mapping)| {
            let ebs = mapping.ebs.clone().unwrap_or_default();
            let volume_size_gib = ebs
                .volume_size
                .as_deref()
                .map(|size| {
                    parse_gib(size).ok_or_else(|| NodeClassError::InvalidField {
                        node_class: name.to_string(),
                        field: format!("blockDeviceMappings[{index}].ebs.volumeSize"),
                        reason: format!(
                            "{size:?} is not a whole size in Gi, G, Ti or T (20Gi, 100G, 1Ti)"
                        ),
                    })
                })
                .transpose()?;
            Ok(BlockDevice {
                device_name: mapping.device_name.clone(),
                volume_size_gib,
                volume_type: ebs.volume_type,
                iops: ebs.iops,
                throughput: ebs.throughput,
                encrypted: ebs.encrypted,
                kms_key_id: ebs.kms_key_id,
                delete_on_termination: ebs.delete_on_termination,
                snapshot_id: ebs.snapshot_id,
            })
        })
        .collect()
}

/// A Kubernetes quantity as whole GiB (`20Gi` = 20, `1Ti` = 1024, `100G` = 94, rounded up).
pub fn parse_gib(size: &str) -> Option<i32> {
    let size = size.trim();
    let split = size
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(size.len());
    let (number, unit) = size.split_at(split);
    let number: u64 = number.parse().ok()?;
    let bytes: u64 = match unit {
        "Gi" => number.checked_mul(1 << 30)?,
        "Ti" => number.checked_mul(1 << 40)?,
        "G" => number.checked_mul(1_000_000_000)?,
        "T" => number.checked_mul(1_000_000_000_000)?,
        _ => return None,
    };
    i32::try_from(bytes.div_ceil(1 << 30)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_terms_name_the_ssm_parameters_of_each_architecture() {
        let mut cluster =
            ClusterSettings::new("seed", "https://seed", "Q0E=", "10.100.0.0/16", "1.34");
        let cases = [
            (
                "/aws/service/eks/optimized-ami",
                "al2023@latest",
                [
                    "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id",
                    "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/arm64/standard/recommended/image_id",
                ],
            ),
            (
                "/mirror/eks/",
                "al2023@v20240807",
                [
                    "/mirror/eks/1.34/amazon-linux-2023/x86_64/standard/amazon-eks-node-al2023-x86_64-standard-1.34-v20240807/image_id",
                    "/mirror/eks/1.34/amazon-linux-2023/arm64/standard/amazon-eks-node-al2023-arm64-standard-1.34-v20240807/image_id",
                ],
            ),
        ];
        for (prefix, alias, expected) in cases {
            cluster.ami_parameter_prefix = prefix.to_string();
            let parameters: Vec<String> = alias_parameters(&cluster, alias)
                .expect("supported alias")
                .into_iter()
                .map(|(_, name)| name)
                .collect();
            assert_eq!(parameters, expected, "{alias}");
        }
        for unsupported in ["bottlerocket@latest", "al2023"] {
            assert!(
                alias_parameters(&cluster, unsupported).is_err(),
                "{unsupported}"
            );
        }
    }

    #[test]
    fn volume_sizes_are_whole_gib_rounded_up() {
        let cases = [
            ("20Gi", Some(20)),
            ("1Ti", Some(1024)),
            ("100G", Some(94)),
            ("20", None),
            ("20Mi", None),
            ("x", None),
        ];
        for (size, expected) in cases {
            assert_eq!(parse_gib(size), expected, "{size}");
        }
    }
}
