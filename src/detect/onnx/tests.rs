//! The detector on the shipped models: config shape, validation, and that the tree
//! rewrites change no output. Agreement with onnxruntime is `tests/integration/reference_onnx.rs`.

use super::*;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/models")
}

const FEATURES: [&str; 8] = [
    "amount",
    "merchant_risk",
    "account_age_days",
    "txn_count_1h",
    "avg_amount_30d",
    "distance_km",
    "hour_of_day",
    "device_score",
];

fn iforest() -> OnnxDetectorConfig {
    OnnxDetectorConfig {
        path: models().join("iforest.onnx"),
        inputs: FEATURES.iter().map(|&n| FeatureInput::new(n)).collect(),
        output: OutputSpec {
            select: OutputRef::Name("scores".into()),
            score: ScoreMapping::Score {
                column: 0,
                negate: true,
            },
        },
        ..Default::default()
    }
}

fn rows(n: usize) -> Vec<Vec<(Cow<'static, str>, FeatureValue<'static>)>> {
    // A seeded spread of values around each feature's scale, with some out of range.
    let scale = [120.0, 0.3, 900.0, 2.0, 110.0, 15.0, 13.0, 0.7];
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            FEATURES
                .iter()
                .zip(scale)
                .map(|(&name, k)| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                    (Cow::Borrowed(name), FeatureValue::Num(k * 3.0 * u))
                })
                .collect()
        })
        .collect()
}

#[test]
fn folding_and_merging_change_no_output_bit() {
    let cfg = iforest();
    let mut folded = OnnxDetector::load(&cfg).unwrap();
    let mut plain = OnnxDetector::load_with(&cfg, false).unwrap();
    assert_eq!(folded.info().trees_folded, 50);
    assert_eq!(plain.info().trees_folded, 0);
    assert_eq!(plain.info().nodes_prepared, 1356, "{:?}", plain.info());
    let data = rows(300);
    let rows: Vec<&Features> = data.iter().map(|r| &r[..]).collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    folded.output_batch(&rows, &mut a).unwrap();
    plain.output_batch(&rows, &mut b).unwrap();
    let a: Vec<u64> = a.iter().map(|x| x.to_bits()).collect();
    let b: Vec<u64> = b.iter().map(|x| x.to_bits()).collect();
    assert_eq!(a, b);
}

#[test]
fn the_config_reads_from_toml_with_defaults() {
    let cfg: OnnxDetectorConfig = toml::from_str(
        r#"
        path = "models/fraud_iforest.onnx"
        inputs = [
            { name = "amount", scale = [120.0, 80.0], missing = 120.0 },
            { name = "country_risk" },
        ]
        output = { select = "scores", score = { kind = "score", negate = true } }
        "#,
    )
    .unwrap();
    assert_eq!(cfg.inputs[0].scale, Some((120.0, 80.0)));
    assert_eq!(cfg.inputs[1], FeatureInput::new("country_risk"));
    assert_eq!(cfg.dtype, InputDtype::F32);
    assert_eq!(cfg.batch.get(), 64);
    assert_eq!(cfg.input_name, None);
    assert_eq!(cfg.output.select, OutputRef::Name("scores".into()));
    assert_eq!(
        cfg.output.score,
        ScoreMapping::Score {
            column: 0,
            negate: true
        }
    );
    let ae: OnnxDetectorConfig = toml::from_str(
        r#"
        path = "ae.onnx"
        inputs = [{ name = "a" }]
        dtype = "f64"
        batch = 256
        output = { select = 0, score = { kind = "reconstruction_error", metric = "max_abs" } }
        "#,
    )
    .unwrap();
    assert_eq!(ae.output.select, OutputRef::Index(0));
    assert_eq!(
        ae.output.score,
        ScoreMapping::ReconstructionError {
            against_input: true,
            metric: ErrorMetric::MaxAbs
        }
    );
    let bad = toml::from_str::<OnnxDetectorConfig>("path = \"a\"\ninputs = []\nbatch = 0\n");
    assert!(bad.is_err());
}

#[test]
fn validation_lists_every_problem_with_its_path() {
    let mut cfg = iforest();
    cfg.path = PathBuf::new();
    cfg.inputs[1].name = "amount".into();
    cfg.inputs[2].scale = Some((0.0, 0.0));
    cfg.inputs[3].missing = f64::INFINITY;
    let errors = cfg.validate().unwrap_err();
    assert_eq!(
        errors,
        vec![
            "path: must name the model file",
            "inputs[1].name: `amount` is already mapped by inputs[0]",
            "inputs[2].scale: std must be > 0, got 0",
            "inputs[3].missing: must be finite or NaN, got inf",
        ]
    );
    let e = OnnxDetector::load(&cfg).unwrap_err();
    assert_eq!(e.kind(), "config");
}

#[test]
fn a_detector_can_move_to_another_thread() {
    fn send<T: Send>() {}
    send::<OnnxDetector>();
}

#[test]
fn scores_are_pure_functions_of_the_record() {
    let mut det = OnnxDetector::load(&iforest()).unwrap();
    let data = rows(20);
    let first: Vec<f64> = data.iter().map(|r| det.score_one(r).unwrap()).collect();
    let again: Vec<f64> = data
        .iter()
        .rev()
        .map(|r| det.score_one(r).unwrap())
        .collect();
    let again: Vec<f64> = again.into_iter().rev().collect();
    assert_eq!(first, again);
}

#[test]
fn reconstruction_metrics_read_the_output_against_the_input_or_alone() {
    let names = FEATURES.map(|n| n.to_string());
    let mut cfg = OnnxDetectorConfig {
        path: models().join("autoencoder.onnx"),
        inputs: names.iter().map(|n| FeatureInput::new(n.clone())).collect(),
        ..Default::default()
    };
    let data = rows(5);
    let rows: Vec<&Features> = data.iter().map(|r| &r[..]).collect();
    let mut out = Vec::new();
    OnnxDetector::load(&cfg)
        .unwrap()
        .output_batch(&rows, &mut out)
        .unwrap();
    let x = |r: usize, c: usize| match data[r][c].1 {
        FeatureValue::Num(v) => v as f32 as f64,
        _ => unreachable!("numbers only"),
    };
    type Metric = fn(&[f64]) -> f64;
    let cases: [(bool, ErrorMetric, Metric); 4] = [
        (true, ErrorMetric::Mse, |e| {
            e.iter().map(|v| v * v).sum::<f64>() / 8.0
        }),
        (true, ErrorMetric::Mae, |e| {
            e.iter().map(|v| v.abs()).sum::<f64>() / 8.0
        }),
        (true, ErrorMetric::MaxAbs, |e| {
            e.iter().map(|v| v.abs()).fold(0.0, f64::max)
        }),
        (false, ErrorMetric::Mae, |e| {
            e.iter().map(|v| v.abs()).sum::<f64>() / 8.0
        }),
    ];
    for (against_input, metric, want) in cases {
        cfg.output.score = ScoreMapping::ReconstructionError {
            against_input,
            metric,
        };
        let mut det = OnnxDetector::load(&cfg).unwrap();
        let mut got = Vec::new();
        det.score_batch(&rows, &mut got).unwrap();
        for (r, &g) in got.iter().enumerate() {
            let e: Vec<f64> = (0..8)
                .map(|c| out[r * 8 + c] - if against_input { x(r, c) } else { 0.0 })
                .collect();
            assert!(
                (g - want(&e)).abs() <= 1e-12 * want(&e).abs().max(1.0),
                "{metric:?}"
            );
        }
    }
}
