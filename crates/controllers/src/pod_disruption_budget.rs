//! PodDisruptionBudgets: which pods they cover and how many of those may be evicted now.

use spotter_core::label_selector::LabelSelector;
use spotter_core::pod::Pod;

/// A PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq)]
pub struct PodDisruptionBudget {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The pods it covers.
    pub selector: LabelSelector,
    /// The budget.
    pub budget: Budget,
    /// How many pods the owners want (the scale of the Deployments it covers).
    pub expected_pods: u32,
}

/// `minAvailable` or `maxUnavailable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// At least this many pods must stay healthy.
    MinAvailable(Amount),
    /// At most this many pods may be unhealthy.
    MaxUnavailable(Amount),
}

/// A count or a percentage of the expected pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    /// A number of pods.
    Count(u32),
    /// A percentage, rounded up as Kubernetes does.
    Percent(u32),
}

impl PodDisruptionBudget {
    /// Whether the budget covers `pod`.
    pub fn covers(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace && self.selector.matches(&pod.labels)
    }

    /// How many more covered pods may be disrupted when `healthy` of them are running.
    pub fn allowed_disruptions(&self, healthy: u32) -> u32 {
        let expected = self.expected_pods;
        let resolve = |amount: Amount| match amount {
            Amount::Count(count) => count,
            Amount::Percent(percent) => {
                (u64::from(expected) * u64::from(percent)).div_ceil(100) as u32
            }
        };
        match self.budget {
            Budget::MinAvailable(amount) => healthy.saturating_sub(resolve(amount)),
            Budget::MaxUnavailable(amount) => {
                let unhealthy = expected.saturating_sub(healthy);
                resolve(amount).saturating_sub(unhealthy)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(budget: Budget, expected_pods: u32) -> PodDisruptionBudget {
        PodDisruptionBudget {
            name: "pdb".into(),
            namespace: "default".into(),
            selector: LabelSelector::default(),
            budget,
            expected_pods,
        }
    }

    #[test]
    fn allowed_disruptions_follow_kubernetes() {
        let cases = [
            (Budget::MaxUnavailable(Amount::Count(0)), 10, 10, 0),
            (Budget::MaxUnavailable(Amount::Count(2)), 10, 10, 2),
            (Budget::MaxUnavailable(Amount::Count(2)), 10, 9, 1),
            (Budget::MaxUnavailable(Amount::Percent(10)), 15, 15, 2),
            (Budget::MinAvailable(Amount::Count(8)), 10, 10, 2),
            (Budget::MinAvailable(Amount::Percent(50)), 10, 4, 0),
            (Budget::MinAvailable(Amount::Percent(50)), 10, 7, 2),
        ];
        for (kind, expected, healthy, allowed) in cases {
            assert_eq!(
                budget(kind, expected).allowed_disruptions(healthy),
                allowed,
                "{kind:?} {expected} {healthy}"
            );
        }
    }
}
