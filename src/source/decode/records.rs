//! The typed records built from a parsed [`Top`]: inference (with its `prediction` and
//! `status` shapes), label and metric, each field checked with its path.

use super::checks::{finite, name, reject, required, short, string, ts, wrong, DecodeLimits};
use super::json::Json;
use super::top::{Features, Top};
use crate::record::{
    FeatureValue, InferenceRecord, LabelRecord, MetricSample, Prediction, RejectReason, Rejection,
    Status,
};
use std::borrow::Cow;

fn prediction<'a>(v: Option<Json<'a>>) -> Result<Prediction<'a>, Rejection> {
    let mut p = Prediction::default();
    match v {
        None | Some(Json::Null) => {}
        Some(Json::Num(x)) => p.score = Some(finite(x, "prediction")?),
        Some(Json::Str(s)) => p.label = Some(s),
        Some(Json::Bool(b)) => p.label = Some(Cow::Borrowed(if b { "true" } else { "false" })),
        Some(Json::Obj(fields)) => {
            let mut probs = None;
            for (k, v) in fields {
                match (k.as_ref(), v) {
                    (_, Json::Null) => {}
                    ("score", Json::Num(x)) => p.score = Some(finite(x, "prediction.score")?),
                    ("score", other) => return Err(wrong("prediction.score", "number", &other)),
                    ("label", Json::Str(s)) => p.label = Some(s),
                    ("label", Json::Num(x)) => p.label = Some(Cow::Owned(format!("{x}"))),
                    ("label", Json::Bool(b)) => {
                        p.label = Some(Cow::Borrowed(if b { "true" } else { "false" }))
                    }
                    ("label", other) => {
                        return Err(wrong("prediction.label", "string or number", &other))
                    }
                    ("probs", Json::Arr(xs)) => probs = Some(xs),
                    ("probs", other) => {
                        return Err(wrong("prediction.probs", "array of numbers", &other))
                    }
                    _ => {}
                }
            }
            if let Some(xs) = probs {
                if xs.is_empty() {
                    // No class, no confidence: a producer bug to hear about, not a record
                    // to count as a prediction.
                    return Err(reject(
                        RejectReason::WrongType,
                        "prediction.probs: expected one probability per class, got none",
                    ));
                }
                let mut best: Option<(usize, f64)> = None;
                for (i, x) in xs.iter().enumerate() {
                    let path = || format!("prediction.probs[{i}]");
                    let x = match x {
                        Json::Num(x) => finite(*x, &path())?,
                        other => return Err(wrong(&path(), "number", other)),
                    };
                    if !(0.0..=1.0).contains(&x) {
                        // Logits or scores here would make a confidence, and so the
                        // estimated accuracy, outside [0, 1].
                        return Err(reject(
                            RejectReason::WrongType,
                            format!("{}: expected a probability in [0, 1], got {x}", path()),
                        ));
                    }
                    if best.is_none_or(|(_, b)| x > b) {
                        best = Some((i, x));
                    }
                }
                if let Some((i, x)) = best {
                    p.score.get_or_insert(x);
                    p.confidence = Some(x);
                    if p.label.is_none() {
                        p.label = Some(Cow::Owned(i.to_string()));
                    }
                }
            }
        }
        Some(other) => {
            return Err(wrong(
                "prediction",
                "number, string or object (score, label, probs)",
                &other,
            ))
        }
    }
    if p.confidence.is_none() {
        // A score in [0, 1] without probs is read as a binary probability.
        p.confidence = p
            .score
            .filter(|s| (0.0..=1.0).contains(s))
            .map(|s| s.max(1.0 - s));
    }
    Ok(p)
}

/// `status`: `"ok"` / `"error"`, an HTTP code (2xx is ok), a gRPC code (0 is ok), or such a
/// code as a string. Any other string counts as an error: it names a failure.
fn status(v: Option<Json<'_>>) -> Result<Option<Status>, Rejection> {
    let code_ok = |c: f64| c == 0.0 || (200.0..300.0).contains(&c);
    Ok(match v {
        None | Some(Json::Null) => None,
        Some(Json::Num(c)) => Some(if code_ok(c) {
            Status::Ok
        } else {
            Status::Error
        }),
        Some(Json::Bool(b)) => Some(if b { Status::Ok } else { Status::Error }),
        Some(Json::Str(s)) => {
            let s = s.trim();
            Some(match s.parse::<f64>() {
                Ok(c) if code_ok(c) => Status::Ok,
                Ok(_) => Status::Error,
                Err(_) if s.eq_ignore_ascii_case("ok") || s.eq_ignore_ascii_case("success") => {
                    Status::Ok
                }
                Err(_) => Status::Error,
            })
        }
        Some(other) => return Err(wrong("status", "string, number or bool", &other)),
    })
}

pub(super) fn inference<'a>(
    t: Top<'a>,
    limits: &DecodeLimits,
) -> Result<InferenceRecord<'a>, Rejection> {
    let model = short(string(required(t.model, "model")?, "model")?, "model")?;
    let version = short(name(required(t.version, "version")?, "version")?, "version")?;
    let ts = ts(t.ts)?;
    let request_id = match t.request_id {
        None | Some(Json::Null) => Cow::Borrowed(""),
        Some(v) => name(v, "request_id")?,
    };
    let features = match t.features {
        None => Vec::new(),
        Some(Features::NotObject(got)) => {
            return Err(reject(
                RejectReason::WrongType,
                format!("features: expected object, got {got}"),
            ))
        }
        Some(Features::Map {
            bad: Some((k, got)),
            ..
        }) => {
            return Err(reject(
                RejectReason::WrongType,
                format!("features.{k}: expected number, string, bool or null, got {got}"),
            ))
        }
        Some(Features::Map { values, bad: None }) => {
            if values.len() > limits.max_features {
                return Err(reject(
                    RejectReason::TooManyFeatures,
                    format!(
                        "features: {} features exceed the limit of {}",
                        values.len(),
                        limits.max_features
                    ),
                ));
            }
            // serde_json refuses non-finite numbers while parsing; this guards the invariant.
            if let Some((k, _)) = values
                .iter()
                .find(|(_, v)| matches!(v, FeatureValue::Num(x) if !x.is_finite()))
            {
                return Err(reject(
                    RejectReason::NonFinite,
                    format!("features.{k}: not finite"),
                ));
            }
            values
        }
    };
    let prediction = prediction(t.prediction)?;
    let latency_ms = match t.latency_ms {
        None | Some(Json::Null) => None,
        Some(Json::Num(x)) => {
            let x = finite(x, "latency_ms")?;
            if x < 0.0 {
                return Err(reject(
                    RejectReason::WrongType,
                    format!("latency_ms: {x} is negative"),
                ));
            }
            Some(x)
        }
        Some(other) => return Err(wrong("latency_ms", "number", &other)),
    };
    let status = status(t.status)?;
    Ok(InferenceRecord {
        ts,
        model,
        version,
        request_id,
        features,
        prediction,
        latency_ms,
        status,
    })
}

pub(super) fn label(t: Top<'_>) -> Result<LabelRecord<'_>, Rejection> {
    let model = short(string(required(t.model, "model")?, "model")?, "model")?;
    let ts = ts(t.ts)?;
    let request_id = name(required(t.request_id, "request_id")?, "request_id")?;
    let label = match required(t.label, "label")? {
        Json::Num(x) => FeatureValue::Num(finite(x, "label")?),
        Json::Str(s) => FeatureValue::Cat(s),
        Json::Bool(b) => FeatureValue::Bool(b),
        other => return Err(wrong("label", "number, string or bool", &other)),
    };
    Ok(LabelRecord {
        ts,
        model,
        request_id,
        label,
    })
}

pub(super) fn metric(t: Top<'_>) -> Result<MetricSample<'_>, Rejection> {
    let name = string(required(t.name, "name")?, "name")?;
    let ts = ts(t.ts)?;
    let value = match required(t.value, "value")? {
        Json::Num(x) => finite(x, "value")?,
        other => return Err(wrong("value", "number", &other)),
    };
    let labels = match t.labels {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Obj(fields)) => {
            let mut out = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                match v {
                    Json::Str(s) => out.push((k, s)),
                    other => return Err(wrong(&format!("labels.{k}"), "string", &other)),
                }
            }
            out
        }
        Some(other) => return Err(wrong("labels", "object of strings", &other)),
    };
    Ok(MetricSample {
        ts,
        name,
        labels,
        value,
    })
}
