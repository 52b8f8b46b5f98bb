//! Helpers for the tests that check vigil against reference values: reading the fixtures
//! that the scripts under `scripts/` write into `testdata/fixtures/`, and comparing numbers.
#![allow(dead_code)]

use serde_json::Value;

/// `testdata/fixtures/NAME`, parsed; the panic names the script that writes it.
pub fn fixture(name: &str, script: &str) -> Value {
    let path = format!("{}/testdata/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run scripts/{script} to create the fixtures"));
    serde_json::from_str(&text).expect("valid fixture JSON")
}

/// A JSON array of numbers.
pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// A JSON array of counts.
pub fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("count"))
        .collect()
}

/// Asserts `got` is within `rel` relative error of the reference value `want`.
pub fn close(got: f64, want: f64, rel: f64, what: &str) {
    let tol = rel * want.abs().max(f64::MIN_POSITIVE);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, reference {want:e} (rel err {:e})",
        ((got - want) / want).abs()
    );
}
