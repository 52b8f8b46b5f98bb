//! Cost of one KS test of a 1,000-value window against a 2,000-value reference, as window
//! closes run it: sort + merge walk ([`KsMemo::ks_2samp_sorted`]) against counting the unsorted window
//! into the reference's cells ([`KsMemo::ks_against`]), p-values memoised in both. Prints
//! microseconds per test.
//!
//! usage: cargo run --release --example ks_cost
use rand::{Rng, SeedableRng};
use std::time::Instant;
use vigil::detect::stats::{sorted_copy, KsIndex, KsMemo, KsReference};

fn main() {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    let mut normal = |n: usize, mu: f64| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                let z = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                ((mu + 10.0 * z) * 1e4).round() / 1e4
            })
            .collect()
    };
    let reference = sorted_copy(&normal(2000, 100.0));
    let windows: Vec<Vec<f64>> = (0..200)
        .map(|i| normal(1000, 100.0 + (i % 5) as f64 * 0.5))
        .collect();
    let index = KsIndex::new(&reference);
    let r = KsReference::new(&reference, &index);
    let mut memo = KsMemo::default();
    for round in 0..3 {
        let t = Instant::now();
        let mut acc = 0.0;
        for w in &windows {
            acc += memo.ks_2samp_sorted(&sorted_copy(w), &reference).statistic;
        }
        let walk = t.elapsed().as_secs_f64() / windows.len() as f64 * 1e6;
        let t = Instant::now();
        let mut acc2 = 0.0;
        for w in &windows {
            acc2 += memo.ks_against(w, r).statistic;
        }
        let cells = t.elapsed().as_secs_f64() / windows.len() as f64 * 1e6;
        assert_eq!(acc, acc2);
        println!("round {round}: sort + walk {walk:.1} us, cells {cells:.1} us");
    }
}
