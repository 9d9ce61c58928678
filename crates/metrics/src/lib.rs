//! Spotter's Prometheus metrics. [`Metrics`] owns every metric family, registered with
//! `prometheus_client`: Karpenter's (`karpenter_nodes_*`, `karpenter_nodeclaims_*`,
//! `karpenter_nodepools_*`, `karpenter_pods_*`, `karpenter_interruption_*`,
//! `karpenter_cloudprovider_*`, with Karpenter's names and label sets, so that dashboards made
//! for Karpenter work unchanged) and Spotter's own (`spotter_fallback_total`,
//! `spotter_return_to_spot_total`, `spotter_fallback_nodes`, `spotter_spot_ratio`,
//! `spotter_estimated_savings_usd_per_hour`, `spotter_unavailable_offerings`,
//! `spotter_interruption_malformed_messages_total`).
//!
//! There are no globals: a driver (the simulator's, the kube driver) owns a `Metrics`, feeds it
//! the cluster state and what its actions did, and hands its [`Exposer`] to an HTTP endpoint,
//! which writes the exposition without the driver's lock. This crate depends on the controllers' state, the cloud's types and the interruption queue's
//! message types only; no I/O, no clock (time is passed in), no async. [`describe`] reads every
//! family's name, type, labels and help back from an encoding, which is what `docs/metrics.md`
//! is generated from.

pub mod describe;
pub mod error;
pub mod exposer;
mod labels;
pub mod metrics;
mod node_series;
mod offering_series;
mod pods_state;
mod summary;

pub use error::MetricsError;
pub use exposer::Exposer;
pub use metrics::{Format, Metrics, NoticeSource, ON_DEMAND_PRICE_FALLBACK_REASONS};
