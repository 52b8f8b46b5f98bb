//! The replay benchmark's baseline: the cost of reading and parsing the same file with no
//! detection. Prints one JSON line: records/s for vigil's decoder and for serde_json
//! skipping every value (`IgnoredAny`), the floor of any JSON pipeline.
//!
//! usage: parse_only stream.jsonl

use std::time::Instant;
use vigil::source::decode::{decode, DecodeLimits};
use vigil::source::file::for_each_line;

fn main() -> anyhow::Result<()> {
    let path = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "-".into()));
    let limits = DecodeLimits::default();

    let t = Instant::now();
    let (mut n, mut ok) = (0u64, 0u64);
    for_each_line(&path, |_, bytes| {
        n += 1;
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            ok += 1;
        }
    })?;
    let ignored = n as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (mut m, mut decoded) = (0u64, 0u64);
    for_each_line(&path, |_, bytes| {
        m += 1;
        if decode(bytes, None, &limits).is_ok() {
            decoded += 1;
        }
    })?;
    let vigil_decode = m as f64 / t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "records": n,
            "ignored_any_records_per_s": ignored.round(),
            "decode_records_per_s": vigil_decode.round(),
            "decoded": decoded,
            "valid_json": ok,
        })
    );
    Ok(())
}
