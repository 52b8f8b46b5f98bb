//! vigil watches machine-learning models in production and acts when they go wrong.
//!
//! One pipeline, read in one direction:
//!
//! ```text
//! source (kafka | jsonl file | stdin | demo)      bytes in                 source::
//!   -> decode   bytes -> typed record, or a rejection with a reason       source::decode
//!   -> route    (model, version) -> bounded per-model state, windows      route
//!   -> detect   pure: windows -> statistics, p-values (WindowReport)      detect::
//!   -> alert    pure: reports -> pending / firing / resolved transitions  alert::
//!   -> act      rollback decision (pure), then sinks: side effects        act::
//! telemetry     to the side: metrics, /metrics /healthz /readyz           telemetry::
//! state         snapshots and the command log, so a restart resumes       state::
//! ```
//!
//! `pipeline` ties decode..rollback-decision together as one pure step (`Pipeline::process`);
//! `app` wires sources, the pipeline, sinks, telemetry and state, and owns shutdown.
//! A module uses the shared vocabulary in `record` and what lies upstream of it, never what
//! lies downstream; `detect` and `alert` know nothing of tokio, Kafka, HTTP or the clock.

/// `eprintln!` that ignores a closed or failing stderr instead of panicking (`vigil ... 2>&1
/// | head -1` must not turn into exit code 101).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod act;
pub mod alert;
pub mod app;
pub mod config;
pub mod demo;
pub mod detect;
pub mod labels;
pub mod pipeline;
pub mod record;
pub mod route;
pub mod route_metrics;
pub mod source;
pub mod state;
pub mod telemetry;
