//! vigil's online change detectors against River 0.26.1 (ADWIN, Page-Hinkley, DDM, EDDM)
//! and against the reference tabular CUSUM of `scripts/river_fixtures.py`, which writes
//! `testdata/fixtures/river.json` (regenerate it with the pinned packages in
//! `scripts/requirements.txt`).
//!
//! Every detector must fire at exactly the observations where the reference fires. The
//! values the script can recover from River's internals (ADWIN's dropped and kept means,
//! Page-Hinkley's test value, DDM's `p + s` and `p_min`, EDDM's level) and the reference
//! CUSUM's statistic and means must agree bit for bit too: vigil follows the references'
//! order of floating-point operations.

use crate::reference;

use serde_json::Value;
use vigil::detect::online::{
    AdwinConfig, ChangeDetector, ChangeDetectorConfig, ChangePoint, CusumConfig, DdmConfig,
    EddmConfig, PageHinkleyConfig,
};

fn stream(f: &Value, name: &str) -> Vec<f64> {
    let s = f["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("stream {name}"));
    s["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn run(config: &ChangeDetectorConfig, xs: &[f64]) -> Vec<ChangePoint> {
    let mut d = ChangeDetector::new(config);
    xs.iter()
        .enumerate()
        .filter_map(|(i, &x)| d.update(x, i as i64))
        .collect()
}

/// The value the reference recorded for `field` must equal vigil's exactly, if recorded.
fn same(want: &Value, field: &str, got: f64, what: &str) {
    if let Some(w) = want.get(field) {
        // Written as a string: serde_json's default parser can be an ULP off.
        let w: f64 = w
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("float string");
        assert_eq!(
            got.to_bits(),
            w.to_bits(),
            "{what}: {field} {got:e}, reference {w:e}"
        );
    }
}

#[test]
fn change_points_match_river_exactly() {
    let f = fixtures();
    assert_eq!(f["river_version"], "0.26.1");
    let runs = f["runs"].as_array().expect("runs");
    let mut per_kind = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for r in runs {
        let name = r["stream"].as_str().expect("stream name");
        let config: ChangeDetectorConfig =
            serde_json::from_value(r["detector"].clone()).expect("a vigil detector config");
        config.validate().expect("valid settings");
        let want = r["detections"].as_array().expect("detections");
        let got = run(&config, &stream(&f, name));
        let what = format!("{name}, {}", r["detector"]);
        let want_idx: Vec<u64> = want
            .iter()
            .map(|d| d["index"].as_u64().expect("index"))
            .collect();
        let got_idx: Vec<u64> = got.iter().map(|c| c.index).collect();
        assert_eq!(got_idx, want_idx, "{what}");
        for (c, w) in got.iter().zip(want) {
            let what = format!("{what} at {}", c.index);
            same(w, "statistic", c.statistic, &what);
            same(w, "mean_before", c.mean_before, &what);
            same(w, "mean_after", c.mean_after, &what);
            assert_eq!(c.ts, c.index as i64);
        }
        let e = per_kind.entry(config.kind()).or_default();
        e.0 += 1;
        e.1 += got.len();
    }
    println!("{per_kind:?}");
    // Every detector is exercised, and on enough change points to mean something.
    for (kind, min_points) in [
        ("adwin", 100),
        ("page_hinkley", 700),
        ("cusum", 600),
        ("ddm", 50),
        ("eddm", 85),
    ] {
        let (runs, points) = per_kind.get(kind).copied().unwrap_or_default();
        assert!(
            runs >= 14 && points >= min_points,
            "{kind}: {runs} runs, {points} points"
        );
    }
}

#[test]
fn the_fixture_defaults_are_vigils_defaults() {
    let f = fixtures();
    let defaults = [
        ChangeDetectorConfig::Adwin(AdwinConfig::default()),
        ChangeDetectorConfig::PageHinkley(PageHinkleyConfig::default()),
        ChangeDetectorConfig::Cusum(CusumConfig::default()),
        ChangeDetectorConfig::Ddm(DdmConfig::default()),
        ChangeDetectorConfig::Eddm(EddmConfig::default()),
    ];
    for default in defaults {
        // The first settings of each kind in the fixture are River's defaults.
        let first = f["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| {
                serde_json::from_value::<ChangeDetectorConfig>(r["detector"].clone())
                    .expect("config")
            })
            .find(|c| c.kind() == default.kind())
            .expect("a run of each kind");
        assert_eq!(first, default);
    }
}

fn fixtures() -> Value {
    reference::fixture("river.json", "river_fixtures.py")
}
