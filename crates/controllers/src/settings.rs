//! The controllers' settings, with Karpenter's defaults.

use std::time::Duration;

/// Timings and limits the controllers run with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// A batch of pending pods is solved once no new pod arrived for this long (1 s).
    pub batch_idle: Duration,
    /// ... or once the batch is this old (10 s).
    pub batch_max: Duration,
    /// How long an offering stays unavailable after an insufficient-capacity answer (3 min).
    pub unavailable_offering_ttl: Duration,
    /// A NodeClaim not launched after this long is deleted (5 min).
    pub launch_timeout: Duration,
    /// A launched NodeClaim whose node has not registered after this long is deleted (15 min).
    pub registration_timeout: Duration,
    /// Pods still on a node this long before its interruption deadline are deleted, so that
    /// none is killed by the instance going away (20 s).
    pub force_delete_before_deadline: Duration,
    /// How often the disruption controllers look for nodes to remove (10 s, as Karpenter).
    pub disruption_poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            batch_idle: Duration::from_secs(1),
            batch_max: Duration::from_secs(10),
            unavailable_offering_ttl: Duration::from_secs(180),
            launch_timeout: Duration::from_secs(300),
            registration_timeout: Duration::from_secs(900),
            force_delete_before_deadline: Duration::from_secs(20),
            disruption_poll: Duration::from_secs(10),
        }
    }
}
