//! Contextual novelty: the share of the current sample's contexts that the series has never
//! shown before, with habituation after a single sighting. The idea is that of CAD OSE
//! (Smirnov's Contextual Anomaly Detector, third on NAB's scoreboard), in a simpler form of
//! our own: values are quantised into levels, and a context is either a pair (this level,
//! the level `k` samples ago) or the run of the last `k` levels. A level, a transition or a
//! shape the series has not produced yet makes most contexts new; once seen, a context is
//! known, so a lasting change stops being novel within a few samples.
//!
//! Levels are `bins` equal slices of the range seen so far (running minimum and maximum:
//! there is no look-ahead, so the range only widens, and a new extreme is itself novel).
//! Known contexts are kept as hashes in two bit tables of a fixed size (a rotating Bloom
//! filter): a context is known if its bit is set in either; new bits go into the current
//! table, and when a quarter of its bits are set it becomes the previous one and a fresh
//! table starts. Memory is bounded (2 x `bits` / 8 bytes); a context unseen for two
//! generations becomes new again, and a hash collision makes a new context look known
//! (the detector errs towards silence).

use serde::{Deserialize, Serialize};

/// FNV-1a offset basis and prime, applied to whole words. Written here rather than taken
/// from a hashing crate because the table bits are persisted in snapshots: the hash must
/// stay the same across crate upgrades and platforms (foldhash and std's hasher promise
/// neither); `detect::series::stable_hash` is the same function over strings.
const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(FNV_PRIME)
}

/// splitmix64's finaliser: spreads the FNV hash over all bits before it is reduced.
fn finish(z: u64) -> u64 {
    let z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Streaming contextual novelty of one series.
///
/// A push costs `2 x (context - 1)` hashes of at most `context + 1` words and as many bit
/// probes. Memory: two tables of `bits` bits plus `context` levels, 4 KiB with 16384 bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextNovelty {
    bins: u32,
    context: usize,
    /// Running range of the values seen (set by the first).
    #[serde(with = "super::exact::f64")]
    lo: f64,
    #[serde(with = "super::exact::f64")]
    hi: f64,
    seen: u64,
    /// The last `context` levels, oldest first.
    levels: Vec<u32>,
    current: Vec<u64>,
    previous: Vec<u64>,
    /// Bits set in `current`.
    filled: usize,
}

impl ContextNovelty {
    /// Levels in `bins` (>= 2) slices of the range, contexts over the last `context` (>= 2)
    /// samples, tables of `bits` bits (rounded up to a multiple of 64, at least 64).
    pub fn new(bins: u32, context: usize, bits: usize) -> Self {
        let words = bits.div_ceil(64).max(1);
        ContextNovelty {
            bins: bins.max(2),
            context: context.max(2),
            lo: 0.0,
            hi: 0.0,
            seen: 0,
            levels: Vec::new(),
            current: vec![0; words],
            previous: vec![0; words],
            filled: 0,
        }
    }

    /// Samples pushed.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Adds `x` (finite); returns the share in [0, 1] of its contexts that were new, or
    /// `None` for the first sample (no context yet).
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if self.seen == 0 {
            self.lo = x;
            self.hi = x;
        }
        self.seen += 1;
        self.lo = self.lo.min(x);
        self.hi = self.hi.max(x);
        let span = self.hi - self.lo;
        let level = if span > 0.0 {
            (((x - self.lo) / span * self.bins as f64) as u32).min(self.bins - 1)
        } else {
            0
        };
        if self.levels.len() == self.context {
            self.levels.remove(0);
        }
        self.levels.push(level);
        let n = self.levels.len();
        if n < 2 {
            return None;
        }
        let bits = self.current.len() * 64;
        let (mut new, mut total) = (0usize, 0usize);
        let mut probe = |h: u64, this: &mut ContextNovelty| {
            let i = (finish(h) % bits as u64) as usize;
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if this.current[word] & bit == 0 {
                if this.previous[word] & bit == 0 {
                    new += 1;
                }
                this.current[word] |= bit;
                this.filled += 1;
            }
            total += 1;
        };
        for k in 1..n {
            // Pair: (this level, the level k samples ago).
            let h = [1, k as u64, self.levels[n - 1 - k] as u64, level as u64]
                .into_iter()
                .fold(FNV_BASIS, mix);
            probe(h, self);
        }
        for k in 2..=n {
            // Run of the last k levels.
            let h = self.levels[n - k..]
                .iter()
                .fold(mix(FNV_BASIS, 2), |h, &l| mix(h, l as u64));
            probe(h, self);
        }
        if self.filled * 4 > bits {
            self.previous = std::mem::replace(&mut self.current, vec![0; bits / 64]);
            self.filled = 0;
        }
        Some(new as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_pattern_habituates_and_a_new_level_is_novel() {
        let mut d = ContextNovelty::new(12, 6, 16384);
        let cycle = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0];
        let mut last = 1.0;
        for i in 0..600 {
            last = d.push(cycle[i % 6]).unwrap_or(1.0);
        }
        assert_eq!(last, 0.0, "a repeated cycle is known");
        // A level never seen, inside the range: every context involving it is new.
        assert_eq!(d.push(0.5), Some(1.0));
        // Seen once, it is known the next time in the same context.
        for &x in &cycle {
            d.push(x);
        }
        let mut again = d.clone();
        assert!(again.push(0.5).expect("scored") < 1.0);
    }

    #[test]
    fn the_tables_rotate_and_stay_bounded() {
        let mut d = ContextNovelty::new(12, 6, 1024);
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            d.push((x >> 11) as f64);
        }
        assert_eq!(d.current.len(), 16);
        assert!(d.filled * 4 <= 1024);
    }
}
