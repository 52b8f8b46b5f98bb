//! Durable state in the state directory, so that a restart resumes where it stopped:
//!
//! - `snapshot.cbor`: the whole pipeline state (references, windows, alert states, rollback
//!   bookkeeping) and the source positions it covers, written atomically (temp file, fsync,
//!   rename, fsync of the directory). Offsets are committed to Kafka only after the snapshot
//!   that covers them is on disk.
//! - `commands.jsonl`: every rollback command ever issued, appended and fsynced *before* the
//!   command is published. Its idempotency keys seed the rollback policy at start, so a
//!   replay of records after a crash never issues the same command again.
//!
//! This module does file I/O only; it knows nothing of Kafka or HTTP.

use crate::act::policy::RollbackCommand;
use crate::pipeline::PipelineState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format version of `snapshot.cbor`. CBOR rather than JSON because it round-trips every
/// f64 exactly (serde_json's default float parser can be one ULP off), so that a restart
/// resumes with bit-identical state and gives the verdicts an uninterrupted run would.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file operation failed.
    #[error("state dir {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another process (or another pipeline in this one) holds the state directory.
    #[error("state dir {path} is in use by another vigil (its `lock` file is locked); give each instance its own state dir")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// A file did not parse.
    #[error("state file {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Source positions covered by a snapshot: topic -> partition -> next offset to read.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// What `snapshot.cbor` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// The pipeline state.
    pub pipeline: PipelineState,
    /// The positions the state covers.
    pub offsets: Offsets,
}

/// The state directory, locked (`lock`, an exclusive advisory lock) for as long as this
/// value or a clone lives: two processes on one state dir would each issue the commands
/// the other has not logged yet.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    _lock: std::sync::Arc<File>,
}

impl StateDir {
    /// Opens (creating if needed) and locks a state directory; refused while another
    /// process holds it.
    pub fn open(dir: &Path) -> Result<StateDir, StateError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        // fs4 rather than std's File::try_lock, which needs Rust 1.89 (vigil builds on 1.85).
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: std::sync::Arc::new(lock),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot.cbor")
    }

    /// Loads the latest snapshot, if any.
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, StateError> {
        let path = self.snapshot_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let snap: Snapshot =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(StateError::Corrupt {
                path,
                detail: format!(
                    "format {} (this vigil reads {SNAPSHOT_FORMAT})",
                    snap.format
                ),
            });
        }
        Ok(Some(snap))
    }

    /// Writes a snapshot of `pipeline` covering `offsets`, atomically and durably.
    pub fn write_snapshot(
        &self,
        pipeline: &PipelineState,
        offsets: &Offsets,
    ) -> Result<(), StateError> {
        #[derive(Serialize)]
        struct SnapshotRef<'a> {
            format: u32,
            pipeline: &'a PipelineState,
            offsets: &'a Offsets,
        }
        let snap = SnapshotRef {
            format: SNAPSHOT_FORMAT,
            pipeline,
            offsets,
        };
        let path = self.snapshot_path();
        let tmp = self.dir.join("snapshot.cbor.tmp");
        let mut bytes = Vec::new();
        ciborium::into_writer(&snap, &mut bytes).map_err(|e| StateError::Corrupt {
            path: tmp.clone(),
            detail: e.to_string(),
        })?;
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }

    /// Opens the command log.
    pub fn commands(&self) -> Result<CommandLog, StateError> {
        CommandLog::open(&self.dir.join("commands.jsonl"))
    }
}

/// The append-only log of issued rollback commands: one line per command (appended and
/// fsynced before it is published) and one `{"delivered": KEY}` line once every sink has
/// acknowledged it. It is the outbox: commands without a delivery line are sent again at
/// start (receivers deduplicate by idempotency key).
#[derive(Debug)]
pub struct CommandLog {
    path: PathBuf,
    file: File,
    keys: HashSet<String>,
    commands: Vec<RollbackCommand>,
    delivered: HashSet<String>,
}

#[derive(Deserialize)]
struct DeliveredLine {
    delivered: String,
}

impl CommandLog {
    /// Opens (creating if needed) a command log and reads the keys already issued.
    ///
    /// A torn last line (a crash mid-append: the file does not end in a newline) is cut
    /// off, since that command was fsynced incompletely and so never published; left in
    /// place, it would glue itself to the next command appended and make that one
    /// unreadable at the following start, and so issuable again. A last line that is a
    /// whole command or delivery record without its newline (an editor's doing) is kept
    /// and terminated: a command without a delivery record is re-sent with its key, never
    /// re-issued.
    /// A UTF-8 byte order mark at the start (also an editor's) is ignored. Any other line that is
    /// neither a command nor a delivery record is refused as corruption, by line number:
    /// skipping it could forget an issued command and repeat a rollback.
    pub fn open(path: &Path) -> Result<CommandLog, StateError> {
        let mut keys = HashSet::new();
        let mut commands = Vec::new();
        let mut delivered = HashSet::new();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(path)(e)),
        };
        let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let mut complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let tail = &bytes[complete.max(bom)..];
        let tail_is_whole = complete < bytes.len()
            && (serde_json::from_slice::<RollbackCommand>(tail).is_ok()
                || serde_json::from_slice::<DeliveredLine>(tail).is_ok());
        if tail_is_whole {
            complete = bytes.len();
        }
        let corrupt = |n: usize, detail: &str| StateError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("line {}: {detail}", n + 1),
        };
        for (n, line) in bytes[bom.min(complete)..complete]
            .split(|&b| b == b'\n')
            .enumerate()
        {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Ok(cmd) = serde_json::from_slice::<RollbackCommand>(line) {
                keys.insert(cmd.idempotency_key.clone());
                commands.push(cmd);
            } else if let Ok(d) = serde_json::from_slice::<DeliveredLine>(line) {
                delivered.insert(d.delivered);
            } else {
                return Err(corrupt(
                    n,
                    "neither a rollback command nor a delivery record; fix or remove the \
                     line (a command removed from the log may be issued again)",
                ));
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if tail_is_whole {
            let mut f = &file;
            f.write_all(b"\n").map_err(io(path))?;
            file.sync_data().map_err(io(path))?;
        } else if complete < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() - complete,
                "cutting off the command log's torn last line (a crash mid-append; \
                 that command was never published)"
            );
            file.set_len(complete as u64).map_err(io(path))?;
            file.sync_data().map_err(io(path))?;
        }
        Ok(CommandLog {
            path: path.to_path_buf(),
            file,
            keys,
            commands,
            delivered,
        })
    }

    /// Idempotency keys already issued.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.keys.iter()
    }

    /// Every command in the log, oldest first.
    pub fn commands(&self) -> &[RollbackCommand] {
        &self.commands
    }

    /// Commands issued but not acknowledged by every sink, oldest first.
    pub fn undelivered(&self) -> Vec<RollbackCommand> {
        self.commands
            .iter()
            .filter(|c| !self.delivered.contains(&c.idempotency_key))
            .cloned()
            .collect()
    }

    fn write_line(&mut self, line: &mut Vec<u8>) -> Result<(), StateError> {
        line.push(b'\n');
        self.file.write_all(line).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))
    }

    /// Appends a command durably. Returns false (and writes nothing) when its idempotency
    /// key is already in the log.
    pub fn append(&mut self, cmd: &RollbackCommand) -> Result<bool, StateError> {
        if self.keys.contains(&cmd.idempotency_key) {
            return Ok(false);
        }
        let mut line = serde_json::to_vec(cmd).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        self.write_line(&mut line)?;
        self.keys.insert(cmd.idempotency_key.clone());
        self.commands.push(cmd.clone());
        Ok(true)
    }

    /// Records durably that every sink acknowledged the command with `key`.
    pub fn mark_delivered(&mut self, key: &str) -> Result<(), StateError> {
        if !self.delivered.insert(key.to_string()) {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&serde_json::json!({ "delivered": key }))
            .expect("a string serialises");
        self.write_line(&mut line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::demo::sim::{script_with_labels, Behaviour, Phase, SimModel, Simulator};
    use crate::pipeline::{Effects, Pipeline};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn outputs(p: &mut Pipeline, lines: &[&str]) -> Vec<String> {
        let mut fx = Effects::default();
        let mut out = Vec::new();
        for l in lines {
            p.process(l.as_bytes(), None, &mut fx);
            for r in &fx.reports {
                out.push(serde_json::to_string(r).expect("report"));
            }
            for a in &fx.alerts {
                out.push(serde_json::to_string(a).expect("alert"));
            }
        }
        out
    }

    fn command(key: &str) -> RollbackCommand {
        RollbackCommand::for_test(key)
    }

    #[test]
    fn a_torn_last_line_is_cut_off_so_the_next_command_stays_readable() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("commands.jsonl");
        let mut log = CommandLog::open(&path).expect("open");
        assert!(log.append(&command("k1")).expect("append"));
        drop(log);
        // A crash mid-append leaves half a line and no newline.
        let half = &serde_json::to_string(&command("k2")).expect("json")[..40];
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(half.as_bytes()))
            .expect("tear");
        let mut log = CommandLog::open(&path).expect("a torn tail is repaired");
        assert_eq!(log.keys().collect::<Vec<_>>(), ["k1"]);
        assert!(log.append(&command("k3")).expect("append"));
        log.mark_delivered("k1").expect("delivered");
        drop(log);
        let log = CommandLog::open(&path).expect("reopen");
        let mut keys: Vec<_> = log.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["k1", "k3"], "k3 must not be glued to the torn bytes");
        assert_eq!(log.undelivered(), vec![command("k3")]);
    }

    #[test]
    fn a_whole_last_command_without_its_newline_is_kept_and_a_bom_ignored() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("commands.jsonl");
        // As an editor might save it: a BOM first and no newline after the last line.
        let text = format!(
            "\u{feff}{}\n{}",
            serde_json::to_string(&command("k1")).expect("json"),
            serde_json::to_string(&command("k2")).expect("json")
        );
        std::fs::write(&path, text).expect("write");
        let mut log = CommandLog::open(&path).expect("open");
        let mut keys: Vec<_> = log.keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["k1", "k2"],
            "k2 is issued: it must not be issued again"
        );
        assert_eq!(log.undelivered(), vec![command("k1"), command("k2")]);
        assert!(!log.append(&command("k2")).expect("append"));
        assert!(log.append(&command("k3")).expect("append"));
        drop(log);
        let log = CommandLog::open(&path).expect("reopen");
        assert_eq!(log.keys().count(), 3);
        drop(log);
        // A whole delivery record as the unterminated last line is kept too.
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(r#"{"delivered":"k1"}"#);
        std::fs::write(&path, text).expect("write");
        let log = CommandLog::open(&path).expect("reopen");
        assert_eq!(log.undelivered(), vec![command("k2"), command("k3")]);
    }

    #[test]
    fn a_state_dir_is_refused_while_another_holds_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = StateDir::open(dir.path()).expect("open");
        let held = first.clone();
        drop(first);
        let err = StateDir::open(dir.path()).expect_err("locked");
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        drop(held);
        StateDir::open(dir.path()).expect("free again");
    }

    #[test]
    fn a_corrupt_line_inside_the_log_is_refused_by_line_number() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("commands.jsonl");
        let mut log = CommandLog::open(&path).expect("open");
        log.append(&command("k1")).expect("append");
        drop(log);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("{\"kind\": garbage\n");
        text.push_str(&serde_json::to_string(&command("k2")).expect("json"));
        text.push('\n');
        std::fs::write(&path, text).expect("write");
        let err = CommandLog::open(&path).expect_err("refused").to_string();
        assert!(err.contains("line 2:"), "{err}");
    }

    #[test]
    fn a_restart_from_a_snapshot_gives_the_verdicts_of_an_uninterrupted_run() {
        let config = Arc::new(
            Config::from_toml_str("[defaults]\nwindow = \"300 records\"\nreference_size = 600\n")
                .expect("valid"),
        );
        let mut sim = Simulator::new(SimModel::generic("m", 6, 2), 9);
        let text = script_with_labels(
            &mut sim,
            1_767_225_600_000,
            100,
            20_000,
            &[
                Phase {
                    records: 2_000,
                    version: "v1".into(),
                    behaviour: Behaviour::HEALTHY,
                },
                Phase {
                    records: 2_000,
                    version: "v2".into(),
                    behaviour: Behaviour::REGRESSED,
                },
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        let cut = lines.len() / 2 + 17;

        let mut straight = Pipeline::new(config.clone(), BTreeMap::new());
        let mut want = outputs(&mut straight, &lines);

        let mut first = Pipeline::new(config.clone(), BTreeMap::new());
        let mut got = outputs(&mut first, &lines[..cut]);
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(dir.path()).expect("open");
        state
            .write_snapshot(first.state(), &Offsets::new())
            .expect("write");
        let snap = state.load_snapshot().expect("load").expect("present");
        let mut resumed = Pipeline::with_state(config, snap.pipeline, BTreeMap::new());
        got.extend(outputs(&mut resumed, &lines[cut..]));

        assert!(want.len() > 20, "windows and alerts: {}", want.len());
        // Bit for bit: every statistic of every window after the restart.
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "output {i} differs after the restart");
        }
        assert_eq!(got.len(), want.len());
        want.clear();
    }
}
