//! The shipped Grafana dashboards query only metrics vigil exports, and import as they are:
//! every panel and annotation uses the Prometheus datasource variable.

use serde_json::Value;
use std::collections::BTreeSet;
use vigil::telemetry::metrics::names;

fn dashboards() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dashboards/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if !name.starts_with("vigil-") || !name.ends_with(".json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name, v));
    }
    assert!(out.len() >= 3, "three dashboards ship");
    out
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "expr" {
                    out.push(x.as_str().expect("expr is a string").to_string());
                } else {
                    exprs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// Metric names in a PromQL expression: identifiers that are not followed by `(` (functions)
/// and are not label names or keywords. vigil's and the process collector's names have
/// known prefixes, which is all this check needs.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len()
                && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
            {
                i += 1;
            }
            let word = &expr[start..i];
            if word.starts_with("vigil_") || word.starts_with("process_") {
                out.insert(word.to_string());
            }
        } else if c == '"' {
            // Skip string literals (label values).
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_metric_a_dashboard_queries_is_exported() {
    let exported: BTreeSet<&str> = names::ALL.iter().copied().collect();
    let mut seen = 0;
    for (name, d) in dashboards() {
        let mut list = Vec::new();
        exprs(&d, &mut list);
        assert!(!list.is_empty(), "{name} has queries");
        for e in &list {
            let used = metric_names(e);
            assert!(!used.is_empty(), "{name}: {e:?} queries no vigil metric");
            for m in used {
                assert!(
                    exported.contains(m.as_str()),
                    "{name}: {e:?} queries {m}, which vigil does not export"
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 20);
}

#[test]
fn dashboards_use_the_datasource_variable() {
    for (name, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().expect("templating");
        assert!(
            vars.iter().any(|v| v["type"] == "datasource"
                && v["query"] == "prometheus"
                && v["name"] == "datasource"),
            "{name}: a Prometheus datasource variable"
        );
        for p in d["panels"].as_array().expect("panels") {
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}: panel {}",
                p["title"]
            );
            for t in p["targets"].as_array().expect("targets") {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}: {}",
                    p["title"]
                );
            }
        }
        assert!(
            d["uid"].as_str().is_some_and(|u| u.starts_with("vigil-")),
            "{name}: stable uid"
        );
    }
}

#[test]
fn the_name_parser_finds_names_and_skips_labels_and_functions() {
    let n = metric_names(
        r#"sum by (model) (rate(vigil_records_total{kind="vigil_x"}[5m])) / time() - vigil_a:b"#,
    );
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        ["vigil_a:b", "vigil_records_total"]
    );
}
