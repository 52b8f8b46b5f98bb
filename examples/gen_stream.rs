//! Writes a synthetic inference log for the replay benchmark: MODELS models with 20 numeric
//! and 5 categorical features each, interleaved, RECORDS records in all; the first model
//! rolls out a regressed v2 halfway so that version comparisons and alerts run too.
//!
//! usage: gen_stream RECORDS MODELS > stream.jsonl

use std::io::Write;
use vigil::demo::sim::{Behaviour, SimModel, Simulator};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let models: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut sims: Vec<Simulator> = (0..models)
        .map(|m| Simulator::new(SimModel::generic(&format!("model-{m}"), 20, 5), m + 1))
        .collect();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out.lock());
    let mut line = String::with_capacity(1024);
    let start = 1_767_225_600_000i64;
    for i in 0..records {
        let m = (i % models) as usize;
        let (version, b) = if m == 0 && i >= records / 2 {
            ("v2", Behaviour::REGRESSED)
        } else {
            ("v1", Behaviour::HEALTHY)
        };
        line.clear();
        sims[m].record(&mut line, start + i as i64 * 10, version, &b);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}
