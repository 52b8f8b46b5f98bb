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

use crate::record::{FeatureValue, Record, RecordKind, RejectReason, Rejection};
use checks::{parse_error, reject, wrong};
use records::{inference, label, metric};
use std::borrow::Cow;
use top::{parse_top, Top};

/// Decodes one message. `hint` is the kind its topic carries; without one (JSONL lines)
/// the `kind` field decides, else the shape: `features` or `prediction` -> inference,
/// `label` -> label, `name` and `value` -> metric.
pub fn decode<'a>(
    bytes: &'a [u8],
    hint: Option<RecordKind>,
    limits: &DecodeLimits,
) -> Result<Record<'a>, Rejection> {
    decode_reusing(bytes, hint, limits, &mut FeatureBuf::new())
}

/// The allocation of a decoded record's feature list, kept between records.
pub type FeatureBuf = Vec<(Cow<'static, str>, FeatureValue<'static>)>;

/// Empties a record's feature list for the next [`decode_reusing`], keeping its
/// allocation. (The list borrows the message it was decoded from; emptied, it borrows
/// nothing. Collecting it into a list of another lifetime reuses the allocation through
/// std's in-place collect, which a unit test checks; were that ever to stop, the next
/// record would allocate a list of its own, as before.)
pub fn recycle(mut features: Vec<(Cow<'_, str>, FeatureValue<'_>)>) -> FeatureBuf {
    features.clear();
    features
        .into_iter()
        .map(|_| unreachable!("cleared"))
        .collect()
}

/// [`decode`], building the feature list of an inference record in `spare`'s allocation
/// when it has one (a decoded record's list is about 1.5 KiB: malloc and free of it were a
/// few percent of a replay). Give the list back with [`recycle`] once the record is done.
pub fn decode_reusing<'a>(
    bytes: &'a [u8],
    hint: Option<RecordKind>,
    limits: &DecodeLimits,
    spare: &mut FeatureBuf,
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
    // A UTF-8 byte order mark (Windows tools write one) is not JSON; RFC 8259 lets a
    // parser ignore it, and so does vigil.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // One UTF-8 check of the whole message is cheaper than serde_json's check of every
    // string in it; a message that fails it takes the byte path, whose error names the spot.
    let top = match std::str::from_utf8(bytes) {
        Ok(text) => match fast::parse_top(text, std::mem::take(spare)) {
            Some(top) => Ok(top),
            None => parse_top(serde_json::Deserializer::from_str(text)),
        },
        Err(_) => parse_top(serde_json::Deserializer::from_slice(bytes)),
    }
    .map_err(|e| parse_error(bytes, e))?;
    if let Some(t) = top.not_object {
        let hint = if t == "array" {
            "; one record per line is expected (JSON Lines): `jq -c '.[]'` turns an array \
             into lines"
        } else {
            ""
        };
        return Err(reject(
            RejectReason::NotJson,
            format!("expected a JSON object, got {t}{hint}"),
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

#[cfg(test)]
mod recycle_tests {
    use super::*;

    #[test]
    fn recycling_keeps_the_allocation_and_nothing_else() {
        let line = String::from(
            r#"{"ts":1767225600000,"model":"m","version":"v1","features":{"a":1,"b":"x"},"prediction":0.5}"#,
        );
        let mut spare = FeatureBuf::with_capacity(64);
        let limits = DecodeLimits::default();
        let Ok(Record::Inference(r)) = decode_reusing(line.as_bytes(), None, &limits, &mut spare)
        else {
            panic!("an inference record");
        };
        assert_eq!(r.features.len(), 2);
        assert!(
            r.features.capacity() >= 64,
            "decoded into the spare allocation"
        );
        let ptr = r.features.as_ptr() as usize;
        let back = recycle(r.features);
        assert!(back.is_empty());
        assert_eq!(
            back.as_ptr() as usize,
            ptr,
            "the same allocation comes back"
        );
        drop(line);
        // The recycled list borrows nothing: it outlives the message it was decoded from.
        let line = String::from(
            r#"{"ts":1767225600000,"model":"m","version":"v1","features":{"c":true},"prediction":0.5}"#,
        );
        let mut spare = back;
        let Ok(Record::Inference(r)) = decode_reusing(line.as_bytes(), None, &limits, &mut spare)
        else {
            panic!("an inference record");
        };
        assert_eq!(r.features.len(), 1);
        assert_eq!(r.features.as_ptr() as usize, ptr);
    }
}
