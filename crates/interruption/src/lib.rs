//! EC2 interruption signals, whatever brings them.
//!
//! The crate owns the typed [`notice::Notice`] (an instance and what is about to happen to it)
//! and the parsers of the two outside sources that carry notices: the EventBridge events that
//! arrive as SQS message bodies ([`event_bridge`]) and the answers of the instance metadata
//! service on the node ([`imds`]). It is pure: no I/O, no clock, no async runtime. Nothing a
//! queue or IMDS sends can make it panic; what it cannot read comes back as an error that says
//! which field is wrong.

pub mod event_bridge;
pub mod imds;
pub mod notice;
pub mod timestamp;
