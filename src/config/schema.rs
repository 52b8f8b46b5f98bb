//! The config table -> [`RawConfig`], with every schema error (a misspelt key, a wrong type)
//! reported by its path and line, not just the first.
//!
//! serde stops at the first error. So each error's path is taken from
//! `serde_path_to_error`, the offending key is taken out of the table, and the table is
//! deserialised again, until it fits (every struct of [`RawConfig`] has defaults, so
//! taking a key out always makes progress). The [`RawConfig`] that finally fits is then
//! validated like any other, and its errors are merged with these, so one misspelt key
//! does not hide a bad value in another section. Written by hand because no crate collects
//! serde errors (`serde_ignored` only reports unknown keys, and only when the rest fits).

use super::raw::RawConfig;
use serde_path_to_error::Segment;

/// More errors than this and the file is probably not a vigil config at all.
const MAX_ERRORS: usize = 100;

/// What came out of the schema pass.
pub(super) struct Schema<T = RawConfig> {
    /// The config with every offending key taken out; `None` only when an error could not
    /// be taken out (which the raw types' defaults rule out) or there were too many.
    pub raw: Option<T>,
    /// `path: message`, in order of discovery.
    pub errors: Vec<String>,
    /// The paths taken out; validation errors at or under them are consequences of the
    /// errors above and are not repeated.
    pub removed: Vec<String>,
}

/// One step of a path inside the table.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// `key` appended to `path` the way every config error spells paths: dotted, with keys
/// that are not bare TOML keys quoted (`kafka.consumer_properties."enable.auto.commit"`).
pub(super) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn display(base: &str, steps: &[Step]) -> String {
    steps.iter().fold(base.to_string(), |p, s| match s {
        Step::Key(k) => join(&p, k),
        Step::Index(i) => format!("{p}[{i}]"),
    })
}

/// Deserialises `table`, collecting every schema error (their lines come after, from
/// [`add_lines`], with the validation errors').
pub(super) fn deserialize(table: toml::Table) -> Schema {
    collect(toml::Value::Table(table), "", &[])
}

/// Deserialises `value`, found at `base` in the config, as a `T`, collecting every schema
/// error by its path in the file; `outer` names the keys of `value`'s top table that were
/// read before (a detector's `kind`), so that a misspelt key is matched against them too.
/// Used for the whole file and for the tables validated by hand (detectors, `[metrics]`).
pub(super) fn collect<T: serde::de::DeserializeOwned>(
    mut value: toml::Value,
    base: &str,
    outer: &[&str],
) -> Schema<T> {
    let mut errors = Vec::new();
    let mut removed = Vec::new();
    // Per array (by its path in the file), the file's indexes of the elements taken out.
    let mut shifted: Vec<(Vec<Step>, Vec<usize>)> = Vec::new();
    while errors.len() < MAX_ERRORS {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(raw) => {
                return Schema {
                    raw: Some(raw),
                    errors,
                    removed,
                }
            }
            Err(e) => e,
        };
        let mut steps: Vec<Step> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Seq { index } => Some(Step::Index(*index)),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    Some(Step::Key(key.clone()))
                }
                Segment::Unknown => None,
            })
            .collect();
        let message = err.into_inner().message().trim().to_string();
        // An unknown key's error names the key but its path stops at the table holding it.
        if let Some(key) = unknown_key(&message) {
            if lookup(&value, &steps)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(&key))
            {
                steps.push(Step::Key(key));
            }
        }
        // `steps` is in the coordinates of `value`, from which elements may have been
        // taken; the error is reported in the file's.
        let original = to_original(&steps, &shifted);
        let mut message = match unknown_key(&message) {
            Some(key) => unknown_key_message(&key, &message, outer),
            None => message,
        };
        // serde names the Rust type it wanted (`expected struct RawRule`): a table, to a user.
        if let Some(at) = message.find("expected struct ") {
            let rest = &message[at + "expected struct ".len()..];
            let end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            message = format!("{}expected a table{}", &message[..at], &rest[end..]);
        }
        errors.push(format!("{}: {message}", display(base, &original)));
        // A scalar element of an array is taken out alone, and the indexes of later errors
        // in that array are mapped back. An element that is a table goes with its whole
        // array instead: validation reports paths into what is left (`rules[1].severity`),
        // which must keep the file's numbering.
        if let Some((Step::Index(i), parent)) = steps.split_last() {
            let i = *i;
            // Only in an array without tables: `[5, { name = "x" }]` is an array of tables
            // with a bad element, and its tables must keep their numbers.
            let scalar = lookup(&value, parent)
                .and_then(toml::Value::as_array)
                .is_some_and(|a| i < a.len() && !a.iter().any(toml::Value::is_table));
            if scalar {
                if let Some(a) = lookup_mut(&mut value, parent).and_then(|v| v.as_array_mut()) {
                    a.remove(i);
                    let at = original[..original.len() - 1].to_vec();
                    let Some(Step::Index(o)) = original.last().cloned() else {
                        unreachable!("an index maps to an index")
                    };
                    match shifted.iter_mut().find(|(p, _)| *p == at) {
                        Some((_, gone)) => {
                            gone.push(o);
                            gone.sort_unstable();
                        }
                        None => shifted.push((at, vec![o])),
                    }
                    continue;
                }
            }
        }
        while matches!(steps.last(), Some(Step::Index(_))) {
            steps.pop();
        }
        if steps.is_empty() || !remove(&mut value, &steps) {
            break;
        }
        removed.push(display(base, &to_original(&steps, &shifted)));
    }
    if errors.len() >= MAX_ERRORS {
        errors.push(format!(
            "(stopped after {MAX_ERRORS} schema errors, before validating values; fix these \
             and check again)"
        ));
    }
    Schema {
        raw: None,
        errors,
        removed,
    }
}

/// `steps` (in a table some array elements were taken from) in the file's numbering.
fn to_original(steps: &[Step], shifted: &[(Vec<Step>, Vec<usize>)]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    for s in steps {
        let step = match s {
            Step::Index(c) => {
                let mut o = *c;
                if let Some((_, gone)) = shifted.iter().find(|(p, _)| *p == out) {
                    for g in gone {
                        if *g <= o {
                            o += 1;
                        }
                    }
                }
                Step::Index(o)
            }
            k => k.clone(),
        };
        out.push(step);
    }
    out
}

fn lookup_mut<'a>(v: &'a mut toml::Value, steps: &[Step]) -> Option<&'a mut toml::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.as_table_mut()?.get_mut(k),
        Step::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

/// serde's "unknown field `x`, expected one of `a`, `b`" for a user: the key it most likely
/// meant when one is close (an edit or two away, as cargo and git suggest), else every
/// key the table takes. `outer` are keys of the table read before serde saw it.
fn unknown_key_message(key: &str, message: &str, outer: &[&str]) -> String {
    // The backquoted names after the key: `expected `a``, `expected `a` or `b``,
    // `expected one of `a`, `b`, ...`; none for "there are no fields".
    let mut known: Vec<&str> = outer.to_vec();
    known.extend(message.split('`').skip(3).step_by(2));
    let close = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, k)| *d <= (key.chars().count().max(k.chars().count()) / 3).max(1));
    match close {
        Some((_, k)) => format!("unknown key `{key}`; did you mean `{k}`?"),
        None if known.is_empty() => format!("unknown key `{key}`: this table takes no keys"),
        None => {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("unknown key `{key}`, expected one of {}", list.join(", "))
        }
    }
}

/// The key an "unknown field `x`, expected ..." error names.
fn unknown_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn lookup<'a>(v: &'a toml::Value, steps: &[Step]) -> Option<&'a toml::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.as_table()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

fn remove(v: &mut toml::Value, steps: &[Step]) -> bool {
    let Some((Step::Key(last), parent)) = steps.split_last() else {
        return false;
    };
    let mut v = v;
    for s in parent {
        let next = match s {
            Step::Key(k) => v.as_table_mut().and_then(|t| t.get_mut(k)),
            Step::Index(i) => v.as_array_mut().and_then(|a| a.get_mut(*i)),
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    v.as_table_mut().is_some_and(|t| t.remove(last).is_some())
}

/// Appends ` (line N)` to each `path: message` in `errors` (of the schema pass and of
/// validation, neither of which sees the file's text): the line of the key at `path`, or
/// of the nearest enclosing key that the file has, so that a required key that is missing
/// points at its table. Notes, in parentheses, are left as they are.
pub(super) fn add_lines(text: &str, errors: &mut [String]) {
    let Ok(doc) = text.parse::<toml_edit::ImDocument<String>>() else {
        return;
    };
    for e in errors.iter_mut() {
        if e.starts_with('(') {
            continue;
        }
        let Some(steps) = parse_path(e) else {
            continue;
        };
        if let Some(l) = (1..=steps.len())
            .rev()
            .find_map(|n| line_of(text, &doc, &steps[..n]))
        {
            e.push_str(&format!(" (line {l})"));
        }
    }
}

/// The N of an error's ` (line N)`.
pub(super) fn line_in(e: &str) -> Option<usize> {
    let rest = &e[e.rfind(" (line ")? + " (line ".len()..];
    rest.strip_suffix(')')?.parse().ok()
}

/// The path at the start of `path: message`, as [`join`] and [`display`] spell it: dotted
/// keys, bare or quoted as Rust debug-prints a string, and `[i]` indexes.
fn parse_path(e: &str) -> Option<Vec<Step>> {
    let b = e.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    loop {
        if b.get(i) == Some(&b'"') {
            let mut key = String::new();
            i += 1;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        key.push(match *b.get(i + 1)? {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            c => c as char,
                        });
                        i += 2;
                    }
                    _ => {
                        let c = e[i..].chars().next()?;
                        key.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            steps.push(Step::Key(key));
        } else {
            let start = i;
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
            {
                i += 1;
            }
            if i == start {
                return None;
            }
            steps.push(Step::Key(e[start..i].to_string()));
        }
        while b.get(i) == Some(&b'[') {
            let start = i + 1;
            let end = start + e[start..].find(']')?;
            steps.push(Step::Index(e[start..end].parse().ok()?));
            i = end + 1;
        }
        match *b.get(i)? {
            b'.' => i += 1,
            b':' => return Some(steps),
            _ => return None,
        }
    }
}

/// The 1-based line of the key (or array element) at `steps`.
fn line_of(text: &str, doc: &toml_edit::ImDocument<String>, steps: &[Step]) -> Option<usize> {
    use toml_edit::{Item, Table, Value};
    enum At<'a> {
        Table(&'a Table),
        Item(&'a Item),
        Value(&'a Value),
    }
    let mut at = At::Table(doc.as_table());
    let mut span = None;
    for s in steps {
        if let At::Item(Item::Table(t)) = at {
            at = At::Table(t);
        }
        if let At::Item(Item::Value(v)) = at {
            at = At::Value(v);
        }
        at = match (at, s) {
            (At::Table(t), Step::Key(k)) => {
                let (key, item) = t.get_key_value(k)?;
                span = key.span().or(span);
                At::Item(item)
            }
            (At::Value(Value::InlineTable(t)), Step::Key(k)) => {
                let (key, item) = t.get_key_value(k)?;
                span = key.span().or(span);
                At::Item(item)
            }
            (At::Item(Item::ArrayOfTables(a)), Step::Index(i)) => {
                let t = a.get(*i)?;
                span = t.span().or(span);
                At::Table(t)
            }
            (At::Value(Value::Array(a)), Step::Index(i)) => {
                let v = a.get(*i)?;
                span = v.span().or(span);
                At::Value(v)
            }
            _ => return None,
        };
    }
    let start = span?.start;
    Some(text.get(..start)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Schema {
        let mut s = deserialize(toml::from_str(text).expect("toml"));
        add_lines(text, &mut s.errors);
        s
    }

    #[test]
    fn a_misspelt_key_gets_the_key_it_most_likely_meant() {
        let serde = "unknown field `strem`, expected one of `k`, `h`, `warm_up`";
        // `stream` was read before serde saw the table: it is matched too.
        assert_eq!(
            unknown_key_message("strem", serde, &["kind", "stream"]),
            "unknown key `strem`; did you mean `stream`?"
        );
        assert_eq!(
            unknown_key_message("Window", "unknown field `Window`, expected `window`", &[]),
            "unknown key `Window`; did you mean `window`?"
        );
        // Nothing close: every key the table takes.
        assert_eq!(
            unknown_key_message("bogus", serde, &["kind"]),
            "unknown key `bogus`, expected one of `kind`, `k`, `h`, `warm_up`"
        );
        assert_eq!(
            unknown_key_message("x", "unknown field `x`, there are no fields", &[]),
            "unknown key `x`: this table takes no keys"
        );
    }

    #[test]
    fn every_schema_error_is_listed_by_path_and_line() {
        let s = schema(
            r#"
[limits]
max_modles = 5
max_versions_per_model = "three"

[defaults]
windw = "5m"
rollback = { enabled = "yes" }

[[rules]]
name = "a"

[[rules]]
name = "b"
for = 5

[models.fraud]
exclude_features = ["a", 7]

[kafka]
brokers = "localhost:9092"
consumer_properties = { "enable.auto.commit" = false }
"#,
        );
        let want = [
            "limits.max_modles: unknown key `max_modles`; did you mean `max_models`?",
            "limits.max_versions_per_model: invalid type: string \"three\", expected u64 (line 4)",
            "defaults.windw: unknown key `windw`; did you mean `window`? (line 7)",
            "defaults.rollback.enabled: invalid type: string \"yes\", expected a boolean (line 8)",
            "rules[1].for: invalid type: integer `5`, expected a string (line 15)",
            "models.fraud.exclude_features[1]: invalid type: integer `7`, expected a string (line 18)",
            "kafka.consumer_properties.\"enable.auto.commit\": invalid type: boolean `false`",
        ];
        for w in want {
            assert!(
                s.errors.iter().any(|e| e.starts_with(w)),
                "{w} not in {:#?}",
                s.errors
            );
        }
        assert!(
            s.errors.iter().any(|e| e.contains("(line 3)")),
            "{:#?}",
            s.errors
        );
        assert_eq!(s.errors.len(), want.len(), "{:#?}", s.errors);
        // What fits is kept: the first rule and the other settings survive.
        let raw = s.raw.expect("the rest fits");
        assert_eq!(raw.rules.as_ref().map(Vec::len), Some(2));
        assert_eq!(raw.rules.unwrap()[1].for_, None);
        // A scalar element is taken out alone.
        assert_eq!(
            raw.models["fraud"].exclude_features,
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            raw.kafka.expect("kafka").brokers.as_deref(),
            Some("localhost:9092")
        );
    }

    #[test]
    fn every_bad_element_of_an_array_is_listed_by_its_index_in_the_file() {
        let s = schema(
            r#"
[defaults]
exclude_features = [1, "ok", 2, 3]

[models.fraud]
exclude_features = ["a", true]
"#,
        );
        let want = [
            "defaults.exclude_features[0]: invalid type: integer `1`, expected a string (line 3)",
            "defaults.exclude_features[2]: invalid type: integer `2`",
            "defaults.exclude_features[3]: invalid type: integer `3`",
            "models.fraud.exclude_features[1]: invalid type: boolean `true`",
        ];
        for w in want {
            assert!(
                s.errors.iter().any(|e| e.starts_with(w)),
                "{w} not in {:#?}",
                s.errors
            );
        }
        assert_eq!(s.errors.len(), want.len(), "{:#?}", s.errors);
        // The good elements are kept.
        let raw = s.raw.expect("the rest fits");
        assert_eq!(raw.defaults.exclude_features, Some(vec!["ok".to_string()]));
    }

    #[test]
    fn a_file_that_fits_has_no_errors() {
        let s = schema("[defaults]\nwindow = \"5m\"\n");
        assert!(s.errors.is_empty());
        assert_eq!(s.raw.unwrap().defaults.window.as_deref(), Some("5m"));
    }
}
