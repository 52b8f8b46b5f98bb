//! vigil's multivariate detectors against reference values computed with numpy, scipy and
//! scikit-learn (`scripts/multivariate_fixtures.py` writes
//! `testdata/fixtures/multivariate.json`; regenerate it with the pinned packages in
//! `scripts/requirements.txt`), and the correlation-only drift that the univariate tests
//! cannot see.
//!
//! Tolerances: vectors and standardisation 1e-12 relative; distances, thresholds, MMD^2,
//! bandwidths and beta-binomial tails 1e-9 relative (1e-8 for n = 10^6 trials); k-means
//! centroids 1e-6 absolute (up to a permutation of the clusters) and inertia 1e-6 relative
//! against scikit-learn.

use crate::reference;

use ndarray::Array2;
use reference::{close, f64s};
use serde_json::Value;
use std::borrow::Cow;
use vigil::detect::multivariate::kmeans::{fit_centroids, KMeansConfig, KMeansModel};
use vigil::detect::multivariate::mmd::{median_bandwidth, mmd2_unbiased};
use vigil::detect::multivariate::space::{Encoding, FeatureSpace, SpaceBuilder, SpaceFeature};
use vigil::detect::multivariate::tail::beta_binomial_sf;
use vigil::detect::multivariate::{MultivariateConfig, MultivariateProfile};
use vigil::detect::stats::{adjust_p_values, ks_2samp_sorted, sorted_copy, Correction};
use vigil::record::FeatureValue;

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(f64s).collect();
    let dim = rows.first().map_or(0, Vec::len);
    Array2::from_shape_vec((rows.len(), dim), rows.concat()).expect("rectangular")
}

/// A JSON object of feature values as a record's features.
fn features(row: &Value) -> Vec<(Cow<'static, str>, FeatureValue<'static>)> {
    row.as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::Null => FeatureValue::Null,
                Value::Bool(b) => FeatureValue::Bool(*b),
                Value::Number(n) => FeatureValue::Num(n.as_f64().expect("finite")),
                Value::String(s) => FeatureValue::Cat(Cow::Owned(s.clone())),
                other => panic!("unexpected feature value {other}"),
            };
            (Cow::Owned(k.clone()), value)
        })
        .collect()
}

fn identity_space(dim: usize) -> FeatureSpace {
    let features = (0..dim)
        .map(|i| SpaceFeature {
            name: format!("x{i}"),
            encoding: Encoding::Numeric {
                mean: 0.0,
                std: 1.0,
            },
        })
        .collect();
    FeatureSpace::new(features, 0).expect("space")
}

#[test]
fn standardisation_and_one_hot_vectors_match_numpy() {
    let f = fixtures();
    let case = &f["space"];
    let mut builder = SpaceBuilder::new(64, 64);
    let mut raw = Vec::new();
    for row in case["rows"].as_array().expect("rows") {
        builder.push(&features(row), &mut raw);
    }
    let space = builder
        .finish(
            case["top_categories"].as_u64().expect("top") as usize,
            case["max_missing_share"].as_f64().expect("share"),
        )
        .expect("space");
    let want = case["features"].as_array().expect("features");
    assert_eq!(space.features().len(), want.len());
    for (got, want) in space.features().iter().zip(want) {
        assert_eq!(got.name, want["name"].as_str().expect("name"));
        match &got.encoding {
            Encoding::Numeric { mean, std } => {
                close(
                    *mean,
                    want["mean"].as_f64().expect("mean"),
                    1e-12,
                    &got.name,
                );
                close(*std, want["std"].as_f64().expect("std"), 1e-12, &got.name);
            }
            Encoding::OneHot { categories } => {
                let want: Vec<&str> = want["categories"]
                    .as_array()
                    .expect("categories")
                    .iter()
                    .map(|c| c.as_str().expect("category"))
                    .collect();
                assert_eq!(categories, &want, "{}", got.name);
            }
        }
    }
    assert_eq!(space.dropped(), ["schema"]);
    assert_eq!(
        space.max_missing() as u64,
        case["max_missing"].as_u64().expect("n")
    );
    let mut v = Vec::new();
    for (i, q) in case["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .enumerate()
    {
        let ok = space.vector(&features(&q["row"]), &mut v);
        assert_eq!(ok, q["ok"].as_bool().expect("ok"), "query {i}");
        let want = f64s(&q["vector"]);
        assert_eq!(v.len(), want.len(), "query {i}");
        for (j, (g, w)) in v.iter().zip(&want).enumerate() {
            if *w == 0.0 {
                assert_eq!(*g, 0.0, "query {i} column {j}");
            } else {
                close(*g, *w, 1e-12, &format!("query {i} column {j}"));
            }
        }
    }
}

#[test]
fn distances_threshold_and_scores_on_given_centroids_match_numpy() {
    let f = fixtures();
    let case = &f["distances"];
    let centroids = matrix(&case["centroids"]);
    let rows = matrix(&case["rows"]);
    let space = identity_space(centroids.ncols());
    for t in case["thresholds"].as_array().expect("thresholds") {
        let q = t["quantile"].as_f64().expect("q");
        let model = KMeansModel::from_centroids(space.clone(), centroids.view(), rows.view(), q)
            .expect("model");
        close(
            model.threshold(),
            t["threshold"].as_f64().expect("t"),
            1e-9,
            &format!("q={q}"),
        );
        close(
            model.inertia(),
            case["inertia"].as_f64().expect("inertia"),
            1e-9,
            "inertia",
        );
        let want = sorted_copy(&f64s(&case["distances"]));
        assert_eq!(model.reference_distances().len(), want.len());
        for (g, w) in model.reference_distances().iter().zip(&want) {
            close(*g, *w, 1e-9, "reference distance");
        }
        for (r, d) in rows.rows().into_iter().zip(f64s(&case["distances"])) {
            close(model.distance(&r.to_vec()), d, 1e-9, "row distance");
        }
        let queries = matrix(&case["queries"]);
        let dq = f64s(&case["query_distances"]);
        let sq = f64s(&case["query_scores"]);
        for ((r, d), s) in queries.rows().into_iter().zip(dq).zip(sq) {
            let got = model.distance(&r.to_vec());
            close(got, d, 1e-9, "query distance");
            assert_eq!(model.score(got), s, "ECDF score of {got}");
        }
    }
}

#[test]
fn linfa_kmeans_finds_scikit_learns_clusters_on_separated_blobs() {
    let f = fixtures();
    for (i, case) in f["kmeans"].as_array().expect("cases").iter().enumerate() {
        let rows = matrix(&case["rows"]);
        let k = case["k"].as_u64().expect("k") as usize;
        let want = matrix(&case["centroids"]);
        let fit = fit_centroids(rows.view(), k, &KMeansConfig::default(), 42).expect("fit");
        assert_eq!(fit.centroids.nrows(), k);
        // Match each scikit-learn centroid to its nearest vigil centroid; the matching must
        // be a permutation.
        let mut used = vec![false; k];
        for w in want.rows() {
            let (j, gap) = fit
                .centroids
                .rows()
                .into_iter()
                .enumerate()
                .map(|(j, g)| {
                    let d = g
                        .iter()
                        .zip(w)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max);
                    (j, d)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .expect("k >= 1");
            assert!(
                gap < 1e-6,
                "case {i}: centroid {w} is {gap:e} from the nearest vigil centroid"
            );
            assert!(
                !used[j],
                "case {i}: two centroids matched vigil's centroid {j}"
            );
            used[j] = true;
        }
        close(
            fit.inertia,
            case["inertia"].as_f64().expect("inertia"),
            1e-6,
            &format!("case {i} inertia"),
        );
    }
}

#[test]
fn mmd_statistic_and_median_bandwidth_match_numpy() {
    let f = fixtures();
    for (i, case) in f["mmd"].as_array().expect("cases").iter().enumerate() {
        let x = matrix(&case["x"]);
        let y = matrix(&case["y"]);
        let bw = median_bandwidth(x.view(), y.view());
        close(
            bw,
            case["bandwidth"].as_f64().expect("bw"),
            1e-9,
            &format!("case {i} bandwidth"),
        );
        close(
            mmd2_unbiased(x.view(), y.view(), bw),
            case["mmd2_unbiased"].as_f64().expect("mmd"),
            1e-9,
            &format!("case {i} MMD^2 at the median bandwidth"),
        );
        close(
            mmd2_unbiased(
                x.view(),
                y.view(),
                case["fixed_bandwidth"].as_f64().expect("bw"),
            ),
            case["mmd2_unbiased_fixed"].as_f64().expect("mmd"),
            1e-9,
            &format!("case {i} MMD^2 at a fixed bandwidth"),
        );
    }
}

#[test]
fn beta_binomial_tails_match_scipy() {
    let f = fixtures();
    for c in f["beta_binomial"].as_array().expect("cases") {
        let (x, n) = (c["x"].as_u64().expect("x"), c["n"].as_u64().expect("n"));
        let (a, b) = (c["a"].as_f64().expect("a"), c["b"].as_f64().expect("b"));
        // For a window of a million records both sides rest on log-gamma values near
        // 3e5, where neither scipy's pmf (whose sum misses 1 by 8.5e-10 there) nor
        // statrs' is good to 1e-9: 1e-8 there.
        let rel = if n > 10_000 { 1e-8 } else { 1e-9 };
        close(
            beta_binomial_sf(x, n, a, b),
            c["sf"].as_f64().expect("sf"),
            rel,
            &format!("P(X >= {x}), X ~ BetaBinomial({n}, {a}, {b})"),
        );
    }
}

/// Two features, each N(0, 1) in both samples; correlation 0 in the reference, 0.9 in the
/// current window. Each feature alone shows nothing; together they have drifted.
#[test]
fn correlation_only_drift_is_invisible_per_feature_and_caught_jointly() {
    let f = fixtures();
    let case = &f["correlation"];
    let names: Vec<String> = case["features"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("name").to_string())
        .collect();
    let reference = matrix(&case["reference"]);
    let current = matrix(&case["current"]);
    let as_rows = |m: &Array2<f64>| -> Vec<Vec<(Cow<'static, str>, FeatureValue<'static>)>> {
        m.rows()
            .into_iter()
            .map(|r| {
                names
                    .iter()
                    .zip(r)
                    .map(|(n, &v)| (Cow::Owned(n.clone()), FeatureValue::Num(v)))
                    .collect()
            })
            .collect()
    };

    // Univariate: KS per feature, Benjamini-Hochberg across the two, as the window does.
    let raw: Vec<f64> = (0..names.len())
        .map(|j| {
            let a = sorted_copy(&reference.column(j).to_vec());
            let b = sorted_copy(&current.column(j).to_vec());
            ks_2samp_sorted(&b, &a).p_value
        })
        .collect();
    for (got, want) in raw.iter().zip(f64s(&case["ks_p"])) {
        close(*got, want, 1e-6, "KS p-value (scipy)");
    }
    let adjusted = adjust_p_values(&raw, Correction::BenjaminiHochberg);
    for (name, p) in names.iter().zip(&adjusted) {
        assert!(
            *p > 0.01,
            "{name}: the univariate KS test rejects (adjusted p {p})"
        );
    }

    // Multivariate, with the default settings.
    let profile =
        MultivariateProfile::from_rows(as_rows(&reference), MultivariateConfig::default(), 7)
            .expect("profile");
    let mut window = profile.window(8);
    for row in as_rows(&current) {
        window.push(&profile, &row).expect("both features present");
    }
    let report = window.finish(&profile, 9);
    let mmd = report.mmd.expect("MMD tested");
    let k = report.kmeans.expect("k-means scored");
    eprintln!("univariate adjusted p {adjusted:?}; MMD {mmd:?}; k-means {k:?}");
    assert!(
        mmd.test.p_value < 0.01,
        "MMD misses the correlation: {mmd:?}"
    );
    assert!(
        k.p_far < 0.01 || k.distance_ks.p_value < 0.01,
        "k-means misses the correlation: {k:?}"
    );
}

fn fixtures() -> Value {
    reference::fixture("multivariate.json", "multivariate_fixtures.py")
}
