//! The fast path held to the serde path: on generated messages and on mutations of them,
//! whatever `fast::parse_top` accepts, serde_json accepts with the same `Top` (compared
//! through `Debug`, which tells -0.0 from 0.0), and every message the serde path refuses
//! the fast path refuses too. `scripts/plant-decoder-bugs.sh` plants bugs in `fast.rs` one
//! at a time and shows which of them these tests catch.

use crate::source::decode::top::{parse_top as serde_top, Top};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The fast reader as `decode_reusing` calls it: with the (emptied) allocation of an
/// earlier record's feature list.
fn fast(text: &str) -> Option<Top<'_>> {
    let mut spare = super::super::recycle(vec![(
        std::borrow::Cow::Borrowed("stale"),
        crate::record::FeatureValue::Num(1.0),
    )]);
    spare.reserve(40);
    super::parse_top(text, spare)
}

fn serde(text: &str) -> Result<Top<'_>, serde_json::Error> {
    serde_top(serde_json::Deserializer::from_str(text))
}

/// What the two paths did with one message.
#[derive(Default, Debug)]
struct Tally {
    both: usize,
    fallback: usize,
    refused: usize,
}

fn check(text: &str, tally: &mut Tally) {
    let s = serde(text);
    match fast(text) {
        Some(f) => {
            let s =
                s.unwrap_or_else(|e| panic!("fast path accepted what serde refuses ({e}): {text}"));
            assert_eq!(format!("{f:?}"), format!("{s:?}"), "on {text}");
            tally.both += 1;
        }
        None if s.is_ok() => tally.fallback += 1,
        None => tally.refused += 1,
    }
}

fn ws(rng: &mut Pcg64Mcg) -> &'static str {
    [" ", "", "", "", "\n", "\t ", "\r\n"][rng.random_range(0..7)]
}

/// A number in one of many spellings: short decimals (the fast path's), and long ones,
/// exponents, negative zero and integers past 15 digits (the serde path's).
fn number(rng: &mut Pcg64Mcg, plain: bool) -> String {
    let sign = if rng.random_bool(0.3) { "-" } else { "" };
    let int: u64 = match rng.random_range(0..4) {
        0 => 0,
        1 => rng.random_range(1..10),
        2 => rng.random_range(1..100_000),
        _ => rng.random_range(1..1_000_000_000_000),
    };
    let mut s = format!("{sign}{int}");
    if rng.random_bool(0.7) {
        let width = rng.random_range(1..if plain { 4 } else { 20 });
        let frac: String = (0..width)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        s = format!("{s}.{frac}");
    }
    if !plain && rng.random_bool(0.15) {
        s = format!("{s}e{}", rng.random_range(-30..30));
    }
    s
}

fn string(rng: &mut Pcg64Mcg, plain: bool) -> String {
    let pieces: &[&str] = if plain {
        &["a", "model-", "f1", "k", "v2", "ok", "é", "日本", "x y"]
    } else {
        &["a", "\\n", "\\\"", "\\u00e9", "é", "日本", "\\\\", "b"]
    };
    let n = rng.random_range(0..5);
    let body: String = (0..n)
        .map(|_| pieces[rng.random_range(0..pieces.len())])
        .collect();
    format!("\"{body}\"")
}

fn scalar(rng: &mut Pcg64Mcg, plain: bool) -> String {
    match rng.random_range(0..6) {
        0 | 1 => number(rng, plain),
        2 => string(rng, plain),
        3 => "true".into(),
        4 => "false".into(),
        _ => "null".into(),
    }
}

fn value(rng: &mut Pcg64Mcg, plain: bool, depth: usize) -> String {
    if depth > 3 || rng.random_bool(0.6) {
        return scalar(rng, plain);
    }
    let n = rng.random_range(0..4);
    if rng.random_bool(0.5) {
        let items: Vec<String> = (0..n).map(|_| value(rng, plain, depth + 1)).collect();
        format!("[{}]", items.join(&format!(",{}", ws(rng))))
    } else {
        let items: Vec<String> = (0..n)
            .map(|_| {
                let k = string(rng, plain);
                format!("{k}:{}{}", ws(rng), value(rng, plain, depth + 1))
            })
            .collect();
        format!("{{{}}}", items.join(","))
    }
}

/// An inference-, label- or metric-like message, fields in random order, some repeated,
/// some unknown.
fn message(rng: &mut Pcg64Mcg, plain: bool) -> String {
    let mut fields: Vec<String> = Vec::new();
    let keys = [
        "kind",
        "ts",
        "model",
        "version",
        "request_id",
        "prediction",
        "latency_ms",
        "status",
        "label",
        "name",
        "labels",
        "value",
        "extra",
    ];
    for _ in 0..rng.random_range(0..9) {
        let k = keys[rng.random_range(0..keys.len())];
        fields.push(format!("\"{k}\":{}{}", ws(rng), value(rng, plain, 1)));
    }
    if rng.random_bool(0.8) {
        let features: Vec<String> = (0..rng.random_range(0..25))
            .map(|i| {
                let v = if rng.random_bool(0.9) {
                    scalar(rng, plain)
                } else {
                    value(rng, plain, 2)
                };
                format!("\"f{i}\":{}{v}", ws(rng))
            })
            .collect();
        let f = if rng.random_bool(0.95) {
            format!("{{{}}}", features.join(","))
        } else {
            value(rng, plain, 1)
        };
        let at = rng.random_range(0..=fields.len());
        fields.insert(at, format!("\"features\":{f}"));
    }
    format!(
        "{}{{{}{}}}{}",
        ws(rng),
        ws(rng),
        fields.join(&format!(",{}", ws(rng))),
        ws(rng)
    )
}

/// One edit at an ASCII byte (so the text stays UTF-8): delete, replace, insert or cut.
fn mutate(rng: &mut Pcg64Mcg, text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let ascii: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii()).collect();
    let Some(&at) = ascii.get(rng.random_range(0..ascii.len().max(1))) else {
        return text.to_owned();
    };
    let alphabet = b"{}[]\",:.-+eE0123456789 \t\\nultrfase\x01";
    let c = alphabet[rng.random_range(0..alphabet.len())];
    match rng.random_range(0..4) {
        0 => {
            b.remove(at);
        }
        1 => b[at] = c,
        2 => b.insert(at, c),
        _ => b.truncate(at),
    }
    String::from_utf8(b).expect("edits at ASCII bytes keep UTF-8")
}

#[test]
fn plain_messages_take_the_fast_path_with_the_serde_value() {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let mut tally = Tally::default();
    for _ in 0..20_000 {
        let m = message(&mut rng, true);
        check(&m, &mut tally);
        assert!(fast(&m).is_some(), "plain message left to serde: {m}");
    }
    assert_eq!(tally.both, 20_000, "{tally:?}");
}

#[test]
fn other_messages_agree_or_fall_back() {
    let mut rng = Pcg64Mcg::seed_from_u64(8);
    let mut tally = Tally::default();
    for _ in 0..20_000 {
        check(&message(&mut rng, false), &mut tally);
    }
    // Escapes, exponents and long numbers are common here: both outcomes must occur.
    assert!(tally.both > 1_000 && tally.fallback > 1_000, "{tally:?}");
}

#[test]
fn mutated_messages_agree_fall_back_or_are_refused_by_both() {
    let mut rng = Pcg64Mcg::seed_from_u64(9);
    let mut tally = Tally::default();
    for i in 0..60_000 {
        let mut m = message(&mut rng, i % 2 == 0);
        for _ in 0..rng.random_range(1..4) {
            m = mutate(&mut rng, &m);
        }
        check(&m, &mut tally);
    }
    // Many edits break the JSON, many keep it valid: the property saw both.
    assert!(tally.refused > 10_000 && tally.both > 5_000, "{tally:?}");
}

#[test]
fn numbers_have_serde_json_bits() {
    let mut rng = Pcg64Mcg::seed_from_u64(10);
    let mut fast_taken = 0;
    for _ in 0..100_000 {
        let plain = rng.random_bool(0.5);
        let n = number(&mut rng, plain);
        let m = format!("{{\"value\":{n}}}");
        let mut tally = Tally::default();
        check(&m, &mut tally);
        fast_taken += tally.both;
    }
    assert!(fast_taken > 50_000, "{fast_taken}");
    // The edges of the fast path's number form, one by one.
    for n in [
        "0",
        "-0",
        "-0.0",
        "0.5",
        "1.000",
        "999999999999999",
        "-999999999999999",
        "99999999999999.9",
        "0.000000000000001",
        "1234567890.12345",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e3",
        "1E-3",
        "9999999999999999",
        "0.1234567890123456",
    ] {
        check(&format!("{{\"value\":{n}}}"), &mut Tally::default());
    }
}

#[test]
fn deep_nesting_is_left_to_serde() {
    let deep = format!(
        "{{\"extra\":{}1{}}}",
        "[".repeat(super::MAX_DEPTH + 5),
        "]".repeat(super::MAX_DEPTH + 5)
    );
    assert!(fast(&deep).is_none());
    assert!(serde(&deep).is_ok());
    let shallow = format!("{{\"extra\":{}1{}}}", "[".repeat(10), "]".repeat(10));
    assert!(fast(&shallow).is_some());
}
