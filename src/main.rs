//! The `vigil` binary: CLI, logging, signals, exit codes. Everything else is in the library.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use vigil::app::{baseline, replay, run};
use vigil::config::{Config, ConfigError};

/// vigil watches ML models in production: drift, alerts and guarded rollbacks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon: consume Kafka, detect, alert, act.
    Run {
        /// Config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file without doing any I/O beyond reading it.
    CheckConfig {
        /// Config file.
        file: PathBuf,
    },
    /// Run the pipeline over JSONL files (or stdin as `-`).
    Replay {
        /// Config file (default: built-in defaults).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Input files, in order.
        #[arg(long, short, required = true, num_args = 1..)]
        input: Vec<PathBuf>,
        /// Alert transitions (default stdout).
        #[arg(long)]
        alerts_out: Option<PathBuf>,
        /// Rollback commands (default stdout).
        #[arg(long)]
        commands_out: Option<PathBuf>,
        /// One JSON line per evaluated window with every detector's statistic.
        #[arg(long)]
        scores_out: Option<PathBuf>,
        /// Rejected records (default stderr).
        #[arg(long)]
        dead_letter_out: Option<PathBuf>,
        /// State directory whose command log deduplicates commands across replays.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Build reference profiles from rows in the inference record format.
    Baseline {
        /// Config file (for sample sizes and limits; default: built-in defaults).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Training or validation rows (JSONL).
        #[arg(long, short)]
        input: PathBuf,
        /// Where to write the profile.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Run vigil against an in-process mock Kafka and a simulated bad rollout.
    Demo {
        /// HTTP listen address.
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: SocketAddr,
        /// Seconds to run; 0 runs until Ctrl-C.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Also send the alerts to this Alertmanager (repeat for several).
        #[arg(long, value_name = "URL")]
        alertmanager: Vec<String>,
        /// Run against this Kafka cluster (bootstrap servers) instead of the embedded mock
        /// cluster; use a scratch one: the demo creates its topics there if missing.
        #[arg(long, value_name = "HOST:PORT")]
        brokers: Option<String>,
    },
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a person at a terminal: not in files, pipes or journald, and not
    // when NO_COLOR (no-color.org) is set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

fn load(path: Option<&PathBuf>) -> anyhow::Result<Arc<Config>> {
    Ok(Arc::new(match path {
        Some(p) => Config::load(p)?,
        None => Config::builtin(),
    }))
}

/// Cancels `stop` on SIGTERM or Ctrl-C.
fn on_signal(stop: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    stop.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
}

/// One message per SIGHUP: the daemon re-reads its config.
fn on_hangup() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: reload by signal is off");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            // A full queue means a reload is already pending: this one is folded into it.
            let _ = tx.try_send(());
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.cmd {
        Cmd::Run { .. } => "info",
        _ => "warn",
    };
    init_logging(cli.log_format, default_log);
    match dispatch(cli.cmd).await {
        Ok(code) => code,
        Err(e) => {
            // The chain, without a cause that an error's own message already quotes
            // (`path: No such file ...: No such file ...`).
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            vigil::say!("vigil: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: ok ({} rule(s), {} model override(s), kafka {})",
                    file.display(),
                    c.rules.len(),
                    c.models.len(),
                    if c.kafka.is_some() {
                        "configured"
                    } else {
                        "not configured"
                    }
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(ConfigError::Invalid(errs)) => {
                eprint!("{}: {errs}", file.display());
                Ok(ExitCode::from(2))
            }
            Err(e) => {
                vigil::say!("{}: {e}", file.display());
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Run { config: path } => {
            let config = load(Some(&path))?;
            if config.state_dir.is_none() {
                tracing::warn!(
                    "no state.dir: alert and rollback state are not kept across restarts, so a \
                     restart forgets the commands it issued; set [state] dir in production"
                );
            }
            let stop = CancellationToken::new();
            on_signal(stop.clone());
            let opts = run::RunOptions {
                reload: Some(run::Reload {
                    path,
                    requests: on_hangup(),
                }),
                ..run::RunOptions::default()
            };
            let summary = run::serve_and_run(
                config,
                opts,
                stop,
                |addr| tracing::info!(%addr, "http listening"),
            )
            .await?;
            tracing::info!(
                records = summary.records,
                rejected = summary.rejected,
                "stopped"
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay {
            config,
            input,
            alerts_out,
            commands_out,
            scores_out,
            dead_letter_out,
            state_dir,
        } => {
            let config = load(config.as_ref())?;
            if !config.notify.is_empty() {
                // Re-running a log must not page anyone or post commands to a live system.
                vigil::say!(
                    "vigil replay: [notify] is not used by a replay (it would page people again \
                     for past events); alerts and commands go to --alerts-out and --commands-out"
                );
            }
            let opts = replay::ReplayOptions {
                inputs: input,
                alerts_out,
                commands_out,
                scores_out,
                dead_letter_out,
                state_dir,
            };
            let s = tokio::task::spawn_blocking(move || replay::replay(config, &opts))
                .await
                .context("replay task")??;
            vigil::say!(
                "vigil replay: {} records, {} rejected, {} windows, alerts {:?}, {} rollback command(s)",
                s.records,
                s.rejected,
                s.windows,
                s.alerts,
                s.commands.len()
            );
            if s.labels > 0 {
                vigil::say!(
                    "vigil replay: {} label(s): {} joined to their prediction, {} left unjoined \
                     (no prediction within [labels] ttl, or the join store full), {} still \
                     waiting for theirs at the end",
                    s.labels,
                    s.labels_joined,
                    s.labels_unjoined,
                    s.labels_waiting
                );
            }
            if s.unmonitored_values > 0 {
                vigil::say!(
                    "vigil replay: {} feature value(s) not monitored: of another type than \
                     their feature's series, beyond limits.max_features_per_model, or of a \
                     feature the reference does not have ({} of them; a baseline with the \
                     feature monitors it) (vigil_feature_values_dropped_total)",
                    s.unmonitored_values,
                    s.not_in_reference
                );
            }
            if s.models_evicted > 0 {
                vigil::say!(
                    "vigil replay: {} idle model(s) forgotten to make room for new ones \
                     (limits.max_models, limits.evict_idle_after)",
                    s.models_evicted
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Baseline {
            config,
            input,
            output,
        } => {
            let config = load(config.as_ref())?;
            let s = baseline::baseline(&config, &input, &output)?;
            for (m, n) in &s.rows {
                vigil::say!("vigil baseline: {m}: {n} rows");
            }
            if s.rejected > 0 {
                vigil::say!("vigil baseline: {} rows skipped", s.rejected);
                for e in &s.examples {
                    vigil::say!("  {e}");
                }
            }
            vigil::say!("vigil baseline: wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo {
            listen,
            duration,
            alertmanager,
            brokers,
        } => {
            let stop = CancellationToken::new();
            on_signal(stop.clone());
            let opts = vigil::demo::DemoOptions {
                listen,
                duration: (duration > 0).then(|| Duration::from_secs(duration)),
                alertmanager,
                brokers,
            };
            let r = vigil::demo::demo(opts, stop).await?;
            let s = &r.vigil;
            println!();
            println!("vigil demo summary");
            println!(
                "  predictions logged:        {} (and their labels, 5 s later)",
                r.sent
            );
            println!(
                "  records processed:         {} ({} rejected)",
                s.records, s.rejected
            );
            println!("  windows evaluated:         {}", s.windows);
            println!("  alert transitions:         {:?}", s.alerts);
            println!("  rollback commands issued:  {}", s.commands.len());
            for c in &r.obeyed {
                println!(
                    "  serving obeyed:            {} {} -> {} ({})",
                    c.model, c.from_version, c.to_version, c.reason
                );
            }
            if r.obeyed.is_empty() {
                println!("  no rollback was obeyed (run longer with --duration)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
