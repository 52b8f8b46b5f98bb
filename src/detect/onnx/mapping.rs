//! Record features -> one row of the model's input tensor: by name, each column scaled as
//! configured, null and absent features replaced by the column's missing value. Writes into
//! a caller's buffer. A serving layer logs a model's features in the same order record
//! after record, so the column found at each position is remembered and checked with one
//! string comparison; the hash lookup (and an allocation, for a feature the model does not
//! use) happens only when the order changes.

use super::FeatureInput;
use crate::record::FeatureValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// What the feature at a record position was last time.
#[derive(Debug, Clone)]
enum Seen {
    Column(usize),
    Unused(String),
}

/// Positions remembered at most (records of more features look the rest up by hash).
const MEMO: usize = 1024;

/// Column layout of the input, compiled from the config.
#[derive(Debug, Clone)]
pub(crate) struct FeatureMap {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Per record position, the feature seen there last.
    seen: Vec<Seen>,
    /// `(mean, std, scaled)` per column.
    scale: Vec<(f64, f64, bool)>,
    /// The prepared (scaled) missing value per column.
    missing: Vec<f64>,
}

/// An element type of the input buffer.
pub(crate) trait Element: Copy {
    fn of(x: f64) -> Self;
}

impl Element for f32 {
    #[inline]
    fn of(x: f64) -> f32 {
        x as f32
    }
}

impl Element for f64 {
    #[inline]
    fn of(x: f64) -> f64 {
        x
    }
}

impl FeatureMap {
    pub fn new(inputs: &[FeatureInput]) -> FeatureMap {
        let scale: Vec<(f64, f64, bool)> = inputs
            .iter()
            .map(|i| match i.scale {
                Some((mean, std)) => (mean, std, true),
                None => (0.0, 1.0, false),
            })
            .collect();
        let missing = inputs
            .iter()
            .zip(&scale)
            .map(|(i, &s)| prepare(i.missing, s))
            .collect();
        FeatureMap {
            names: inputs.iter().map(|i| i.name.clone()).collect(),
            index: inputs
                .iter()
                .enumerate()
                .map(|(c, i)| (i.name.clone(), c))
                .collect(),
            seen: Vec::new(),
            scale,
            missing,
        }
    }

    /// Columns of a row.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// The column of the feature `name` at record position `pos`, if the model uses it.
    #[inline]
    fn column(&mut self, pos: usize, name: &str) -> Option<usize> {
        match self.seen.get(pos) {
            Some(Seen::Column(c)) if self.names[*c] == name => return Some(*c),
            Some(Seen::Unused(n)) if n == name => return None,
            _ => {}
        }
        let found = self.index.get(name).copied();
        if pos <= self.seen.len() && pos < MEMO {
            let seen = match found {
                Some(c) => Seen::Column(c),
                None => Seen::Unused(name.to_string()),
            };
            if pos == self.seen.len() {
                self.seen.push(seen);
            } else {
                self.seen[pos] = seen;
            }
        }
        found
    }

    /// Writes one record into `row` (`width()` values). Features the model does not use are
    /// ignored; a repeated feature keeps its last value. Returns the name of a feature
    /// holding a string where a number is needed.
    pub fn fill<'f, T: Element>(
        &mut self,
        features: &'f [(Cow<'_, str>, FeatureValue<'_>)],
        row: &mut [T],
    ) -> Result<(), &'f str> {
        debug_assert_eq!(row.len(), self.width());
        for (out, &m) in row.iter_mut().zip(&self.missing) {
            *out = T::of(m);
        }
        for (pos, (name, value)) in features.iter().enumerate() {
            let Some(c) = self.column(pos, name) else {
                continue;
            };
            let x = match value {
                FeatureValue::Num(x) => *x,
                FeatureValue::Bool(b) => *b as u8 as f64,
                FeatureValue::Null => continue,
                FeatureValue::Cat(_) => return Err(name),
            };
            row[c] = T::of(prepare(x, self.scale[c]));
        }
        Ok(())
    }
}

/// `(x - mean) / std` for scaled columns (as the fixtures compute it), `x` otherwise.
#[inline]
fn prepare(x: f64, (mean, std, scaled): (f64, f64, bool)) -> f64 {
    if scaled {
        (x - mean) / std
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> FeatureMap {
        FeatureMap::new(&[
            FeatureInput {
                name: "a".into(),
                scale: Some((10.0, 2.0)),
                missing: 10.0,
            },
            FeatureInput::new("b"),
            FeatureInput {
                name: "c".into(),
                scale: None,
                missing: f64::NAN,
            },
        ])
    }

    fn f<'a>(name: &'a str, v: FeatureValue<'a>) -> (Cow<'a, str>, FeatureValue<'a>) {
        (Cow::Borrowed(name), v)
    }

    #[test]
    fn maps_by_name_in_any_order_and_scales() {
        let mut m = map();
        let mut row = [0f64; 3];
        let rec = [
            f("c", FeatureValue::Num(3.0)),
            f("unused", FeatureValue::Cat("x".into())),
            f("a", FeatureValue::Num(14.0)),
            f("b", FeatureValue::Bool(true)),
        ];
        m.fill(&rec, &mut row).unwrap();
        assert_eq!(row, [2.0, 1.0, 3.0]);
        // Remembered positions are checked: another order maps the same.
        let rec = [
            f("b", FeatureValue::Num(5.0)),
            f("a", FeatureValue::Num(12.0)),
            f("unused", FeatureValue::Num(1.0)),
            f("c", FeatureValue::Null),
        ];
        m.fill(&rec, &mut row).unwrap();
        assert!(row[0] == 1.0 && row[1] == 5.0 && row[2].is_nan(), "{row:?}");
        m.fill(&rec, &mut row).unwrap();
        assert!(row[0] == 1.0 && row[1] == 5.0 && row[2].is_nan(), "{row:?}");
    }

    #[test]
    fn null_and_absent_take_the_missing_value_scaled() {
        let mut m = map();
        let mut row = [9f32; 3];
        m.fill(&[f("a", FeatureValue::Null)], &mut row).unwrap();
        assert_eq!(row[0], 0.0);
        assert_eq!(row[1], 0.0);
        assert!(row[2].is_nan());
    }

    #[test]
    fn a_string_for_a_mapped_feature_is_refused_by_name() {
        let mut m = map();
        let mut row = [0f64; 3];
        let rec = [f("b", FeatureValue::Cat("7".into()))];
        assert_eq!(m.fill(&rec, &mut row), Err("b"));
    }
}
