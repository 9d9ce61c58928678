//! The EC2 catalog embedded in Spotter: instance-type specifications with
//! Karpenter-style allocatable resources, and per-region, per-zone on-demand and
//! Spot prices for `us-east-1` and `ap-northeast-2`.
//!
//! The data lives in `data/ec2-catalog.json`, converted from public sources by
//! the `generate-catalog` binary (see the crate README for provenance and the
//! estimation rules). [`embedded()`] returns the copy compiled into the binary;
//! nothing here reads files at run time except the generator.
//!
//! ```
//! let catalog = spotter_catalog::embedded();
//! let seoul = catalog.region("ap-northeast-2").expect("known region");
//! let (spec, prices) = seoul.offering("m5.large").expect("offered");
//! assert_eq!(spec.vcpu, 2);
//! assert!(prices.on_demand.usd_per_hour > 0.0);
//! ```

mod embedded;
mod error;
mod format;
pub mod generate;
pub mod instance_types;
mod model;
pub mod overhead;
mod source;
pub mod zones;

pub use embedded::{EMBEDDED_CATALOG_JSON, embedded};
pub use error::CatalogError;
pub use format::{FORMAT_VERSION, parse_catalog};
pub use model::{
    AdvisorSource, Allocatable, AllocatableCheck, Arch, Catalog, DroppedOffering,
    INTERRUPTION_BANDS, InstanceTypeSpec, Interruption, MaxPodsSource, Meta, OnDemandPrice,
    OnDemandRatio, OnDemandSource, Region, RegionalPrices, SpotPrice, Zone,
};
