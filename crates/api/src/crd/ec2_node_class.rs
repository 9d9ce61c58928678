//! `ec2nodeclasses.karpenter.k8s.aws` v1: the EC2NodeClass, with Karpenter's AWS provider's
//! fields and rules (selector terms, role or instance profile, AMI aliases, tags, block
//! devices, kubelet settings, instance metadata options). The manifest reader
//! (`crate::ec2_node_class`) keeps its own lenient shape, which checks only what Spotter uses;
//! a test reads every example with both.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::node_claim::RequirementSpec;
use crate::crd::schema::{Condition, QUANTITY_PATTERN};

/// `spec` of an EC2NodeClass.
// Each printer column repeats `type_ = ...`, which clippy takes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "karpenter.k8s.aws",
    version = "v1",
    kind = "EC2NodeClass",
    root = "Ec2NodeClass",
    plural = "ec2nodeclasses",
    status = "Ec2NodeClassStatus",
    category = "karpenter",
    shortname = "ec2nc",
    shortname = "ec2ncs",
    doc = "EC2NodeClass is the Schema for the EC2NodeClass API",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Role",
        type_ = "string",
        json_path = ".spec.role",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(
    description = "EC2NodeClassSpec is the top level specification for the AWS Karpenter Provider: what it needs to launch instances in AWS.",
    extend("required" = ["amiSelectorTerms", "securityGroupSelectorTerms", "subnetSelectorTerms"]),
    extend("x-kubernetes-validations" = [
        {
            "rule": "(has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))",
            "message": "must specify exactly one of ['role', 'instanceProfile']",
        },
        {
            "rule": "(has(oldSelf.role) && has(self.role)) || (has(oldSelf.instanceProfile) && has(self.instanceProfile))",
            "message": "changing from 'instanceProfile' to 'role' is not supported. You must delete and recreate this node class if you want to change this.",
        },
        {
            "rule": "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'al2') ? (self.amiFamily == 'Custom' || self.amiFamily == 'AL2') : true)",
            "message": "if set, amiFamily must be 'AL2' or 'Custom' when using an AL2 alias",
        },
        {
            "rule": "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'al2023') ? (self.amiFamily == 'Custom' || self.amiFamily == 'AL2023') : true)",
            "message": "if set, amiFamily must be 'AL2023' or 'Custom' when using an AL2023 alias",
        },
        {
            "rule": "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'bottlerocket') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Bottlerocket') : true)",
            "message": "if set, amiFamily must be 'Bottlerocket' or 'Custom' when using a Bottlerocket alias",
        },
        {
            "rule": "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'windows2019') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Windows2019') : true)",
            "message": "if set, amiFamily must be 'Windows2019' or 'Custom' when using a Windows2019 alias",
        },
        {
            "rule": "!has(self.amiFamily) || (self.amiSelectorTerms.exists(x, has(x.alias) && x.alias.find('^[^@]+') == 'windows2022') ? (self.amiFamily == 'Custom' || self.amiFamily == 'Windows2022') : true)",
            "message": "if set, amiFamily must be 'Windows2022' or 'Custom' when using a Windows2022 alias",
        },
        {
            "rule": "self.amiSelectorTerms.exists(x, has(x.alias)) ? true : has(self.amiFamily)",
            "message": "must specify amiFamily if amiSelectorTerms does not contain an alias",
        },
    ])
)]
pub struct Ec2NodeClassSpec {
    /// Subnets to launch in (the terms are ORed).
    #[serde(default)]
    #[schemars(
        length(max = 30),
        extend("x-kubernetes-validations" = [
            {"rule": "self.size() != 0", "message": "subnetSelectorTerms cannot be empty"},
            {"rule": "self.all(x, has(x.tags) || has(x.id))", "message": "expected at least one, got none, ['tags', 'id']"},
            {"rule": "!self.exists(x, has(x.id) && has(x.tags))", "message": "'id' is mutually exclusive, cannot be set with a combination of other fields in subnetSelectorTerms"},
        ])
    )]
    pub subnet_selector_terms: Vec<SubnetSelectorTerm>,
    /// Security groups for the instances (the terms are ORed).
    #[serde(default)]
    #[schemars(
        length(max = 30),
        extend("x-kubernetes-validations" = [
            {"rule": "self.size() != 0", "message": "securityGroupSelectorTerms cannot be empty"},
            {"rule": "self.all(x, has(x.tags) || has(x.id) || has(x.name))", "message": "expected at least one, got none, ['tags', 'id', 'name']"},
            {"rule": "!self.exists(x, has(x.id) && (has(x.tags) || has(x.name)))", "message": "'id' is mutually exclusive, cannot be set with a combination of other fields in securityGroupSelectorTerms"},
            {"rule": "!self.exists(x, has(x.name) && (has(x.tags) || has(x.id)))", "message": "'name' is mutually exclusive, cannot be set with a combination of other fields in securityGroupSelectorTerms"},
        ])
    )]
    pub security_group_selector_terms: Vec<SecurityGroupSelectorTerm>,
    /// Capacity reservations the instances may use (the terms are ORed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 30),
        extend("x-kubernetes-validations" = [
            {"rule": "self.all(x, has(x.tags) || has(x.id))", "message": "expected at least one, got none, ['tags', 'id']"},
            {"rule": "!self.exists(x, has(x.id) && (has(x.tags) || has(x.ownerID)))", "message": "'id' is mutually exclusive, cannot be set along with tags or ownerID in a capacity reservation selector term"},
        ])
    )]
    pub capacity_reservation_selector_terms: Option<Vec<CapacityReservationSelectorTerm>>,
    /// Whether instances get a public IP address.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "associatePublicIPAddress"
    )]
    pub associate_public_ip_address: Option<bool>,
    /// AMIs to launch (the terms are ORed).
    #[serde(default)]
    #[schemars(
        length(min = 1, max = 30),
        extend("x-kubernetes-validations" = [
            {"rule": "self.all(x, has(x.tags) || has(x.id) || has(x.name) || has(x.alias) || has(x.ssmParameter))", "message": "expected at least one, got none, ['tags', 'id', 'name', 'alias', 'ssmParameter']"},
            {"rule": "!self.exists(x, has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))", "message": "'id' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms"},
            {"rule": "!self.exists(x, has(x.alias) && (has(x.id) || has(x.tags) || has(x.name) || has(x.owner)))", "message": "'alias' is mutually exclusive, cannot be set with a combination of other fields in amiSelectorTerms"},
            {"rule": "!(self.exists(x, has(x.alias)) && self.size() != 1)", "message": "'alias' is mutually exclusive, cannot be set with a combination of other amiSelectorTerms"},
        ])
    )]
    pub ami_selector_terms: Vec<AmiSelectorTerm>,
    /// The AMI family: user data format and default block devices (inferred from an alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022"]))]
    pub ami_family: Option<String>,
    /// User data merged with what Karpenter generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The IAM role of the nodes (Karpenter manages the instance profile); immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self != ''", "message": "role cannot be empty"},
        {"rule": "self == oldSelf", "message": "immutable field changed"},
    ]))]
    pub role: Option<String>,
    /// Or an existing instance profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self != ''", "message": "instanceProfile cannot be empty"},
    ]))]
    pub instance_profile: Option<String>,
    /// Tags for the instances, volumes and launch templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.all(k, k != '')", "message": "empty tag keys aren't supported"},
        {"rule": "self.all(k, !k.startsWith('kubernetes.io/cluster'))", "message": "tag contains a restricted tag matching kubernetes.io/cluster/"},
        {"rule": "self.all(k, k != 'karpenter.sh/nodepool')", "message": "tag contains a restricted tag matching karpenter.sh/nodepool"},
        {"rule": "self.all(k, k != 'karpenter.sh/nodeclaim')", "message": "tag contains a restricted tag matching karpenter.sh/nodeclaim"},
        {"rule": "self.all(k, k != 'karpenter.k8s.aws/ec2nodeclass')", "message": "tag contains a restricted tag matching karpenter.k8s.aws/ec2nodeclass"},
    ]))]
    pub tags: Option<BTreeMap<String, String>>,
    /// Kubelet settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet: Option<KubeletConfiguration>,
    /// Block devices of the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 50),
        extend("x-kubernetes-validations" = [
            {"rule": "self.filter(x, has(x.rootVolume) ? x.rootVolume == true : false).size() <= 1", "message": "must have only one blockDeviceMappings with rootVolume"},
        ])
    )]
    pub block_device_mappings: Option<Vec<BlockDeviceMapping>>,
    /// How instance-store disks are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["RAID0"]))]
    pub instance_store_policy: Option<String>,
    /// Whether detailed monitoring is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_monitoring: Option<bool>,
    /// The instance metadata service's options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {
        "httpEndpoint": "enabled",
        "httpProtocolIPv6": "disabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }))]
    pub metadata_options: Option<MetadataOptions>,
    /// EC2's reserved `Context` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// Tags selecting EC2 resources (`*` as a value selects any value).
fn tags_rules(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        object.insert("maxProperties".into(), 20.into());
        object.insert(
            "x-kubernetes-validations".into(),
            serde_json::json!([{"rule": "self.all(k, k != '' && self[k] != '')", "message": "empty tag keys or values aren't supported"}]),
        );
    }
}

/// A subnet selector term.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSelectorTerm {
    /// Tags to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = tags_rules)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The subnet ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "subnet-[0-9a-z]+"))]
    pub id: Option<String>,
}

/// A security group selector term.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupSelectorTerm {
    /// Tags to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = tags_rules)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The security group ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "sg-[0-9a-z]+"))]
    pub id: Option<String>,
    /// The security group's name (not its Name tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A capacity reservation selector term.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReservationSelectorTerm {
    /// Tags to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = tags_rules)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The reservation's ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^cr-[0-9a-z]+$"))]
    pub id: Option<String>,
    /// The account owning the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ownerID")]
    #[schemars(regex(pattern = "^[0-9]{12}$"))]
    pub owner_id: Option<String>,
}

/// An AMI selector term.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmiSelectorTerm {
    /// An EKS-optimised AMI as `family@version` (`al2023@latest`, `bottlerocket@v1.10.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 30),
        extend("x-kubernetes-validations" = [
            {"rule": "self.matches('^[a-zA-Z0-9]+@.+$')", "message": "'alias' is improperly formatted, must match the format 'family@version'"},
            {"rule": "self.find('^[^@]+') in ['al2','al2023','bottlerocket','windows2019','windows2022']", "message": "family is not supported, must be one of the following: 'al2', 'al2023', 'bottlerocket', 'windows2019', 'windows2022'"},
            {"rule": "self.find('^[^@]+') in ['windows2019','windows2022'] ? self.find('[^@]+$') == 'latest' : true", "message": "windows families may only specify version 'latest'"},
        ])
    )]
    pub alias: Option<String>,
    /// Tags to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = tags_rules)]
    pub tags: Option<BTreeMap<String, String>>,
    /// The AMI ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "ami-[0-9a-z]+"))]
    pub id: Option<String>,
    /// The AMI's name (not its Name tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The AMI's owner: an account ID, `self`, `amazon` or `aws-marketplace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// An SSM parameter holding the AMI ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<String>,
}

/// Kubelet settings of an EC2NodeClass.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.imageGCHighThresholdPercent) && has(self.imageGCLowThresholdPercent) ? self.imageGCHighThresholdPercent > self.imageGCLowThresholdPercent : true", "message": "imageGCHighThresholdPercent must be greater than imageGCLowThresholdPercent"},
    {"rule": "has(self.evictionSoft) ? self.evictionSoft.all(e, (e in self.evictionSoftGracePeriod)) : true", "message": "evictionSoft OwnerKey does not have a matching evictionSoftGracePeriod"},
    {"rule": "has(self.evictionSoftGracePeriod) ? self.evictionSoftGracePeriod.all(e, (e in self.evictionSoft)) : true", "message": "evictionSoftGracePeriod OwnerKey does not have a matching evictionSoft"},
]))]
pub struct KubeletConfiguration {
    /// Cluster DNS server addresses.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "clusterDNS"
    )]
    pub cluster_dns: Option<Vec<String>>,
    /// The most pods a node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("format" = "int32"))]
    pub max_pods: Option<i64>,
    /// Pods per CPU core (capped by `maxPods`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("format" = "int32"))]
    pub pods_per_core: Option<i64>,
    /// Resources reserved for system daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = reserved_rules)]
    pub system_reserved: Option<BTreeMap<String, String>>,
    /// Resources reserved for Kubernetes components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = reserved_rules)]
    pub kube_reserved: Option<BTreeMap<String, String>>,
    /// Hard eviction thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = eviction_rules)]
    pub eviction_hard: Option<BTreeMap<String, String>>,
    /// Soft eviction thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = eviction_rules)]
    pub eviction_soft: Option<BTreeMap<String, String>>,
    /// Grace periods of the soft thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = eviction_rules)]
    pub eviction_soft_grace_period: Option<BTreeMap<String, String>>,
    /// The longest grace period given to pods evicted on a soft threshold (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int32"))]
    pub eviction_max_pod_grace_period: Option<i64>,
    /// Disk usage above which image garbage collection always runs (percent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "imageGCHighThresholdPercent"
    )]
    #[schemars(range(min = 0, max = 100), extend("format" = "int32"))]
    pub image_gc_high_threshold_percent: Option<i64>,
    /// Disk usage below which image garbage collection never runs (percent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "imageGCLowThresholdPercent"
    )]
    #[schemars(range(min = 0, max = 100), extend("format" = "int32"))]
    pub image_gc_low_threshold_percent: Option<i64>,
    /// Whether CPU CFS quotas are enforced.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "cpuCFSQuota"
    )]
    pub cpu_cfs_quota: Option<bool>,
}

fn reserved_rules(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "additionalProperties".into(),
            serde_json::json!({"type": "string", "pattern": QUANTITY_PATTERN}),
        );
        object.insert(
            "x-kubernetes-validations".into(),
            serde_json::json!([
                {"rule": "self.all(x, x=='cpu' || x=='memory' || x=='ephemeral-storage' || x=='pid')", "message": "valid keys are ['cpu','memory','ephemeral-storage','pid']"},
                {"rule": "self.all(x, !self[x].startsWith('-'))", "message": "reserved values cannot be negative resource quantities"},
            ]),
        );
    }
}

fn eviction_rules(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "x-kubernetes-validations".into(),
            serde_json::json!([
                {"rule": "self.all(x, x in ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available'])", "message": "valid keys for eviction thresholds are ['memory.available','nodefs.available','nodefs.inodesFree','imagefs.available','imagefs.inodesFree','pid.available']"},
            ]),
        );
    }
}

/// A block device of the instances.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    /// The device name (`/dev/xvda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The EBS volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs: Option<BlockDevice>,
    /// Whether the kubelet's root directory is on this device (at most one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume: Option<bool>,
}

/// An EBS volume.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.snapshotID) || has(self.volumeSize)", "message": "snapshotID or volumeSize must be defined"},
]))]
pub struct BlockDevice {
    /// Whether the volume is deleted with the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// Whether the volume is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Provisioned IOPS (gp3, io1, io2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// The KMS key encrypting the volume.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "kmsKeyID")]
    pub kms_key_id: Option<String>,
    /// The snapshot the volume starts from.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "snapshotID"
    )]
    pub snapshot_id: Option<String>,
    /// gp3 throughput in MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    /// The volume's size (`20Gi`, `1Ti`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$"
    ))]
    pub volume_size: Option<String>,
    /// The volume type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"]))]
    pub volume_type: Option<String>,
}

/// Instance metadata service options.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    /// `enabled` or `disabled`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "httpEndpoint"
    )]
    #[schemars(extend("enum" = ["enabled", "disabled"]), extend("default" = "enabled"))]
    pub http_endpoint: Option<String>,
    /// `enabled` or `disabled`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "httpProtocolIPv6"
    )]
    #[schemars(extend("enum" = ["enabled", "disabled"]), extend("default" = "disabled"))]
    pub http_protocol_ipv6: Option<String>,
    /// 1 to 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64), extend("default" = 1))]
    pub http_put_response_hop_limit: Option<i64>,
    /// `required` or `optional`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["required", "optional"]), extend("default" = "required"))]
    pub http_tokens: Option<String>,
}

/// `status` of an EC2NodeClass: what the selectors resolved to.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ec2NodeClassStatus {
    /// Subnets found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<ResolvedSubnet>,
    /// Security groups found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<ResolvedSecurityGroup>,
    /// AMIs found, with the instance types each suits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amis: Vec<ResolvedAmi>,
    /// The instance profile in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// `Ready`, `SubnetsReady`, `SecurityGroupsReady`, `AMIsReady`, `InstanceProfileReady`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A subnet found by the selectors.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSubnet {
    /// The subnet ID.
    pub id: String,
    /// Its availability zone.
    pub zone: String,
    /// Its availability zone ID.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "zoneID")]
    pub zone_id: Option<String>,
}

/// A security group found by the selectors.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedSecurityGroup {
    /// The group's ID.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An AMI found by the selectors.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedAmi {
    /// The AMI ID.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The instance types it suits.
    pub requirements: Vec<RequirementSpec>,
}
