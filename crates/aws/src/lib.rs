//! The AWS CloudProvider: Spotter's launches, terminations and lookups on EC2.
//!
//! An EC2NodeClass spec ([`node_class_spec`]) is resolved into subnets, security groups and
//! AMIs ([`node_class`]); a launch makes sure its launch templates exist ([`launch_template`],
//! user data from [`user_data`]) and calls CreateFleet once per NodeClaim over the ranked
//! offerings ([`fleet`]); fleet and call errors become typed `CloudError`s naming the exact
//! failed offerings or what to allow ([`errors`], retried per [`retry`]); instances are found
//! by their tags ([`instances`]), checked against their node class for drift ([`drift`]) and
//! leaked ones collected ([`garbage_collector`]). Every EC2
//! call goes through the narrow [`ec2::Ec2`] seam, implemented on the SDK clients in [`sdk`].
//! The interruption queue (SQS, fed by EventBridge) is read by [`interruption_queue`], in the
//! loop a driver runs, [`interruption_poller`]. What nodes need to join the cluster (endpoint,
//! CA, service CIDR) comes from EKS ([`cluster_discovery`]), and an EC2NodeClass object's
//! status is written from its resolution ([`node_class_status`]). The SDK crates are used in
//! this crate only. On-demand prices come from the Pricing API ([`pricing`], on the SDK in
//! [`sdk_pricing`]) over the embedded catalog, refreshed with EC2's answers in [`catalog`].

pub mod catalog;
pub mod cluster;
pub mod cluster_discovery;
pub mod drift;
pub mod ec2;
pub mod embedded_catalog;
pub mod errors;
pub mod fleet;
pub mod garbage_collector;
pub mod instance_profile;
pub mod instances;
pub mod interruption_poller;
pub mod interruption_queue;
pub mod launch_template;
pub mod node_class;
pub mod node_class_spec;
pub mod node_class_status;
pub mod pricing;
pub mod provider;
pub mod retry;
pub mod sdk;
pub mod sdk_pricing;
pub mod user_data;

pub use cluster::ClusterSettings;
pub use cluster_discovery::{ClusterOverrides, DiscoveryError};
pub use ec2::Ec2;
pub use garbage_collector::{ExistingNodeClaim, Garbage};
pub use interruption_poller::{QueueMetrics, QueueNotice, Stopped, poll_interruption_queue};
pub use interruption_queue::{InterruptionQueue, QueueError, ReceivedMessage};
pub use node_class::{NodeClassError, ResolvedNodeClass};
pub use node_class_spec::Ec2NodeClassSpec;
pub use provider::AwsCloudProvider;
pub use retry::RetryPolicy;
pub use sdk::SdkEc2;
pub use sdk_pricing::SdkPricing;
