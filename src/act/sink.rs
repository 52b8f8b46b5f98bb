//! JSON-lines sinks on stdout, stderr or files: the replay outputs (`--alerts-out`,
//! `--commands-out`, `--scores-out`, `--dead-letter-out`) and the daemon's stdout alert log.

use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A sink failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing failed.
    #[error("{target}: {source}")]
    Io {
        /// The file (or stdout/stderr).
        target: String,
        /// The error.
        source: std::io::Error,
    },
    /// Kafka refused or failed a delivery.
    #[error("kafka delivery to {topic}: {detail}")]
    Kafka {
        /// The topic.
        topic: String,
        /// librdkafka's message.
        detail: String,
    },
}

/// One JSON object per line to a writer.
pub struct LineSink {
    name: String,
    out: BufWriter<Box<dyn Write + Send>>,
    /// Flush after every line (interactive stdout).
    eager: bool,
}

impl std::fmt::Debug for LineSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSink")
            .field("name", &self.name)
            .finish()
    }
}

impl LineSink {
    /// Lines to stdout, flushed as they come.
    pub fn stdout() -> LineSink {
        LineSink {
            name: "stdout".into(),
            out: BufWriter::new(Box::new(std::io::stdout())),
            eager: true,
        }
    }

    /// Lines to stderr, flushed as they come.
    pub fn stderr() -> LineSink {
        LineSink {
            name: "stderr".into(),
            out: BufWriter::new(Box::new(std::io::stderr())),
            eager: true,
        }
    }

    /// Lines to a file (created or truncated); `-` means stdout.
    pub fn file(path: &Path) -> Result<LineSink, SinkError> {
        if path.as_os_str() == "-" {
            return Ok(LineSink::stdout());
        }
        let f = File::create(path).map_err(|source| SinkError::Io {
            target: path.display().to_string(),
            source,
        })?;
        Ok(LineSink {
            name: path.display().to_string(),
            out: BufWriter::with_capacity(1 << 16, Box::new(f)),
            eager: false,
        })
    }

    /// Writes one value as a line.
    pub fn write<T: Serialize>(&mut self, value: &T) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            target: self.name.clone(),
            source,
        };
        serde_json::to_writer(&mut self.out, value).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        if self.eager {
            self.out.flush().map_err(io)?;
        }
        Ok(())
    }

    /// Writes one line of text as it is.
    pub fn write_line(&mut self, line: &str) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            target: self.name.clone(),
            source,
        };
        self.out.write_all(line.as_bytes()).map_err(io)?;
        self.out.write_all(b"\n").map_err(io)?;
        if self.eager {
            self.out.flush().map_err(io)?;
        }
        Ok(())
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|source| SinkError::Io {
            target: self.name.clone(),
            source,
        })
    }
}
