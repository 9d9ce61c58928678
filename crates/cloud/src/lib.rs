//! The cloud as Spotter's controllers and drivers see it: the [`CloudProvider`] trait holding
//! only the calls Spotter makes (launch an instance for a NodeClaim, terminate it, list what
//! exists), with capacity errors as typed values ([`CloudError::InsufficientCapacity`] names
//! the exact offerings), and the simulated EC2 built from the embedded catalog's real prices
//! and Spot-advisor bands.
//!
//! It depends on the core only; the AWS implementation will live beside the simulated one.

pub mod provider;
pub mod random;
pub mod simulated;

pub use provider::{
    CloudError, CloudProvider, Instance, LaunchRequest, Launched, OfferingKey, OfferingRequest,
};
