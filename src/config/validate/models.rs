//! `[defaults]` and `[models.NAME]`: windows, references, labels, detectors, rollback policy.

use super::{bounded, duration, table_as, window, Errors, MAX_SAMPLE};
use crate::act::policy::RollbackPolicy;
use crate::config::raw::{RawLabels, RawModel, RawRollback};
use crate::config::{
    InferenceStream, LabelSettings, LabelStream, ModelConfig, OnlineSpec, OnnxSpec, WindowSpec,
};
use crate::detect::multivariate::MultivariateConfig;
use crate::detect::online::ChangeDetectorConfig;
use crate::detect::onnx::OnnxDetectorConfig;
use crate::detect::perf::{ScoreMeaning, Task};
use crate::detect::stats::Correction;
use std::num::NonZeroU64;

pub(super) fn model(
    errs: &mut Errors,
    path: &str,
    base: &ModelConfig,
    m: &RawModel,
) -> ModelConfig {
    let mut out = base.clone();
    if let Some(s) = &m.window {
        if let Some(w) = window(errs, &format!("{path}.window"), s) {
            out.window = w;
        }
    }
    if let Some(v) = m.reference_size {
        out.reference_size = bounded(errs, &format!("{path}.reference_size"), v, 10, u64::MAX);
    }
    if let Some(v) = m.reference_sample_size {
        out.reference_sample_size = bounded(
            errs,
            &format!("{path}.reference_sample_size"),
            v,
            10,
            MAX_SAMPLE,
        ) as usize;
    }
    if let Some(v) = m.window_sample_size {
        out.window_sample_size = bounded(
            errs,
            &format!("{path}.window_sample_size"),
            v,
            10,
            MAX_SAMPLE,
        ) as usize;
    }
    if let Some(v) = m.min_window_records {
        out.min_window_records = v;
    }
    // Checked where either is set, so that it is reported once.
    if let WindowSpec::Records(n) = out.window {
        if out.min_window_records > n.get()
            && (m.window.is_some() || m.min_window_records.is_some())
        {
            let at = match m.min_window_records {
                Some(_) => "min_window_records",
                None => "window",
            };
            errs.push(
                format!("{path}.{at}"),
                format!(
                    "min_window_records is {} but a window holds {} records: no window would \
                     ever be alerted on",
                    out.min_window_records,
                    n.get()
                ),
            );
        }
    }
    if let Some(v) = m.psi_bins {
        out.psi_bins = bounded(errs, &format!("{path}.psi_bins"), v, 2, 100) as usize;
    }
    if let Some(s) = &m.correction {
        out.correction = match s.as_str() {
            "none" => Correction::None,
            "bonferroni" => Correction::Bonferroni,
            "benjamini_hochberg" | "bh" => Correction::BenjaminiHochberg,
            _ => {
                errs.push(
                    format!("{path}.correction"),
                    format!("unknown {s:?}; expected none, bonferroni or benjamini_hochberg"),
                );
                out.correction
            }
        };
    }
    if let Some(b) = &m.baseline {
        out.baseline = Some(b.into());
    }
    if let Some(x) = &m.exclude_features {
        out.exclude_features = x.clone();
    }
    if let Some(r) = &m.rollback {
        out.rollback = rollback(errs, &format!("{path}.rollback"), &base.rollback, r);
    }
    if let Some(l) = &m.labels {
        out.labels = labels(errs, &format!("{path}.labels"), &base.labels, l);
    }
    if let Some(d) = &m.detectors {
        let (online, multivariate, onnx) = detectors(errs, &format!("{path}.detectors"), d);
        out.online = online;
        out.multivariate = multivariate;
        if !onnx.is_empty() && path == "defaults" {
            errs.push(
                format!("{path}.detectors"),
                "onnx detectors belong to one model's features: configure them under \
                 [[models.NAME.detectors]]",
            );
        }
        out.onnx = onnx;
    }
    out
}

fn labels(errs: &mut Errors, path: &str, base: &LabelSettings, l: &RawLabels) -> LabelSettings {
    let mut s = base.clone();
    if let Some(v) = l.enabled {
        s.enabled = v;
    }
    if let Some(t) = &l.task {
        s.task = match t.as_str() {
            "auto" => None,
            "binary" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "regression" => Some(Task::Regression),
            _ => {
                errs.push(
                    format!("{path}.task"),
                    format!("unknown {t:?}; expected auto, binary, multiclass or regression"),
                );
                s.task
            }
        };
    }
    if let Some(p) = &l.positive_class {
        if p.is_empty() {
            errs.push(format!("{path}.positive_class"), "must not be empty");
        }
        s.perf.positive_class = Some(p.clone());
    }
    if let Some(m) = &l.score {
        s.perf.score = match m.as_str() {
            "positive_class" => ScoreMeaning::PositiveClass,
            "predicted_label" => ScoreMeaning::PredictedLabel,
            _ => {
                errs.push(
                    format!("{path}.score"),
                    format!("unknown {m:?}; expected positive_class or predicted_label"),
                );
                s.perf.score
            }
        };
    }
    if let Some(t) = l.threshold {
        if !(t > 0.0 && t < 1.0) {
            errs.push(
                format!("{path}.threshold"),
                format!("must be in (0, 1), got {t}"),
            );
        }
        s.perf.threshold = t;
    }
    if let Some(w) = &l.window {
        let t = w.trim();
        let counted = t.strip_suffix("labels").or_else(|| t.strip_suffix("label"));
        match counted {
            Some(n) => match n.trim().parse::<u64>().ok().and_then(NonZeroU64::new) {
                Some(n) => s.window = WindowSpec::Records(n),
                None => errs.push(
                    format!("{path}.window"),
                    format!("must be a positive label count, got {w:?}"),
                ),
            },
            None => {
                if let Some(spec) = window(errs, &format!("{path}.window"), t) {
                    s.window = spec;
                }
            }
        }
    }
    if let Some(v) = l.reference_labels {
        s.reference_labels = bounded(errs, &format!("{path}.reference_labels"), v, 10, 10_000_000);
    }
    if let Some(v) = l.min_window_labels {
        s.min_window_labels = v;
    }
    match &l.change_detector {
        None => {}
        Some(toml::Value::String(n)) if n == "none" => s.change_detector = None,
        Some(toml::Value::Table(t)) => {
            s.change_detector = online(
                errs,
                &format!("{path}.change_detector"),
                &["kind"],
                t.clone(),
            )
        }
        Some(_) => errs.push(
            format!("{path}.change_detector"),
            "must be a table with a kind (e.g. { kind = \"adwin\" }) or \"none\"",
        ),
    }
    if let Some(st) = &l.change_stream {
        s.change_stream = match st.as_str() {
            "label_error" => LabelStream::Error,
            "label_loss" => LabelStream::Loss,
            _ => {
                errs.push(
                    format!("{path}.change_stream"),
                    format!("unknown {st:?}; expected label_error or label_loss"),
                );
                s.change_stream
            }
        };
    }
    s
}

/// The online detector kinds.
const ONLINE_KINDS: [&str; 5] = ["adwin", "page_hinkley", "cusum", "ddm", "eddm"];

/// Parses and validates one online detector table (`kind` plus its parameters).
/// `outer`: the keys of the table read before it gets here (`kind`, a detector's `stream`).
fn online(
    errs: &mut Errors,
    path: &str,
    outer: &[&str],
    table: toml::Table,
) -> Option<ChangeDetectorConfig> {
    // By kind, into the kind's own settings: through the tagged enum, serde would buffer
    // the table and lose the path of every error in it.
    let mut table = table;
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        _ => {
            errs.push(
                format!("{path}.kind"),
                format!("is required: one of {}", ONLINE_KINDS.join(", ")),
            );
            return None;
        }
    };
    let cfg = match kind.as_str() {
        "adwin" => ChangeDetectorConfig::Adwin(table_as(errs, path, outer, table)?),
        "page_hinkley" => ChangeDetectorConfig::PageHinkley(table_as(errs, path, outer, table)?),
        "cusum" => ChangeDetectorConfig::Cusum(table_as(errs, path, outer, table)?),
        "ddm" => ChangeDetectorConfig::Ddm(table_as(errs, path, outer, table)?),
        "eddm" => ChangeDetectorConfig::Eddm(table_as(errs, path, outer, table)?),
        other => {
            errs.push(
                format!("{path}.kind"),
                format!(
                    "unknown {other:?}; expected one of {}",
                    ONLINE_KINDS.join(", ")
                ),
            );
            return None;
        }
    };
    match cfg.validate() {
        Ok(()) => Some(cfg),
        Err(list) => {
            for e in list {
                errs.push(format!("{path}.{}", e.field()), e);
            }
            None
        }
    }
}

fn detectors(
    errs: &mut Errors,
    path: &str,
    list: &[toml::Table],
) -> (Vec<OnlineSpec>, Option<MultivariateConfig>, Vec<OnnxSpec>) {
    let mut out = Vec::new();
    let mut multivariate = None;
    let mut onnx: Vec<OnnxSpec> = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let kind = t.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind == "onnx" {
            let mut t = t.clone();
            t.remove("kind");
            let name = match t.remove("name") {
                Some(toml::Value::String(n)) if !n.is_empty() => n,
                _ => {
                    errs.push(
                        format!("{p}.name"),
                        "is required (a short name for the model)",
                    );
                    continue;
                }
            };
            if onnx.iter().any(|o| o.name == name) {
                errs.push(
                    format!("{p}.name"),
                    format!("detector {name:?} is defined twice"),
                );
            }
            let quantile = match t.remove("quantile") {
                None => 0.99,
                Some(toml::Value::Float(q)) if q > 0.5 && q < 1.0 => q,
                Some(v) => {
                    errs.push(
                        format!("{p}.quantile"),
                        format!("must be in (0.5, 1), got {v}"),
                    );
                    0.99
                }
            };
            if let Some(c) =
                table_as::<OnnxDetectorConfig>(errs, &p, &["kind", "name", "quantile"], t)
            {
                match c.validate() {
                    Ok(()) => onnx.push(OnnxSpec {
                        name,
                        quantile,
                        detector: c,
                    }),
                    Err(list) => {
                        for e in list {
                            errs.push(&p, e);
                        }
                    }
                }
            }
            continue;
        }
        if kind == "multivariate" {
            let mut t = t.clone();
            t.remove("kind");
            if let Some(c) = table_as::<MultivariateConfig>(errs, &p, &["kind"], t) {
                match c.validate() {
                    Ok(()) if multivariate.is_none() => multivariate = Some(c),
                    Ok(()) => errs.push(&p, "only one multivariate detector per model"),
                    Err(e) => errs.push(&p, e),
                }
            }
            continue;
        }
        if !ONLINE_KINDS.contains(&kind) {
            errs.push(
                format!("{p}.kind"),
                format!(
                    "unknown detector {kind:?}; expected multivariate, onnx or one of {}",
                    ONLINE_KINDS.join(", ")
                ),
            );
            continue;
        }
        let mut t = t.clone();
        let stream = match t.remove("stream") {
            Some(toml::Value::String(s)) => match s.as_str() {
                "score" => Some(InferenceStream::Score),
                "latency" => Some(InferenceStream::Latency),
                "error" => Some(InferenceStream::Error),
                f if f.strip_prefix("feature:").is_some_and(|n| !n.is_empty()) => {
                    Some(InferenceStream::Feature(f["feature:".len()..].to_string()))
                }
                other => {
                    errs.push(
                        format!("{p}.stream"),
                        format!(
                            "unknown {other:?}; expected score, latency, error or feature:NAME"
                        ),
                    );
                    None
                }
            },
            Some(_) => {
                errs.push(format!("{p}.stream"), "must be a string");
                None
            }
            None => {
                errs.push(format!("{p}.stream"), "is required");
                None
            }
        };
        if matches!(kind, "ddm" | "eddm") && !matches!(stream, None | Some(InferenceStream::Error))
        {
            errs.push(
                format!("{p}.stream"),
                format!("{kind} watches a 0/1 error indicator: use stream = \"error\""),
            );
        }
        if let (Some(stream), Some(detector)) = (stream, online(errs, &p, &["kind", "stream"], t)) {
            out.push(OnlineSpec { stream, detector });
        }
    }
    (out, multivariate, onnx)
}

fn rollback(
    errs: &mut Errors,
    path: &str,
    base: &RollbackPolicy,
    r: &RawRollback,
) -> RollbackPolicy {
    let mut p = base.clone();
    if let Some(v) = r.enabled {
        p.enabled = v;
    }
    if let Some(v) = r.dry_run {
        p.dry_run = v;
    }
    if let Some(v) = r.min_firing_windows {
        p.min_firing_windows =
            bounded(errs, &format!("{path}.min_firing_windows"), v, 1, 1000) as u32;
    }
    if let Some(v) = r.min_window_records {
        p.min_window_records = v;
    }
    if let Some(v) = r.healthy_windows {
        p.healthy_windows = bounded(errs, &format!("{path}.healthy_windows"), v, 1, 1000) as u32;
    }
    if let Some(v) = r.onset_windows {
        p.onset_windows = bounded(errs, &format!("{path}.onset_windows"), v, 1, 100_000) as u32;
    }
    if let Some(s) = &r.cooldown {
        if let Some(d) = duration(errs, &format!("{path}.cooldown"), s) {
            p.cooldown_ms = d.as_millis() as i64;
        }
    }
    if let Some(v) = r.max_per_hour {
        p.max_per_hour = bounded(errs, &format!("{path}.max_per_hour"), v, 1, 1000) as u32;
    }
    p
}
