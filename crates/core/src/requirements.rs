//! The requirements algebra: sets of allowed label values built from node-selector operators
//! (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, with `minValues`), their intersection,
//! and the compatibility checks Karpenter makes between a pod, a NodePool and an instance type.

use std::collections::BTreeMap;
use std::fmt;

use crate::labels;
use crate::value_set::ValueSet;

/// A node-selector operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's value is an integer greater than the single value.
    Gt,
    /// The label's value is an integer less than the single value.
    Lt,
}

/// One node-selector expression as written in a manifest (`key`, `operator`, `values`,
/// `minValues`), before it becomes a [`Requirement`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSelectorRequirement {
    /// The label key (beta aliases are normalised when it is converted).
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values.
    pub values: Vec<String>,
    /// Karpenter's `minValues`: at least this many distinct values must stay possible.
    pub min_values: Option<u32>,
}

/// The set of values a label may take: either a finite set of values, or every value except a
/// finite set (the complement), optionally bounded to integers by `Gt` / `Lt`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    complement: bool,
    values: ValueSet,
    greater_than: Option<i64>,
    less_than: Option<i64>,
    min_values: Option<u32>,
}

/// Why an expression cannot be turned into a requirement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// `Gt` and `Lt` take exactly one integer value.
    #[error(
        "failed to read requirement on {key:?}: operator {operator:?} needs exactly one integer value, got {values:?}"
    )]
    NotOneInteger {
        /// The label key.
        key: String,
        /// The operator.
        operator: Operator,
        /// The values given.
        values: Vec<String>,
    },
}

/// Why two sets of requirements cannot be met together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Incompatibility {
    /// Both name the label, and no value satisfies both.
    #[error("requirement conflict on label {key:?}: {incoming} does not intersect {existing}")]
    Conflict {
        /// The label key.
        key: String,
        /// What the incoming side (usually the pod) requires.
        incoming: String,
        /// What the existing side (NodePool, instance type or node) allows.
        existing: String,
    },
    /// The incoming side requires a label that the other side never sets.
    #[error(
        "label {key:?} does not have known values: no NodePool requirement or template label defines it"
    )]
    UndefinedLabel {
        /// The label key.
        key: String,
    },
}

impl Requirement {
    /// The requirement an operator and its values describe.
    pub fn new(key: &str, operator: Operator, values: &[String]) -> Result<Self, RequirementError> {
        let set = || values.iter().cloned().collect::<ValueSet>();
        let bound = || match values {
            [value] => value.trim().parse::<i64>().ok(),
            _ => None,
        };
        let not_one_integer = || RequirementError::NotOneInteger {
            key: key.to_string(),
            operator,
            values: values.to_vec(),
        };
        Ok(match operator {
            Operator::In => Self::in_values(set()),
            Operator::NotIn => Self {
                complement: true,
                values: set(),
                ..Self::exists()
            },
            Operator::Exists => Self::exists(),
            Operator::DoesNotExist => Self::does_not_exist(),
            Operator::Gt => Self {
                greater_than: Some(bound().ok_or_else(not_one_integer)?),
                ..Self::exists()
            },
            Operator::Lt => Self {
                less_than: Some(bound().ok_or_else(not_one_integer)?),
                ..Self::exists()
            },
        })
    }

    /// Any value (`Exists`).
    pub fn exists() -> Self {
        Self {
            complement: true,
            values: ValueSet::new(),
            greater_than: None,
            less_than: None,
            min_values: None,
        }
    }

    /// No value at all (`DoesNotExist`).
    pub fn does_not_exist() -> Self {
        Self {
            complement: false,
            ..Self::exists()
        }
    }

    /// Exactly these values (`In`).
    pub fn in_values(values: impl IntoIterator<Item = String>) -> Self {
        Self {
            complement: false,
            values: values.into_iter().collect(),
            ..Self::exists()
        }
    }

    /// Exactly one value (`In [value]`).
    pub fn single(value: impl Into<String>) -> Self {
        Self::in_values([value.into()])
    }

    /// The same set, asking that at least `min_values` distinct values remain possible.
    pub fn with_min_values(mut self, min_values: Option<u32>) -> Self {
        self.min_values = min_values;
        self
    }

    /// Karpenter's `minValues` for this key, if any.
    pub fn min_values(&self) -> Option<u32> {
        self.min_values
    }

    /// Whether `value` is in the set.
    pub fn has(&self, value: &str) -> bool {
        if self.complement {
            !self.values.contains(value) && self.within_bounds(value)
        } else {
            self.values.contains(value)
        }
    }

    /// The values of a finite set (empty for a complement).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .map(String::as_str)
            .filter(|_| !self.complement)
    }

    /// The number of values in the set; `usize::MAX - excluded` for a complement.
    pub fn len(&self) -> usize {
        if self.complement {
            if self.integer_range_is_empty() {
                0
            } else {
                usize::MAX - self.values.len()
            }
        } else {
            self.values.len()
        }
    }

    /// Whether no value satisfies the requirement.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node-selector expressions that describe the set on `key` (the inverse of
    /// [`Requirement::new`]): one for a plain set, two or three for a complement bounded by
    /// `Gt`/`Lt` that also excludes values. [`Requirements::from_expressions`] of the result
    /// gives back the same requirement; drivers write NodeClaims' requirements with it.
    pub fn expressions(&self, key: &str) -> Vec<NodeSelectorRequirement> {
        let expression = |operator: Operator, values: Vec<String>| NodeSelectorRequirement {
            key: key.to_string(),
            operator,
            values,
            min_values: self.min_values,
        };
        if !self.complement {
            let operator = if self.values.is_empty() {
                Operator::DoesNotExist
            } else {
                Operator::In
            };
            return vec![expression(operator, self.values.iter().cloned().collect())];
        }
        let mut expressions = Vec::new();
        if let Some(bound) = self.greater_than {
            expressions.push(expression(Operator::Gt, vec![bound.to_string()]));
        }
        if let Some(bound) = self.less_than {
            expressions.push(expression(Operator::Lt, vec![bound.to_string()]));
        }
        if !self.values.is_empty() {
            expressions.push(expression(
                Operator::NotIn,
                self.values.iter().cloned().collect(),
            ));
        }
        if expressions.is_empty() {
            expressions.push(expression(Operator::Exists, Vec::new()));
        }
        expressions
    }

    /// The operator that best describes the set.
    pub fn operator(&self) -> Operator {
        if self.complement {
            if !self.values.is_empty() {
                Operator::NotIn
            } else if self.greater_than.is_some() {
                Operator::Gt
            } else if self.less_than.is_some() {
                Operator::Lt
            } else {
                Operator::Exists
            }
        } else if self.values.is_empty() {
            Operator::DoesNotExist
        } else {
            Operator::In
        }
    }

    /// The set of values both requirements allow; `minValues` is the larger of the two.
    pub fn intersection(&self, other: &Requirement) -> Requirement {
        let greater_than = max_option(self.greater_than, other.greater_than);
        let less_than = min_option(self.less_than, other.less_than);
        let min_values = max_option(self.min_values, other.min_values);
        let (complement, values) = match (self.complement, other.complement) {
            (true, true) => (true, self.values.union(&other.values)),
            (true, false) => (false, other.values.difference(&self.values)),
            (false, true) => (false, self.values.difference(&other.values)),
            (false, false) => (false, self.values.intersection(&other.values)),
        };
        let mut result = Requirement {
            complement,
            values,
            greater_than,
            less_than,
            min_values,
        };
        if !complement {
            let bounds = result.clone();
            result.values.retain(|value| bounds.within_bounds(value));
            result.greater_than = None;
            result.less_than = None;
        } else if result.integer_range_is_empty() {
            result = Requirement {
                min_values,
                ..Requirement::does_not_exist()
            };
        }
        result
    }

    /// Whether some value is in both sets: the same answer as
    /// `!self.intersection(other).is_empty()`, without building the intersection.
    pub fn overlaps(&self, other: &Requirement) -> bool {
        match (self.complement, other.complement) {
            (true, true) => !matches!(
                (max_option(self.greater_than, other.greater_than), min_option(self.less_than, other.less_than)),
                (Some(greater_than), Some(less_than)) if less_than.saturating_sub(greater_than) <= 1
            ),
            (true, false) => other.values.iter().any(|value| self.has(value)),
            (false, true) => self.values.iter().any(|value| other.has(value)),
            (false, false) => {
                let (smaller, larger) = if self.values.len() <= other.values.len() {
                    (self, other)
                } else {
                    (other, self)
                };
                smaller
                    .values
                    .iter()
                    .any(|value| larger.values.contains(value))
            }
        }
    }

    fn within_bounds(&self, value: &str) -> bool {
        if self.greater_than.is_none() && self.less_than.is_none() {
            return true;
        }
        let Ok(number) = value.parse::<i64>() else {
            return false;
        };
        self.greater_than.is_none_or(|bound| number > bound)
            && self.less_than.is_none_or(|bound| number < bound)
    }

    fn integer_range_is_empty(&self) -> bool {
        match (self.greater_than, self.less_than) {
            (Some(greater_than), Some(less_than)) => less_than.saturating_sub(greater_than) <= 1,
            _ => false,
        }
    }

    fn is_negative(&self) -> bool {
        matches!(self.operator(), Operator::NotIn | Operator::DoesNotExist)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |values: &ValueSet| {
            values
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.operator() {
            Operator::In => write!(formatter, "In [{}]", list(&self.values))?,
            Operator::NotIn => write!(formatter, "NotIn [{}]", list(&self.values))?,
            Operator::Exists => formatter.write_str("Exists")?,
            Operator::DoesNotExist => formatter.write_str("DoesNotExist")?,
            Operator::Gt | Operator::Lt => formatter.write_str("Exists")?,
        }
        if self.complement {
            if let Some(bound) = self.greater_than {
                write!(formatter, " > {bound}")?;
            }
            if let Some(bound) = self.less_than {
                write!(formatter, " < {bound}")?;
            }
        }
        if let Some(min_values) = self.min_values {
            write!(formatter, " (minValues {min_values})")?;
        }
        Ok(())
    }
}

/// Requirements on several label keys, all of which must hold. A key that is absent is
/// unconstrained.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Requirements {
    /// Sorted by key, one entry per key: a few dozen at most, so a vector searched by bisection
    /// (an instance type's requirements stay a single allocation).
    by_key: Vec<(String, Requirement)>,
}

impl Requirements {
    /// No requirement at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The conjunction of node-selector expressions (beta aliases normalised).
    pub fn from_expressions(
        expressions: &[NodeSelectorRequirement],
    ) -> Result<Self, RequirementError> {
        let mut requirements = Self::new();
        for expression in expressions {
            let key = labels::normalize(&expression.key);
            let requirement = Requirement::new(key, expression.operator, &expression.values)?
                .with_min_values(expression.min_values);
            requirements.add(key, requirement);
        }
        Ok(requirements)
    }

    /// One `In [value]` requirement per label (beta aliases normalised).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut requirements = Self::new();
        for (key, value) in labels {
            requirements.add(labels::normalize(key), Requirement::single(value.clone()));
        }
        requirements
    }

    /// Adds a requirement, intersecting it with what the key already requires.
    pub fn add(&mut self, key: &str, requirement: Requirement) {
        match self.position(key) {
            Ok(index) => {
                let existing = &mut self.by_key[index].1;
                *existing = existing.intersection(&requirement);
            }
            Err(index) => self.by_key.insert(index, (key.to_string(), requirement)),
        }
    }

    /// Adds every requirement of `other`.
    pub fn add_all(&mut self, other: &Requirements) {
        for (key, requirement) in &other.by_key {
            self.add(key, requirement.clone());
        }
    }

    /// The requirement on `key`, if the key is constrained.
    pub fn get(&self, key: &str) -> Option<&Requirement> {
        self.position(key).ok().map(|index| &self.by_key[index].1)
    }

    /// Whether `key` is constrained.
    pub fn has_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Whether `value` is allowed for `key` (an unconstrained key allows everything).
    pub fn allows(&self, key: &str, value: &str) -> bool {
        self.get(key)
            .is_none_or(|requirement| requirement.has(value))
    }

    /// The constrained keys and their requirements, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Requirement)> {
        self.by_key
            .iter()
            .map(|(key, requirement)| (key.as_str(), requirement))
    }

    /// Gives back the room kept for more keys (for requirements kept long, as an instance
    /// type's).
    pub fn shrink_to_fit(&mut self) {
        self.by_key.shrink_to_fit();
    }

    /// Where `key` is in `by_key`, or where it would go.
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.by_key
            .binary_search_by(|(existing, _)| existing.as_str().cmp(key))
    }

    /// Whether nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The intersection of both: every key of either, intersected where both name it.
    pub fn intersection(&self, other: &Requirements) -> Requirements {
        let mut result = self.clone();
        result.add_all(other);
        result
    }

    /// Whether some value satisfies both sides for every key they share. As in Karpenter, two
    /// negative requirements (`NotIn`, `DoesNotExist`) never conflict.
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), Incompatibility> {
        for (key, incoming_requirement) in &incoming.by_key {
            let Some(existing) = self.get(key) else {
                continue;
            };
            let both_negative = incoming_requirement.is_negative() && existing.is_negative();
            if !both_negative && !existing.overlaps(incoming_requirement) {
                return Err(Incompatibility::Conflict {
                    key: key.clone(),
                    incoming: incoming_requirement.to_string(),
                    existing: existing.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether `incoming` (a pod's requirements) can be met by a node with these requirements.
    /// A positive requirement on a key this side does not name fails, unless
    /// `allow_undefined(key)` (well-known labels, whose values come from instance types).
    pub fn compatible(
        &self,
        incoming: &Requirements,
        allow_undefined: impl Fn(&str) -> bool,
    ) -> Result<(), Incompatibility> {
        for (key, requirement) in &incoming.by_key {
            if !self.has_key(key) && !requirement.is_negative() && !allow_undefined(key) {
                return Err(Incompatibility::UndefinedLabel { key: key.clone() });
            }
        }
        self.intersects(incoming)
    }

    /// Whether a node labelled exactly `labels` satisfies these requirements: the same answer
    /// as `Requirements::from_labels(labels).compatible(self, |_| false)`, without building
    /// requirements from the labels.
    pub fn matched_by_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), Incompatibility> {
        for (key, requirement) in &self.by_key {
            match labels.get(key) {
                Some(value) if !requirement.has(value) => {
                    return Err(Incompatibility::Conflict {
                        key: key.clone(),
                        incoming: requirement.to_string(),
                        existing: format!("In [{value}]"),
                    });
                }
                None if !requirement.is_negative() => {
                    return Err(Incompatibility::UndefinedLabel { key: key.clone() });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The labels these requirements pin to a single value (what a node gets labelled with).
    pub fn single_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_key.iter().filter_map(|(key, requirement)| {
            let mut values = requirement.values();
            match (values.next(), values.next()) {
                (Some(value), None) => Some((key.as_str(), value)),
                _ => None,
            }
        })
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (key, requirement) in &self.by_key {
            if !first {
                formatter.write_str("; ")?;
            }
            first = false;
            write!(formatter, "{key} {requirement}")?;
        }
        Ok(())
    }
}

fn max_option<T: Ord>(left: Option<T>, right: Option<T>) -> Option<T> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
    }
}

fn min_option<T: Ord>(left: Option<T>, right: Option<T>) -> Option<T> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirement(operator: Operator, values: &[&str]) -> Requirement {
        let values: Vec<String> = values.iter().map(|value| value.to_string()).collect();
        Requirement::new("key", operator, &values).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn membership_follows_each_operator() {
        use Operator::*;
        let cases: &[(Operator, &[&str], &str, bool)] = &[
            (In, &["a", "b"], "a", true),
            (In, &["a", "b"], "c", false),
            (NotIn, &["a"], "a", false),
            (NotIn, &["a"], "z", true),
            (Exists, &[], "anything", true),
            (DoesNotExist, &[], "anything", false),
            (Gt, &["4"], "5", true),
            (Gt, &["4"], "4", false),
            (Gt, &["4"], "five", false),
            (Lt, &["4"], "3", true),
            (Lt, &["4"], "4", false),
        ];
        for (operator, values, probe, expected) in cases {
            assert_eq!(
                requirement(*operator, values).has(probe),
                *expected,
                "{operator:?} {values:?} has {probe}"
            );
        }
    }

    #[test]
    fn intersection_table() {
        use Operator::*;
        type Side = (Operator, &'static [&'static str]);
        let cases: &[(Side, Side, &str)] = &[
            ((In, &["a", "b"]), (In, &["b", "c"]), "In [b]"),
            ((In, &["a", "b"]), (NotIn, &["a"]), "In [b]"),
            ((NotIn, &["a"]), (NotIn, &["b"]), "NotIn [a, b]"),
            ((Exists, &[]), (In, &["a"]), "In [a]"),
            ((Exists, &[]), (DoesNotExist, &[]), "DoesNotExist"),
            ((Gt, &["2"]), (In, &["1", "3", "x"]), "In [3]"),
            ((Gt, &["2"]), (Lt, &["3"]), "DoesNotExist"),
            ((Gt, &["2"]), (Lt, &["5"]), "Exists > 2 < 5"),
        ];
        for ((left_operator, left_values), (right_operator, right_values), expected) in cases {
            let left = requirement(*left_operator, left_values);
            let right = requirement(*right_operator, right_values);
            assert_eq!(left.intersection(&right).to_string(), *expected);
            assert_eq!(right.intersection(&left).to_string(), *expected);
        }
    }

    #[test]
    fn gt_and_lt_need_one_integer() {
        for values in [
            vec![],
            vec!["a".to_string()],
            vec!["1".to_string(), "2".to_string()],
        ] {
            assert!(Requirement::new("cpu", Operator::Gt, &values).is_err());
        }
    }

    #[test]
    fn compatibility_rejects_undefined_custom_labels_but_allows_well_known_ones() {
        let pool = Requirements::from_expressions(&[NodeSelectorRequirement {
            key: labels::CAPACITY_TYPE.into(),
            operator: Operator::In,
            values: vec!["spot".into()],
            min_values: None,
        }])
        .unwrap_or_default();
        let pod = |key: &str, operator: Operator, values: &[&str]| {
            Requirements::from_expressions(&[NodeSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|value| value.to_string()).collect(),
                min_values: None,
            }])
            .unwrap_or_default()
        };
        let cases = [
            (pod("team", Operator::In, &["a"]), false),
            (pod("team", Operator::NotIn, &["a"]), true),
            (pod("team", Operator::DoesNotExist, &[]), true),
            (pod(labels::ZONE, Operator::In, &["a"]), true),
            (
                pod(labels::CAPACITY_TYPE, Operator::In, &["on-demand"]),
                false,
            ),
            (
                pod(labels::CAPACITY_TYPE, Operator::NotIn, &["on-demand"]),
                true,
            ),
            (
                pod("beta.kubernetes.io/arch", Operator::In, &["arm64"]),
                true,
            ),
        ];
        for (pod_requirements, compatible) in cases {
            let result = pool.compatible(&pod_requirements, labels::is_well_known);
            assert_eq!(result.is_ok(), compatible, "{pod_requirements}: {result:?}");
        }
    }
}
