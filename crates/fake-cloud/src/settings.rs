//! The fake cloud's settings: how long a launch takes, where the faults ConfigMap lives, and
//! which zones exist.

use std::time::Duration;

/// The default time from `create()` to the Node existing.
pub const DEFAULT_LAUNCH_DELAY: Duration = Duration::from_secs(2);
/// The default namespace of the faults ConfigMap.
pub const DEFAULT_NAMESPACE: &str = "spotter";
/// The default name of the faults ConfigMap.
pub const DEFAULT_FAULTS_CONFIG_MAP: &str = "spotter-fake-cloud";

/// How the fake cloud behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCloudSettings {
    /// Time from `create()` to the Node existing (default 2 s).
    pub launch_delay: Duration,
    /// The namespace of the faults ConfigMap (default `spotter`).
    pub namespace: String,
    /// The name of the faults ConfigMap (default `spotter-fake-cloud`).
    pub faults_config_map: String,
    /// The zones the cloud launches in; an offering in another zone is refused as an invalid
    /// request. Empty (the default) means the zones of the instance types' offerings, which
    /// for the embedded catalog are the zones of its region.
    pub zones: Vec<String>,
}

impl Default for FakeCloudSettings {
    fn default() -> Self {
        FakeCloudSettings {
            launch_delay: DEFAULT_LAUNCH_DELAY,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            faults_config_map: DEFAULT_FAULTS_CONFIG_MAP.to_owned(),
            zones: Vec::new(),
        }
    }
}
