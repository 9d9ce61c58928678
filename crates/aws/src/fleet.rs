//! The CreateFleet request of one launch: `Type=instant`, capacity 1, one launch template
//! config per AMI architecture, overrides = the request's offerings (at most 60, in the
//! caller's order) × the subnets of their zones, the allocation strategy and priorities from
//! the caller's ranking, an idempotency token from the NodeClaim, and the tags that make the
//! instance findable; and what its answer means ([`launch_outcome`]).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use spotter_cloud::{
    AllocationStrategy, CloudError, Instance, LaunchRequest, Launched, OfferingKey,
};
use spotter_core::offering::CapacityType;

use crate::cluster::ClusterSettings;
use crate::ec2::{
    FleetAllocation, FleetLaunchTemplateConfig, FleetOverride, FleetRequest, FleetResponse, Tags,
};
use crate::errors::{classify_fleet_errors, launch_failure};
use crate::node_class::{Architecture, ResolvedNodeClass};

/// The most offerings one launch tries (Karpenter's limit).
pub const MAX_OFFERINGS: usize = 60;

/// The most overrides one CreateFleet carries.
pub const MAX_OVERRIDES: usize = 300;

/// The longest ClientToken CreateFleet accepts.
pub const MAX_CLIENT_TOKEN: usize = 64;

/// Tag keys.
pub mod tags {
    /// The NodePool.
    pub const NODE_POOL: &str = "karpenter.sh/nodepool";
    /// The NodeClaim.
    pub const NODE_CLAIM: &str = "karpenter.sh/nodeclaim";
    /// The EKS cluster name.
    pub const EKS_CLUSTER_NAME: &str = "eks:eks-cluster-name";
    /// The instance's name.
    pub const NAME: &str = "Name";
    /// The EC2NodeClass.
    pub const NODE_CLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
}

/// The ClientToken of the launch for `node_claim`: the same claim always gets the same token
/// (EC2 then answers the first launch again), distinct per cluster, at most 64 characters.
pub fn client_token(cluster: &str, node_claim: &str) -> String {
    let digest = Sha256::digest(format!("{cluster}/{node_claim}").as_bytes());
    let hash: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut token = format!("spotter-{hash}");
    token.truncate(MAX_CLIENT_TOKEN);
    token
}

/// The tags of the instance, its volumes and the fleet.
pub fn launch_tags(
    cluster: &ClusterSettings,
    node_class: &ResolvedNodeClass,
    request: &LaunchRequest,
) -> Tags {
    let mut tags = node_class.tags.clone();
    tags.insert(cluster.cluster_tag_key(), "owned".to_string());
    tags.insert(tags::EKS_CLUSTER_NAME.to_string(), cluster.name.clone());
    tags.insert(tags::NODE_POOL.to_string(), request.node_pool.clone());
    tags.insert(tags::NODE_CLAIM.to_string(), request.node_claim.clone());
    tags.insert(tags::NODE_CLASS.to_string(), request.node_class.clone());
    tags.insert(tags::NAME.to_string(), request.node_claim.clone());
    tags
}

/// The fleet's allocation strategy.
pub fn allocation(capacity_type: CapacityType, strategy: AllocationStrategy) -> FleetAllocation {
    match (capacity_type, strategy) {
        (CapacityType::Spot, AllocationStrategy::Prioritized) => {
            FleetAllocation::SpotCapacityOptimizedPrioritized
        }
        (CapacityType::Spot, AllocationStrategy::CloudChooses) => {
            FleetAllocation::SpotPriceCapacityOptimized
        }
        (_, AllocationStrategy::Prioritized) => FleetAllocation::OnDemandPrioritized,
        (_, AllocationStrategy::CloudChooses) => FleetAllocation::OnDemandLowestPrice,
    }
}

/// Builds the CreateFleet request. `templates` holds the launch template name per
/// architecture, `architecture_of` says which architecture an instance type is. Offerings
/// without a subnet in their zone or an AMI for their architecture are left out; none left is
/// insufficient capacity for every requested offering.
pub fn fleet_request(
    cluster: &ClusterSettings,
    node_class: &ResolvedNodeClass,
    request: &LaunchRequest,
    templates: &BTreeMap<Architecture, String>,
    architecture_of: impl Fn(&str) -> Architecture,
) -> Result<FleetRequest, CloudError> {
    let capacity_type = request_capacity_type(request)?;
    let mut configs: BTreeMap<Architecture, Vec<FleetOverride>> = BTreeMap::new();
    let mut count = 0;
    for (rank, offering) in request.offerings.iter().take(MAX_OFFERINGS).enumerate() {
        let key = &offering.offering;
        let architecture = architecture_of(&key.instance_type);
        if !templates.contains_key(&architecture) {
            continue;
        }
        for subnet in node_class.subnets_in(&key.zone) {
            if count >= MAX_OVERRIDES {
                break;
            }
            configs
                .entry(architecture)
                .or_default()
                .push(FleetOverride {
                    instance_type: key.instance_type.clone(),
                    subnet_id: subnet.id.clone(),
                    zone: subnet.zone.clone(),
                    priority: match request.allocation {
                        AllocationStrategy::Prioritized => Some(rank as f64),
                        AllocationStrategy::CloudChooses => None,
                    },
                });
            count += 1;
        }
    }
    if configs.is_empty() {
        // No capacity for these offerings through this node class: answered as EC2 answers
        // offerings it cannot fill, so that they are left alone for a while and the next
        // launch takes offerings in the node class's zones (an error the launch would retry
        // as it is could only fail again).
        tracing::warn!(
            node_claim = %request.node_claim,
            node_class = %node_class.name,
            zones = ?node_class
                .subnets
                .iter()
                .map(|subnet| subnet.zone.as_str())
                .collect::<std::collections::BTreeSet<_>>(),
            architectures = ?node_class
                .amis
                .iter()
                .map(|ami| ami.architecture.ec2_name())
                .collect::<Vec<_>>(),
            "no requested offering can launch through the EC2NodeClass: none is in a zone of its subnets with an AMI for its architecture"
        );
        return Err(CloudError::InsufficientCapacity {
            offerings: request
                .offerings
                .iter()
                .take(MAX_OFFERINGS)
                .map(|offering| offering.offering.clone())
                .collect(),
        });
    }
    Ok(FleetRequest {
        client_token: client_token(&cluster.name, &request.node_claim),
        capacity_type,
        allocation: allocation(capacity_type, request.allocation),
        launch_template_configs: configs
            .into_iter()
            .filter_map(|(architecture, overrides)| {
                templates
                    .get(&architecture)
                    .map(|name| FleetLaunchTemplateConfig {
                        launch_template_name: name.clone(),
                        overrides,
                    })
            })
            .collect(),
        tags: launch_tags(cluster, node_class, request),
    })
}

/// The capacity type every offering of the request shares.
pub fn request_capacity_type(request: &LaunchRequest) -> Result<CapacityType, CloudError> {
    let mut types = request
        .offerings
        .iter()
        .map(|offering| offering.offering.capacity_type);
    let Some(first) = types.next() else {
        return Err(CloudError::InvalidRequest {
            reason: format!("NodeClaim {} has no offering to launch", request.node_claim),
        });
    };
    if types.any(|other| other != first) {
        return Err(CloudError::InvalidRequest {
            reason: format!(
                "NodeClaim {} mixes capacity types: one launch buys one capacity type",
                request.node_claim
            ),
        });
    }
    if first == CapacityType::Reserved {
        return Err(CloudError::InvalidRequest {
            reason: "reserved capacity is not supported by the AWS provider yet".to_string(),
        });
    }
    Ok(first)
}

/// What the CreateFleet answer means: the launched instance (with the offerings that failed
/// first), or the error naming exactly the offerings that had no capacity.
pub fn launch_outcome(
    request: &LaunchRequest,
    fleet: &FleetRequest,
    response: &FleetResponse,
    launched_at: std::time::Duration,
) -> Result<Launched, CloudError> {
    let overrides: Vec<FleetOverride> = fleet
        .launch_template_configs
        .iter()
        .flat_map(|config| config.overrides.iter().cloned())
        .collect();
    let errors = classify_fleet_errors(fleet.capacity_type, &overrides, &response.errors);
    let Some(launched) = response.instances.first() else {
        return Err(launch_failure(errors));
    };
    let instance_type = launched
        .instance_type
        .clone()
        .or_else(|| overrides.first().map(|first| first.instance_type.clone()))
        .unwrap_or_default();
    let zone = launched
        .zone
        .clone()
        .or_else(|| {
            launched.subnet_id.as_ref().and_then(|subnet| {
                overrides
                    .iter()
                    .find(|candidate| &candidate.subnet_id == subnet)
                    .map(|candidate| candidate.zone.clone())
            })
        })
        .unwrap_or_default();
    let offering = OfferingKey {
        capacity_type: fleet.capacity_type,
        instance_type,
        zone,
    };
    let price_per_hour = request
        .offerings
        .iter()
        .find(|candidate| candidate.offering == offering)
        .map(|candidate| candidate.price_per_hour)
        .unwrap_or(0.0);
    let unavailable = errors
        .unavailable
        .into_iter()
        .filter(|failed| *failed != offering)
        .collect();
    Ok(Launched {
        instance: Instance {
            id: launched.instance_id.clone(),
            provider_id: provider_id(&offering.zone, &launched.instance_id),
            node_claim: request.node_claim.clone(),
            node_pool: request.node_pool.clone(),
            offering,
            price_per_hour,
            launched_at,
        },
        unavailable,
    })
}

/// `aws:///<zone>/<instance ID>`, the provider ID the kubelet registers with.
pub fn provider_id(zone: &str, instance_id: &str) -> String {
    format!("aws:///{zone}/{instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_stable_per_claim_and_cluster_and_fit_64_characters() {
        let long_claim = "x".repeat(300);
        let cases = [
            ("seed", "batch-abcde"),
            ("seed", long_claim.as_str()),
            ("other", "batch-abcde"),
        ];
        let tokens: Vec<String> = cases
            .iter()
            .map(|(cluster, claim)| client_token(cluster, claim))
            .collect();
        for ((cluster, claim), token) in cases.iter().zip(&tokens) {
            assert!(token.len() <= MAX_CLIENT_TOKEN, "{token}");
            assert_eq!(*token, client_token(cluster, claim), "stable");
        }
        assert_ne!(tokens[0], tokens[2], "distinct per cluster");
        assert_ne!(tokens[0], tokens[1], "distinct per claim");
    }

    #[test]
    fn allocation_follows_capacity_type_and_strategy() {
        let cases = [
            (
                CapacityType::Spot,
                AllocationStrategy::Prioritized,
                "capacity-optimized-prioritized",
            ),
            (
                CapacityType::Spot,
                AllocationStrategy::CloudChooses,
                "price-capacity-optimized",
            ),
            (
                CapacityType::OnDemand,
                AllocationStrategy::Prioritized,
                "prioritized",
            ),
            (
                CapacityType::OnDemand,
                AllocationStrategy::CloudChooses,
                "lowest-price",
            ),
        ];
        for (capacity_type, strategy, expected) in cases {
            assert_eq!(allocation(capacity_type, strategy).as_str(), expected);
        }
    }
}
