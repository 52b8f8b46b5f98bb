//! JSONL sources for replay and backtests: files read line by line (or stdin as `-`), in
//! the order given. Each line is one record; empty lines are skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A source file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The error.
    pub source: std::io::Error,
}

/// Calls `f(line_number, bytes)` for every non-empty line of `path` (`-` = stdin). Line
/// numbers are 1-based. A line that is not valid UTF-8 is still passed on (the decoder
/// rejects it with a reason).
pub fn for_each_line(path: &Path, mut f: impl FnMut(u64, &[u8])) -> Result<(), FileError> {
    let err = |source| FileError {
        path: path.to_path_buf(),
        source,
    };
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(err)?)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(err)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        while let [rest @ .., b'\n' | b'\r'] = bytes {
            bytes = rest;
        }
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            f(line, bytes);
        }
    }
}
