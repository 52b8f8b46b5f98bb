//! The cost of the multivariate detectors at their default settings: building a profile
//! from 2,000 reference rows, scoring records, and closing a window (MMD with 500 + 500
//! rows and 200 permutations, k-means tests). Prints one JSON line.
//!
//! usage: cargo run --release --example multivariate_cost [numeric_features] [categorical_features]

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use std::borrow::Cow;
use std::time::Instant;
use vigil::detect::multivariate::{MultivariateConfig, MultivariateProfile};
use vigil::record::FeatureValue;

type Row = Vec<(Cow<'static, str>, FeatureValue<'static>)>;

fn rows(n: usize, numeric: usize, categorical: usize, shift: f64, rng: &mut Pcg64Mcg) -> Vec<Row> {
    const CATS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    (0..n)
        .map(|_| {
            let mut row: Row = (0..numeric)
                .map(|j| {
                    let z: f64 = rng.sample(StandardNormal);
                    (Cow::Owned(format!("num{j}")), FeatureValue::Num(z + shift))
                })
                .collect();
            for j in 0..categorical {
                let c = CATS[rng.random_range(0..CATS.len())];
                row.push((
                    Cow::Owned(format!("cat{j}")),
                    FeatureValue::Cat(Cow::Borrowed(c)),
                ));
            }
            row
        })
        .collect()
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (numeric, categorical) = (arg(1, 8), arg(2, 2));
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let reference = rows(2000, numeric, categorical, 0.0, &mut rng);
    let t = Instant::now();
    let profile = MultivariateProfile::from_rows(&reference, MultivariateConfig::default(), 1)
        .expect("profile");
    let build_ms = t.elapsed().as_secs_f64() * 1e3;

    // 1,000 distinct records offered 100 times: a decoded record is hot in cache when it is
    // scored, and 100,000 distinct ones would measure memory latency instead.
    let distinct = rows(1000, numeric, categorical, 0.1, &mut rng);
    let current: Vec<&Row> = distinct.iter().cycle().take(100_000).collect();
    let mut v = Vec::new();
    let t = Instant::now();
    let mut ok = 0u64;
    for r in &current {
        ok += profile.space().vector(r, &mut v) as u64;
    }
    let vector_ns = t.elapsed().as_secs_f64() * 1e9 / current.len() as f64;
    let t = Instant::now();
    let mut sum = 0.0;
    for r in &current {
        profile.space().vector(r, &mut v);
        sum += profile.kmeans.distance(&v);
    }
    let distance_ns = t.elapsed().as_secs_f64() * 1e9 / current.len() as f64 - vector_ns;
    assert!(ok > 0 && sum > 0.0);
    let mut window = profile.window(2);
    let t = Instant::now();
    for r in &current {
        window.push(&profile, r);
    }
    let push_ns = t.elapsed().as_secs_f64() * 1e9 / current.len() as f64;

    let runs = 5;
    let t = Instant::now();
    let mut report = None;
    for s in 0..runs {
        report = Some(window.finish(&profile, s));
    }
    let finish_ms = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let report = report.expect("ran");
    println!(
        "{}",
        serde_json::json!({
            "numeric_features": numeric,
            "categorical_features": categorical,
            "dim": profile.space().dim(),
            "k": profile.kmeans.k(),
            "profile_build_ms": build_ms,
            "push_ns_per_record": push_ns,
            "vector_ns_per_record": vector_ns,
            "distance_ns_per_record": distance_ns,
            "window_finish_ms": finish_ms,
            "profile_json_bytes": serde_json::to_vec(&profile).expect("serialises").len(),
            "window_json_bytes": serde_json::to_vec(&window).expect("serialises").len(),
            "mmd_p": report.mmd.map(|m| m.test.p_value),
            "kmeans_p_far": report.kmeans.map(|k| k.p_far),
        })
    );
}
