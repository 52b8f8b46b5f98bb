//! When a transient failure is retried: exponential backoff with equal jitter from a
//! seeded RNG, bounded by attempts and by the job's age. Pure: the worker sleeps.

use rand::Rng;
use rand_pcg::Pcg64Mcg;
use std::num::NonZeroU32;
use std::time::Duration;

/// When and how often a transient failure is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The first retry's base delay (default 500 ms); doubles with each retry.
    pub initial_backoff: Duration,
    /// The largest delay between two attempts (default 30 s), `Retry-After` included.
    pub max_backoff: Duration,
    /// Attempts in all, the first included (default 8: about a minute of retrying).
    pub max_attempts: NonZeroU32,
    /// No attempt starts later than this after the job was queued (default 5 min).
    pub max_age: Duration,
    /// Seed of the jitter RNG; `None` seeds from the notifier name and the wall clock, so
    /// that replicas of vigil do not retry in lockstep.
    pub seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_attempts: NonZeroU32::new(8).expect("8 is not zero"),
            max_age: Duration::from_secs(300),
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), before `Retry-After`.
    pub(super) fn backoff(&self, retry: u32, rng: &mut Pcg64Mcg) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let base = exp.min(self.max_backoff);
        // Equal jitter: half fixed, half uniform, so retries spread without collapsing to 0.
        base / 2 + base.mul_f64(rng.random_range(0.0..0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_to_the_cap_with_equal_jitter() {
        let p = RetryPolicy::default();
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        for (retry, base_ms) in [(1, 500), (2, 1000), (3, 2000), (7, 30_000), (40, 30_000)] {
            let d = p.backoff(retry, &mut rng);
            let base = Duration::from_millis(base_ms);
            assert!(d >= base / 2 && d < base, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let p = RetryPolicy::default();
        let run = |seed| {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            (1..6).map(|r| p.backoff(r, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
