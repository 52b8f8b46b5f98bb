//! Throughput of the `onnx` detector on the shipped models (`testdata/models`, configs and
//! records from `testdata/fixtures/onnx.json`): rows scored one record at a time
//! (`score_one`) and in micro-batches (`score_batch`, 64 and 256 rows), per second of CPU
//! time of the benchmark thread (so that other work on the machine does not count), each
//! the best of three runs of at least `--seconds` (default 1). Records go through the whole
//! detector path: features looked up by name, scaled, fed to tract, the output turned into
//! a score. Prints one JSON line. `scripts/onnx_models.py` prints onnxruntime's numbers on
//! the same models and rows.
//!
//! usage: cargo run --release --example onnx_bench [-- --seconds S] [--only MODEL] [--single]

use serde::Deserialize;
use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Instant;
use vigil::detect::onnx::{OnnxDetector, OnnxDetectorConfig};
use vigil::record::FeatureValue;

#[derive(Deserialize)]
struct Fixture {
    models: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    name: String,
    config: OnnxDetectorConfig,
    records: Vec<serde_json::Map<String, serde_json::Value>>,
}

type Record = Vec<(Cow<'static, str>, FeatureValue<'static>)>;

fn record(obj: &serde_json::Map<String, serde_json::Value>) -> Record {
    obj.iter()
        .map(|(k, v)| {
            let v = match v.as_f64() {
                Some(x) => FeatureValue::Num(x),
                None => FeatureValue::Null,
            };
            (Cow::Owned(k.clone()), v)
        })
        .collect()
}

/// CPU time this thread has run, in seconds (Linux `schedstat`), so that rates hold on a
/// machine shared with other work; wall time where it is not available.
fn cpu_seconds(wall: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(|| wall.elapsed().as_secs_f64(), |ns| ns as f64 * 1e-9)
}

/// Best rows per CPU-second of three runs of at least `seconds` CPU time each, running `f`
/// (which scores some rows and says how many).
fn rate(seconds: f64, mut f: impl FnMut() -> usize) -> f64 {
    let origin = Instant::now();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let (mut n, t0) = (0usize, cpu_seconds(origin));
        let mut dt = 0.0;
        while dt < seconds {
            // Read the CPU clock (a file read) every 5 ms of wall time only.
            let tick = Instant::now();
            while tick.elapsed().as_secs_f64() < 0.005 {
                n += f();
            }
            dt = cpu_seconds(origin) - t0;
        }
        best = best.max(n as f64 / dt);
    }
    best
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = match args.iter().position(|a| a == "--seconds") {
        Some(i) => args.get(i + 1).map_or(Ok(1.0), |s| s.parse())?,
        None => 1.0,
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(
        root.join("testdata/fixtures/onnx.json"),
    )?)?;

    let mut results = serde_json::Map::new();
    for m in fixture
        .models
        .iter()
        .filter(|m| only.is_none_or(|o| *o == m.name))
    {
        // 4096 rows drawn from the fixture's records, as the Python side does.
        let records: Vec<Record> = m.records.iter().map(record).collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let rows: Vec<&[_]> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                &records[(state % records.len() as u64) as usize][..]
            })
            .collect();
        let mut cfg = m.config.clone();
        cfg.path = root.join("testdata/models").join(&cfg.path);

        let mut det = OnnxDetector::load(&cfg)?;
        let mut i = 0;
        let single = rate(seconds, || {
            for _ in 0..256 {
                i = (i + 1) % rows.len();
                std::hint::black_box(det.score_one(rows[i]).expect("scores"));
            }
            256
        });
        let mut r = serde_json::Map::new();
        r.insert("single".into(), (single.round() as u64).into());
        let batches: &[usize] = if args.iter().any(|a| a == "--single") {
            &[]
        } else {
            &[64, 256]
        };
        for &b in batches {
            cfg.batch = NonZeroUsize::new(b).expect("not zero");
            let mut det = OnnxDetector::load(&cfg)?;
            let mut out = Vec::with_capacity(b);
            let mut j = 0;
            let chunks: Vec<&[&[_]]> = rows.chunks_exact(b).collect();
            let v = rate(seconds, || {
                j = (j + 1) % chunks.len();
                det.score_batch(chunks[j], &mut out).expect("scores");
                std::hint::black_box(&out);
                b
            });
            r.insert(format!("batch_{b}"), (v.round() as u64).into());
        }
        let info = det.info();
        r.insert("nodes_in_file".into(), info.nodes_in_file.into());
        r.insert("nodes_prepared".into(), info.nodes_prepared.into());
        results.insert(m.name.clone(), r.into());
    }
    let line = serde_json::json!({
        "runtime": "vigil onnx detector (tract-onnx 0.23, 1 thread)",
        "unit": "rows per CPU-second",
        "seconds_per_run": seconds,
        "models": results,
    });
    println!("{line}");
    Ok(())
}
