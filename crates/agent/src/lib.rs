//! Spotter's node agent (`spotter agent`): a DaemonSet pod on the host network of each Spot
//! node that polls IMDSv2 for interruption notices ([`poller`], through [`imds_client`]) and
//! reports them on its own Node object. It never drains: the controller acts, once per
//! (instance, notice class), whether the notice came from here or from the interruption queue.

pub mod imds_client;
#[cfg(feature = "test-support")]
pub mod imds_mock;
pub mod node_report;
pub mod node_reporter;
pub mod poller;
