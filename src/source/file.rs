//! JSONL sources for replay and backtests: files read line by line (or stdin as `-`), in
//! the order given. Each line is one record; empty lines are skipped.

use std::fs::File;
use std::io::Read;
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
///
/// Lines are handed out in place from one large read buffer (no copy per line); the buffer
/// grows only for a line longer than itself.
pub fn for_each_line(path: &Path, mut f: impl FnMut(u64, &[u8])) -> Result<(), FileError> {
    let err = |source| FileError {
        path: path.to_path_buf(),
        source,
    };
    let mut reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(err)?)
    };
    let mut buf = vec![0u8; 1 << 20];
    // buf[start..end] holds bytes read but not yet handed out.
    let (mut start, mut end) = (0usize, 0usize);
    let mut line = 0u64;
    let mut emit = |bytes: &[u8]| {
        line += 1;
        let mut bytes = bytes;
        while let [rest @ .., b'\n' | b'\r'] = bytes {
            bytes = rest;
        }
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            f(line, bytes);
        }
    };
    loop {
        while let Some(i) = memchr::memchr(b'\n', &buf[start..end]) {
            emit(&buf[start..start + i]);
            start += i + 1;
        }
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if end == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match reader.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        };
        if n == 0 {
            if end > 0 {
                emit(&buf[..end]);
            }
            return Ok(());
        }
        end += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_are_numbered_trimmed_and_may_outgrow_the_buffer() {
        let long = "x".repeat(3 << 20);
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        write!(file, "a\r\n\n  \n{long}\nb\nlast").expect("write");
        let mut seen = Vec::new();
        for_each_line(file.path(), |n, bytes| seen.push((n, bytes.to_vec()))).expect("read");
        let want: Vec<(u64, Vec<u8>)> = vec![
            (1, b"a".to_vec()),
            (4, long.into_bytes()),
            (5, b"b".to_vec()),
            (6, b"last".to_vec()),
        ];
        assert_eq!(seen, want);
    }
}
