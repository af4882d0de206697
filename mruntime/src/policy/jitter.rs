//! The pseudo-random jitter of restart backoffs: splitmix64, no dependency.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// A splitmix64 generator. Not for cryptography: it only spreads restart delays.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator for a new supervised task, seeded from the process's random hashing keys
    /// (which differ per process and per call), so that tasks, and replicas of a service, draw
    /// different delays.
    pub(crate) fn for_task() -> Self {
        Jitter::seeded(RandomState::new().hash_one(0x6d72_756e_7469_6d65_u64))
    }

    /// A generator with a fixed seed.
    pub(crate) fn seeded(seed: u64) -> Self {
        Jitter { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (`low <= high`), near-uniform (Lemire's multiply-shift).
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        let span = high - low;
        let draw = self.next_u64();
        if span == u64::MAX {
            return draw;
        }
        let offset = ((u128::from(draw) * (u128::from(span) + 1)) >> 64) as u64;
        low + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_stays_in_bounds_and_reaches_both_ends() {
        let mut jitter = Jitter::seeded(42);
        let draws: Vec<u64> = (0..10_000).map(|_| jitter.between(3, 9)).collect();
        assert!(draws.iter().all(|d| (3..=9).contains(d)));
        for v in 3..=9 {
            assert!(draws.contains(&v), "{v} never drawn");
        }
        assert_eq!(jitter.between(5, 5), 5);
        let _ = jitter.between(0, u64::MAX);
    }

    #[test]
    fn tasks_get_different_seeds() {
        let a = Jitter::for_task().next_u64();
        let b = Jitter::for_task().next_u64();
        assert_ne!(a, b);
    }
}
