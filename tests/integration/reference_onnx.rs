//! vigil's `onnx` detector against onnxruntime: the fixtures `scripts/onnx_models.py` writes
//! (`testdata/fixtures/onnx.json`, models under `testdata/models/`).
//!
//! Tolerances, stated against onnxruntime 1.32 (one thread):
//! - neural models (tract's MatMul, Add, Relu in f32): 1e-5 relative to the output's scale
//!   (max |a - b| / max(1, |b|)); f64 models 1e-12;
//! - tree models (vigil's own ensembles): 1e-6 (in practice equal, bit for bit, except where
//!   an exponential or logarithm from a different libm shifts the last bit);
//! - class labels: equal.
//!
//! The observed maxima are printed (`cargo test --test reference_onnx -- --nocapture`).

use serde::Deserialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use vigil::detect::onnx::{
    FeatureInput, InputDtype, OnnxDetector, OnnxDetectorConfig, OnnxError, OutputRef, OutputSpec,
    ScoreMapping,
};
use vigil::record::FeatureValue;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models() -> PathBuf {
    root().join("testdata/models")
}

#[derive(Deserialize)]
struct Fixture {
    models: Vec<ModelCase>,
    tree_cases: Vec<TreeCase>,
}

#[derive(Deserialize)]
struct ModelCase {
    name: String,
    config: OnnxDetectorConfig,
    records: Vec<serde_json::Map<String, serde_json::Value>>,
    outputs: std::collections::HashMap<String, Vec<serde_json::Value>>,
    scores: Vec<f64>,
}

#[derive(Deserialize)]
struct TreeCase {
    name: String,
    file: String,
    dtype: InputDtype,
    /// Numbers as strings (parsed exactly); null is a missing value.
    rows: Vec<Vec<Option<String>>>,
    /// Numbers as strings, with "nan", "inf" and "-inf".
    outputs: std::collections::HashMap<String, Vec<Vec<String>>>,
}

fn fixture() -> Fixture {
    let path = root().join("testdata/fixtures/onnx.json");
    let text = std::fs::read_to_string(&path).expect("fixture: run scripts/onnx_models.py");
    serde_json::from_str(&text).expect("fixture parses")
}

type Record = Vec<(Cow<'static, str>, FeatureValue<'static>)>;

fn record(obj: &serde_json::Map<String, serde_json::Value>) -> Record {
    obj.iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::Null => FeatureValue::Null,
                serde_json::Value::Bool(b) => FeatureValue::Bool(*b),
                serde_json::Value::Number(n) => FeatureValue::Num(n.as_f64().expect("number")),
                serde_json::Value::String(s) => FeatureValue::Cat(Cow::Owned(s.clone())),
                other => panic!("unexpected feature value {other}"),
            };
            (Cow::Owned(k.clone()), value)
        })
        .collect()
}

fn flatten(v: &[serde_json::Value]) -> Vec<f64> {
    v.iter()
        .flat_map(|row| match row {
            serde_json::Value::Array(a) => a.iter().map(|x| x.as_f64().expect("number")).collect(),
            x => vec![x.as_f64().expect("number")],
        })
        .collect()
}

/// A number written by Python's `repr` (serde_json's own float parsing may be an ulp off,
/// which matters where a value sits exactly on a tree threshold).
fn number(s: &String) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

/// Largest `|a - b| / max(1, |b|)`, with NaN matching NaN only and infinities themselves.
fn max_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "output sizes differ");
    got.iter()
        .zip(want)
        .map(|(&a, &b)| {
            if a == b {
                0.0
            } else if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
                if a.is_nan() && b.is_nan() {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else {
                (a - b).abs() / b.abs().max(1.0)
            }
        })
        .fold(0.0, f64::max)
}

fn tolerance(name: &str, dtype: InputDtype) -> f64 {
    let neural = name.starts_with("autoencoder");
    match (neural, dtype) {
        (true, InputDtype::F32) => 1e-5,
        (true, InputDtype::F64) => 1e-12,
        (false, _) => 1e-6,
    }
}

fn load(case: &ModelCase) -> OnnxDetector {
    let mut cfg = case.config.clone();
    cfg.path = models().join(&cfg.path);
    OnnxDetector::load(&cfg).unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

#[test]
fn shipped_models_match_onnxruntime_outputs_and_scores() {
    let fx = fixture();
    assert_eq!(fx.models.len(), 5);
    for case in &fx.models {
        let mut det = load(case);
        let records: Vec<Record> = case.records.iter().map(record).collect();
        let rows: Vec<&[_]> = records.iter().map(|r| &r[..]).collect();
        let tol = tolerance(&case.name, case.config.dtype);

        let OutputRef::Name(out_name) = &case.config.output.select else {
            panic!("fixtures select outputs by name")
        };
        let mut out = Vec::new();
        det.output_batch(&rows, &mut out).unwrap();
        let out_err = max_err(&out, &flatten(&case.outputs[out_name]));

        let mut scores = Vec::new();
        det.score_batch(&rows, &mut scores).unwrap();
        let batch_err = max_err(&scores, &case.scores);

        let one: Vec<f64> = rows.iter().map(|r| det.score_one(r).unwrap()).collect();
        let one_err = max_err(&one, &case.scores);
        eprintln!(
            "{:<16} output max rel err {out_err:.2e}, scores {batch_err:.2e} (batch) {one_err:.2e} \
             (one at a time); info {:?}",
            case.name,
            det.info()
        );
        assert!(
            out_err <= tol,
            "{}: output error {out_err:e} > {tol:e}",
            case.name
        );
        assert!(
            batch_err <= tol,
            "{}: score error {batch_err:e} > {tol:e}",
            case.name
        );
        assert!(
            one_err <= tol,
            "{}: score_one error {one_err:e} > {tol:e}",
            case.name
        );
    }
}

#[test]
fn isolation_forest_is_folded_into_one_ensemble() {
    let fx = fixture();
    let case = fx.models.iter().find(|m| m.name == "iforest").unwrap();
    let det = load(case);
    let info = det.info();
    assert_eq!(info.trees_folded, 50, "{info:?}");
    assert_eq!(info.ensembles_merged, 49, "{info:?}");
    assert_eq!(info.fold_skipped, None);
    assert!(info.nodes_prepared <= 8, "{info:?}");
    assert!(info.nodes_in_file > 1000, "{info:?}");
}

#[test]
fn hand_made_tree_ensembles_match_onnxruntime() {
    let fx = fixture();
    assert!(fx.tree_cases.len() >= 20);
    for case in &fx.tree_cases {
        let width = case.rows[0].len();
        let names: Vec<String> = (0..width).map(|i| format!("x{i}")).collect();
        let records: Vec<Record> = case
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&names)
                    .map(|(v, n)| {
                        let v = v
                            .as_ref()
                            .map_or(FeatureValue::Null, |s| FeatureValue::Num(number(s)));
                        (Cow::Owned(n.clone()), v)
                    })
                    .collect()
            })
            .collect();
        let rows: Vec<&[_]> = records.iter().map(|r| &r[..]).collect();
        for (output, want) in &case.outputs {
            let cfg = OnnxDetectorConfig {
                path: models().join(&case.file),
                inputs: names
                    .iter()
                    .map(|n| FeatureInput {
                        name: n.clone(),
                        scale: None,
                        missing: f64::NAN,
                    })
                    .collect(),
                dtype: case.dtype,
                output: OutputSpec {
                    select: OutputRef::Name(output.clone()),
                    score: ScoreMapping::default(),
                },
                batch: std::num::NonZeroUsize::new(7).unwrap(),
                ..Default::default()
            };
            let mut det = OnnxDetector::load(&cfg).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let want: Vec<f64> = want.iter().flatten().map(number).collect();
            let mut got = Vec::new();
            det.output_batch(&rows, &mut got).unwrap();
            let err = max_err(&got, &want);
            let mut single = Vec::new();
            for r in &rows {
                let mut o = Vec::new();
                det.output_batch(std::slice::from_ref(r), &mut o).unwrap();
                single.extend(o);
            }
            let err_one = max_err(&single, &want);
            eprintln!(
                "{:<28} {output:<7} max rel err {err:.2e} (batch) {err_one:.2e} (one)",
                case.name
            );
            let tol = if output == "label" { 0.0 } else { 1e-6 };
            let worst = (0..want.len())
                .max_by(|&i, &j| {
                    max_err(&got[i..=i], &want[i..=i])
                        .total_cmp(&max_err(&got[j..=j], &want[j..=j]))
                })
                .unwrap_or(0);
            assert!(
                err <= tol && err_one <= tol,
                "{} {output}: error {err:e} / {err_one:e}; worst at {worst}: {} vs {}",
                case.name,
                got[worst],
                want[worst]
            );
        }
    }
}

fn ae_config() -> OnnxDetectorConfig {
    let fx = fixture();
    let case = fx
        .models
        .into_iter()
        .find(|m| m.name == "autoencoder")
        .unwrap();
    let mut cfg = case.config;
    cfg.path = models().join(&cfg.path);
    cfg
}

fn err(cfg: &OnnxDetectorConfig) -> OnnxError {
    OnnxDetector::load(cfg).expect_err("the load must fail")
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn too_few_features_is_a_missing_mapping_naming_file_input_and_columns() {
    let mut cfg = ae_config();
    cfg.inputs.pop();
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            OnnxError::FeatureMapping {
                columns: 8,
                mapped: 7,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&shown(&cfg.path)) && msg.contains("input `X`"),
        "{msg}"
    );
    assert!(
        msg.contains("8 columns but 7 features") && msg.contains("columns 7..8"),
        "{msg}"
    );
}

#[test]
fn too_many_features_is_a_feature_mapping_error() {
    let mut cfg = ae_config();
    cfg.inputs.push(FeatureInput::new("extra"));
    let e = err(&cfg);
    assert!(
        matches!(
            e,
            OnnxError::FeatureMapping {
                columns: 8,
                mapped: 9,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("inputs[8..] (extra)"), "{e}");
}

#[test]
fn a_three_dimensional_input_is_a_shape_error() {
    let mut cfg = ae_config();
    cfg.path = models().join("rank3_input.onnx");
    cfg.output.select = OutputRef::Index(0);
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(matches!(e, OnnxError::InputShape { .. }), "{msg}");
    assert!(
        msg.contains("rank3_input.onnx") && msg.contains("input `X`"),
        "{msg}"
    );
    assert!(msg.contains("shape [?, 2, 4], expected [N, 8]"), "{msg}");
}

#[test]
fn the_wrong_dtype_is_a_type_error() {
    let mut cfg = ae_config();
    cfg.dtype = InputDtype::F64;
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(matches!(e, OnnxError::InputType { .. }), "{msg}");
    assert!(
        msg.contains("input `X` has element type float (f32), expected double (f64)"),
        "{msg}"
    );
}

#[test]
fn an_output_that_is_not_one_row_per_input_row_is_refused() {
    // skl2onnx 1.20 reshapes an MLPRegressor's [N, 8] output to [8N, 1].
    let mut cfg = ae_config();
    cfg.path = models().join("autoencoder_flat_output.onnx");
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(matches!(e, OnnxError::OutputShape { .. }), "{msg}");
    assert!(
        msg.contains("output `variable`") && msg.contains("one row per input row"),
        "{msg}"
    );
}

#[test]
fn a_reconstruction_needs_as_many_output_columns_as_inputs() {
    let mut cfg = ae_config();
    cfg.path = models().join("iforest.onnx");
    cfg.output.select = OutputRef::Name("scores".into());
    let e = err(&cfg);
    assert!(matches!(e, OnnxError::OutputShape { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("output `scores` has shape [N, 1], expected [N, 8]"),
        "{e}"
    );
    cfg.output.score = ScoreMapping::Score {
        column: 1,
        negate: false,
    };
    let e = err(&cfg);
    assert!(
        e.to_string()
            .contains("at least 2 columns for score column 1"),
        "{e}"
    );
}

#[test]
fn an_unsupported_operator_is_named_with_its_node() {
    let mut cfg = ae_config();
    cfg.path = models().join("unsupported_op.onnx");
    cfg.output.select = OutputRef::Index(0);
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(matches!(e, OnnxError::UnsupportedOperator { .. }), "{msg}");
    assert!(msg.contains("unsupported_op.onnx"), "{msg}");
    assert!(
        msg.contains("node `svm` uses operator ai.onnx.ml.SVMRegressor"),
        "{msg}"
    );
}

#[test]
fn an_unsupported_attribute_value_is_named_with_its_node() {
    let mut cfg = ae_config();
    cfg.path = models().join("unsupported_attribute.onnx");
    cfg.output.select = OutputRef::Name("probabilities".into());
    cfg.output.score = ScoreMapping::Score {
        column: 1,
        negate: false,
    };
    let e = err(&cfg);
    let msg = e.to_string();
    assert!(matches!(e, OnnxError::UnsupportedAttribute { .. }), "{msg}");
    assert!(msg.contains("(ai.onnx.ml.TreeEnsembleClassifier)"), "{msg}");
    assert!(msg.contains("nodes_modes: `BRANCH_MEMBER`"), "{msg}");
}

#[test]
fn unreadable_files_are_load_errors_naming_the_file() {
    let mut cfg = ae_config();
    cfg.path = models().join("no_such_model.onnx");
    let e = err(&cfg);
    assert!(matches!(e, OnnxError::Unreadable { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("no_such_model.onnx: cannot load the model"),
        "{e}"
    );
    cfg.path = models().join("not_onnx.onnx");
    let e = err(&cfg);
    assert!(matches!(e, OnnxError::Unreadable { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("not_onnx.onnx: cannot load the model: not an ONNX model"),
        "{e}"
    );
}

#[test]
fn unknown_input_and_output_names_list_what_exists() {
    let mut cfg = ae_config();
    cfg.input_name = Some("features".into());
    let e = err(&cfg);
    assert!(
        e.to_string()
            .contains("no input `features`; its inputs are `X`"),
        "{e}"
    );
    let mut cfg = ae_config();
    cfg.output.select = OutputRef::Name("reconstruction".into());
    let e = err(&cfg);
    assert!(
        e.to_string()
            .contains("no output `reconstruction`; its outputs are `variable`"),
        "{e}"
    );
    cfg.output.select = OutputRef::Index(3);
    let e = err(&cfg);
    assert!(e.to_string().contains("no output #3"), "{e}");
}

#[test]
fn a_string_feature_is_a_record_error_naming_feature_and_row() {
    let mut det = OnnxDetector::load(&ae_config()).unwrap();
    let good: Record = vec![(Cow::Borrowed("amount"), FeatureValue::Num(12.0))];
    let bad: Record = vec![(
        Cow::Borrowed("amount"),
        FeatureValue::Cat(Cow::Borrowed("12")),
    )];
    let e = det.score_one(&bad).unwrap_err();
    assert!(e.is_record_error());
    assert!(
        e.to_string()
            .contains("record 0: feature `amount` is a string"),
        "{e}"
    );
    let mut out = Vec::new();
    let rows: Vec<&[_]> = vec![&good, &good, &bad];
    let e = det.score_batch(&rows, &mut out).unwrap_err();
    assert!(e.to_string().contains("record 2:"), "{e}");
    // The detector is still usable.
    assert!(det.score_one(&good).unwrap().is_finite());
}

#[test]
fn large_batches_are_split_and_keep_row_order() {
    let fx = fixture();
    let case = fx.models.iter().find(|m| m.name == "iforest").unwrap();
    let mut cfg = case.config.clone();
    cfg.path = models().join(&cfg.path);
    cfg.batch = std::num::NonZeroUsize::new(5).unwrap();
    let mut det = OnnxDetector::load(&cfg).unwrap();
    assert_eq!(det.batch_size(), 5);
    let records: Vec<Record> = case.records.iter().map(record).collect();
    let rows: Vec<&[_]> = records.iter().map(|r| &r[..]).collect();
    let mut scores = Vec::new();
    det.score_batch(&rows, &mut scores).unwrap();
    assert_eq!(scores.len(), rows.len());
    assert!(max_err(&scores, &case.scores) <= 1e-6);
}

#[test]
fn a_classifier_ending_in_zipmap_is_read_ahead_of_it() {
    let fx = fixture();
    let case = fx.models.iter().find(|m| m.name == "gbc").unwrap();
    let mut cfg = case.config.clone();
    cfg.path = models().join("gbc_zipmap.onnx");
    cfg.output.select = OutputRef::Name("proba_output".into());
    let mut det = OnnxDetector::load(&cfg).unwrap();
    let records: Vec<Record> = case.records.iter().map(record).collect();
    let rows: Vec<&[_]> = records.iter().map(|r| &r[..]).collect();
    let mut scores = Vec::new();
    det.score_batch(&rows, &mut scores).unwrap();
    assert!(max_err(&scores, &case.scores) <= 1e-6);

    cfg.output.select = OutputRef::Name("output_probability".into());
    let e = err(&cfg);
    assert!(matches!(e, OnnxError::UnsupportedOperator { .. }), "{e}");
    assert!(
        e.to_string().contains("uses operator ai.onnx.ml.ZipMap"),
        "{e}"
    );
}

#[test]
fn a_model_with_a_fixed_batch_of_one_runs_row_by_row_and_other_fixed_sizes_are_refused() {
    let mut cfg = ae_config();
    cfg.path = models().join("fixed_batch_1.onnx");
    cfg.output = OutputSpec::default();
    for input in &mut cfg.inputs {
        input.scale = None;
    }
    let mut det = OnnxDetector::load(&cfg).unwrap();
    assert!(det.info().single_row);
    assert_eq!(det.batch_size(), 1);
    let recs: Vec<Record> = (0..3)
        .map(|i| vec![(Cow::Borrowed("amount"), FeatureValue::Num(i as f64))])
        .collect();
    let rows: Vec<&[_]> = recs.iter().map(|r| &r[..]).collect();
    let mut out = Vec::new();
    det.score_batch(&rows, &mut out).unwrap();
    assert_eq!(out, vec![0.0, 2.0, 4.0]);

    cfg.path = models().join("fixed_batch_4.onnx");
    let e = err(&cfg);
    assert!(matches!(e, OnnxError::InputShape { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("shape [4, 8], expected a dynamic batch dimension (or 1) first"),
        "{e}"
    );
}
