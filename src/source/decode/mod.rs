//! Decoding: one message's bytes -> a typed [`Record`] borrowing from them, or a
//! [`Rejection`] with a bounded reason and a detail that names the offending field.
//!
//! The JSON is parsed once into a small borrowed tree ([`Json`]: strings stay slices of the
//! input unless they contain escapes) for the fields vigil reads: by a one-pass reader
//! (`fast`) for the common message, else by serde_json, which skips other fields unparsed. Types are then checked in plain Rust, which is what gives each
//! rejection its path (`features.age: expected number, string, bool or null, got array`).
//!
//! Pure: no I/O, no clock. The stream-relative timestamp check (far from the stream's
//! event time) needs the watermark and lives in the pipeline.
//!
//! Layout: `fast` reads the common message in one pass (and leaves the rest to serde),
//! `top` reads any message (serde visitors, `features` on the hot path), `json` is
//! the borrowed tree for the other fields, `checks` holds the limits and field checks,
//! `records` builds each record kind; this file ties them together in [`decode`].

mod checks;
mod fast;
mod json;
mod records;
mod top;

pub use checks::{DecodeLimits, MAX_TS, MIN_TS};
pub use json::Json;

use crate::record::{Record, RecordKind, RejectReason, Rejection};
use checks::{parse_error, reject, wrong};
use records::{inference, label, metric};
use top::{parse_top, Top};

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
        Ok(text) => match fast::parse_top(text) {
            Some(top) => Ok(top),
            None => parse_top(serde_json::Deserializer::from_str(text)),
        },
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

#[cfg(test)]
mod tests;
