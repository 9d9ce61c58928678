//! The controllers' settings: Karpenter's timings, and the policy that decides how Spot is
//! chosen, how failures are remembered and whether fallback capacity goes back to Spot.
//! [`Policy::Spotter`] (the default) turns on Spotter's own behaviour; [`Policy::Karpenter`]
//! reproduces plain Karpenter v1 so that the simulator can compare the two on one scenario.

use std::fmt;
use std::time::Duration;

use spotter_core::interruption_evidence::{AvoidRules, HalfLives};
use spotter_core::offering_ranking::{RankingWeights, SpotRanking};
use spotter_core::unavailable_offerings::{Backoff, CacheSettings};

/// A preset of the behaviour that differs between Spotter and plain Karpenter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// Spotter: price-capacity-optimized Spot ranking, per-offering backoff, interruption
    /// awareness and return to Spot.
    #[default]
    Spotter,
    /// Plain Karpenter v1: the same cache and TTL, lowest-price Spot, no interruption
    /// awareness, and exactly Karpenter's disruption methods in its order (emptiness, drift,
    /// multi-node then single-node consolidation; expiry apart): no return-to-Spot
    /// method, so a fallback node goes back to Spot only when consolidation finds a cheaper
    /// Spot replacement for it.
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
    /// While a batch is open, it is solved at most this often (250 ms), and what that solve
    /// settles is done at once: new NodeClaims already full (none of their instance types has
    /// room for one more of the batch's smallest pod) are created, and pods that fit the room
    /// left on nodes and in-flight NodeClaims are nominated there. More pods cannot pack those
    /// better, and under a steady stream of pods a batch would otherwise stay open to its
    /// maximum. In a NodePool with limits, only while the pool, its NodeClaims in flight and
    /// the whole batch stay within half of them. The rest waits for the batch to close.
    /// `None` waits for the whole batch (Karpenter).
    pub early_launch_interval: Option<Duration>,
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
    /// Longer stays in the unavailable-offerings cache for offerings that keep failing;
    /// `None` keeps every stay at the TTL (Karpenter).
    pub capacity_backoff: Option<Backoff>,
    /// How a launch orders Spot offerings.
    pub spot_ranking: SpotRanking,
    /// Avoiding offerings interrupted too often; `None` turns it off (Karpenter).
    pub interruption_awareness: Option<InterruptionAwareness>,
    /// Returning fallback nodes to Spot; `None` turns it off (Karpenter). NodePools can
    /// override it with `spotter.dev/` annotations.
    pub return_to_spot: Option<ReturnToSpot>,
    /// Karpenter's `SpotToSpotConsolidation` feature gate: consolidation may replace Spot
    /// nodes with cheaper Spot nodes (off, as Karpenter's default).
    pub spot_to_spot_consolidation: bool,
    /// How long a consolidation command waits before it is computed again and, if it still
    /// holds, run (15 s, as Karpenter).
    pub consolidation_validation: Duration,
    /// A node EC2 sent a rebalance recommendation for is replaced before it is interrupted: a
    /// replacement is launched, and the node is drained once the replacement is initialized
    /// (within the pool's `Drifted` budgets). Off by default in both presets, as in Karpenter,
    /// which only records the recommendation.
    pub rebalance_replacement: bool,
}

/// When an offering counts as interrupting too often, and what follows; and how the evidence
/// learnt at the family and zone levels makes Spotter avoid a whole family in a zone or a
/// whole zone for Spot.
#[derive(Clone, Debug, PartialEq)]
pub struct InterruptionAwareness {
    /// Interruptions of one offering within `window` that make it avoided (2).
    pub threshold: u32,
    /// The window they are counted in (1 h).
    pub window: Duration,
    /// How long the offering is then kept out of launches (2 h).
    pub avoid_for: Duration,
    /// How long interruptions are remembered (12 h; older ones weigh 1/16 or less at every
    /// level's half-life).
    pub memory: Duration,
    /// How fast the evidence fades per level: offering 2 h, instance family in a zone 1 h,
    /// zone 3 h (an interruption weighs half as much after one half-life).
    pub half_lives: HalfLives,
    /// When a family in a zone or a zone is avoided for Spot: family evidence 3, zone evidence
    /// 4 (half as much where the zone's Spot placement score is 3 or less), in both cases at
    /// least 3 times the other zones' per running node, taken together (a crunch across the
    /// region avoids nothing);
    /// the avoidance lasts until the evidence fades to 1. A zone 8 interruptions deep is thus
    /// avoided for 3 zone half-lives (9 h) after its last interruption, then comes back.
    pub avoid_rules: AvoidRules,
}

/// The defaults of returning fallback nodes to Spot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnToSpot {
    /// How long the Spot offerings a replacement would use must have gone without an
    /// insufficient-capacity answer or an interruption (and the fallback node must have run)
    /// before a return starts (5 min).
    pub min_spot_available: Duration,
    /// Replacements a NodePool may have in flight at once once Spot has proven available
    /// again (one, a probe, until then) (25).
    pub max_concurrent: u32,
    /// A NodePool that falls back again within this long of a return waits this long after
    /// that return before the next one (1 h): it does not flap between Spot and on-demand.
    pub flap_window: Duration,
    /// While a NodePool's probes keep failing (the replacement never launched: Spot answered
    /// insufficient capacity), the wait before its next probe is the minimum wait times this
    /// factor for each failure in a row (2: 5, 10, then 15 min with the cap below), ...
    pub probe_backoff_factor: u32,
    /// ... up to this long (15 min); a probe that launches, or a Spot node launched since the
    /// last probe, resets it. Kept in the controller's memory: a restarted controller probes
    /// at the minimum wait again.
    pub max_probe_interval: Duration,
    /// A Spot replacement whose fallback node cannot be drained because a
    /// PodDisruptionBudget allows no eviction of its pods is deleted once it has existed this
    /// long (10 min), rather than running empty beside the fallback node (no return starts
    /// while the budget blocks).
    pub blocked_replacement_patience: Duration,
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
        match policy {
            Policy::Spotter => Self::default(),
            Policy::Karpenter => Self {
                policy,
                early_launch_interval: None,
                capacity_backoff: None,
                spot_ranking: SpotRanking::LowestPrice,
                interruption_awareness: None,
                return_to_spot: None,
                ..Self::default()
            },
        }
    }

    /// How the unavailable-offerings cache treats insufficient-capacity answers.
    pub fn cache_settings(&self) -> CacheSettings {
        CacheSettings {
            ttl: self.unavailable_offering_ttl,
            backoff: self.capacity_backoff.clone(),
        }
    }

    /// How fast interruption evidence fades at each level (the defaults without awareness:
    /// the ranking still reads them).
    pub fn half_lives(&self) -> HalfLives {
        self.interruption_awareness
            .as_ref()
            .map_or_else(HalfLives::default, |awareness| awareness.half_lives.clone())
    }

    /// How long the interruption history must remember interruptions.
    pub fn interruption_memory(&self) -> Duration {
        self.interruption_awareness
            .as_ref()
            .map_or(Duration::from_secs(3600), |awareness| {
                awareness.memory.max(awareness.window)
            })
    }
}

impl Default for InterruptionAwareness {
    fn default() -> Self {
        Self {
            threshold: 2,
            window: Duration::from_secs(3600),
            avoid_for: Duration::from_secs(2 * 3600),
            memory: Duration::from_secs(12 * 3600),
            half_lives: HalfLives::default(),
            avoid_rules: AvoidRules::default(),
        }
    }
}

impl Default for ReturnToSpot {
    fn default() -> Self {
        Self {
            min_spot_available: Duration::from_secs(300),
            max_concurrent: 25,
            flap_window: Duration::from_secs(3600),
            probe_backoff_factor: 2,
            max_probe_interval: Duration::from_secs(15 * 60),
            blocked_replacement_patience: Duration::from_secs(10 * 60),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: Policy::Spotter,
            batch_idle: Duration::from_secs(1),
            batch_max: Duration::from_secs(10),
            early_launch_interval: Some(Duration::from_millis(250)),
            unavailable_offering_ttl: Duration::from_secs(180),
            launch_timeout: Duration::from_secs(300),
            registration_timeout: Duration::from_secs(900),
            force_delete_before_deadline: Duration::from_secs(20),
            disruption_poll: Duration::from_secs(10),
            capacity_backoff: Some(Backoff {
                max_ttl: Duration::from_secs(30 * 60),
                reset_after: Duration::from_secs(3600),
            }),
            spot_ranking: SpotRanking::PriceCapacityOptimized(RankingWeights::default()),
            interruption_awareness: Some(InterruptionAwareness::default()),
            return_to_spot: Some(ReturnToSpot::default()),
            spot_to_spot_consolidation: false,
            consolidation_validation: Duration::from_secs(15),
            rebalance_replacement: false,
        }
    }
}
