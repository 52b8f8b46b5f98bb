//! Decoding tests: each record kind, prediction and status shapes, kind inference, and every
//! rejection with its reason and path.

use super::*;
use crate::record::{FeatureValue, Status};
use std::borrow::Cow;

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
        ("[1,2]", RejectReason::NotJson, "array; one record per line"),
        ("[", RejectReason::NotJson, "one record per line"),
        ("  {", RejectReason::NotJson, "jq -c"),
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
        (
            r#"{"ts":1767225600000,"model":"m","version":"v","features":{},"prediction":{"probs":[0.2,7.0]}}"#,
            RejectReason::WrongType,
            "prediction.probs[1]: expected a probability in [0, 1], got 7",
        ),
        (
            r#"{"ts":1767225600000,"model":"m","version":"v","features":{},"prediction":{"probs":[-0.1,1.1]}}"#,
            RejectReason::WrongType,
            "prediction.probs[0]",
        ),
        (
            &format!(
                r#"{{"ts":1767225600000,"model":"{}","version":"v","features":{{}}}}"#,
                "m".repeat(257)
            ),
            RejectReason::TooLarge,
            "model: 257 bytes, more than the 256",
        ),
        (
            &format!(
                r#"{{"ts":1767225600000,"model":"m","version":"{}","features":{{}}}}"#,
                "v".repeat(300)
            ),
            RejectReason::TooLarge,
            "version: 300 bytes",
        ),
        (
            &format!(
                r#"{{"ts":1767225600000,"model":"{}","request_id":"r","label":1}}"#,
                "m".repeat(300)
            ),
            RejectReason::TooLarge,
            "model: 300 bytes",
        ),
        (
            r#"{"ts":1767225600000,"model":"m","version":"v","features":{},"prediction":{"probs":[]}}"#,
            RejectReason::WrongType,
            "prediction.probs: expected one probability per class, got none",
        ),
    ];
    for (input, want, path) in cases {
        let r = dec(input).expect_err(input);
        assert_eq!(r.reason, want, "{input}: {}", r.detail);
        assert!(r.detail.contains(path), "{input}: {}", r.detail);
    }
}

#[test]
fn a_leading_byte_order_mark_is_ignored() {
    let s =
        "\u{feff}{\"ts\":1767225600000,\"model\":\"m\",\"version\":\"v\",\"features\":{\"x\":1}}";
    let Record::Inference(r) = dec(s).expect("valid") else {
        panic!("not inference")
    };
    assert_eq!(r.model, "m");
    // Only at the start: elsewhere it is still not JSON.
    assert_eq!(reason("{\"ts\":1,\u{feff}}"), RejectReason::NotJson);
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
    let many = r#"{"ts":1767225600000,"model":"m","version":"v","features":{"a":1,"b":2,"c":3}}"#;
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
