//! The EC2NodeClass `spec` as the AWS provider reads it: plain serde structs with Karpenter
//! v1's field names (`subnetSelectorTerms`, `amiSelectorTerms`, `metadataOptions`, ...), so
//! that the CRD types of the kube driver can be converted into them (or replace them) later.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `karpenter.k8s.aws/v1` EC2NodeClass `spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ec2NodeClassSpec {
    /// Subnets the nodes may launch in.
    #[serde(default)]
    pub subnet_selector_terms: Vec<SubnetSelectorTerm>,
    /// Security groups of the nodes.
    #[serde(default)]
    pub security_group_selector_terms: Vec<SecurityGroupSelectorTerm>,
    /// AMIs of the nodes.
    #[serde(default)]
    pub ami_selector_terms: Vec<AmiSelectorTerm>,
    /// The IAM role of the nodes (Spotter creates an instance profile holding it).
    #[serde(default)]
    pub role: Option<String>,
    /// Or an existing instance profile.
    #[serde(default)]
    pub instance_profile: Option<String>,
    /// Extra user data (a nodeadm `NodeConfig` or a shell script), put before Spotter's part.
    #[serde(default)]
    pub user_data: Option<String>,
    /// Tags of the instances, volumes and launch templates.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Block devices (AL2023's default: a 20 GiB encrypted gp3 root volume).
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Instance metadata service options (IMDSv2 required, hop limit 1 by default).
    #[serde(default)]
    pub metadata_options: Option<MetadataOptionsSpec>,
    /// Detailed CloudWatch monitoring.
    #[serde(default)]
    pub detailed_monitoring: Option<bool>,
}

/// One `subnetSelectorTerms` entry: its fields are ANDed, the terms ORed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSelectorTerm {
    /// Tags the subnet must have (`*` matches any value).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A subnet ID.
    #[serde(default)]
    pub id: Option<String>,
}

/// One `securityGroupSelectorTerms` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSelectorTerm {
    /// Tags the group must have (`*` matches any value).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A security group ID.
    #[serde(default)]
    pub id: Option<String>,
    /// A security group name.
    #[serde(default)]
    pub name: Option<String>,
}

/// One `amiSelectorTerms` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmiSelectorTerm {
    /// `al2023@latest`, `al2023@v20240807`.
    #[serde(default)]
    pub alias: Option<String>,
    /// Tags the image must have.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// An AMI ID.
    #[serde(default)]
    pub id: Option<String>,
    /// An AMI name (wildcards allowed).
    #[serde(default)]
    pub name: Option<String>,
    /// The owner (account ID or alias such as `amazon`).
    #[serde(default)]
    pub owner: Option<String>,
}

/// One `blockDeviceMappings` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    /// `/dev/xvda`.
    pub device_name: String,
    /// The EBS volume.
    #[serde(default)]
    pub ebs: Option<EbsSpec>,
    /// Whether this is the root volume.
    #[serde(default)]
    pub root_volume: bool,
}

/// An EBS volume of a block device mapping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EbsSpec {
    /// A Kubernetes quantity (`20Gi`, `100G`, `1Ti`).
    #[serde(default)]
    pub volume_size: Option<String>,
    /// `gp3`, `gp2`, `io2`, ...
    #[serde(default)]
    pub volume_type: Option<String>,
    /// IOPS.
    #[serde(default)]
    pub iops: Option<i32>,
    /// Throughput in MiB/s.
    #[serde(default)]
    pub throughput: Option<i32>,
    /// Whether the volume is encrypted.
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// The KMS key.
    #[serde(default, rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    /// Whether the volume is deleted with the instance.
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    /// A snapshot to start from.
    #[serde(default, rename = "snapshotID")]
    pub snapshot_id: Option<String>,
}

/// `metadataOptions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptionsSpec {
    /// `enabled` / `disabled`.
    #[serde(default)]
    pub http_endpoint: Option<String>,
    /// `enabled` / `disabled`.
    #[serde(default, rename = "httpProtocolIPv6")]
    pub http_protocol_ipv6: Option<String>,
    /// The hop limit.
    #[serde(default)]
    pub http_put_response_hop_limit: Option<i32>,
    /// `required` / `optional`.
    #[serde(default)]
    pub http_tokens: Option<String>,
}
