//! `vigil baseline`: builds reference profiles from training or validation rows (inference
//! record format) and writes a baseline file that `[defaults] baseline` or
//! `[models.X] baseline` pins. Every row counts (the sample is a uniform reservoir over
//! all of them), unlike the default reference, which takes the first `reference_size`.

use super::{BaselineFile, BASELINE_FORMAT};
use crate::config::Config;
use crate::detect::accumulate::{Acc, AccCaps, FeatureIndex};
use crate::detect::multivariate::MultivariateBuilder;
use crate::detect::profile::{ReferenceProfile, ScoreRef};
use crate::detect::series::stable_hash;
use crate::detect::stats::Reservoir;
use crate::record::Record;
use crate::source::decode::{decode, DecodeLimits};
use crate::source::file::for_each_line;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// What a baseline run saw.
#[derive(Debug, Default)]
pub struct BaselineSummary {
    /// Rows used, by model.
    pub rows: BTreeMap<String, u64>,
    /// Rows rejected (not inference records, or invalid), with the first few reasons.
    pub rejected: u64,
    /// The first rejections, as `line N: reason: detail`.
    pub examples: Vec<String>,
}

/// Builds profiles from `input` and writes them to `output`.
pub fn baseline(config: &Config, input: &Path, output: &Path) -> anyhow::Result<BaselineSummary> {
    let limits = DecodeLimits {
        max_record_bytes: config.limits.max_record_bytes,
        max_features: config.limits.max_features_per_model * 4,
    };
    type Building = (
        FeatureIndex,
        Acc,
        Option<MultivariateBuilder>,
        Vec<Reservoir>,
    );
    let mut onnx = super::load_onnx(config)?;
    let mut models: BTreeMap<String, Building> = BTreeMap::new();
    let mut summary = BaselineSummary::default();
    let mut slots = Vec::new();
    for_each_line(input, |line, bytes| {
        let rec = match decode(bytes, None, &limits) {
            Ok(Record::Inference(r)) => r,
            Ok(_) => {
                summary.rejected += 1;
                return;
            }
            Err(e) => {
                summary.rejected += 1;
                if summary.examples.len() < 5 {
                    summary.examples.push(format!(
                        "line {line}: {}: {}",
                        e.reason.as_str(),
                        e.detail
                    ));
                }
                return;
            }
        };
        let cfg = config.model(&rec.model);
        let caps = AccCaps {
            sample: cfg.reference_sample_size,
            categories: config.limits.max_categories,
        };
        if !models.contains_key(rec.model.as_ref()) {
            if models.len() >= config.limits.max_models {
                summary.rejected += 1;
                return;
            }
            let acc = Acc::new(&[&rec.model, "reference"], caps, 0);
            let mv = cfg.multivariate.as_ref().and_then(|c| {
                MultivariateBuilder::new(c.clone(), stable_hash(&[&rec.model, "multivariate"])).ok()
            });
            let scores = cfg
                .onnx
                .iter()
                .map(|o| {
                    Reservoir::new(
                        cfg.reference_sample_size,
                        stable_hash(&[&rec.model, "onnx", &o.name]),
                    )
                })
                .collect();
            models.insert(
                rec.model.to_string(),
                (FeatureIndex::default(), acc, mv, scores),
            );
        }
        let (index, acc, mv, scores) = models.get_mut(rec.model.as_ref()).expect("inserted above");
        if let Some(b) = mv {
            b.push(&rec.features);
        }
        if let Some(dets) = onnx.get_mut(rec.model.as_ref()) {
            for (d, r) in dets.iter_mut().zip(scores.iter_mut()) {
                if let Ok(s) = d.score_one(&rec.features) {
                    r.push(s);
                }
            }
        }
        index.resolve(
            &rec,
            config.limits.max_features_per_model,
            &cfg.exclude_features,
            &mut slots,
        );
        acc.push(&rec, &slots, caps, |_| None, None);
        *summary.rows.entry(rec.model.to_string()).or_default() += 1;
    })?;
    anyhow::ensure!(
        !models.is_empty(),
        "{}: no valid inference rows ({} rejected{})",
        input.display(),
        summary.rejected,
        summary
            .examples
            .first()
            .map(|e| format!("; first: {e}"))
            .unwrap_or_default()
    );
    let file = BaselineFile {
        format: BASELINE_FORMAT.to_string(),
        models: models
            .iter()
            .map(|(name, (index, acc, mv, scores))| {
                let cfg = config.model(name);
                let mut p = ReferenceProfile::from_acc(&index.names, acc, cfg.psi_bins);
                p.model_scores = cfg
                    .onnx
                    .iter()
                    .zip(scores.iter())
                    .filter_map(|(o, r)| ScoreRef::new(&o.name, r, o.quantile))
                    .collect();
                if let Some(b) = mv {
                    p.multivariate = Some(
                        b.finish()
                            .with_context(|| format!("the multivariate profile of {name}"))?,
                    );
                }
                Ok((name.clone(), p))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let bytes = serde_json::to_vec_pretty(&file)?;
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))?;
    Ok(summary)
}
