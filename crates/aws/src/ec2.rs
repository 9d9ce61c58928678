//! The narrow seam between Spotter and AWS: the [`Ec2`] trait holds only the EC2, SSM and IAM calls
//! the provider makes, with plain request and answer types, so that node class resolution,
//! launches, lookups and garbage collection are tested without the network (and so that tests
//! can wrap a real peer, for example to answer insufficient capacity for chosen offerings).
//! [`crate::sdk::SdkEc2`] implements it on the official SDK clients.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use spotter_core::offering::CapacityType;

/// Every API operation the [`Ec2`] trait calls, with the IAM action that allows it. The IAM
/// policy test checks each against `docs/iam-policy.json`.
pub const OPERATIONS: [(&str, &str); 20] = [
    ("CreateFleet", "ec2:CreateFleet"),
    ("CreateLaunchTemplate", "ec2:CreateLaunchTemplate"),
    ("DescribeLaunchTemplates", "ec2:DescribeLaunchTemplates"),
    ("DeleteLaunchTemplate", "ec2:DeleteLaunchTemplate"),
    ("DescribeInstances", "ec2:DescribeInstances"),
    ("TerminateInstances", "ec2:TerminateInstances"),
    ("DescribeSubnets", "ec2:DescribeSubnets"),
    ("DescribeSecurityGroups", "ec2:DescribeSecurityGroups"),
    ("DescribeImages", "ec2:DescribeImages"),
    ("DescribeInstanceTypes", "ec2:DescribeInstanceTypes"),
    (
        "DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypeOfferings",
    ),
    ("DescribeSpotPriceHistory", "ec2:DescribeSpotPriceHistory"),
    ("GetSpotPlacementScores", "ec2:GetSpotPlacementScores"),
    ("DescribeAvailabilityZones", "ec2:DescribeAvailabilityZones"),
    ("GetParameter", "ssm:GetParameter"),
    ("GetInstanceProfile", "iam:GetInstanceProfile"),
    ("CreateInstanceProfile", "iam:CreateInstanceProfile"),
    ("AddRoleToInstanceProfile", "iam:AddRoleToInstanceProfile"),
    (
        "RemoveRoleFromInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
    ),
    ("DeleteInstanceProfile", "iam:DeleteInstanceProfile"),
];

/// The IAM action that allows `operation` (`ec2:CreateFleet`), if the crate calls it.
pub fn iam_action(operation: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, action)| *action)
}

/// The EC2 and SSM calls the provider makes.
pub trait Ec2: Send + Sync {
    /// CreateFleet (`Type=instant`).
    fn create_fleet(
        &self,
        request: &FleetRequest,
    ) -> impl Future<Output = Result<FleetResponse, Ec2Error>> + Send;
    /// CreateLaunchTemplate; returns the template's ID.
    fn create_launch_template(
        &self,
        request: &LaunchTemplateRequest,
    ) -> impl Future<Output = Result<String, Ec2Error>> + Send;
    /// DescribeLaunchTemplates with filters (`launch-template-name`, `tag:…`), every page.
    fn describe_launch_templates(
        &self,
        filters: &[Filter],
    ) -> impl Future<Output = Result<Vec<LaunchTemplate>, Ec2Error>> + Send;
    /// DeleteLaunchTemplate by name.
    fn delete_launch_template(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// DescribeInstances with filters, every page.
    fn describe_instances(
        &self,
        filters: &[Filter],
    ) -> impl Future<Output = Result<Vec<Ec2Instance>, Ec2Error>> + Send;
    /// TerminateInstances.
    fn terminate_instances(
        &self,
        instance_ids: &[String],
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// DescribeSubnets with filters (and IDs), every page.
    fn describe_subnets(
        &self,
        filters: &[Filter],
    ) -> impl Future<Output = Result<Vec<Subnet>, Ec2Error>> + Send;
    /// DescribeSecurityGroups with filters, every page.
    fn describe_security_groups(
        &self,
        filters: &[Filter],
    ) -> impl Future<Output = Result<Vec<SecurityGroup>, Ec2Error>> + Send;
    /// DescribeImages with filters, every page.
    fn describe_images(
        &self,
        filters: &[Filter],
    ) -> impl Future<Output = Result<Vec<Image>, Ec2Error>> + Send;
    /// DescribeInstanceTypes, every page.
    fn describe_instance_types(
        &self,
    ) -> impl Future<Output = Result<Vec<InstanceTypeInfo>, Ec2Error>> + Send;
    /// DescribeInstanceTypeOfferings by availability zone, every page: (instance type, zone).
    fn describe_instance_type_offerings(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Ec2Error>> + Send;
    /// DescribeSpotPriceHistory since `start` for Linux/UNIX, every page.
    fn describe_spot_price_history(
        &self,
        start: SystemTime,
    ) -> impl Future<Output = Result<Vec<SpotPrice>, Ec2Error>> + Send;
    /// GetSpotPlacementScores for `instance_types` and `target_capacity` instances, scored per
    /// Availability Zone of `region`, every page: (zone ID, score from 1 to 10).
    fn get_spot_placement_scores(
        &self,
        instance_types: &[String],
        target_capacity: u32,
        region: &str,
    ) -> impl Future<Output = Result<Vec<(String, u8)>, Ec2Error>> + Send;
    /// DescribeAvailabilityZones of the region: (zone name, zone ID), as this account names
    /// them (names map to different zones in different accounts; IDs do not).
    fn describe_availability_zones(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Ec2Error>> + Send;
    /// SSM GetParameter: the parameter's value.
    fn get_parameter(&self, name: &str) -> impl Future<Output = Result<String, Ec2Error>> + Send;
    /// IAM GetInstanceProfile: the names of its roles, `None` when it does not exist.
    fn get_instance_profile(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, Ec2Error>> + Send;
    /// IAM CreateInstanceProfile with tags.
    fn create_instance_profile(
        &self,
        name: &str,
        tags: &Tags,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// IAM AddRoleToInstanceProfile.
    fn add_role_to_instance_profile(
        &self,
        name: &str,
        role: &str,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// IAM RemoveRoleFromInstanceProfile.
    fn remove_role_from_instance_profile(
        &self,
        name: &str,
        role: &str,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// IAM DeleteInstanceProfile (it must hold no role).
    fn delete_instance_profile(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
}

/// A failed call, with what the SDK's typed error metadata said (never parsed from text).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("failed to call {operation}: {}: {message}", code.as_deref().unwrap_or("no error code"))]
pub struct Ec2Error {
    /// The API operation (`CreateFleet`).
    pub operation: &'static str,
    /// The error code (`RequestLimitExceeded`), when the service answered one.
    pub code: Option<String>,
    /// The service's or the transport's message.
    pub message: String,
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// Whether the request did not get an answer (timeout, connection failure).
    pub transport: bool,
}

impl Ec2Error {
    /// An error the service answered with `code`.
    pub fn service(operation: &'static str, code: &str, message: &str, status: u16) -> Self {
        Ec2Error {
            operation,
            code: Some(code.to_string()),
            message: message.to_string(),
            status: Some(status),
            transport: false,
        }
    }
}

/// A DescribeX filter (`tag:karpenter.sh/discovery` = `seed`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Filter {
    /// The filter name.
    pub name: String,
    /// The values (any of them matches).
    pub values: Vec<String>,
}

impl Filter {
    /// A filter on one name with the given values.
    pub fn new(
        name: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Filter {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// EC2 tags, by key.
pub type Tags = BTreeMap<String, String>;

/// A subnet.
#[derive(Clone, Debug, PartialEq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// The zone name.
    pub zone: String,
    /// The zone ID, when answered.
    pub zone_id: Option<String>,
    /// Free IPv4 addresses.
    pub available_ip_addresses: i32,
    /// Tags.
    pub tags: Tags,
}

/// A security group.
#[derive(Clone, Debug, PartialEq)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// The group name.
    pub name: String,
    /// Tags.
    pub tags: Tags,
}

/// An AMI.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// `ami-…`.
    pub id: String,
    /// The image name.
    pub name: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// ISO 8601 creation date (sorts as text).
    pub creation_date: String,
}

/// A launch template that exists.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchTemplate {
    /// `lt-…`.
    pub id: String,
    /// The name.
    pub name: String,
}

/// A launch template to create.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LaunchTemplateRequest {
    /// The name (unique per region).
    pub name: String,
    /// The AMI.
    pub image_id: String,
    /// The instance profile name.
    pub instance_profile: String,
    /// Security group IDs.
    pub security_group_ids: Vec<String>,
    /// User data, base64-encoded.
    pub user_data_base64: String,
    /// Block devices.
    pub block_device_mappings: Vec<BlockDevice>,
    /// Instance metadata options.
    pub metadata: MetadataOptions,
    /// Whether detailed monitoring is on.
    pub detailed_monitoring: bool,
    /// Tags of the launch template itself.
    pub tags: Tags,
}

/// One EBS block device of a launch template.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct BlockDevice {
    /// `/dev/xvda`.
    pub device_name: String,
    /// Size in GiB.
    pub volume_size_gib: Option<i32>,
    /// `gp3`.
    pub volume_type: Option<String>,
    /// IOPS.
    pub iops: Option<i32>,
    /// Throughput (MiB/s).
    pub throughput: Option<i32>,
    /// Whether the volume is encrypted.
    pub encrypted: Option<bool>,
    /// The KMS key.
    pub kms_key_id: Option<String>,
    /// Whether the volume goes away with the instance.
    pub delete_on_termination: Option<bool>,
    /// A snapshot to start from.
    pub snapshot_id: Option<String>,
}

/// Instance metadata service options.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MetadataOptions {
    /// `enabled` / `disabled`.
    pub http_endpoint: String,
    /// `enabled` / `disabled`.
    pub http_protocol_ipv6: String,
    /// The hop limit (1 keeps pods off the node's credentials).
    pub http_put_response_hop_limit: i32,
    /// `required` (IMDSv2) / `optional`.
    pub http_tokens: String,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_endpoint: "enabled".to_string(),
            http_protocol_ipv6: "disabled".to_string(),
            http_put_response_hop_limit: 1,
            http_tokens: "required".to_string(),
        }
    }
}

/// How CreateFleet allocates among the overrides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetAllocation {
    /// Spot `capacity-optimized-prioritized`.
    SpotCapacityOptimizedPrioritized,
    /// Spot `price-capacity-optimized`.
    SpotPriceCapacityOptimized,
    /// On-demand `prioritized`.
    OnDemandPrioritized,
    /// On-demand `lowest-price`.
    OnDemandLowestPrice,
}

impl FleetAllocation {
    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            FleetAllocation::SpotCapacityOptimizedPrioritized => "capacity-optimized-prioritized",
            FleetAllocation::SpotPriceCapacityOptimized => "price-capacity-optimized",
            FleetAllocation::OnDemandPrioritized => "prioritized",
            FleetAllocation::OnDemandLowestPrice => "lowest-price",
        }
    }
}

/// A CreateFleet request (`Type=instant`, target capacity 1).
#[derive(Clone, Debug, PartialEq)]
pub struct FleetRequest {
    /// The idempotency token (at most 64 characters).
    pub client_token: String,
    /// Spot or on-demand (the default target capacity type).
    pub capacity_type: CapacityType,
    /// The allocation strategy.
    pub allocation: FleetAllocation,
    /// One entry per launch template.
    pub launch_template_configs: Vec<FleetLaunchTemplateConfig>,
    /// Tags put on the instance, its volumes and the fleet.
    pub tags: Tags,
}

/// The overrides of one launch template.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetLaunchTemplateConfig {
    /// The launch template's name.
    pub launch_template_name: String,
    /// The overrides.
    pub overrides: Vec<FleetOverride>,
}

/// One (instance type, subnet) the fleet may launch.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetOverride {
    /// Instance type.
    pub instance_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// The subnet's zone (not sent: the subnet implies it).
    pub zone: String,
    /// Priority (lower first), for prioritized strategies.
    pub priority: Option<f64>,
}

/// What CreateFleet answered.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FleetResponse {
    /// The fleet's ID.
    pub fleet_id: Option<String>,
    /// Launched instances.
    pub instances: Vec<FleetInstance>,
    /// Per-override errors.
    pub errors: Vec<FleetError>,
}

/// An instance CreateFleet launched.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetInstance {
    /// `i-…`.
    pub instance_id: String,
    /// Instance type.
    pub instance_type: Option<String>,
    /// The override's subnet.
    pub subnet_id: Option<String>,
    /// The override's zone.
    pub zone: Option<String>,
}

/// An error CreateFleet answered for one override.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetError {
    /// The error code (`InsufficientInstanceCapacity`).
    pub code: String,
    /// The message.
    pub message: String,
    /// The override's instance type.
    pub instance_type: Option<String>,
    /// The override's subnet.
    pub subnet_id: Option<String>,
    /// The override's zone.
    pub zone: Option<String>,
}

/// An EC2 instance, as DescribeInstances answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Ec2Instance {
    /// `i-…`.
    pub id: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Whether it is a Spot instance (`InstanceLifecycle=spot`).
    pub spot: bool,
    /// `pending`, `running`, …
    pub state: String,
    /// Launch time.
    pub launch_time: Option<SystemTime>,
    /// Tags.
    pub tags: Tags,
    /// The AMI it runs (`ami-…`; empty when EC2 did not say).
    pub image_id: String,
    /// Its subnet (`subnet-…`; empty when EC2 did not say).
    pub subnet_id: String,
    /// Its security group IDs, sorted.
    pub security_group_ids: Vec<String>,
}

/// An instance type, as DescribeInstanceTypes answers (the fields the catalog uses).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceTypeInfo {
    /// `m5.large`.
    pub name: String,
    /// vCPUs.
    pub vcpu: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// `x86_64`, `arm64`.
    pub architectures: Vec<String>,
    /// Whether it is bare metal.
    pub bare_metal: bool,
}

/// A Spot price point.
#[derive(Clone, Debug, PartialEq)]
pub struct SpotPrice {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// USD per hour.
    pub price_per_hour: f64,
    /// When it was set.
    pub timestamp: Option<SystemTime>,
}
