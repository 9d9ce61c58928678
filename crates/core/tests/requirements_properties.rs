//! Properties of the requirements algebra, checked against an independent model: a requirement
//! built from node-selector expressions over a small value universe is the conjunction of what
//! each expression allows, and membership is decided on strings exactly as `Requirement::has`
//! documents it (`Gt`/`Lt` admit any string that parses as an integer within the bounds).

use proptest::prelude::*;

use spotter_core::requirements::{Operator, Requirement, Requirements};

const KEY: &str = "example.com/key";
const UNIVERSE: [&str; 7] = ["a", "b", "c", "1", "2", "3", "10"];
/// Values outside the universe: other strings, integers around the bounds, and integers written
/// with a leading zero or sign (they parse like the plain ones).
const PROBES: [&str; 14] = [
    "", "z", "-3", "-1", "0", "4", "5", "9", "11", "13", "02", "+3", "010", "-02",
];

/// One node-selector expression, as the test models it.
#[derive(Clone, Debug)]
enum Expression {
    In(Vec<&'static str>),
    NotIn(Vec<&'static str>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

impl Expression {
    fn allows(&self, value: &str) -> bool {
        match self {
            Expression::In(values) => values.contains(&value),
            Expression::NotIn(values) => !values.contains(&value),
            Expression::Exists => true,
            Expression::DoesNotExist => false,
            Expression::Gt(bound) => value.parse::<i64>().is_ok_and(|number| number > *bound),
            Expression::Lt(bound) => value.parse::<i64>().is_ok_and(|number| number < *bound),
        }
    }

    fn requirement(&self) -> Requirement {
        let (operator, values): (Operator, Vec<String>) = match self {
            Expression::In(values) => (
                Operator::In,
                values.iter().map(|value| value.to_string()).collect(),
            ),
            Expression::NotIn(values) => (
                Operator::NotIn,
                values.iter().map(|value| value.to_string()).collect(),
            ),
            Expression::Exists => (Operator::Exists, Vec::new()),
            Expression::DoesNotExist => (Operator::DoesNotExist, Vec::new()),
            Expression::Gt(bound) => (Operator::Gt, vec![bound.to_string()]),
            Expression::Lt(bound) => (Operator::Lt, vec![bound.to_string()]),
        };
        Requirement::new(KEY, operator, &values)
            .unwrap_or_else(|error| panic!("{self:?} is valid: {error}"))
    }
}

/// A conjunction of expressions with a `minValues`, and the requirement built from it.
#[derive(Clone, Debug)]
struct Model {
    expressions: Vec<Expression>,
    min_values: Option<u32>,
}

impl Model {
    fn allows(&self, value: &str) -> bool {
        self.expressions
            .iter()
            .all(|expression| expression.allows(value))
    }

    fn requirement(&self) -> Requirement {
        let mut expressions = self.expressions.iter();
        let first = expressions
            .next()
            .map_or_else(Requirement::exists, Expression::requirement)
            .with_min_values(self.min_values);
        expressions.fold(first, |requirement, expression| {
            requirement.intersection(&expression.requirement())
        })
    }

    fn and(&self, other: &Model) -> Model {
        Model {
            expressions: [self.expressions.clone(), other.expressions.clone()].concat(),
            min_values: self.min_values.max(other.min_values),
        }
    }

    /// A value the conjunction allows, if there is one (searched exhaustively, not sampled).
    fn witness(&self) -> Option<String> {
        let finite = self
            .expressions
            .iter()
            .find_map(|expression| match expression {
                Expression::In(values) => Some(values.clone()),
                Expression::DoesNotExist => Some(Vec::new()),
                _ => None,
            });
        if let Some(candidates) = finite {
            return candidates
                .into_iter()
                .find(|value| self.allows(value))
                .map(str::to_string);
        }
        let lower = self
            .expressions
            .iter()
            .filter_map(|expression| match expression {
                Expression::Gt(bound) => Some(*bound),
                _ => None,
            });
        let upper = self
            .expressions
            .iter()
            .filter_map(|expression| match expression {
                Expression::Lt(bound) => Some(*bound),
                _ => None,
            });
        let (lower, upper) = (lower.max(), upper.min());
        if lower.is_none() && upper.is_none() {
            // Only NotIn and Exists: any string outside the finite exclusions.
            return Some("fresh-value".to_string());
        }
        let integer = lower.map_or_else(|| upper.unwrap_or(0) - 1, |bound| bound + 1);
        if upper.is_some_and(|upper| integer >= upper) {
            return None;
        }
        // An integer also has a spelling with a leading zero, which parses the same and which
        // NotIn (over the universe) never names: one of the two spellings is always allowed.
        let padded = if integer < 0 {
            format!("-0{}", -integer)
        } else {
            format!("0{integer}")
        };
        [integer.to_string(), padded]
            .into_iter()
            .find(|value| self.allows(value))
    }
}

fn values() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(UNIVERSE.to_vec(), 0..=4)
}

fn expression() -> impl Strategy<Value = Expression> {
    prop_oneof![
        3 => values().prop_map(Expression::In),
        3 => values().prop_map(Expression::NotIn),
        1 => Just(Expression::Exists),
        1 => Just(Expression::DoesNotExist),
        2 => (-2i64..=12).prop_map(Expression::Gt),
        2 => (-2i64..=12).prop_map(Expression::Lt),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    (
        proptest::collection::vec(expression(), 1..=2),
        proptest::option::weighted(0.2, 1u32..=3),
    )
        .prop_map(|(expressions, min_values)| Model {
            expressions,
            min_values,
        })
}

fn probes() -> impl Iterator<Item = &'static str> {
    UNIVERSE.into_iter().chain(PROBES)
}

fn single_key(requirement: Requirement) -> Requirements {
    let mut requirements = Requirements::new();
    requirements.add(KEY, requirement);
    requirements
}

fn is_negative(requirement: &Requirement) -> bool {
    matches!(
        requirement.operator(),
        Operator::NotIn | Operator::DoesNotExist
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn membership_follows_the_model(model in model()) {
        let requirement = model.requirement();
        for value in probes() {
            prop_assert_eq!(requirement.has(value), model.allows(value), "{:?} has {:?}: {}", model, value, requirement);
        }
        prop_assert_eq!(requirement.min_values(), model.min_values, "{:?}", model);
    }

    #[test]
    fn expressions_give_back_the_same_requirement(left in model(), right in model()) {
        // Intersections produce the shapes a NodeClaim carries (bounded complements with
        // excluded values); written as expressions and read back they must be the same set.
        let requirement = left.requirement().intersection(&right.requirement());
        let expressions = requirement.expressions(KEY);
        let read_back = Requirements::from_expressions(&expressions)
            .unwrap_or_else(|error| panic!("{expressions:?} are valid: {error}"));
        let read_back = read_back.get(KEY).cloned().unwrap_or_else(|| panic!("{KEY} is constrained"));
        for value in probes() {
            prop_assert_eq!(read_back.has(value), requirement.has(value), "{} vs {} on {:?}", read_back, requirement, value);
        }
        prop_assert_eq!(read_back.min_values(), requirement.min_values());
    }

    #[test]
    fn emptiness_is_exact(model in model()) {
        let requirement = model.requirement();
        match model.witness() {
            Some(witness) => {
                prop_assert!(!requirement.is_empty(), "{:?} allows {:?} but {} says empty", model, witness, requirement);
                prop_assert!(requirement.has(&witness), "{:?} allows {:?}, {} does not", model, witness, requirement);
            }
            None => {
                prop_assert!(requirement.is_empty(), "{:?} allows nothing but {} is not empty", model, requirement);
                for value in probes() {
                    prop_assert!(!requirement.has(value), "{} is empty yet has {:?}", requirement, value);
                }
            }
        }
    }

    #[test]
    fn intersection_is_the_conjunction(left in model(), right in model()) {
        let intersection = left.requirement().intersection(&right.requirement());
        let (left_requirement, right_requirement) = (left.requirement(), right.requirement());
        for value in probes() {
            prop_assert_eq!(
                intersection.has(value),
                left_requirement.has(value) && right_requirement.has(value),
                "({}) ∩ ({}) = {} on {:?}", left_requirement, right_requirement, intersection, value
            );
        }
        prop_assert_eq!(intersection.min_values(), left.min_values.max(right.min_values));
        prop_assert_eq!(intersection.is_empty(), left.and(&right).witness().is_none(), "{:?} ∧ {:?} = {}", left, right, intersection);
    }

    #[test]
    fn intersection_is_commutative(left in model(), right in model()) {
        let (left, right) = (left.requirement(), right.requirement());
        let one_way = left.intersection(&right);
        let other_way = right.intersection(&left);
        for value in probes() {
            prop_assert_eq!(one_way.has(value), other_way.has(value), "{} vs {} on {:?}", one_way, other_way, value);
        }
        // Structural equality holds too: the sets, bounds and minValues are combined by
        // symmetric operations (union, intersection, differences on the finite side, max, min).
        prop_assert_eq!(&one_way, &other_way);
        prop_assert_eq!(
            single_key(left.clone()).intersection(&single_key(right.clone())),
            single_key(right).intersection(&single_key(left))
        );
    }

    #[test]
    fn intersection_is_associative(first in model(), second in model(), third in model()) {
        let (first, second, third) = (first.requirement(), second.requirement(), third.requirement());
        let left_first = first.intersection(&second).intersection(&third);
        let right_first = first.intersection(&second.intersection(&third));
        for value in probes() {
            prop_assert_eq!(left_first.has(value), right_first.has(value), "{} vs {} on {:?}", left_first, right_first, value);
        }
        prop_assert_eq!(left_first.is_empty(), right_first.is_empty());
        // Structural equality is expected as well: a finite result drops its bounds after
        // filtering its values by them, and an empty integer range collapses to DoesNotExist
        // in either grouping.
        prop_assert_eq!(&left_first, &right_first);
    }

    #[test]
    fn intersects_on_a_single_key(existing in model(), incoming in model()) {
        let (existing_requirement, incoming_requirement) = (existing.requirement(), incoming.requirement());
        let non_empty = existing.and(&incoming).witness().is_some();
        let both_negative = is_negative(&existing_requirement) && is_negative(&incoming_requirement);
        let result = single_key(existing_requirement.clone()).intersects(&single_key(incoming_requirement.clone()));
        prop_assert_eq!(
            result.is_ok(),
            non_empty || both_negative,
            "existing {} incoming {}: {:?}", existing_requirement, incoming_requirement, result
        );
        // A key only one side names never conflicts.
        let mut other_key = Requirements::new();
        other_key.add("example.com/other", incoming_requirement);
        prop_assert!(single_key(existing_requirement).intersects(&other_key).is_ok());
    }

    #[test]
    fn negative_operators_are_recognised(expression in expression()) {
        let requirement = expression.requirement();
        let expected = matches!(expression, Expression::NotIn(ref values) if !values.is_empty())
            || matches!(expression, Expression::DoesNotExist | Expression::In(_) if requirement.is_empty());
        prop_assert_eq!(is_negative(&requirement), expected, "{:?} -> {}", expression, requirement);
    }
}
