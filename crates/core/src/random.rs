//! A small deterministic random number generator (SplitMix64) for the simulator. It is
//! written here rather than taken from `rand` because the simulator promises byte-identical
//! reports for the same seed forever, and `rand` does not promise value stability of its
//! generators and distributions across versions; these few lines never change.

/// SplitMix64 (Steele, Lea and Flood, 2014).
#[derive(Clone, Debug)]
pub struct Random {
    state: u64,
}

impl Random {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for a sub-stream (e.g. one per Spot pool), so that adding
    /// draws in one place does not shift every other.
    pub fn fork(&self, stream: u64) -> Self {
        let mut fork = Self::new(self.state ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        fork.next_u64();
        fork
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut value = self.state;
        value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        value ^ (value >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `[low, high]`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low + 1)
    }

    /// An exponentially distributed value with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A string of a stream of words, hashed to seed a fork (e.g. a pool's name).
    pub fn stream_of(text: &str) -> u64 {
        crate::stable_hash::fnv1a(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_forks_are_independent() {
        let mut first = Random::new(7);
        let mut second = Random::new(7);
        let drawn: Vec<u64> = (0..5).map(|_| first.next_u64()).collect();
        assert_eq!(drawn, (0..5).map(|_| second.next_u64()).collect::<Vec<_>>());
        let mut fork_a = Random::new(7).fork(1);
        let mut fork_b = Random::new(7).fork(2);
        assert_ne!(fork_a.next_u64(), fork_b.next_u64());
    }

    #[test]
    fn draws_stay_in_range_and_means_are_plausible() {
        let mut random = Random::new(42);
        let mut total = 0.0;
        for _ in 0..10_000 {
            let unit = random.unit();
            assert!((0.0..1.0).contains(&unit));
            let value = random.between(3, 5);
            assert!((3..=5).contains(&value));
            total += random.exponential(10.0);
        }
        let mean = total / 10_000.0;
        assert!((9.0..11.0).contains(&mean), "mean {mean}");
    }
}
