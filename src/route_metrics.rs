//! Routing of serving metrics: each series (metric name plus its labels) gets a streaming
//! [`MetricScorer`] that scores every sample in [0, 1] on event time. Each scored sample
//! becomes a [`WindowReport`] of kind [`WindowKind::Metric`] (one sample, its scores) that
//! alert rules read like any other window. Pure: no I/O, no clock.
//!
//! Memory: at most `limits.max_metric_series` series (default 1,000), each about 91 KiB with
//! the default detector settings (see [`crate::detect::metric`]). At the cap, a new series
//! takes the place of the least recently seen one if that one has been silent for
//! `limits.evict_idle_after` (the series of a replaced pod, say); otherwise its samples are
//! rejected as `too_many_series`.

use crate::config::Config;
use crate::detect::metric::MetricScorer;
use crate::record::{
    MetricSample, MetricSection, RejectReason, Rejection, Ts, WindowKind, WindowReport,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One series' state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesState {
    /// The scorer.
    pub scorer: MetricScorer,
    /// Samples scored.
    pub samples: u64,
    /// Event time of the latest sample.
    pub last_seen: Ts,
}

/// Every tracked series, by key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricRouter {
    /// By series key (`name{label="value",...}`, labels sorted).
    pub series: BTreeMap<String, SeriesState>,
    /// Series forgotten to make room for new ones.
    #[serde(default)]
    pub evicted: u64,
}

/// The series key of a sample: `name{a="x",b="y"}` with the labels sorted by name, as
/// Prometheus writes a series.
pub fn series_key(s: &MetricSample<'_>) -> String {
    let mut labels: Vec<(&str, &str)> = s
        .labels
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    labels.sort_unstable();
    let mut key = String::with_capacity(s.name.len() + 16 * labels.len());
    key.push_str(&s.name);
    if !labels.is_empty() {
        key.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(k);
            key.push_str("=\"");
            key.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
            key.push('"');
        }
        key.push('}');
    }
    key
}

impl MetricRouter {
    /// Scores one sample. `None` when metric scoring is off. `clock()` is the stream's
    /// event time, on which series are idle (read only for a new series at the cap); a series forgotten to make room for this one is
    /// named in `evicted`.
    pub fn on_sample(
        &mut self,
        s: &MetricSample<'_>,
        config: &Config,
        clock: impl Fn() -> Ts,
        evicted: &mut Option<String>,
    ) -> Result<Option<WindowReport>, Rejection> {
        let Some(detector) = &config.metrics else {
            return Ok(None);
        };
        let key = series_key(s);
        if !self.series.contains_key(&key) {
            if self.series.len() >= config.limits.max_metric_series {
                let clock = clock();
                // O(series), only for a new series at the cap. Of equals, the first key.
                let idle = self
                    .series
                    .iter()
                    .min_by_key(|(_, st)| st.last_seen)
                    .map(|(k, st)| (k.clone(), clock.saturating_sub(st.last_seen)))
                    .filter(|(_, silent)| *silent >= config.limits.evict_idle_after_ms);
                match idle {
                    Some((old, _)) => {
                        self.series.remove(&old);
                        self.evicted += 1;
                        *evicted = Some(old);
                    }
                    None => {
                        return Err(Rejection::new(
                            RejectReason::TooManySeries,
                            format!(
                                "series {key} would exceed limits.max_metric_series = {} (no \
                                 series has been silent for limits.evict_idle_after)",
                                config.limits.max_metric_series
                            ),
                        ))
                    }
                }
            }
            self.series.insert(
                key.clone(),
                SeriesState {
                    scorer: MetricScorer::new(detector),
                    samples: 0,
                    last_seen: s.ts,
                },
            );
        }
        let state = self.series.get_mut(&key).expect("inserted above");
        let scores = state.scorer.score(s.ts, s.value);
        state.samples += 1;
        state.last_seen = state.last_seen.max(s.ts);
        let label = |name: &str| {
            s.labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        Ok(Some(WindowReport {
            kind: WindowKind::Metric,
            model: label("model"),
            version: label("version"),
            window: state.samples - 1,
            start: s.ts,
            end: s.ts.saturating_add(1),
            metric: Some(MetricSection {
                series: key,
                name: s.name.to_string(),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value: s.value,
                scores: scores
                    .named()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                anomaly: scores.anomaly,
            }),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn sample<'a>(
        name: &'a str,
        labels: &[(&'a str, &'a str)],
        ts: Ts,
        value: f64,
    ) -> MetricSample<'a> {
        MetricSample {
            ts,
            name: Cow::Borrowed(name),
            labels: labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
                .collect(),
            value,
        }
    }

    #[test]
    fn keys_sort_labels_and_escape_values() {
        let s = sample(
            "latency_p99_ms",
            &[("version", "v2"), ("model", "fr\"aud")],
            0,
            1.0,
        );
        assert_eq!(
            series_key(&s),
            r#"latency_p99_ms{model="fr\"aud",version="v2"}"#
        );
        assert_eq!(series_key(&sample("up", &[], 0, 1.0)), "up");
    }

    #[test]
    fn series_are_capped_and_samples_scored() {
        let mut config = Config::builtin();
        config.limits.max_metric_series = 2;
        let mut r = MetricRouter::default();
        for (i, name) in ["a", "b"].iter().enumerate() {
            let out = r
                .on_sample(
                    &sample(name, &[("model", "m")], 1_767_225_600_000 + i as i64, 1.0),
                    &config,
                    || 1_767_225_600_000 + i as i64,
                    &mut None,
                )
                .expect("accepted")
                .expect("scored");
            assert_eq!(out.kind, WindowKind::Metric);
            assert_eq!(out.model, "m");
            let m = out.metric.expect("section");
            assert!((0.0..=1.0).contains(&m.anomaly));
            assert!(m.scores.contains_key("robust_z"), "{:?}", m.scores);
        }
        let err = r
            .on_sample(
                &sample("c", &[], 1_767_225_600_100, 1.0),
                &config,
                || 1_767_225_600_100,
                &mut None,
            )
            .expect_err("third series");
        assert_eq!(err.reason, RejectReason::TooManySeries);
        assert_eq!(r.evicted, 0);
        // Known series keep being scored.
        assert!(r
            .on_sample(
                &sample("a", &[("model", "m")], 1_767_225_600_200, 2.0),
                &config,
                || 1_767_225_600_200,
                &mut None
            )
            .is_ok());
        // Once "b" has been silent for evict_idle_after, a new series takes its place;
        // "a", seen since, is kept.
        let later = 1_767_225_600_001 + config.limits.evict_idle_after_ms;
        let mut evicted = None;
        assert!(r
            .on_sample(
                &sample("c", &[], later, 1.0),
                &config,
                || later,
                &mut evicted
            )
            .is_ok());
        assert_eq!(evicted.as_deref(), Some("b{model=\"m\"}"));
        assert_eq!(r.evicted, 1);
        let mut keys: Vec<&String> = r.series.keys().collect();
        keys.sort();
        assert_eq!(keys, ["a{model=\"m\"}", "c"]);
    }
}
