//! vigil's statistics against reference values computed by scipy and numpy
//! (`scripts/fixtures.py` writes `testdata/fixtures/stats.json`; regenerate it with the
//! pinned packages in `scripts/requirements.txt`). Tolerance: 1e-6 relative.

use crate::reference;

use reference::{f64s, u64s};
use serde_json::Value;
use vigil::detect::stats::{
    adjust_p_values, chi2_homogeneity, ks_2samp_sorted, pool_sparse, psi, quantile_sorted,
    two_proportion_z_greater, Correction, KsMemo, QuantileBins,
};

const REL: f64 = 1e-6;

fn close(got: f64, want: f64, what: &str) {
    reference::close(got, want, REL, what)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_unstable_by(f64::total_cmp);
    v
}

#[test]
fn ks_2samp_matches_scipy() {
    let f = fixtures();
    let cases = f["ks_2samp"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    let mut memo = KsMemo::default();
    for (i, c) in cases.iter().enumerate() {
        let a = sorted(f64s(&c["a"]));
        let b = sorted(f64s(&c["b"]));
        let what = format!("case {i} (n1={}, n2={})", a.len(), b.len());
        let r = ks_2samp_sorted(&a, &b);
        close(
            r.statistic,
            c["statistic"].as_f64().expect("stat"),
            &format!("{what} statistic"),
        );
        close(
            r.p_value,
            c["p_value"].as_f64().expect("p"),
            &format!("{what} p-value"),
        );
        assert_eq!(memo.ks_2samp_sorted(&a, &b), r, "{what}: memo");
    }
}

#[test]
fn chi2_after_pooling_matches_scipy() {
    let f = fixtures();
    for (i, c) in f["chi2_contingency"]
        .as_array()
        .expect("cases")
        .iter()
        .enumerate()
    {
        let (b, cur) = pool_sparse(&u64s(&c["base"]), &u64s(&c["cur"]));
        assert_eq!(b, u64s(&c["pooled_base"]), "case {i}: pooled baseline row");
        assert_eq!(cur, u64s(&c["pooled_cur"]), "case {i}: pooled current row");
        let r = chi2_homogeneity(&b, &cur).expect("non-empty rows");
        close(
            r.statistic,
            c["statistic"].as_f64().expect("stat"),
            &format!("case {i} statistic"),
        );
        close(
            r.p_value,
            c["p_value"].as_f64().expect("p"),
            &format!("case {i} p-value"),
        );
        if let Some(raw) = c["raw_statistic"].as_f64() {
            let r = chi2_homogeneity(&u64s(&c["base"]), &u64s(&c["cur"])).expect("rows");
            close(r.statistic, raw, &format!("case {i} unpooled statistic"));
            close(
                r.p_value,
                c["raw_p_value"].as_f64().expect("p"),
                &format!("case {i} unpooled p"),
            );
        }
    }
}

#[test]
fn psi_over_reference_quantile_bins_matches_numpy() {
    let f = fixtures();
    for (i, c) in f["psi"].as_array().expect("cases").iter().enumerate() {
        let reference = sorted(f64s(&c["reference"]));
        let current = f64s(&c["current"]);
        let bins = QuantileBins::from_sorted_reference(
            &reference,
            c["bins"].as_u64().expect("bins") as usize,
        );
        let want_edges = f64s(&c["edges"]);
        assert_eq!(bins.edges.len(), want_edges.len(), "case {i}: edges");
        for (g, w) in bins.edges.iter().zip(&want_edges) {
            close(*g, *w, &format!("case {i} edge"));
        }
        let rc = bins.counts(&reference);
        let cc = bins.counts(&current);
        assert_eq!(
            rc,
            u64s(&c["reference_counts"]),
            "case {i}: reference counts"
        );
        assert_eq!(cc, u64s(&c["current_counts"]), "case {i}: current counts");
        close(
            psi(&rc, &cc),
            c["psi"].as_f64().expect("psi"),
            &format!("case {i} psi"),
        );
    }
}

#[test]
fn multiple_testing_matches_scipy() {
    let f = fixtures();
    for (i, c) in f["adjust"].as_array().expect("cases").iter().enumerate() {
        let p = f64s(&c["p"]);
        for (name, corr) in [
            ("bh", Correction::BenjaminiHochberg),
            ("bonferroni", Correction::Bonferroni),
        ] {
            let got = adjust_p_values(&p, corr);
            for (g, w) in got.iter().zip(f64s(&c[name])) {
                close(*g, w, &format!("case {i} {name}"));
            }
        }
    }
}

#[test]
fn two_proportion_z_matches_scipy_norm() {
    let f = fixtures();
    for c in f["two_proportion"].as_array().expect("cases") {
        let n = |k: &str| c[k].as_u64().expect("count");
        let p = two_proportion_z_greater(n("x1"), n("n1"), n("x2"), n("n2")).expect("defined");
        close(p, c["p_value"].as_f64().expect("p"), &format!("{c}"));
    }
}

#[test]
fn quantiles_match_numpy_linear() {
    let f = fixtures();
    for c in f["quantile"].as_array().expect("cases") {
        let x = sorted(f64s(&c["values"]));
        for (q, want) in f64s(&c["q"]).into_iter().zip(f64s(&c["quantiles"])) {
            close(quantile_sorted(&x, q), want, &format!("q={q}"));
        }
    }
}

fn fixtures() -> Value {
    reference::fixture("stats.json", "fixtures.py")
}
