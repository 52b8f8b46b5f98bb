//! Seeded property tests of the drift statistics: the false-alarm rate on identical
//! distributions is what the p-values promise, and shifts of known size are found.

use super::stats::{
    adjust_p_values, chi2_homogeneity, ks_2samp_sorted, pool_sparse, sorted_copy, Correction,
    KsMemo,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;

fn normal(rng: &mut Pcg64Mcg, n: usize, mean: f64) -> Vec<f64> {
    let d = Normal::new(mean, 1.0).expect("valid");
    sorted_copy(&(0..n).map(|_| d.sample(rng)).collect::<Vec<_>>())
}

#[test]
fn ks_p_values_are_uniform_under_the_null() {
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let mut memo = KsMemo::default();
    let trials = 400;
    let (mut below_05, mut below_01) = (0, 0);
    for _ in 0..trials {
        let a = normal(&mut rng, 1000, 0.0);
        let b = normal(&mut rng, 2000, 0.0);
        let p = memo.ks_2samp_sorted(&a, &b).p_value;
        below_05 += (p < 0.05) as u32;
        below_01 += (p < 0.01) as u32;
    }
    // Binomial(400, 0.05): mean 20, sd 4.4; Binomial(400, 0.01): mean 4, sd 2.
    assert!(
        (8..=34).contains(&below_05),
        "p < 0.05 in {below_05} of {trials}"
    );
    assert!(below_01 <= 12, "p < 0.01 in {below_01} of {trials}");
}

#[test]
fn a_window_of_25_features_stays_quiet_at_the_default_threshold() {
    // The built-in input_drift rule: a feature's BH-adjusted p < 1e-4. Under the global null
    // BH controls the family-wise rate at 1e-4 per window; over 300 windows expect ~0.03
    // windows past it.
    let mut rng = Pcg64Mcg::seed_from_u64(2);
    let mut memo = KsMemo::default();
    let reference: Vec<Vec<f64>> = (0..25).map(|_| normal(&mut rng, 2000, 0.0)).collect();
    let mut alarms = 0;
    for _ in 0..300 {
        let p: Vec<f64> = reference
            .iter()
            .map(|r| {
                memo.ks_2samp_sorted(&normal(&mut rng, 1000, 0.0), r)
                    .p_value
            })
            .collect();
        let q = adjust_p_values(&p, Correction::BenjaminiHochberg);
        alarms += q.iter().any(|&q| q < 1e-4) as u32;
    }
    assert_eq!(alarms, 0, "windows with a feature past 1e-4");
}

#[test]
fn a_shift_of_a_third_of_a_standard_deviation_is_found() {
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let mut memo = KsMemo::default();
    let mut found = 0;
    for _ in 0..100 {
        let a = normal(&mut rng, 1000, 0.33);
        let b = normal(&mut rng, 2000, 0.0);
        found += (memo.ks_2samp_sorted(&a, &b).p_value < 1e-4) as u32;
    }
    // Power of KS at d = 0.33, n = 1000 vs 2000 and alpha = 1e-4 is above 0.99.
    assert!(found >= 97, "found {found} of 100");
    // And a shift of 0.05 sd is, rightly, not significant most of the time.
    let mut small = 0;
    for _ in 0..100 {
        let a = normal(&mut rng, 1000, 0.05);
        let b = normal(&mut rng, 2000, 0.0);
        small += (ks_2samp_sorted(&a, &b).p_value < 1e-4) as u32;
    }
    assert!(small <= 5, "0.05 sd flagged {small} times");
}

fn categorical(rng: &mut Pcg64Mcg, n: usize, weights: &[f64]) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    let mut counts = vec![0u64; weights.len()];
    for _ in 0..n {
        let mut u = rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w || i == weights.len() - 1 {
                counts[i] += 1;
                break;
            }
            u -= w;
        }
    }
    counts
}

#[test]
fn chi2_with_pooling_holds_its_rate_with_rare_categories() {
    // A skewed distribution with a long tail of rare categories: pooling keeps the
    // chi-squared approximation honest.
    let weights = [
        40.0, 25.0, 15.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.3, 0.2, 0.05, 0.05,
    ];
    let mut rng = Pcg64Mcg::seed_from_u64(4);
    let trials = 400;
    let mut below_05 = 0;
    for _ in 0..trials {
        let base = categorical(&mut rng, 2000, &weights);
        let cur = categorical(&mut rng, 1000, &weights);
        let (b, c) = pool_sparse(&base, &cur);
        let p = chi2_homogeneity(&b, &c).expect("rows").p_value;
        below_05 += (p < 0.05) as u32;
    }
    assert!(
        (8..=34).contains(&below_05),
        "p < 0.05 in {below_05} of {trials}"
    );
}

#[test]
fn a_new_frequent_category_is_found() {
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    let base = categorical(&mut rng, 2000, &[50.0, 30.0, 20.0, 0.0]);
    let cur = categorical(&mut rng, 1000, &[47.0, 28.0, 19.0, 6.0]);
    let (b, c) = pool_sparse(&base, &cur);
    assert!(chi2_homogeneity(&b, &c).expect("rows").p_value < 1e-6);
}
