//! The serde layer of one message: its top-level object read into [`Top`] (the fields vigil
//! reads, still untyped; every other field skipped unparsed), with `features` decoded
//! straight into feature values on the way. No type checks beyond what the parse needs:
//! those, with their rejection paths, are in `records` and `checks`.

use super::json::{Json, JsonSeed, KeySeed};
use crate::record::FeatureValue;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The `features` object, decoded straight into feature values (the hot path: no
/// intermediate tree). A value of a type features cannot have is remembered, not fatal to
/// the parse, so that the rejection can name it.
#[derive(Debug, PartialEq)]
pub(super) enum Features<'a> {
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
#[derive(Debug, Default, PartialEq)]
pub(super) struct Top<'a> {
    pub(super) kind: Option<Json<'a>>,
    pub(super) ts: Option<Json<'a>>,
    pub(super) model: Option<Json<'a>>,
    pub(super) version: Option<Json<'a>>,
    pub(super) request_id: Option<Json<'a>>,
    pub(super) features: Option<Features<'a>>,
    pub(super) prediction: Option<Json<'a>>,
    pub(super) latency_ms: Option<Json<'a>>,
    pub(super) status: Option<Json<'a>>,
    pub(super) label: Option<Json<'a>>,
    pub(super) name: Option<Json<'a>>,
    pub(super) labels: Option<Json<'a>>,
    pub(super) value: Option<Json<'a>>,
    /// The top level was not an object.
    pub(super) not_object: Option<&'static str>,
}

/// Where a top-level field's value goes, by its key (both readers, serde's and `fast`,
/// route keys through this).
pub(super) enum Field<'t, 'a> {
    /// A field read as an untyped [`Json`] value.
    Json(&'t mut Option<Json<'a>>),
    /// `features`, read straight into feature values.
    Features,
    /// A field vigil does not read.
    Other,
}

impl<'a> Top<'a> {
    pub(super) fn field(&mut self, key: &str) -> Field<'_, 'a> {
        Field::Json(match key {
            "kind" => &mut self.kind,
            "ts" => &mut self.ts,
            "model" => &mut self.model,
            "version" => &mut self.version,
            "request_id" => &mut self.request_id,
            "features" => return Field::Features,
            "prediction" => &mut self.prediction,
            "latency_ms" => &mut self.latency_ms,
            "status" => &mut self.status,
            "label" => &mut self.label,
            "name" => &mut self.name,
            "labels" => &mut self.labels,
            "value" => &mut self.value,
            _ => return Field::Other,
        })
    }
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
            // A repeated key: the last one wins, as in most JSON readers.
            match t.field(&k) {
                Field::Json(slot) => *slot = Some(map.next_value_seed(JsonSeed)?),
                Field::Features => t.features = Some(map.next_value_seed(FeaturesSeed)?),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
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

/// Reads one message's top level; trailing input after the object is an error.
pub(super) fn parse_top<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<Top<'a>, serde_json::Error> {
    let top = de::Deserializer::deserialize_any(&mut de, TopVisitor)?;
    de.end()?;
    Ok(top)
}
