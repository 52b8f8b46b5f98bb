//! A seeded traffic simulator: inference records of a model whose behaviour (input drift,
//! error rate, latency, score shift) can change per version. It feeds `vigil demo`, the
//! integration tests, the benchmark's input files and the README's examples. Deterministic
//! for a given seed.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use rand_pcg::Pcg64Mcg;
use std::fmt::Write as _;

/// How one version of a model behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Shift, in standard deviations, of the first `drifted_features` numeric features.
    pub feature_shift: f64,
    /// How many numeric features shift.
    pub drifted_features: usize,
    /// Share of categorical values replaced by a category never seen before.
    pub new_category_rate: f64,
    /// Probability that a request fails.
    pub error_rate: f64,
    /// Multiplier on latency.
    pub latency_scale: f64,
    /// Added to the model's score before the sigmoid.
    pub score_shift: f64,
    /// Concept drift, from 0 (the truth follows the model's view of the world) to 1 (the
    /// relation between the features and the truth is inverted). Inputs do not change.
    pub concept_shift: f64,
    /// Correlation between the first two numeric features (each stays N(0, 1) marginally:
    /// a drift only multivariate tests can see).
    pub correlation: f64,
}

impl Behaviour {
    /// A healthy model on stationary inputs.
    pub const HEALTHY: Behaviour = Behaviour {
        feature_shift: 0.0,
        drifted_features: 0,
        new_category_rate: 0.0,
        error_rate: 0.01,
        latency_scale: 1.0,
        score_shift: 0.0,
        concept_shift: 0.0,
        correlation: 0.0,
    };

    /// Inputs drift in a few features; the model itself is unchanged.
    pub fn input_drift(features: usize, sigmas: f64) -> Behaviour {
        Behaviour {
            feature_shift: sigmas,
            drifted_features: features,
            new_category_rate: 0.05,
            ..Behaviour::HEALTHY
        }
    }

    /// A bad version: more errors, slower, shifted scores.
    pub const REGRESSED: Behaviour = Behaviour {
        feature_shift: 0.0,
        drifted_features: 0,
        new_category_rate: 0.0,
        error_rate: 0.08,
        latency_scale: 2.2,
        score_shift: 1.2,
        concept_shift: 0.0,
        correlation: 0.0,
    };
}

/// Shape of a simulated model.
#[derive(Debug, Clone)]
pub struct SimModel {
    /// Model name.
    pub name: String,
    /// Names of the numeric features.
    pub numeric: Vec<String>,
    /// Names of the categorical features.
    pub categorical: Vec<String>,
    /// Categories each categorical feature draws from.
    pub categories: usize,
}

impl SimModel {
    /// A model with generic feature names `f0..` and `c0..`.
    pub fn generic(name: &str, numeric: usize, categorical: usize) -> SimModel {
        SimModel {
            name: name.to_string(),
            numeric: (0..numeric).map(|i| format!("f{i}")).collect(),
            categorical: (0..categorical).map(|i| format!("c{i}")).collect(),
            categories: 8,
        }
    }

    /// The demo's fraud model.
    pub fn fraud() -> SimModel {
        SimModel {
            name: "fraud".into(),
            numeric: [
                "amount",
                "account_age_days",
                "txn_count_24h",
                "distance_km",
                "hour",
            ]
            .map(String::from)
            .to_vec(),
            categorical: ["country", "merchant_category", "device"]
                .map(String::from)
                .to_vec(),
            categories: 6,
        }
    }
}

/// Generates records.
#[derive(Debug, Clone)]
pub struct Simulator {
    model: SimModel,
    rng: Pcg64Mcg,
    seq: u64,
    latency: LogNormal<f64>,
    noise: Normal<f64>,
    /// Draws the ground truth, apart from `rng` so that adding labels leaves the inference
    /// stream of a seed unchanged.
    truth_rng: Pcg64Mcg,
    last_truth: Option<(u64, bool)>,
}

impl Simulator {
    /// A simulator for `model` with a seed.
    pub fn new(model: SimModel, seed: u64) -> Simulator {
        Simulator {
            model,
            rng: Pcg64Mcg::seed_from_u64(seed),
            seq: 0,
            latency: LogNormal::new(3.0, 0.35).expect("valid parameters"),
            noise: Normal::new(0.0, 1.0).expect("valid parameters"),
            truth_rng: Pcg64Mcg::seed_from_u64(seed ^ 0x7275_7468),
            last_truth: None,
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.model.name
    }

    /// Appends one inference record (JSON, no newline) for `version` at event time `ts_ms`.
    pub fn record(&mut self, out: &mut String, ts_ms: i64, version: &str, b: &Behaviour) {
        self.seq += 1;
        let ts = crate::record::ts_to_rfc3339(ts_ms);
        let _ = write!(
            out,
            r#"{{"ts":"{ts}","model":"{}","version":"{version}","request_id":"r{}","features":{{"#,
            self.model.name, self.seq
        );
        let mut logit = -1.0 + b.score_shift;
        let mut world = -1.0;
        let mut first = 0.0;
        for (i, name) in self.model.numeric.iter().enumerate() {
            let mut x = self.noise.sample(&mut self.rng);
            if i == 0 {
                first = x;
            } else if i == 1 && b.correlation != 0.0 {
                let r = b.correlation.clamp(-1.0, 1.0);
                x = r * first + (1.0 - r * r).sqrt() * x;
            }
            if i < b.drifted_features {
                x += b.feature_shift;
            }
            logit += 0.3 * x / (1.0 + i as f64);
            world += 0.3 * x / (1.0 + i as f64);
            let v = 10.0 * (i as f64 + 1.0) + 3.0 * x;
            let _ = write!(out, r#""{name}":{:.4},"#, v);
        }
        for name in &self.model.categorical {
            let c = if self.rng.random::<f64>() < b.new_category_rate {
                "unseen".to_string()
            } else {
                // A skewed distribution: category k has weight 1/(k+1).
                let u: f64 = self.rng.random();
                let k = ((self.model.categories as f64).powf(u) - 1.0) as usize;
                format!("k{}", k.min(self.model.categories - 1))
            };
            let _ = write!(out, r#""{name}":"{c}","#);
        }
        if out.ends_with(',') {
            out.pop();
        }
        let noise = 0.5 * self.noise.sample(&mut self.rng);
        let score = 1.0 / (1.0 + (-logit - noise).exp());
        // The truth: drawn from the world's log-odds, which a healthy model estimates
        // exactly (its scores are calibrated); concept drift inverts the relation.
        let truth_logit = (world + noise) * (1.0 - 2.0 * b.concept_shift);
        let p_true = 1.0 / (1.0 + (-truth_logit).exp());
        self.last_truth = Some((self.seq, self.truth_rng.random::<f64>() < p_true));
        let label = if score > 0.5 { "fraud" } else { "legit" };
        let latency = self.latency.sample(&mut self.rng) * b.latency_scale;
        let status = if self.rng.random::<f64>() < b.error_rate {
            "error"
        } else {
            "ok"
        };
        let _ = write!(
            out,
            r#"}},"prediction":{{"score":{score:.5},"label":"{label}"}},"latency_ms":{latency:.3},"status":"{status}"}}"#
        );
    }

    /// The label record (JSON, no newline) of the last inference record, at event time
    /// `ts_ms`: `"fraud"` or `"legit"`.
    pub fn last_label(&self, out: &mut String, ts_ms: i64) -> bool {
        let Some((seq, truth)) = self.last_truth else {
            return false;
        };
        let ts = crate::record::ts_to_rfc3339(ts_ms);
        let label = if truth { "fraud" } else { "legit" };
        let _ = write!(
            out,
            r#"{{"kind":"label","ts":"{ts}","model":"{}","request_id":"r{seq}","label":"{label}"}}"#,
            self.model.name
        );
        true
    }

    /// One record as an owned string.
    pub fn record_string(&mut self, ts_ms: i64, version: &str, b: &Behaviour) -> String {
        let mut s = String::with_capacity(512);
        self.record(&mut s, ts_ms, version, b);
        s
    }
}

/// One phase of a scripted stream.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Records in this phase.
    pub records: u64,
    /// Version serving them.
    pub version: String,
    /// How it behaves.
    pub behaviour: Behaviour,
}

/// Writes a scripted stream as JSON lines: `phases` in order, one record every
/// `step_ms` of event time from `start_ms`.
pub fn script(sim: &mut Simulator, start_ms: i64, step_ms: i64, phases: &[Phase]) -> String {
    let mut out = String::new();
    let mut ts = start_ms;
    for p in phases {
        for _ in 0..p.records {
            sim.record(&mut out, ts, &p.version, &p.behaviour);
            out.push('\n');
            ts += step_ms;
        }
    }
    out
}

/// Like [`script`], with a label line for every inference record `label_delay_ms` of event
/// time after it (interleaved in event-time order), as a feedback topic delivers them.
pub fn script_with_labels(
    sim: &mut Simulator,
    start_ms: i64,
    step_ms: i64,
    label_delay_ms: i64,
    phases: &[Phase],
) -> String {
    let mut out = String::new();
    let mut pending: std::collections::VecDeque<(i64, String)> = Default::default();
    let mut ts = start_ms;
    let mut label = String::new();
    for p in phases {
        for _ in 0..p.records {
            while pending.front().is_some_and(|(t, _)| *t <= ts) {
                if let Some((_, l)) = pending.pop_front() {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            sim.record(&mut out, ts, &p.version, &p.behaviour);
            out.push('\n');
            label.clear();
            if sim.last_label(&mut label, ts + label_delay_ms) {
                pending.push_back((ts + label_delay_ms, label.clone()));
            }
            ts += step_ms;
        }
    }
    for (_, l) in pending {
        out.push_str(&l);
        out.push('\n');
    }
    out
}
