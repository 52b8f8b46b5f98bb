//! Runs vigil's metric detectors over the Numenta Anomaly Benchmark and writes NAB's results
//! layout, so that NAB's scorer can rate them:
//!
//! ```text
//! cargo run --release --example nab_direct -- /work/shared/benchmarks/nab/data /tmp/nab/out
//! python3 /work/shared/benchmarks/nab/nab_score.py /tmp/nab/out \
//!     /work/shared/benchmarks/nab/combined_windows.json --detector vigil
//! ```
//!
//! Every series is scored from its first row to its last with one `MetricScorer` built from
//! `MetricDetectorConfig::default()` (the shipped defaults): no look-ahead, no per-file
//! settings. `OUT/<category>/vigil_<name>.csv` holds `timestamp,value,anomaly_score` and,
//! after them, every detector's own score (NAB's scorer ignores extra columns).
//!
//! `--config '{"field": value, ...}'` overrides default fields (for exploring variants; the
//! reported scores use no override). `--raw` adds each detector's ratio (`raw_r0..raw_r5`:
//! robust, EWMA sample, EWMA chart, seasonal, pattern, novelty) and the seasonal period in
//! use (0 none, 1 daily, 2 weekly), for diagnosis.
//!
//! With the shipped defaults, NAB v1.1 (58 files, corpus-wide threshold chosen by the
//! scorer) gives standard 67.3, reward_low_FP_rate 54.4, reward_low_FN_rate 73.6.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil::detect::metric::seasonal::Period;
use vigil::detect::metric::{MetricDetectorConfig, MetricScorer};

fn parse_ts(s: &str) -> anyhow::Result<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .with_context(|| format!("bad timestamp {s:?}"))?;
    Ok(t.and_utc().timestamp_millis())
}

fn run_file(
    cfg: &MetricDetectorConfig,
    input: &Path,
    output: &Path,
    raw: bool,
) -> anyhow::Result<usize> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?,
    );
    let mut scorer = MetricScorer::new(cfg);
    let mut rows = 0;
    for (i, line) in text.lines().enumerate().skip(1) {
        let Some((ts_text, value_text)) = line.split_once(',') else {
            anyhow::bail!("{}:{}: expected timestamp,value", input.display(), i + 1);
        };
        let ts = parse_ts(ts_text)?;
        let value: f64 = value_text
            .trim()
            .parse()
            .with_context(|| format!("{}:{}: bad value", input.display(), i + 1))?;
        let scores = scorer.score(ts, value);
        let named = scores.named();
        if rows == 0 {
            write!(out, "timestamp,value,anomaly_score")?;
            for (name, _) in &named {
                write!(out, ",{name}")?;
            }
            if raw {
                write!(out, ",raw_r0,raw_r1,raw_r2,raw_r3,raw_r4,raw_r5,raw_period")?;
            }
            writeln!(out)?;
        }
        write!(
            out,
            "{},{},{:.9}",
            ts_text.trim(),
            value_text.trim(),
            scores.anomaly
        )?;
        for (_, s) in &named {
            write!(out, ",{s:.9}")?;
        }
        if raw {
            for r in scorer.ratios() {
                write!(out, ",{r}")?;
            }
            let period = match scorer.season() {
                None => 0,
                Some(Period::Daily) => 1,
                Some(Period::Weekly) => 2,
            };
            write!(out, ",{period}")?;
        }
        writeln!(out)?;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

pub fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: nab_direct DATA_DIR OUT_DIR [--config JSON] [--raw]";
    let data = PathBuf::from(args.next().context(usage)?);
    let out = PathBuf::from(args.next().context(usage)?);
    let mut cfg = MetricDetectorConfig::default();
    let mut raw = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => {
                let text = args.next().context(usage)?;
                let mut base = serde_json::to_value(&cfg)?;
                let over: serde_json::Value = serde_json::from_str(&text).context("--config")?;
                if let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) {
                    for (k, v) in o {
                        b.insert(k.clone(), v.clone());
                    }
                }
                cfg = serde_json::from_value(base).context("--config")?;
            }
            "--raw" => raw = true,
            _ => anyhow::bail!("{usage}"),
        }
    }
    let mut categories: Vec<PathBuf> = std::fs::read_dir(&data)
        .with_context(|| format!("reading {}", data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    categories.sort();
    let (mut files, mut rows) = (0, 0);
    for cat in categories {
        let name = cat
            .file_name()
            .context("category name")?
            .to_string_lossy()
            .into_owned();
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir)?;
        let mut csvs: Vec<PathBuf> = std::fs::read_dir(&cat)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        csvs.sort();
        for f in csvs {
            let file = f
                .file_name()
                .context("file name")?
                .to_string_lossy()
                .into_owned();
            rows += run_file(&cfg, &f, &dir.join(format!("vigil_{file}")), raw)?;
            files += 1;
        }
    }
    eprintln!(
        "nab_direct: {files} files, {rows} rows -> {}",
        out.display()
    );
    Ok(())
}
