//! `vigil replay`: the same pipeline over JSONL files or stdin, synchronously, in file
//! order. Event time comes from the records, so a replay of a log gives the verdicts the
//! live daemon gave.

use super::{load_baselines, Display, Outputs, Summary};
use crate::act::sink::LineSink;
use crate::act::Origin;
use crate::config::Config;
use crate::pipeline::{Effects, Pipeline};
use crate::source::file::for_each_line;
use crate::state::StateDir;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;

/// What `vigil replay` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Input files in order (`-` = stdin).
    pub inputs: Vec<PathBuf>,
    /// Alert transitions (default stdout).
    pub alerts_out: Option<PathBuf>,
    /// Rollback commands (default stdout).
    pub commands_out: Option<PathBuf>,
    /// One line per evaluated window with every statistic.
    pub scores_out: Option<PathBuf>,
    /// Rejected records (default stderr).
    pub dead_letter_out: Option<PathBuf>,
    /// A state directory whose command log deduplicates commands across replays.
    pub state_dir: Option<PathBuf>,
}

/// Runs a replay to the end of its inputs.
pub fn replay(config: Arc<Config>, opts: &ReplayOptions) -> anyhow::Result<Summary> {
    let baselines = load_baselines(&config)?;
    let onnx = super::load_onnx(&config)?;
    let mut pipeline = Pipeline::new(config, baselines);
    pipeline.set_onnx(onnx);
    let sink = |p: &Option<PathBuf>| -> anyhow::Result<LineSink> {
        Ok(match p {
            Some(p) => LineSink::file(p)?,
            None => LineSink::stdout(),
        })
    };
    let mut out = Outputs {
        alerts: Some(sink(&opts.alerts_out)?),
        display: Some(Display::Json),
        commands: Some(sink(&opts.commands_out)?),
        scores: opts
            .scores_out
            .as_ref()
            .map(|p| LineSink::file(p))
            .transpose()?,
        dead_letter: Some(match &opts.dead_letter_out {
            Some(p) => LineSink::file(p)?,
            None => LineSink::stderr(),
        }),
        ..Default::default()
    };
    // Held (and so the directory locked) until the replay ends.
    let state_dir = opts.state_dir.as_deref().map(StateDir::open).transpose()?;
    if let Some(dir) = &state_dir {
        let log = dir.commands()?;
        pipeline.seed_issued(log.keys().cloned());
        out.command_log = Some(log);
    }
    let join_before = *pipeline.state().labels.join.stats();
    let mut fx = Effects::default();
    for input in &opts.inputs {
        let name = input.display().to_string();
        let mut failed = None;
        for_each_line(input, |line, bytes| {
            if failed.is_some() {
                return;
            }
            pipeline.process(bytes, None, &mut fx);
            if let Err(e) = out.ship(&fx, Origin::File { file: &name, line }, bytes) {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(e).with_context(|| format!("writing the effects of {name}"));
        }
    }
    out.flush_lines()?;
    // The join store's counters are cumulative (a state dir keeps them): this run's share.
    let join = &pipeline.state().labels.join;
    let (now, was) = (join.stats(), &join_before);
    out.summary.labels_joined = now.joined - was.joined;
    out.summary.labels_unjoined = (now.expired_labels + now.evicted_labels + now.too_long_labels)
        - (was.expired_labels + was.evicted_labels + was.too_long_labels);
    out.summary.labels_waiting = join.pending_labels() as u64;
    Ok(out.summary)
}
