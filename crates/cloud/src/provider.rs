//! The `CloudProvider` trait, its requests and answers, and its typed errors.
//!
//! Every call is asynchronous, because a real cloud answers over the network; a provider with
//! nothing to wait for (the simulated market) returns futures that are ready at once, and its
//! driver polls them with a trivial executor ([`crate::ready::now_or_never`]). The trait takes
//! `&self` so that one provider serves concurrent calls; it carries no clock: a provider that
//! needs one (the simulated market's virtual clock) keeps its own.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use spotter_core::offering::CapacityType;
use spotter_core::placement_scores::PlacementScores;
use spotter_core::taints::Taint;

use crate::drift::NodeClassDrift;

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

/// How the cloud picks among a launch's offerings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AllocationStrategy {
    /// In the order given: the caller ranked them (EC2's `capacity-optimized-prioritized` for
    /// Spot, `prioritized` for on-demand).
    #[default]
    Prioritized,
    /// The cloud's own choice: `price-capacity-optimized` for Spot, `lowest-price` for
    /// on-demand (what Karpenter asks for).
    CloudChooses,
}

/// A launch for one NodeClaim. Like EC2 CreateFleet with `Type=instant` and capacity 1: the
/// cloud picks one offering among `offerings` (all of one capacity type).
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchRequest {
    /// The NodeClaim's name, used as the idempotency token: launching the same claim twice
    /// returns the first instance.
    pub node_claim: String,
    /// The NodePool, tagged on the instance.
    pub node_pool: String,
    /// The node class (EC2NodeClass) the instance is configured from.
    pub node_class: String,
    /// The offerings to choose from, in the caller's order of preference.
    pub offerings: Vec<OfferingRequest>,
    /// How to choose among them.
    pub allocation: AllocationStrategy,
    /// Labels the node registers with (the NodeClaim's template labels).
    pub labels: BTreeMap<String, String>,
    /// Taints the node registers with (the NodePool's taints and startup taints).
    pub taints: Vec<Taint>,
}

/// A running (or starting) instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The instance ID.
    pub id: String,
    /// The provider ID its node registers with (`aws:///zone/i-…`, `fake://…`).
    pub provider_id: String,
    /// The NodeClaim it was launched for (from its tag).
    pub node_claim: String,
    /// The NodePool (from its tag).
    pub node_pool: String,
    /// What was bought.
    pub offering: OfferingKey,
    /// USD per hour.
    pub price_per_hour: f64,
    /// When the launch was accepted (the provider's clock).
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

/// What a cloud call can answer besides success. Callers match on the variants; none is ever
/// compared as a string.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// None of the requested offerings has capacity now.
    #[error("insufficient capacity for every requested offering ({} offerings)", offerings.len())]
    InsufficientCapacity {
        /// Exactly the offerings that failed.
        offerings: Vec<OfferingKey>,
    },
    /// The instance or NodeClaim does not exist (any more).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for (`instance i-…`, `NodeClaim batch-abcde`).
        what: String,
    },
    /// The cloud asked Spotter to slow down; the call may be retried later.
    #[error("failed to call {operation}: throttled by the cloud, retrying later")]
    Throttled {
        /// The API operation.
        operation: String,
        /// When the cloud said to retry, if it did.
        retry_after: Option<Duration>,
    },
    /// A failure that may not happen again: a timeout, a 5xx, a lost connection. The outcome
    /// of the call is unknown (a launch may or may not have created an instance: retrying with
    /// the same NodeClaim is safe, launches being idempotent).
    #[error("failed to call {operation}: {message}")]
    Transient {
        /// The API operation.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// Spotter is not allowed to do this: `instruction` says what to create or allow.
    #[error("failed to call {operation}: not permitted; {instruction}")]
    PermissionDenied {
        /// The API operation.
        operation: String,
        /// What the user must create or allow (the IAM action, the service-linked role).
        instruction: String,
    },
    /// The request itself is wrong (no offering at all, an unresolvable node class...).
    #[error("invalid launch request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
}

impl CloudError {
    /// Whether the same call may succeed if tried again later without any change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. } | CloudError::Transient { .. }
        )
    }
}

/// The calls Spotter makes to a cloud.
pub trait CloudProvider: Send + Sync {
    /// Launches one instance for a NodeClaim. Idempotent by `request.node_claim`: a second
    /// launch for the same claim returns the first instance.
    fn create(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Launched, CloudError>> + Send;
    /// Starts terminating an instance; an instance that is already gone is
    /// [`CloudError::NotFound`], which callers treat as done.
    fn delete(&self, instance_id: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// The instance launched for a NodeClaim (found by its tag), if it is not terminated.
    fn get(
        &self,
        node_claim: &str,
    ) -> impl Future<Output = Result<Option<Instance>, CloudError>> + Send;
    /// Every instance Spotter launched (for this cluster) that is not terminated yet.
    fn list(&self) -> impl Future<Output = Result<Vec<Instance>, CloudError>> + Send;
    /// Which of these NodeClaims' instances no longer match their node class as it resolves
    /// now (its AMIs, subnets or security groups changed since the launch), as Karpenter's
    /// `IsDrifted`. Claims without an instance, and providers whose node classes cannot
    /// drift (this default), are not in the answer.
    fn drifted(
        &self,
        node_claims: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, NodeClassDrift>, CloudError>> + Send {
        let _ = node_claims;
        async { Ok(BTreeMap::new()) }
    }
    /// The cloud's Spot placement score per zone for the request (EC2's
    /// `GetSpotPlacementScores` with single-zone scores). Providers that have none (this
    /// default) answer no score, which means no opinion.
    fn spot_placement_scores(
        &self,
        request: &PlacementScoreRequest,
    ) -> impl Future<Output = Result<PlacementScores, CloudError>> + Send {
        let _ = request;
        async { Ok(PlacementScores::default()) }
    }
}

/// What a Spot placement score is asked for: a few instance types together (EC2 scores one or
/// two types always low) and how many instances are wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementScoreRequest {
    /// The instance types, any of which would do.
    pub instance_types: Vec<String>,
    /// How many instances.
    pub target_capacity: u32,
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
