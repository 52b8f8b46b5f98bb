//! Decoding: one message's bytes -> a typed [`Record`] borrowing from them, or a
//! [`Rejection`] with a bounded reason and a detail that names the offending field.
//!
//! The JSON is parsed once by serde_json into a small borrowed tree ([`Json`]: strings stay
//! slices of the input unless they contain escapes) for the fields vigil reads; every other
//! field is skipped unparsed. Types are then checked in plain Rust, which is what gives each
//! rejection its path (`features.age: expected number, string, bool or null, got array`).
//!
//! Pure: no I/O, no clock. The stream-relative timestamp check (far from the stream's
//! event time) needs the watermark and lives in the pipeline.

use crate::record::{
    FeatureValue, InferenceRecord, LabelRecord, MetricSample, Prediction, Record, RecordKind,
    RejectReason, Rejection, Status, Ts,
};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Messages larger than this are rejected as `too_large` without being parsed.
    pub max_record_bytes: usize,
    /// Records with more features than this are rejected as `too_many_features`: it bounds
    /// the work one record can cause.
    pub max_features: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_record_bytes: 64 * 1024,
            max_features: 1024,
        }
    }
}

/// Event times before this (2000-01-01T00:00:00Z) are rejected: almost always seconds
/// mistaken for milliseconds, or a zero default.
pub const MIN_TS: Ts = 946_684_800_000;
/// Event times after this (2200-01-01T00:00:00Z) are rejected: microseconds or nanoseconds
/// mistaken for milliseconds. A bogus far-future record must not become the stream's
/// event time.
pub const MAX_TS: Ts = 7_258_118_400_000;

/// A JSON value, borrowed from the input where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (serde_json rejects out-of-range ones while parsing).
    Num(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// An object, fields in input order.
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Num(_) => "number",
            Json::Str(_) => "string",
            Json::Arr(_) => "array",
            Json::Obj(_) => "object",
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Num(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
        while let Some(x) = seq.next_element_seed(JsonSeed)? {
            v.push(x);
        }
        Ok(Json::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(16).min(64));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let x = map.next_value_seed(JsonSeed)?;
            v.push((k, x));
        }
        Ok(Json::Obj(v))
    }
}

struct JsonSeed;

impl<'de> DeserializeSeed<'de> for JsonSeed {
    type Value = Json<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct K;
        impl<'de> Visitor<'de> for K {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(K)
    }
}

/// The `features` object, decoded straight into feature values (the hot path: no
/// intermediate tree). A value of a type features cannot have is remembered, not fatal to
/// the parse, so that the rejection can name it.
enum Features<'a> {
    /// Name -> value, in input order; `bad` is the first value of a wrong type.
    Map {
        values: Vec<(Cow<'a, str>, FeatureValue<'a>)>,
        bad: Option<(Cow<'a, str>, &'static str)>,
    },
    /// `features` was not an object (its JSON type).
    NotObject(&'static str),
}

enum Feature<'a> {
    Value(FeatureValue<'a>),
    Bad(&'static str),
}

struct FeatureSeed;

impl<'de> DeserializeSeed<'de> for FeatureSeed {
    type Value = Feature<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Feature<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a feature value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Null))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Null))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Num(v as f64)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Num(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Num(v)))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Cat(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Cat(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Feature::Value(FeatureValue::Cat(Cow::Owned(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Feature::Bad("array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Feature::Bad("object"))
            }
        }
        d.deserialize_any(V)
    }
}

struct FeaturesSeed;

impl<'de> DeserializeSeed<'de> for FeaturesSeed {
    type Value = Features<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Features<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of features")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::with_capacity(map.size_hint().unwrap_or(32).min(256));
                let mut bad = None;
                while let Some(k) = map.next_key_seed(KeySeed)? {
                    match map.next_value_seed(FeatureSeed)? {
                        Feature::Value(v) => values.push((k, v)),
                        Feature::Bad(t) => {
                            bad.get_or_insert((k, t));
                        }
                    }
                }
                Ok(Features::Map { values, bad })
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Features::Map {
                    values: Vec::new(),
                    bad: None,
                })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Features::NotObject("bool"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Features::NotObject("number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Features::NotObject("number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Features::NotObject("number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Features::NotObject("string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Features::NotObject("array"))
            }
        }
        d.deserialize_any(V)
    }
}

/// The top-level fields vigil reads, each still untyped. Everything else is skipped.
#[derive(Default)]
struct Top<'a> {
    kind: Option<Json<'a>>,
    ts: Option<Json<'a>>,
    model: Option<Json<'a>>,
    version: Option<Json<'a>>,
    request_id: Option<Json<'a>>,
    features: Option<Features<'a>>,
    prediction: Option<Json<'a>>,
    latency_ms: Option<Json<'a>>,
    status: Option<Json<'a>>,
    label: Option<Json<'a>>,
    name: Option<Json<'a>>,
    labels: Option<Json<'a>>,
    value: Option<Json<'a>>,
    /// The top level was not an object.
    not_object: Option<&'static str>,
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut t = Top::default();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let slot = match k.as_ref() {
                "kind" => &mut t.kind,
                "ts" => &mut t.ts,
                "model" => &mut t.model,
                "version" => &mut t.version,
                "request_id" => &mut t.request_id,
                "features" => {
                    t.features = Some(map.next_value_seed(FeaturesSeed)?);
                    continue;
                }
                "prediction" => &mut t.prediction,
                "latency_ms" => &mut t.latency_ms,
                "status" => &mut t.status,
                "label" => &mut t.label,
                "name" => &mut t.name,
                "labels" => &mut t.labels,
                "value" => &mut t.value,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // A repeated key: the last one wins, as in most JSON readers.
            *slot = Some(map.next_value_seed(JsonSeed)?);
        }
        Ok(t)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top {
            not_object: Some("array"),
            ..Top::default()
        })
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("string"),
            ..Top::default()
        })
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("number"),
            ..Top::default()
        })
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("number"),
            ..Top::default()
        })
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("number"),
            ..Top::default()
        })
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("bool"),
            ..Top::default()
        })
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Top {
            not_object: Some("null"),
            ..Top::default()
        })
    }
}

fn reject(reason: RejectReason, detail: impl Into<String>) -> Rejection {
    Rejection::new(reason, detail)
}

fn wrong(path: &str, expected: &str, got: &Json<'_>) -> Rejection {
    reject(
        RejectReason::WrongType,
        format!("{path}: expected {expected}, got {}", got.type_name()),
    )
}

fn parse_error(bytes: &[u8], e: serde_json::Error) -> Rejection {
    let msg = e.to_string();
    // serde_json refuses numbers beyond f64's range while parsing; writers that emit NaN or
    // Infinity (Python's json module does) produce text that is not JSON at all. Both are
    // the same mistake from the producer's side: a non-finite number.
    if msg.starts_with("number out of range") {
        return reject(
            RejectReason::NonFinite,
            format!("number out of range ({msg})"),
        );
    }
    if e.is_syntax() && contains_non_finite_token(bytes) {
        return reject(
            RejectReason::NonFinite,
            format!("NaN or Infinity is not valid JSON ({msg})"),
        );
    }
    reject(RejectReason::NotJson, msg)
}

fn contains_non_finite_token(bytes: &[u8]) -> bool {
    let find = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    find(b"NaN") || find(b"Infinity")
}

fn parse_top<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<Top<'a>, serde_json::Error> {
    let top = de::Deserializer::deserialize_any(&mut de, TopVisitor)?;
    de.end()?;
    Ok(top)
}

/// Decodes one message. `hint` is the kind its topic carries; without one (JSONL lines)
/// the `kind` field decides, else the shape: `features` or `prediction` -> inference,
/// `label` -> label, `name` and `value` -> metric.
pub fn decode<'a>(
    bytes: &'a [u8],
    hint: Option<RecordKind>,
    limits: &DecodeLimits,
) -> Result<Record<'a>, Rejection> {
    if bytes.len() > limits.max_record_bytes {
        return Err(reject(
            RejectReason::TooLarge,
            format!(
                "{} bytes exceeds limits.max_record_bytes = {}",
                bytes.len(),
                limits.max_record_bytes
            ),
        ));
    }
    // One UTF-8 check of the whole message is cheaper than serde_json's check of every
    // string in it; a message that fails it takes the byte path, whose error names the spot.
    let top = match std::str::from_utf8(bytes) {
        Ok(text) => parse_top(serde_json::Deserializer::from_str(text)),
        Err(_) => parse_top(serde_json::Deserializer::from_slice(bytes)),
    }
    .map_err(|e| parse_error(bytes, e))?;
    if let Some(t) = top.not_object {
        return Err(reject(
            RejectReason::NotJson,
            format!("expected a JSON object, got {t}"),
        ));
    }
    let kind = match hint {
        Some(k) => k,
        None => infer_kind(&top)?,
    };
    match kind {
        RecordKind::Inference => inference(top, limits).map(Record::Inference),
        RecordKind::Label => label(top).map(Record::Label),
        RecordKind::Metric => metric(top).map(Record::Metric),
    }
}

fn infer_kind(t: &Top<'_>) -> Result<RecordKind, Rejection> {
    match &t.kind {
        Some(Json::Str(s)) => match s.as_ref() {
            "inference" => Ok(RecordKind::Inference),
            "label" => Ok(RecordKind::Label),
            "metric" => Ok(RecordKind::Metric),
            other => Err(reject(
                RejectReason::UnknownKind,
                format!("kind: {other:?} is not inference, label or metric"),
            )),
        },
        Some(other) => Err(wrong("kind", "string", other)),
        None if t.features.is_some() || t.prediction.is_some() => Ok(RecordKind::Inference),
        None if t.label.is_some() => Ok(RecordKind::Label),
        None if t.name.is_some() && t.value.is_some() => Ok(RecordKind::Metric),
        None => Err(reject(
            RejectReason::UnknownKind,
            "no kind field, and the shape fits none of inference (features, prediction), \
             label (label) or metric (name, value)",
        )),
    }
}

fn required<'a>(v: Option<Json<'a>>, path: &str) -> Result<Json<'a>, Rejection> {
    match v {
        None | Some(Json::Null) => Err(reject(
            RejectReason::MissingField,
            format!("{path}: required field is missing"),
        )),
        Some(j) => Ok(j),
    }
}

fn finite(x: f64, path: &str) -> Result<f64, Rejection> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(reject(
            RejectReason::NonFinite,
            format!("{path}: {x} is not finite"),
        ))
    }
}

fn string<'a>(v: Json<'a>, path: &str) -> Result<Cow<'a, str>, Rejection> {
    match v {
        Json::Str(s) if !s.is_empty() => Ok(s),
        Json::Str(_) => Err(reject(
            RejectReason::MissingField,
            format!("{path}: must not be empty"),
        )),
        other => Err(wrong(path, "string", &other)),
    }
}

/// A string, or a number written as one (versions and ids are often integers).
fn name<'a>(v: Json<'a>, path: &str) -> Result<Cow<'a, str>, Rejection> {
    match v {
        Json::Num(x) if x.fract() == 0.0 && x.abs() < 1e15 => Ok(Cow::Owned(format!("{x}"))),
        Json::Num(x) => Ok(Cow::Owned(x.to_string())),
        other => string(other, path),
    }
}

fn ts(v: Option<Json<'_>>) -> Result<Ts, Rejection> {
    let v = required(v, "ts")?;
    let t = match &v {
        Json::Num(x) => {
            let x = finite(*x, "ts")?;
            x.round() as i64
        }
        Json::Str(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.timestamp_millis(),
            Err(e) => {
                return Err(reject(
                    RejectReason::BadTimestamp,
                    format!("ts: {s:?} is not RFC 3339 ({e})"),
                ))
            }
        },
        other => return Err(wrong("ts", "RFC 3339 string or epoch milliseconds", other)),
    };
    if !(MIN_TS..MAX_TS).contains(&t) {
        return Err(reject(
            RejectReason::BadTimestamp,
            format!(
                "ts: {} is outside 2000-01-01..2200-01-01 (epoch milliseconds expected)",
                crate::record::ts_to_rfc3339(t)
            ),
        ));
    }
    Ok(t)
}

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
                let mut best: Option<(usize, f64)> = None;
                for (i, x) in xs.iter().enumerate() {
                    let path = || format!("prediction.probs[{i}]");
                    let x = match x {
                        Json::Num(x) => finite(*x, &path())?,
                        other => return Err(wrong(&path(), "number", other)),
                    };
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

fn inference<'a>(t: Top<'a>, limits: &DecodeLimits) -> Result<InferenceRecord<'a>, Rejection> {
    let model = string(required(t.model, "model")?, "model")?;
    let version = name(required(t.version, "version")?, "version")?;
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

fn label(t: Top<'_>) -> Result<LabelRecord<'_>, Rejection> {
    let model = string(required(t.model, "model")?, "model")?;
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

fn metric(t: Top<'_>) -> Result<MetricSample<'_>, Rejection> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Result<Record<'_>, Rejection> {
        decode(s.as_bytes(), None, &DecodeLimits::default())
    }

    fn reason(s: &str) -> RejectReason {
        dec(s).expect_err("rejected").reason
    }

    #[test]
    fn inference_record_decodes_and_borrows() {
        let s = r#"{"ts":"2026-11-28T19:37:38Z","model":"fraud","version":"v2","request_id":"r1",
            "features":{"amount":12.5,"country":"DE","vip":true,"note":null},
            "prediction":{"score":0.91,"label":"fraud"},"latency_ms":12.3,"status":"ok","extra":[1,{"a":2}]}"#;
        let Record::Inference(r) = dec(s).expect("valid") else {
            panic!("not inference")
        };
        assert_eq!(r.ts, 1_795_894_658_000);
        assert!(matches!(r.model, Cow::Borrowed("fraud")));
        assert_eq!(r.features.len(), 4);
        assert_eq!(r.features[0].1, FeatureValue::Num(12.5));
        assert_eq!(r.features[1].1, FeatureValue::Cat(Cow::Borrowed("DE")));
        assert_eq!(r.features[2].1, FeatureValue::Bool(true));
        assert_eq!(r.features[3].1, FeatureValue::Null);
        assert_eq!(r.prediction.score, Some(0.91));
        assert_eq!(r.prediction.label.as_deref(), Some("fraud"));
        assert_eq!(r.latency_ms, Some(12.3));
        assert_eq!(r.status, Some(Status::Ok));
    }

    #[test]
    fn prediction_shapes() {
        let base = |p: &str| {
            format!(
                r#"{{"ts":1767225600000,"model":"m","version":3,"features":{{}},"prediction":{p}}}"#
            )
        };
        let get = |p: &str| match decode(base(p).as_bytes(), None, &DecodeLimits::default()) {
            Ok(Record::Inference(r)) => (
                r.version.to_string(),
                r.prediction.score,
                r.prediction.label.map(|l| l.to_string()),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(get("0.25"), ("3".into(), Some(0.25), None));
        assert_eq!(get(r#""cat""#), ("3".into(), None, Some("cat".into())));
        assert_eq!(
            get(r#"{"probs":[0.1,0.7,0.2]}"#),
            ("3".into(), Some(0.7), Some("1".into()))
        );
    }

    #[test]
    fn kinds_are_inferred_from_shape_or_named() {
        let l = r#"{"ts":1767225600000,"model":"m","request_id":"r1","label":1}"#;
        assert!(matches!(dec(l), Ok(Record::Label(_))));
        let m = r#"{"ts":1767225600000,"name":"gpu_util","labels":{"model":"m"},"value":0.8}"#;
        assert!(matches!(dec(m), Ok(Record::Metric(_))));
        let k = r#"{"kind":"metric","ts":1767225600000,"name":"q","value":3}"#;
        assert!(matches!(dec(k), Ok(Record::Metric(_))));
        assert_eq!(
            reason(r#"{"kind":"trace","ts":1}"#),
            RejectReason::UnknownKind
        );
        assert_eq!(reason(r#"{"ts":1767225600000}"#), RejectReason::UnknownKind);
        // A topic's kind wins over the shape.
        let r = decode(
            l.as_bytes(),
            Some(RecordKind::Inference),
            &DecodeLimits::default(),
        );
        assert_eq!(
            r.expect_err("no version").reason,
            RejectReason::MissingField
        );
    }

    #[test]
    fn every_rejection_has_its_reason_and_path() {
        let cases = [
            ("not json", RejectReason::NotJson, ""),
            ("[1,2]", RejectReason::NotJson, "array"),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{}} trailing"#,
                RejectReason::NotJson,
                "",
            ),
            (
                r#"{"ts":1767225600000,"version":"v","features":{}}"#,
                RejectReason::MissingField,
                "model",
            ),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{"a":[1]}}"#,
                RejectReason::WrongType,
                "features.a",
            ),
            (
                r#"{"ts":1767225600000,"model":7,"version":"v","features":{}}"#,
                RejectReason::WrongType,
                "model",
            ),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{"a":1e999}}"#,
                RejectReason::NonFinite,
                "",
            ),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{"a":NaN}}"#,
                RejectReason::NonFinite,
                "NaN",
            ),
            (
                r#"{"ts":"yesterday","model":"m","version":"v","features":{}}"#,
                RejectReason::BadTimestamp,
                "ts",
            ),
            (
                r#"{"ts":1767225600,"model":"m","version":"v","features":{}}"#,
                RejectReason::BadTimestamp,
                "ts",
            ),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{},"latency_ms":"fast"}"#,
                RejectReason::WrongType,
                "latency_ms",
            ),
            (
                r#"{"ts":1767225600000,"model":"m","version":"v","features":{},"prediction":[1]}"#,
                RejectReason::WrongType,
                "prediction",
            ),
        ];
        for (input, want, path) in cases {
            let r = dec(input).expect_err(input);
            assert_eq!(r.reason, want, "{input}: {}", r.detail);
            assert!(r.detail.contains(path), "{input}: {}", r.detail);
        }
    }

    #[test]
    fn size_and_feature_limits() {
        let limits = DecodeLimits {
            max_record_bytes: 100,
            max_features: 2,
        };
        let big = format!(r#"{{"ts":1767225600000,"model":"{}"}}"#, "x".repeat(200));
        assert_eq!(
            decode(big.as_bytes(), None, &limits)
                .expect_err("big")
                .reason,
            RejectReason::TooLarge
        );
        let many =
            r#"{"ts":1767225600000,"model":"m","version":"v","features":{"a":1,"b":2,"c":3}}"#;
        assert_eq!(
            decode(many.as_bytes(), None, &limits)
                .expect_err("many")
                .reason,
            RejectReason::TooManyFeatures
        );
    }

    #[test]
    fn status_codes() {
        let st = |s: &str| {
            let l = format!(
                r#"{{"ts":1767225600000,"model":"m","version":"v","features":{{}},"status":{s}}}"#
            );
            match decode(l.as_bytes(), None, &DecodeLimits::default()) {
                Ok(Record::Inference(r)) => r.status,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(st(r#""ok""#), Some(Status::Ok));
        assert_eq!(st(r#""error""#), Some(Status::Error));
        assert_eq!(st("200"), Some(Status::Ok));
        assert_eq!(st("503"), Some(Status::Error));
        assert_eq!(st("0"), Some(Status::Ok));
        assert_eq!(st(r#""504""#), Some(Status::Error));
        assert_eq!(st(r#""DEADLINE_EXCEEDED""#), Some(Status::Error));
        assert_eq!(st("null"), None);
    }
}
