//! Spotter's pure scheduling core.
//!
//! It owns the model every other layer shares (resource quantities, the requirements algebra,
//! taints, instance types and offerings, NodePools, pods and nodes) and the decisions made on
//! it, starting with the solver that places pending pods. It performs no I/O, reads no clock
//! and imports no async runtime, Kubernetes client or AWS SDK: time, when a decision needs it,
//! is a parameter, and the drivers (simulator, kube) convert their own types into these at the
//! edge.

pub mod builders;
pub mod instance_type;
pub mod interruption_evidence;
pub mod interruption_history;
pub mod label_selector;
pub mod labels;
pub mod node;
pub mod node_pool;
pub mod offering;
pub mod offering_ranking;
pub mod overhead;
pub mod placement_scores;
pub mod pod;
pub mod quantity;
pub mod random;
pub mod requirements;
pub mod resources;
pub mod solver;
pub mod stable_hash;
pub mod taints;
pub mod unavailable_offerings;
pub mod value_set;
