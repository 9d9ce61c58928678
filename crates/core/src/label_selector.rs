//! Label selectors (`matchLabels` and `matchExpressions`) as pod affinity, anti-affinity and
//! topology spread constraints use them to pick the pods they count.

use std::collections::BTreeMap;

/// The operator of a label-selector expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SelectorOperator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SelectorExpression {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: SelectorOperator,
    /// The values (for `In` and `NotIn`).
    pub values: Vec<String>,
}

/// A Kubernetes label selector. The empty selector matches every pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<SelectorExpression>,
}

impl LabelSelector {
    /// A selector on exact label values.
    pub fn from_labels(labels: BTreeMap<String, String>) -> Self {
        Self {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|expression| {
                let value = labels.get(&expression.key);
                match expression.operator {
                    SelectorOperator::In => {
                        value.is_some_and(|value| expression.values.contains(value))
                    }
                    SelectorOperator::NotIn => {
                        value.is_none_or(|value| !expression.values.contains(value))
                    }
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "a".to_string()),
        ]);
        let expression = |key: &str, operator, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![SelectorExpression {
                key: key.into(),
                operator,
                values: values.iter().map(|value| value.to_string()).collect(),
            }],
        };
        use SelectorOperator::*;
        let cases = [
            (LabelSelector::default(), true),
            (
                LabelSelector::from_labels(BTreeMap::from([("app".into(), "web".into())])),
                true,
            ),
            (
                LabelSelector::from_labels(BTreeMap::from([("app".into(), "db".into())])),
                false,
            ),
            (expression("tier", In, &["a", "b"]), true),
            (expression("tier", NotIn, &["a"]), false),
            (expression("zone", NotIn, &["a"]), true),
            (expression("app", Exists, &[]), true),
            (expression("app", DoesNotExist, &[]), false),
        ];
        for (selector, expected) in cases {
            assert_eq!(selector.matches(&labels), expected, "{selector:?}");
        }
    }
}
