//! The controllers' settings: Karpenter's timings, and the policy that decides how Spot is
//! chosen, how failures are remembered and whether fallback capacity goes back to Spot.
//! [`Policy::Spotter`] (the default) turns on Spotter's own behaviour; [`Policy::Karpenter`]
//! reproduces plain Karpenter v1 so that the simulator can compare the two on one scenario.

use std::fmt;
use std::time::Duration;

/// A preset of the behaviour that differs between Spotter and plain Karpenter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// Spotter: price-capacity-optimized Spot ranking, per-offering backoff, interruption
    /// awareness and return to Spot.
    #[default]
    Spotter,
    /// Plain Karpenter v1: the same cache and TTL, lowest-price Spot, no return to Spot (only
    /// ordinary consolidation removes fallback nodes), no interruption awareness.
    Karpenter,
}

/// Why a policy name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy {0:?}: expected spotter or karpenter")]
pub struct UnknownPolicy(pub String);

/// Timings and limits the controllers run with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The preset these settings came from (reported, never branched on: the fields below
    /// carry the behaviour).
    pub policy: Policy,
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

impl Policy {
    /// Every policy, Spotter first.
    pub const ALL: [Policy; 2] = [Policy::Spotter, Policy::Karpenter];

    /// The policy's name (`spotter`, `karpenter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Spotter => "spotter",
            Policy::Karpenter => "karpenter",
        }
    }

    /// Parses a policy name.
    pub fn parse(text: &str) -> Result<Self, UnknownPolicy> {
        Policy::ALL
            .into_iter()
            .find(|policy| policy.as_str() == text)
            .ok_or_else(|| UnknownPolicy(text.to_string()))
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Settings {
    /// The settings of a policy preset.
    pub fn for_policy(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: Policy::Spotter,
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
