//! The cloud as Spotter's controllers and drivers see it: the [`CloudProvider`] trait holding
//! only the calls Spotter makes (launch an instance for a NodeClaim, terminate it, get and
//! list what exists), asynchronous so that real clouds fit, with errors as typed values
//! ([`CloudError::InsufficientCapacity`] names the exact offerings; throttling, transient
//! failures, permissions and "not found" each have their variant).
//!
//! It depends on the core only. The implementations live beside it: the simulated EC2 market
//! (`spotter-market`), the fake-node provider of the kube driver, and the AWS provider.

pub mod drift;
pub mod provider;
pub mod ready;

pub use drift::NodeClassDrift;

pub use provider::{
    AllocationStrategy, CloudError, CloudProvider, Instance, LaunchRequest, Launched, OfferingKey,
    OfferingRequest, PlacementScoreRequest,
};
