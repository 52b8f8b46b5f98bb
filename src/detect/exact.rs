//! Exact serde for the floating-point state of the streaming detectors (metric scorers and
//! online change detectors).
//!
//! serde_json's default float parser may land one unit in the last place away from the
//! printed value; a detector restored from JSON would then drift from the one it replaces,
//! and could move a change point. In human-readable formats these helpers therefore write
//! each f64 as its shortest round-trip decimal string (Rust's `Debug`) and read it back
//! with Rust's correctly rounded parser; plain numbers are accepted on input too. Binary
//! formats (the CBOR snapshots) get the f64 itself, which is exact already.
//!
//! Use with `#[serde(with = "exact::f64")]`, `exact::vec` or `exact::deque`.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use std::collections::VecDeque;
use std::fmt;

fn text(x: f64) -> String {
    // `Debug` prints the shortest string that parses back to the same f64, with an
    // exponent for very large and small values (`1e-20`).
    format!("{x:?}")
}

struct F64Visitor;

impl Visitor<'_> for F64Visitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a float as a decimal string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        v.parse::<f64>()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// One f64 exactly.
pub mod f64 {
    use super::*;

    /// Writes `x` as its shortest round-trip decimal string (binary formats: the f64).
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&text(*x))
        } else {
            s.serialize_f64(*x)
        }
    }

    /// Reads a decimal string (or a number).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(F64Visitor)
    }
}

struct Exact(f64);

impl<'de> serde::Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(F64Visitor).map(Exact)
    }
}

struct SeqVisitor;

impl<'de> Visitor<'de> for SeqVisitor {
    type Value = Vec<f64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of floats")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(Exact(x)) = seq.next_element()? {
            out.push(x);
        }
        Ok(out)
    }
}

fn write_seq<'a, S: Serializer>(
    len: usize,
    xs: impl Iterator<Item = &'a f64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let readable = s.is_human_readable();
    let mut seq = s.serialize_seq(Some(len))?;
    for x in xs {
        if readable {
            seq.serialize_element(&text(*x))?;
        } else {
            seq.serialize_element(x)?;
        }
    }
    seq.end()
}

/// A `Vec<f64>` exactly.
pub mod vec {
    use super::*;

    /// Writes every value as its shortest round-trip decimal string.
    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        write_seq(xs.len(), xs.iter(), s)
    }

    /// Reads decimal strings (or numbers).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        d.deserialize_seq(SeqVisitor)
    }
}

/// A `VecDeque<f64>` exactly.
pub mod deque {
    use super::*;

    /// Writes every value, front first, as its shortest round-trip decimal string.
    pub fn serialize<S: Serializer>(xs: &VecDeque<f64>, s: S) -> Result<S::Ok, S::Error> {
        write_seq(xs.len(), xs.iter(), s)
    }

    /// Reads decimal strings (or numbers).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<f64>, D::Error> {
        d.deserialize_seq(SeqVisitor).map(VecDeque::from)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        #[serde(with = "super::f64")]
        x: f64,
        #[serde(with = "super::vec")]
        v: Vec<f64>,
    }

    #[test]
    fn round_trips_bit_for_bit() {
        // Values whose shortest decimal needs 17 digits, a subnormal, extremes, -0.0.
        let v = vec![
            0.1 + 0.2,
            0.011178876819593286,
            0.011178876819593397,
            f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            -0.0,
            1.0 / 3.0,
        ];
        let s = S {
            x: std::f64::consts::PI * 1e-300,
            v: v.clone(),
        };
        let json = serde_json::to_string(&s).expect("serialises");
        let back: S = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.x.to_bits(), s.x.to_bits());
        assert!(back
            .v
            .iter()
            .zip(&v)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // Plain numbers are accepted too.
        let back: S = serde_json::from_str(r#"{"x": 1.5, "v": [1, "2.5"]}"#).expect("parses");
        assert_eq!(
            back,
            S {
                x: 1.5,
                v: vec![1.0, 2.5]
            }
        );
    }
}
