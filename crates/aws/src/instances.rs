//! The instances Spotter launched, found by their tags: the DescribeInstances filters for one
//! NodeClaim or the whole cluster (not terminated), and an EC2 instance as a
//! [`spotter_cloud::Instance`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spotter_cloud::{Instance, OfferingKey};
use spotter_core::offering::CapacityType;

use crate::ec2::{Ec2Instance, Filter};
use crate::fleet::{provider_id, tags};

/// The instance states that are not terminated.
pub const LIVE_STATES: [&str; 5] = ["pending", "running", "stopping", "stopped", "shutting-down"];

/// The filters that find this cluster's live instances launched for a NodeClaim.
pub fn cluster_filters(cluster_tag_key: &str) -> Vec<Filter> {
    vec![
        Filter::new(format!("tag:{cluster_tag_key}"), ["owned"]),
        Filter::new("tag-key", [tags::NODE_CLAIM]),
        Filter::new("instance-state-name", LIVE_STATES),
    ]
}

/// The filters that find the live instance of one NodeClaim.
pub fn node_claim_filters(cluster_tag_key: &str, node_claim: &str) -> Vec<Filter> {
    vec![
        Filter::new(format!("tag:{cluster_tag_key}"), ["owned"]),
        Filter::new(format!("tag:{}", tags::NODE_CLAIM), [node_claim]),
        Filter::new("instance-state-name", LIVE_STATES),
    ]
}

/// An EC2 instance as Spotter sees it; `price_of` gives the price of its offering.
pub fn to_instance(instance: &Ec2Instance, price_of: impl Fn(&OfferingKey) -> f64) -> Instance {
    let offering = OfferingKey {
        capacity_type: if instance.spot {
            CapacityType::Spot
        } else {
            CapacityType::OnDemand
        },
        instance_type: instance.instance_type.clone(),
        zone: instance.zone.clone(),
    };
    let tag = |key: &str| instance.tags.get(key).cloned().unwrap_or_default();
    Instance {
        id: instance.id.clone(),
        provider_id: provider_id(&instance.zone, &instance.id),
        node_claim: tag(tags::NODE_CLAIM),
        node_pool: tag(tags::NODE_POOL),
        price_per_hour: price_of(&offering),
        offering,
        launched_at: since_epoch(instance.launch_time),
    }
}

/// A launch time as the provider's clock (time since the Unix epoch).
pub fn since_epoch(time: Option<SystemTime>) -> Duration {
    time.and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default()
}
