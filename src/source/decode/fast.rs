//! The fast path of the serde layer: [`parse_top`] reads the common message (a JSON
//! object whose strings have no escapes and whose numbers are short decimals) into the same
//! [`Top`] that the serde visitors in `top` build, in one pass over the bytes, with no
//! visitor indirection. Anything else it does not decide: it returns `None`, and the serde
//! path reads the message and words the error if there is one.
//!
//! Why by hand: serde_json, sonic-rs, simd-json and jiter were each measured on the
//! replay benchmark's records; none decoded them into borrowed values at better than ~45%
//! of the speed of serde_json merely skipping them (`IgnoredAny`), and decoding was the
//! largest single cost of a replay. This reader does only what those records need, and it
//! is held to the serde path by a differential test (`fast_tests`): whatever it accepts, the
//! serde path accepts with the same value, bit for bit.
//!
//! Its contract, relied on by [`super::decode`]:
//! - `Some(top)` only if the serde path returns `Ok` with an equal `Top` (same strings,
//!   numbers with the same bits, same order);
//! - `None` whenever the input is not JSON, or uses what this reader leaves to serde_json:
//!   string escapes, exponents, numbers of more than 15 significant digits or not exact
//!   in f64, nesting deeper than [`MAX_DEPTH`], or a top level that is not an object.
//!
//! The input is a `&str`, so UTF-8 is already checked; every token boundary this reader
//! cuts at is an ASCII byte, hence a char boundary.

use super::json::Json;
use super::top::{Features, Field, Top};
use crate::record::FeatureValue;
use std::borrow::Cow;

/// Nesting this reader follows before it hands the message to serde_json (whose own limit
/// is 128).
pub(super) const MAX_DEPTH: usize = 64;

/// 10^0 ..= 10^22: the powers of ten that are exact in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Reads one message's top level, or `None` to leave it to the serde path.
/// `spare` is an empty list whose allocation the features are read into.
pub(super) fn parse_top<'a>(
    text: &'a str,
    spare: Vec<(Cow<'a, str>, FeatureValue<'a>)>,
) -> Option<Top<'a>> {
    let mut r = Reader {
        s: text,
        b: text.as_bytes(),
        i: 0,
        spare,
    };
    r.ws();
    r.eat(b'{')?;
    let mut t = Top::default();
    r.ws();
    if r.peek()? == b'}' {
        r.i += 1;
    } else {
        loop {
            r.ws();
            let k = r.string()?;
            r.ws();
            r.eat(b':')?;
            r.ws();
            // A repeated key: the last one wins, as on the serde path.
            match t.field(k) {
                Field::Json(slot) => *slot = Some(r.value(1)?),
                Field::Features => t.features = Some(r.features()?),
                Field::Other => {
                    r.value(1)?;
                }
            }
            if !r.next(b'}')? {
                break;
            }
        }
    }
    r.ws();
    (r.i == r.b.len()).then_some(t)
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// An empty list for the features, with the allocation of an earlier record's.
    spare: Vec<(Cow<'a, str>, FeatureValue<'a>)>,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// After a member or element: `true` at a comma (consumed), `false` at the closing
    /// `close` (consumed), `None` at anything else.
    fn next(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A string without escapes, borrowed; the reader stands on its opening quote.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut j = start;
        loop {
            match *self.b.get(j)? {
                b'"' => break,
                // An escape (left to serde_json) or a control character (not JSON).
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        Some(&self.s[start..j])
    }

    /// A number in the form `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 significant
    /// digits, computed as serde_json computes it: the integer, or the digits as a `u64`
    /// divided by a power of ten (both exact in f64, so the quotient is correctly rounded,
    /// as it is on serde_json's `float_roundtrip` path too).
    fn number(&mut self) -> Option<f64> {
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        let mut sig: u64 = 0;
        let mut digits = 0usize;
        match self.peek()? {
            b'0' => {
                self.i += 1;
                // A second leading digit is not JSON.
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    sig = sig * 10 + u64::from(c - b'0');
                    digits += 1;
                    self.i += 1;
                    if digits > 15 {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        let mut frac = 0usize;
        if self.peek() == Some(b'.') {
            self.i += 1;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                sig = sig * 10 + u64::from(c - b'0');
                frac += 1;
                self.i += 1;
                if digits + frac > 15 {
                    return None;
                }
            }
            if frac == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            return None;
        }
        // At most 15 digits: sig < 10^15 < 2^53 is exact, and frac <= 15 indexes POW10.
        let x = sig as f64 / POW10[frac];
        Some(if neg { -x } else { x })
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Any JSON value, as the serde path's `JsonSeed` reads it.
    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        Some(match self.peek()? {
            b'"' => Json::Str(Cow::Borrowed(self.string()?)),
            b'{' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        v.push((Cow::Borrowed(k), self.value(depth + 1)?));
                        if !self.next(b'}')? {
                            break;
                        }
                    }
                }
                Json::Obj(v)
            }
            b'[' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        v.push(self.value(depth + 1)?);
                        if !self.next(b']')? {
                            break;
                        }
                    }
                }
                Json::Arr(v)
            }
            b't' => {
                self.literal(b"true")?;
                Json::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Json::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Json::Null
            }
            _ => Json::Num(self.number()?),
        })
    }

    /// The `features` value, as the serde path's `FeaturesSeed` reads it.
    fn features(&mut self) -> Option<Features<'a>> {
        match self.peek()? {
            b'{' => {}
            b'n' => {
                self.literal(b"null")?;
                return Some(Features::Map {
                    values: Vec::new(),
                    bad: None,
                });
            }
            _ => {
                let got = match self.value(1)? {
                    Json::Bool(_) => "bool",
                    Json::Num(_) => "number",
                    Json::Str(_) => "string",
                    Json::Arr(_) => "array",
                    // Unreachable: `{` and `null` are handled above.
                    Json::Obj(_) | Json::Null => return None,
                };
                return Some(Features::NotObject(got));
            }
        }
        self.i += 1;
        let mut values = std::mem::take(&mut self.spare);
        values.reserve(32);
        let mut bad = None;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Features::Map { values, bad });
        }
        loop {
            self.ws();
            let k = Cow::Borrowed(self.string()?);
            self.ws();
            self.eat(b':')?;
            self.ws();
            let v = match self.peek()? {
                b'"' => FeatureValue::Cat(Cow::Borrowed(self.string()?)),
                b't' => {
                    self.literal(b"true")?;
                    FeatureValue::Bool(true)
                }
                b'f' => {
                    self.literal(b"false")?;
                    FeatureValue::Bool(false)
                }
                b'n' => {
                    self.literal(b"null")?;
                    FeatureValue::Null
                }
                c @ (b'[' | b'{') => {
                    self.value(2)?;
                    bad.get_or_insert((k, if c == b'[' { "array" } else { "object" }));
                    if !self.next(b'}')? {
                        break;
                    }
                    continue;
                }
                _ => FeatureValue::Num(self.number()?),
            };
            values.push((k, v));
            if !self.next(b'}')? {
                break;
            }
        }
        Some(Features::Map { values, bad })
    }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
