//! NodeClaim names as Karpenter makes them: `<nodepool>-<random suffix>` (five characters from
//! the alphabet Kubernetes' `generateName` uses), never one that exists already, so that a
//! restarted controller cannot collide with the NodeClaims it created before. The suffixes
//! come from a seeded generator: the simulator seeds it with the scenario's seed and stays
//! deterministic; a controller in a cluster seeds it from the clock.

use std::collections::BTreeSet;

use spotter_core::random::Random;

use crate::state::ClusterState;

/// The characters of a suffix: Kubernetes' `generateName` alphabet (no vowels, no
/// look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// The length of a suffix.
const SUFFIX_LENGTH: usize = 5;

/// Makes NodeClaim names.
#[derive(Debug, Clone)]
pub struct NodeClaimNames {
    random: Random,
    /// Names handed out and not yet seen in the state (created in the current pass).
    issued: BTreeSet<String>,
}

impl NodeClaimNames {
    /// Names drawn from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            random: Random::new(seed).fork(0x4E41_4D45),
            issued: BTreeSet::new(),
        }
    }

    /// A new name for a NodeClaim of `node_pool`, unused in `state` and by any name handed out
    /// since [`Self::forget_issued`].
    pub fn next(&mut self, node_pool: &str, state: &ClusterState) -> String {
        loop {
            let suffix: String = (0..SUFFIX_LENGTH)
                .map(|_| {
                    let index = self.random.between(0, ALPHABET.len() as u64 - 1) as usize;
                    char::from(ALPHABET[index])
                })
                .collect();
            let name = format!("{node_pool}-{suffix}");
            if !state.node_claims.contains_key(&name) && self.issued.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Forgets the names handed out so far (they are in the state by now).
    pub fn forget_issued(&mut self) {
        self.issued.clear();
    }
}

impl Default for NodeClaimNames {
    fn default() -> Self {
        Self::new(0)
    }
}

/// Whether `name` looks like a name [`NodeClaimNames`] made for `node_pool`.
pub fn is_generated_for(name: &str, node_pool: &str) -> bool {
    name.strip_prefix(node_pool)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            suffix.len() == SUFFIX_LENGTH && suffix.bytes().all(|byte| ALPHABET.contains(&byte))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{LaunchState, NodeClaim};
    use spotter_core::requirements::Requirements;
    use std::time::Duration;

    fn claim(name: &str) -> NodeClaim {
        NodeClaim {
            name: name.to_string(),
            node_pool: "batch".to_string(),
            requirements: Requirements::default(),
            instance_types: Vec::new(),
            created_at: Duration::ZERO,
            launch: LaunchState::NotLaunched,
            node: None,
            initialized: false,
            deletion: None,
            fallback: false,
            replaces: None,
            node_pool_hash: None,
            node_class_hash: None,
        }
    }

    #[test]
    fn names_have_the_pool_and_a_five_character_suffix() {
        let mut names = NodeClaimNames::new(7);
        let name = names.next("batch-fallback", &ClusterState::default());
        assert!(is_generated_for(&name, "batch-fallback"), "{name}");
        assert!(!is_generated_for(&name, "batch"), "{name}");
    }

    #[test]
    fn the_same_seed_gives_the_same_names_and_another_seed_others() {
        let state = ClusterState::default();
        let draw = |seed| {
            let mut names = NodeClaimNames::new(seed);
            (0..3)
                .map(|_| names.next("batch", &state))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn a_restarted_generator_never_returns_a_name_that_exists() {
        // A controller restarted with the same seed draws the same suffixes again: the names
        // its predecessor created are skipped.
        let mut before = NodeClaimNames::new(3);
        let mut state = ClusterState::default();
        for _ in 0..5 {
            let name = before.next("batch", &state);
            state.node_claims.insert(name.clone(), claim(&name));
        }
        let mut after = NodeClaimNames::new(3);
        for _ in 0..5 {
            let name = after.next("batch", &state);
            assert!(!state.node_claims.contains_key(&name), "{name} collides");
        }
    }

    #[test]
    fn names_issued_in_one_pass_are_distinct() {
        let state = ClusterState::default();
        let mut names = NodeClaimNames::new(11);
        let issued: BTreeSet<String> = (0..500).map(|_| names.next("p", &state)).collect();
        assert_eq!(issued.len(), 500);
    }
}
