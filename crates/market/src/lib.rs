//! The simulated EC2 market the simulator drives Spotter against: a
//! [`spotter_cloud::CloudProvider`] whose offerings are the embedded catalog's real ones and
//! whose Spot pools run out of capacity, come back and interrupt instances at the rates their
//! Spot-advisor bands say, on a virtual clock the simulator moves.
//!
//! It depends on the core and the CloudProvider trait only; nothing in the controllers knows
//! it exists.

pub mod simulated_cloud;
pub mod spot_pool;

pub use simulated_cloud::{
    CloudEvent, Outage, SHUTDOWN_TIME, SPOT_INTERRUPTION_WARNING, SimulatedCloud,
};
pub use spot_pool::{MarketModel, PoolOverride, PoolSettings};
