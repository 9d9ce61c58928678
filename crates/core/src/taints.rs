//! Taints and tolerations with every operator and effect, and the well-known taints Karpenter
//! puts on the nodes it manages.

use std::fmt;

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    /// New pods are not scheduled.
    NoSchedule,
    /// kube-scheduler avoids the node; Karpenter treats it as `NoSchedule` until preferences
    /// are relaxed.
    PreferNoSchedule,
    /// New pods are not scheduled and running ones are evicted.
    NoExecute,
}

/// A taint on a node or in a NodePool template.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    /// The taint key.
    pub key: String,
    /// The taint value (may be empty).
    pub value: String,
    /// The effect.
    pub effect: Effect,
}

/// How a toleration matches a taint's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TolerationOperator {
    /// Key and value must be equal.
    #[default]
    Equal,
    /// The key must match; the value is ignored. An empty key with `Exists` tolerates every taint.
    Exists,
}

/// A pod's toleration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Toleration {
    /// The key; empty matches every key (only with `Exists`).
    pub key: String,
    /// The operator.
    pub operator: TolerationOperator,
    /// The value (for `Equal`).
    pub value: String,
    /// The effect; `None` matches every effect.
    pub effect: Option<Effect>,
}

/// `karpenter.sh/disrupted:NoSchedule`, put on nodes being disrupted.
pub const DISRUPTED_TAINT_KEY: &str = "karpenter.sh/disrupted";
/// `karpenter.sh/unregistered:NoExecute`, put on nodes until they register.
pub const UNREGISTERED_TAINT_KEY: &str = "karpenter.sh/unregistered";
/// `node.kubernetes.io/unschedulable:NoSchedule`, the taint of a cordoned node.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

impl Taint {
    /// A taint with key, value and effect.
    pub fn new(key: impl Into<String>, value: impl Into<String>, effect: Effect) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }
}

impl Toleration {
    /// Whether this toleration tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|effect| effect != taint.effect) {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => self.key.is_empty() || self.key == taint.key,
            TolerationOperator::Equal => self.key == taint.key && self.value == taint.value,
        }
    }
}

/// Whether `tolerations` tolerate every taint in `taints`; returns the first taint that is not
/// tolerated. `PreferNoSchedule` taints count unless `ignore_prefer_no_schedule`.
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    ignore_prefer_no_schedule: bool,
) -> Option<&'a Taint> {
    taints.iter().find(|taint| {
        let ignored = ignore_prefer_no_schedule && taint.effect == Effect::PreferNoSchedule;
        !ignored
            && !tolerations
                .iter()
                .any(|toleration| toleration.tolerates(taint))
    })
}

impl fmt::Display for Effect {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        })
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(formatter, "{}:{}", self.key, self.effect)
        } else {
            write!(formatter, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(
        key: &str,
        operator: TolerationOperator,
        value: &str,
        effect: Option<Effect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn tolerations_match_taints_by_operator_and_effect() {
        use Effect::*;
        use TolerationOperator::*;
        let taint = Taint::new("dedicated", "gpu", NoSchedule);
        let cases = [
            (toleration("dedicated", Equal, "gpu", None), true),
            (
                toleration("dedicated", Equal, "gpu", Some(NoSchedule)),
                true,
            ),
            (
                toleration("dedicated", Equal, "gpu", Some(NoExecute)),
                false,
            ),
            (toleration("dedicated", Equal, "cpu", None), false),
            (toleration("dedicated", Exists, "", None), true),
            (toleration("other", Exists, "", None), false),
            (toleration("", Exists, "", None), true),
            (toleration("", Exists, "", Some(PreferNoSchedule)), false),
        ];
        for (toleration, tolerated) in cases {
            assert_eq!(toleration.tolerates(&taint), tolerated, "{toleration:?}");
        }
    }

    #[test]
    fn prefer_no_schedule_is_hard_until_relaxed() {
        let taints = [Taint::new("soft", "", Effect::PreferNoSchedule)];
        assert!(first_untolerated(&taints, &[], false).is_some());
        assert!(first_untolerated(&taints, &[], true).is_none());
    }
}
