//! Writes healthy inference rows of the demo's `fraud` model: training or validation data
//! in the inference record format, for `vigil baseline`. The shipped
//! `testdata/baseline/fraud.json` (pinned by `config/vigil.example.toml`) was built with
//!
//!     cargo run --example gen_training 5000 > /tmp/train.jsonl
//!     cargo run -- baseline --config config/vigil.example.toml --input /tmp/train.jsonl \
//!         --output testdata/baseline/fraud.json
//!
//! usage: gen_training ROWS

use std::io::Write;
use vigil::demo::sim::{Behaviour, SimModel, Simulator};

fn main() -> std::io::Result<()> {
    let rows: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let mut sim = Simulator::new(SimModel::fraud(), 2024);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = String::new();
    for i in 0..rows {
        line.clear();
        sim.record(
            &mut line,
            1_767_225_600_000 + i as i64 * 1000,
            "train",
            &Behaviour::HEALTHY,
        );
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}
