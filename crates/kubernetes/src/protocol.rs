//! Karpenter's object protocol as Spotter speaks it: the finalizer, taints, labels and
//! condition types Karpenter v1 uses on NodeClaims and Nodes, and the `spotter.dev/`
//! annotations through which Spotter's own state survives a restart. One place for every
//! name written on an object.

/// Holds NodeClaims and Nodes until their instance is gone (Karpenter's).
pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";
/// The label Karpenter puts on a Node once its NodeClaim has registered it.
pub const REGISTERED_LABEL: &str = "karpenter.sh/registered";
/// Marks a static pod's mirror.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The field manager of Spotter's writes.
pub const FIELD_MANAGER: &str = "spotter";

/// NodeClaim: on-demand capacity launched because Spot was unavailable (`"true"`).
pub const FALLBACK_ANNOTATION: &str = "spotter.dev/fallback";
/// NodeClaim: the fallback NodeClaim this Spot one replaces (a return to Spot).
pub const REPLACES_ANNOTATION: &str = "spotter.dev/replaces";
/// NodeClaim: why Spotter is deleting it (`karpenter_nodeclaims_disrupted_total` reasons).
pub const DISRUPTION_REASON_ANNOTATION: &str = "spotter.dev/disruption-reason";
/// NodeClaim: when its instance goes regardless (RFC 3339), for a Spot interruption.
pub const TERMINATION_DEADLINE_ANNOTATION: &str = "spotter.dev/termination-deadline";
/// NodePool: when Spotter last probed Spot for its fallback nodes (RFC 3339).
pub use spotter_core::node_pool::LAST_RETURN_PROBE_ANNOTATION;
/// NodePool: when Spotter last returned one of its fallback nodes to Spot (RFC 3339).
pub use spotter_core::node_pool::LAST_RETURN_TO_SPOT_ANNOTATION;

/// NodeClaim condition: the instance exists.
pub const LAUNCHED: &str = "Launched";
/// NodeClaim condition: its node joined the cluster.
pub const REGISTERED: &str = "Registered";
/// NodeClaim condition: its node is Ready with its startup taints gone.
pub const INITIALIZED: &str = "Initialized";
/// NodeClaim condition: all of the above.
pub const READY: &str = "Ready";
/// NodeClaim condition: no pod came or went for its NodePool's `consolidateAfter`.
pub const CONSOLIDATABLE: &str = "Consolidatable";
/// NodeClaim condition: it no longer matches its NodePool.
pub const DRIFTED: &str = "Drifted";

/// The node conditions `spotter agent` writes for interruption notices.
pub const NOTICE_CONDITIONS: [&str; 5] = [
    "SpotInterruption",
    "RebalanceRecommendation",
    "InstanceStopped",
    "InstanceTerminated",
    "ScheduledChange",
];
