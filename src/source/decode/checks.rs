//! Rejections and limits: [`DecodeLimits`], the event-time bounds [`MIN_TS`] and
//! [`MAX_TS`], the mapping of parse errors to reasons, and the field checks every record
//! kind shares (required, finite, non-empty string, name, timestamp), each returning a
//! [`Rejection`] whose detail names the field.

use super::json::Json;
use crate::record::{RejectReason, Rejection, Ts};
use std::borrow::Cow;

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

pub(super) fn reject(reason: RejectReason, detail: impl Into<String>) -> Rejection {
    Rejection::new(reason, detail)
}

pub(super) fn wrong(path: &str, expected: &str, got: &Json<'_>) -> Rejection {
    reject(
        RejectReason::WrongType,
        format!("{path}: expected {expected}, got {}", got.type_name()),
    )
}

pub(super) fn parse_error(bytes: &[u8], e: serde_json::Error) -> Rejection {
    let msg = e.to_string();
    // serde_json refuses numbers beyond f64's range while parsing; writers that emit NaN or
    // Infinity (Python's json module does) produce text that is not JSON at all. Both are
    // the same mistake from the producer's side: a non-finite number.
    if msg.starts_with("number out of range") {
        return reject(
            RejectReason::NonFinite,
            format!("{msg}: beyond f64's range (about 1.8e308), which no detector can use"),
        );
    }
    if e.is_syntax() && contains_non_finite_token(bytes) {
        return reject(
            RejectReason::NonFinite,
            format!("NaN or Infinity is not valid JSON ({msg})"),
        );
    }
    // A JSON array or a pretty-printed object in a file: every line is a fragment.
    let trimmed = bytes.trim_ascii();
    if e.is_eof() && matches!(trimmed.first(), Some(b'[' | b'{')) {
        return reject(
            RejectReason::NotJson,
            format!(
                "{msg}: one record per line is expected (JSON Lines); a JSON array or \
                 pretty-printed objects can be converted with `jq -c '.[]'` or `jq -c .`"
            ),
        );
    }
    reject(RejectReason::NotJson, msg)
}

fn contains_non_finite_token(bytes: &[u8]) -> bool {
    let find = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    find(b"NaN") || find(b"Infinity")
}

pub(super) fn required<'a>(v: Option<Json<'a>>, path: &str) -> Result<Json<'a>, Rejection> {
    match v {
        None | Some(Json::Null) => Err(reject(
            RejectReason::MissingField,
            format!("{path}: required field is missing"),
        )),
        Some(j) => Ok(j),
    }
}

pub(super) fn finite(x: f64, path: &str) -> Result<f64, Rejection> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(reject(
            RejectReason::NonFinite,
            format!("{path}: {x} is not finite"),
        ))
    }
}

pub(super) fn string<'a>(v: Json<'a>, path: &str) -> Result<Cow<'a, str>, Rejection> {
    match v {
        Json::Str(s) if !s.is_empty() => Ok(s),
        Json::Str(_) => Err(reject(
            RejectReason::MissingField,
            format!("{path}: must not be empty"),
        )),
        other => Err(wrong(path, "string", &other)),
    }
}

/// Longest model or version name: each is a label of vigil's metrics and alerts (and a
/// key of its bounded state), where a kilobyte of junk would be copied everywhere. The
/// label join store's bound on its strings is the same.
pub const MAX_NAME_BYTES: usize = crate::detect::join::MAX_KEY_BYTES;

/// `s` if it is at most [`MAX_NAME_BYTES`] long.
pub(super) fn short<'a>(s: Cow<'a, str>, path: &str) -> Result<Cow<'a, str>, Rejection> {
    if s.len() > MAX_NAME_BYTES {
        return Err(reject(
            RejectReason::TooLarge,
            format!(
                "{path}: {} bytes, more than the {MAX_NAME_BYTES} a model or version name may \
                 have (it labels vigil's metrics and alerts)",
                s.len()
            ),
        ));
    }
    Ok(s)
}

/// A string, or a number written as one (versions and ids are often integers).
pub(super) fn name<'a>(v: Json<'a>, path: &str) -> Result<Cow<'a, str>, Rejection> {
    match v {
        Json::Num(x) if x.fract() == 0.0 && x.abs() < 1e15 => Ok(Cow::Owned(format!("{x}"))),
        Json::Num(x) => Ok(Cow::Owned(x.to_string())),
        other => string(other, path),
    }
}

pub(super) fn ts(v: Option<Json<'_>>) -> Result<Ts, Rejection> {
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
