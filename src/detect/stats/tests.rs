//! Tests of the statistics against reference values and each other.

use super::ks::{gcd, ks_counts, ks_result};
use super::*;

/// The KS walk in one piece, with the ECDFs compared at every distinct value: what the
/// segmented walk in `ks_counts` must reproduce.
fn ks_counts_reference(a: &[f64], b: &[f64]) -> u64 {
    let (n1, n2) = (a.len() as u64, b.len() as u64);
    let mut values: Vec<f64> = a.iter().chain(b).copied().collect();
    values.sort_by(f64::total_cmp);
    values.dedup_by(|x, y| x == y);
    let best = values
        .iter()
        .map(|&v| {
            let i = a.partition_point(|&x| x <= v) as u64;
            let j = b.partition_point(|&y| y <= v) as u64;
            (i * n2).abs_diff(j * n1)
        })
        .max()
        .unwrap_or(0);
    best / gcd(n1, n2)
}

#[test]
fn segmented_ks_walk_matches_the_single_walk_with_ties_and_skew() {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    for case in 0..2_000 {
        let n1 = rng.random_range(1..300);
        let n2 = rng.random_range(1..300);
        // Few distinct values (heavy ties, equal quantiles, empty segments), signed
        // zeros, or a shifted second sample (segments of very unequal length).
        let levels = [2, 5, 40, 100_000][case % 4];
        let shift = if case % 3 == 0 {
            rng.random_range(0..levels)
        } else {
            0
        };
        let draw = |rng: &mut Pcg64Mcg, shift: i64| {
            let k = rng.random_range(0..levels) + shift;
            if k == 0 && rng.random_bool(0.5) {
                -0.0
            } else {
                k as f64
            }
        };
        let mut a: Vec<f64> = (0..n1).map(|_| draw(&mut rng, 0)).collect();
        let mut b: Vec<f64> = (0..n2).map(|_| draw(&mut rng, shift)).collect();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (_, _, h) = ks_counts(&a, &b);
        assert_eq!(h, ks_counts_reference(&a, &b), "case {case}: {a:?} {b:?}");
    }
}

/// The cell-counting KS against a prepared reference gives the lattice statistic of the
/// merge walk, for windows in any order: heavy ties, signed zeros, windows outside the
/// reference's range, a reference of one value, values of very different magnitudes (where
/// the buckets' float arithmetic rounds), and infinities in the window.
#[test]
fn ks_index_matches_the_walk_on_unsorted_windows() {
    let mut rng = Pcg64Mcg::seed_from_u64(11);
    for case in 0..3_000 {
        let n1 = rng.random_range(1..300);
        let n2 = rng.random_range(1..300);
        let levels = [1, 2, 5, 40, 100_000][case % 5];
        let shift = rng.random_range(-levels..=levels);
        let spread = [1.0, 1e-300, 1e300, 0.1][(case / 5) % 4];
        let draw = |rng: &mut Pcg64Mcg, shift: i64| {
            let k = rng.random_range(0..levels) + shift;
            match (k, rng.random_range(0..50)) {
                (0, 0..=24) => -0.0,
                (_, 0) if case % 7 == 0 => f64::INFINITY,
                (_, 1) if case % 7 == 0 => f64::NEG_INFINITY,
                _ => k as f64 * spread,
            }
        };
        let a: Vec<f64> = (0..n1).map(|_| draw(&mut rng, shift)).collect();
        let mut b: Vec<f64> = (0..n2).map(|_| draw(&mut rng, 0)).collect();
        b.sort_by(f64::total_cmp);
        let index = KsIndex::new(&b);
        let mut cells = Vec::new();
        let mut sorted_a = a.clone();
        sorted_a.sort_by(f64::total_cmp);
        let (_, _, h) = KsReference::new(&b, &index).counts(&a, &mut cells);
        assert_eq!(
            h,
            ks_counts_reference(&sorted_a, &b),
            "case {case}: {a:?} {b:?}"
        );
    }
}

#[test]
fn ks_against_equals_the_sorted_test() {
    let mut rng = Pcg64Mcg::seed_from_u64(3);
    let b = sorted_copy(
        &(0..2000)
            .map(|_| rng.random::<f64>().ln())
            .collect::<Vec<_>>(),
    );
    let index = KsIndex::new(&b);
    let mut memo = KsMemo::default();
    for shift in [0.0, 0.01, 0.05, 0.2] {
        let a: Vec<f64> = (0..1000)
            .map(|_| rng.random::<f64>().ln() + shift)
            .collect();
        let direct = ks_2samp_sorted(&sorted_copy(&a), &b);
        let reference = KsReference::new(&b, &index);
        assert_eq!(memo.ks_against(&a, reference), direct, "shift {shift}");
    }
}

#[test]
fn memo_p_value_is_the_exact_one_floored() {
    // Every statistic of a few size pairs, visited in random order so that the floor is
    // reached directly, through the probe and through the remembered bound: the memo
    // returns max(exact, P_FLOOR) and the exact statistic in every case.
    let mut rng = Pcg64Mcg::seed_from_u64(11);
    let (mut floored, mut exact) = (0, 0);
    for (n1, n2, step) in [
        (1000u64, 2000u64, 23u64),
        (1000, 1000, 17),
        (700, 300, 29),
        (80, 50, 1),
    ] {
        let lcm = n1 / gcd(n1, n2) * n2;
        let mut hs: Vec<u64> = (1..=lcm).step_by(step as usize).collect();
        for i in (1..hs.len()).rev() {
            hs.swap(i, rng.random_range(0..=i));
        }
        let mut memo = KsMemo::default();
        for h in hs {
            let want = ks_result(n1, n2, h);
            let got = memo.result(n1, n2, h);
            assert_eq!(got.statistic, want.statistic, "{n1} {n2} {h}");
            assert_eq!(
                got.p_value,
                want.p_value.max(KsMemo::P_FLOOR),
                "{n1} {n2} {h}"
            );
            assert_eq!(memo.result(n2, n1, h), got, "{n1} {n2} {h} swapped");
            if want.p_value < KsMemo::P_FLOOR {
                floored += 1;
            } else {
                exact += 1;
            }
        }
    }
    assert!(
        floored > 50 && exact > 50,
        "floored {floored}, exact {exact}"
    );
}

#[test]
fn quantile_matches_numpy_linear() {
    let x = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile_sorted(&x, 0.0), 1.0);
    assert_eq!(quantile_sorted(&x, 1.0), 4.0);
    assert!((quantile_sorted(&x, 0.5) - 2.5).abs() < 1e-12);
    assert!((quantile_sorted(&x, 0.9) - 3.7).abs() < 1e-12);
}

#[test]
fn bins_merge_tied_edges() {
    let x = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0];
    let b = QuantileBins::from_sorted_reference(&x, 5);
    assert!(b.edges.windows(2).all(|w| w[0] < w[1]), "{:?}", b.edges);
    assert_eq!(b.bin_of(-1.0), 0);
    assert_eq!(b.bin_of(0.0), 0);
    assert_eq!(b.bin_of(100.0), b.len() - 1);
    assert_eq!(b.counts(&x).iter().sum::<u64>(), 10);
}

#[test]
fn sorted_copy_orders_like_total_cmp() {
    let x = [
        3.5,
        -0.0,
        0.0,
        -7.25,
        f64::MAX,
        f64::MIN,
        1e-300,
        -1e-300,
        2.0,
        2.0,
    ];
    let mut want = x.to_vec();
    want.sort_unstable_by(f64::total_cmp);
    let got = sorted_copy(&x);
    assert_eq!(
        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn ties_across_samples_count_once() {
    // scipy.stats.ks_2samp([1, 2, 2, 3], [2, 2, 2, 4]).statistic == 0.25
    let r = ks_2samp_sorted(&[1.0, 2.0, 2.0, 3.0], &[2.0, 2.0, 2.0, 4.0]);
    assert_eq!(r.statistic, 0.25);
}

#[test]
fn identical_samples_have_p_one() {
    let x: Vec<f64> = (0..500).map(f64::from).collect();
    let r = ks_2samp_sorted(&x, &x);
    assert_eq!(r.statistic, 0.0);
    assert_eq!(r.p_value, 1.0);
}

#[test]
fn disjoint_samples_have_statistic_one() {
    let a: Vec<f64> = (0..300).map(f64::from).collect();
    let b: Vec<f64> = (1000..1500).map(f64::from).collect();
    let r = ks_2samp_sorted(&a, &b);
    assert_eq!(r.statistic, 1.0);
    assert!(r.p_value < 1e-100, "{}", r.p_value);
}

#[test]
fn memo_returns_what_the_direct_computation_does() {
    let a: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut a = a;
    a.sort_unstable_by(f64::total_cmp);
    let b: Vec<f64> = (0..700).map(|i| (i as f64 * 0.11).cos() * 0.9).collect();
    let mut b = b;
    b.sort_unstable_by(f64::total_cmp);
    let mut memo = KsMemo::default();
    let direct = ks_2samp_sorted(&a, &b);
    assert_eq!(memo.ks_2samp_sorted(&a, &b), direct);
    assert_eq!(memo.ks_2samp_sorted(&b, &a), direct);
}

#[test]
fn bh_is_monotone_and_bonferroni_caps_at_one() {
    let p = [0.01, 0.04, 0.03, 0.2];
    let q = adjust_p_values(&p, Correction::BenjaminiHochberg);
    let want = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.2];
    for (q, w) in q.iter().zip(want) {
        assert!((q - w).abs() < 1e-12, "{q} != {w}");
    }
    let b = adjust_p_values(&p, Correction::Bonferroni);
    assert_eq!(b[3], 0.8);
    assert_eq!(
        adjust_p_values(&[0.5, 0.9], Correction::Bonferroni),
        [1.0, 1.0]
    );
}

#[test]
fn pooling_keeps_frequent_new_categories() {
    // Category 2 is unseen in the baseline but frequent now: it keeps its column.
    let (b, c) = pool_sparse(&[500, 500, 0, 1], &[300, 300, 400, 0]);
    assert_eq!(b, vec![500, 500, 0, 1]);
    assert_eq!(c, vec![300, 300, 400, 0]);
    let (b, c) = pool_sparse(&[500, 500, 0, 1], &[500, 497, 2, 1]);
    assert_eq!((b, c), (vec![500, 500, 1], vec![500, 497, 3]));
}

#[test]
fn two_proportion_detects_a_higher_rate() {
    let p = two_proportion_z_greater(80, 1000, 10, 1000).expect("defined");
    assert!(p < 1e-10);
    let q = two_proportion_z_greater(10, 1000, 80, 1000).expect("defined");
    assert!(q > 0.999);
    assert_eq!(two_proportion_z_greater(0, 10, 0, 10), Some(1.0));
    assert_eq!(two_proportion_z_greater(0, 0, 0, 10), None);
}

#[test]
fn reservoir_is_bounded_uniform_and_seeded() {
    let mut r = Reservoir::new(100, 7);
    for i in 0..100_000 {
        r.push(i as f64);
    }
    assert_eq!(r.values().len(), 100);
    assert_eq!(r.seen(), 100_000);
    let mean = r.values().iter().sum::<f64>() / 100.0;
    // Uniform over 0..100000: mean 50000, sd of the mean ~2900.
    assert!((mean - 50_000.0).abs() < 12_000.0, "{mean}");
    let mut r2 = Reservoir::new(100, 7);
    for i in 0..100_000 {
        r2.push(i as f64);
    }
    assert_eq!(r.values(), r2.values());
}
