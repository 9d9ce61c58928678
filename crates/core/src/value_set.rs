//! [`ValueSet`]: the label values of one requirement, as a sorted vector without duplicates.
//! A requirement usually holds one value or a few (an instance type's requirements are
//! hundreds of one-value sets), where a `BTreeSet` would allocate a whole tree node for each;
//! lookups are binary searches and set operations merges.

use std::cmp::Ordering;

/// A set of strings kept sorted and unique.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueSet {
    sorted: Vec<String>,
}

impl ValueSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: &str) -> bool {
        self.sorted
            .binary_search_by(|member| member.as_str().cmp(value))
            .is_ok()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the set has no value.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The values, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.sorted.iter()
    }

    /// The values in either set.
    pub fn union(&self, other: &ValueSet) -> ValueSet {
        self.merge(other, true, true, true)
    }

    /// The values in this set and not in `other`.
    pub fn difference(&self, other: &ValueSet) -> ValueSet {
        self.merge(other, true, false, false)
    }

    /// The values in both sets.
    pub fn intersection(&self, other: &ValueSet) -> ValueSet {
        self.merge(other, false, false, true)
    }

    /// Keeps the values `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&String) -> bool) {
        self.sorted.retain(keep);
    }

    /// One pass over both sorted vectors, keeping the values only in this set, only in
    /// `other`, and in both, as asked.
    fn merge(&self, other: &ValueSet, only_self: bool, only_other: bool, both: bool) -> ValueSet {
        let mut sorted = Vec::new();
        let (mut left, mut right) = (
            self.sorted.iter().peekable(),
            other.sorted.iter().peekable(),
        );
        loop {
            match (left.peek(), right.peek()) {
                (Some(mine), Some(theirs)) => match mine.cmp(theirs) {
                    Ordering::Less => {
                        if only_self {
                            sorted.push((*mine).clone());
                        }
                        left.next();
                    }
                    Ordering::Greater => {
                        if only_other {
                            sorted.push((*theirs).clone());
                        }
                        right.next();
                    }
                    Ordering::Equal => {
                        if both {
                            sorted.push((*mine).clone());
                        }
                        left.next();
                        right.next();
                    }
                },
                (Some(mine), None) => {
                    if only_self {
                        sorted.push((*mine).clone());
                    }
                    left.next();
                }
                (None, Some(theirs)) => {
                    if only_other {
                        sorted.push((*theirs).clone());
                    }
                    right.next();
                }
                (None, None) => break,
            }
        }
        sorted.shrink_to_fit();
        ValueSet { sorted }
    }
}

impl FromIterator<String> for ValueSet {
    fn from_iter<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut sorted: Vec<String> = values.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.shrink_to_fit();
        ValueSet { sorted }
    }
}

impl IntoIterator for ValueSet {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.sorted.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValueSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.sorted.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn values() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-e]{1,2}", 0..8)
    }

    proptest! {
        /// Every operation gives what the same operation on a `BTreeSet` gives.
        #[test]
        fn agrees_with_a_btree_set(left in values(), right in values(), probe in "[a-e]{1,2}") {
            let (set_left, set_right): (ValueSet, ValueSet) =
                (left.iter().cloned().collect(), right.iter().cloned().collect());
            let (tree_left, tree_right): (BTreeSet<String>, BTreeSet<String>) =
                (left.iter().cloned().collect(), right.iter().cloned().collect());
            let listed = |set: &ValueSet| set.iter().cloned().collect::<Vec<_>>();
            prop_assert_eq!(listed(&set_left), tree_left.iter().cloned().collect::<Vec<_>>());
            prop_assert_eq!(set_left.len(), tree_left.len());
            prop_assert_eq!(set_left.contains(&probe), tree_left.contains(&probe));
            prop_assert_eq!(
                listed(&set_left.union(&set_right)),
                tree_left.union(&tree_right).cloned().collect::<Vec<_>>()
            );
            prop_assert_eq!(
                listed(&set_left.difference(&set_right)),
                tree_left.difference(&tree_right).cloned().collect::<Vec<_>>()
            );
            prop_assert_eq!(
                listed(&set_left.intersection(&set_right)),
                tree_left.intersection(&tree_right).cloned().collect::<Vec<_>>()
            );
            let mut kept = set_left.clone();
            kept.retain(|value| value.len() == 1);
            prop_assert_eq!(
                listed(&kept),
                tree_left.iter().filter(|value| value.len() == 1).cloned().collect::<Vec<_>>()
            );
        }
    }
}
