//! The NodePool model: the template a NodeClaim is made from (labels, taints, startup taints,
//! requirements), limits, weight and its ordering, and the disruption settings carried along.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::labels;
use crate::offering::CapacityType;
use crate::requirements::{Requirement, Requirements};
use crate::resources::{self, Resources};
use crate::taints::Taint;

/// A `karpenter.sh/v1` NodePool, converted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodePool {
    /// The name.
    pub name: String,
    /// `spec.weight` (0 when unset); higher is tried first.
    pub weight: i32,
    /// The EC2NodeClass the pool's nodes use.
    pub node_class: String,
    /// Template labels, copied onto nodes.
    pub labels: BTreeMap<String, String>,
    /// Template annotations (Spotter's own settings live under `spotter.dev/`).
    pub annotations: BTreeMap<String, String>,
    /// Taints that pods must tolerate.
    pub taints: Vec<Taint>,
    /// Taints present only while a node starts; ignored for scheduling.
    pub startup_taints: Vec<Taint>,
    /// Template requirements, the template labels and `karpenter.sh/nodepool In [name]`; a
    /// pool read from a manifest that names no capacity type also carries
    /// `karpenter.sh/capacity-type In [on-demand]` (see [`NodePool::default_capacity_type`]).
    pub requirements: Requirements,
    /// Limits over the pool's nodes.
    pub limits: Limits,
    /// Disruption settings.
    pub disruption: Disruption,
    /// `spec.template.spec.expireAfter`; `None` is `Never`.
    pub expire_after: Option<Duration>,
    /// `spec.template.spec.terminationGracePeriod`.
    pub termination_grace_period: Option<Duration>,
    /// Spotter's return-to-Spot settings for this pool's fallback nodes, from the NodePool's
    /// `spotter.dev/return-to-spot*` annotations; unset fields take the controller's defaults.
    pub return_to_spot: ReturnToSpotOverrides,
}

/// A NodePool's own return-to-Spot settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnToSpotOverrides {
    /// `spotter.dev/return-to-spot`: `"true"` or `"false"`.
    pub enabled: Option<bool>,
    /// `spotter.dev/return-to-spot-after`: how long Spot must have been available first.
    pub min_spot_available: Option<Duration>,
    /// `spotter.dev/return-to-spot-max-concurrent`: replacements in flight at once.
    pub max_concurrent: Option<u32>,
}

/// The annotation that turns returning to Spot on or off for a NodePool's fallback nodes.
pub const RETURN_TO_SPOT_ANNOTATION: &str = "spotter.dev/return-to-spot";
/// The annotation with the minimum time Spot must have been available before a return.
pub const RETURN_TO_SPOT_AFTER_ANNOTATION: &str = "spotter.dev/return-to-spot-after";
/// The annotation with the number of returns a NodePool may have in flight.
pub const RETURN_TO_SPOT_MAX_CONCURRENT_ANNOTATION: &str =
    "spotter.dev/return-to-spot-max-concurrent";
/// The annotation on which Spotter records when it last probed Spot for a NodePool's fallback
/// nodes (RFC 3339); written by the controller, not by users.
pub const LAST_RETURN_PROBE_ANNOTATION: &str = "spotter.dev/last-return-probe";
/// The annotation on which Spotter records when it last returned one of a NodePool's fallback
/// nodes to Spot (RFC 3339); written by the controller, not by users.
pub const LAST_RETURN_TO_SPOT_ANNOTATION: &str = "spotter.dev/last-return-to-spot";

/// `spec.limits`: caps on the sum of the capacity of a pool's nodes, per resource, and on
/// their count (`nodes`). A resource that is not listed is not limited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    entries: BTreeMap<String, i64>,
}

/// `spec.disruption`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disruption {
    /// `WhenEmpty` or `WhenEmptyOrUnderutilized`.
    pub consolidation_policy: ConsolidationPolicy,
    /// How long a node must be empty or underutilised first; `None` is `Never`.
    pub consolidate_after: Option<Duration>,
    /// Disruption budgets; the most restrictive active one wins.
    pub budgets: Vec<Budget>,
}

/// When nodes may be consolidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConsolidationPolicy {
    /// Only empty nodes.
    WhenEmpty,
    /// Empty or underutilised nodes (the default).
    #[default]
    WhenEmptyOrUnderutilized,
}

/// One disruption budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// How many nodes may be disrupted at once.
    pub nodes: BudgetNodes,
    /// Cron schedule during which the budget applies (with `duration`); `None` is always.
    pub schedule: Option<String>,
    /// How long the budget applies after each scheduled start.
    pub duration: Option<Duration>,
    /// The disruption reasons it applies to; empty is all.
    pub reasons: Vec<String>,
}

/// A budget's `nodes`: a count or a percentage of the pool's nodes (rounded up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetNodes {
    /// A number of nodes.
    Count(u32),
    /// A percentage of the pool's nodes.
    Percent(u32),
}

impl Default for Disruption {
    fn default() -> Self {
        Self {
            consolidation_policy: ConsolidationPolicy::default(),
            consolidate_after: Some(Duration::ZERO),
            budgets: vec![Budget {
                nodes: BudgetNodes::Percent(10),
                schedule: None,
                duration: None,
                reasons: Vec::new(),
            }],
        }
    }
}

impl BudgetNodes {
    /// How many of `total` nodes the budget allows to disrupt.
    pub fn allowed(self, total: u32) -> u32 {
        match self {
            BudgetNodes::Count(count) => count,
            BudgetNodes::Percent(percent) => {
                (u64::from(total) * u64::from(percent)).div_ceil(100) as u32
            }
        }
    }
}

impl NodePool {
    /// A pool with this name and the default settings; `requirements` already include
    /// `karpenter.sh/nodepool In [name]`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let mut pool = Self {
            name,
            ..Self::default()
        };
        pool.refresh_requirements(&Requirements::new());
        pool
    }

    /// Karpenter's default for a NodePool whose requirements and template labels name no
    /// capacity type: it launches [`DEFAULT_CAPACITY_TYPE`] only (never Spot), so the
    /// requirement `karpenter.sh/capacity-type In [on-demand]` is added. A pool that names
    /// capacity types keeps them.
    pub fn default_capacity_type(&mut self) {
        if !self.requirements.has_key(labels::CAPACITY_TYPE) {
            self.requirements.add(
                labels::CAPACITY_TYPE,
                Requirement::single(DEFAULT_CAPACITY_TYPE.as_str()),
            );
        }
    }

    /// Sets the pool's requirements to `template_requirements` plus its template labels and its
    /// own `karpenter.sh/nodepool` label.
    pub fn refresh_requirements(&mut self, template_requirements: &Requirements) {
        let mut requirements = template_requirements.clone();
        requirements.add_all(&Requirements::from_labels(&self.labels));
        requirements.add(labels::NODE_POOL, Requirement::single(self.name.clone()));
        self.requirements = requirements;
    }
}

/// The capacity type a NodePool that names none launches, as in Karpenter v1.
pub const DEFAULT_CAPACITY_TYPE: CapacityType = CapacityType::OnDemand;

/// Karpenter's order for trying NodePools: weight descending, then name in reverse
/// alphabetical order.
pub fn weight_order(left: &NodePool, right: &NodePool) -> Ordering {
    right
        .weight
        .cmp(&left.weight)
        .then_with(|| right.name.cmp(&left.name))
}

impl Limits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits `resource` (`cpu` in millicores, `memory` in bytes, `nodes` in nodes, ...).
    pub fn set(&mut self, resource: &str, value: i64) {
        self.entries.insert(resource.to_string(), value);
    }

    /// The limit on `resource`, if any.
    pub fn get(&self, resource: &str) -> Option<i64> {
        self.entries.get(resource).copied()
    }

    /// Every limit.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), *value))
    }

    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first limit that `usage` (capacity of `nodes` nodes) goes over, as a message.
    pub fn exceeded_by(&self, usage: &Resources, nodes: i64) -> Option<String> {
        self.iter().find_map(|(name, limit)| {
            let used = if name == resources::NODES {
                nodes
            } else {
                usage.get(name)
            };
            (used > limit).then(|| {
                format!(
                    "limit {name}={} would be exceeded ({} needed)",
                    resources::format_amount(name, limit),
                    resources::format_amount(name, used)
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_order_by_weight_then_reverse_name() {
        let mut pools: Vec<NodePool> = [("a", 10), ("b", 100), ("c", 10), ("d", 0)]
            .into_iter()
            .map(|(name, weight)| NodePool {
                weight,
                ..NodePool::new(name)
            })
            .collect();
        pools.sort_by(weight_order);
        let names: Vec<&str> = pools.iter().map(|pool| pool.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
    }

    #[test]
    fn percentage_budgets_round_up() {
        assert_eq!(BudgetNodes::Percent(10).allowed(5), 1);
        assert_eq!(BudgetNodes::Percent(10).allowed(0), 0);
        assert_eq!(BudgetNodes::Percent(50).allowed(3), 2);
        assert_eq!(BudgetNodes::Count(3).allowed(1), 3);
    }

    #[test]
    fn limits_report_the_first_resource_exceeded() {
        let mut limits = Limits::new();
        limits.set(resources::CPU, 4000);
        limits.set(resources::NODES, 2);
        let usage = Resources {
            cpu_millicores: 4000,
            ..Resources::default()
        };
        assert_eq!(limits.exceeded_by(&usage, 2), None);
        assert!(
            limits
                .exceeded_by(&usage, 3)
                .is_some_and(|message| message.contains("nodes=2"))
        );
    }
}
