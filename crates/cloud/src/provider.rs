//! The `CloudProvider` trait, its requests and answers, and its typed errors.

use std::fmt;
use std::time::Duration;

use spotter_core::offering::CapacityType;

/// One offering: capacity type × instance type × zone. This is the key of the
/// unavailable-offerings cache, and what an insufficient-capacity answer names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferingKey {
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Instance type name.
    pub instance_type: String,
    /// Zone name.
    pub zone: String,
}

/// One offering a launch may use, with the price the caller expects.
#[derive(Clone, Debug, PartialEq)]
pub struct OfferingRequest {
    /// The offering.
    pub offering: OfferingKey,
    /// USD per hour.
    pub price_per_hour: f64,
}

/// A launch for one NodeClaim. Like EC2 CreateFleet with `Type=instant` and capacity 1: the
/// cloud picks one offering among `offerings` (all of one capacity type), Spot by
/// price-capacity-optimized, on-demand by lowest price.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    /// The NodeClaim's name, used as the idempotency token: launching the same claim twice
    /// returns the first instance.
    pub node_claim: String,
    /// The NodePool, tagged on the instance.
    pub node_pool: String,
    /// The offerings to choose from, cheapest first.
    pub offerings: Vec<OfferingRequest>,
}

/// A running (or starting) instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The instance ID.
    pub id: String,
    /// The NodeClaim it was launched for (from its tag).
    pub node_claim: String,
    /// The NodePool (from its tag).
    pub node_pool: String,
    /// What was bought.
    pub offering: OfferingKey,
    /// USD per hour.
    pub price_per_hour: f64,
    /// When the launch was accepted.
    pub launched_at: Duration,
}

/// A successful launch, with the offerings that were tried first and had no capacity (they
/// belong in the unavailable-offerings cache too).
#[derive(Clone, Debug, PartialEq)]
pub struct Launched {
    /// The instance.
    pub instance: Instance,
    /// Offerings that answered insufficient capacity before one succeeded.
    pub unavailable: Vec<OfferingKey>,
}

/// What a cloud call can answer besides success.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// None of the requested offerings has capacity now.
    #[error("insufficient capacity for every requested offering ({} offerings)", offerings.len())]
    InsufficientCapacity {
        /// Exactly the offerings that failed.
        offerings: Vec<OfferingKey>,
    },
    /// The instance does not exist (any more).
    #[error("instance {instance_id} not found")]
    NotFound {
        /// The instance ID.
        instance_id: String,
    },
    /// The request itself is wrong (for example no offering at all).
    #[error("invalid launch request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
}

/// The calls Spotter makes to a cloud.
pub trait CloudProvider {
    /// Launches one instance for a NodeClaim (idempotent by `request.node_claim`).
    fn create(&mut self, request: &LaunchRequest, now: Duration) -> Result<Launched, CloudError>;
    /// Starts terminating an instance.
    fn delete(&mut self, instance_id: &str, now: Duration) -> Result<(), CloudError>;
    /// Every instance Spotter launched that is not terminated yet.
    fn list(&self) -> Vec<Instance>;
}

impl fmt::Display for OfferingKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}:{}:{}",
            self.capacity_type, self.instance_type, self.zone
        )
    }
}
