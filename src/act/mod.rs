//! Acting on verdicts: the rollback decision ([`policy`], pure) and the sinks that carry
//! alerts, rollback commands, window scores and dead letters out of vigil ([`sink`] for
//! JSON lines on stdout or files, [`kafka`] for topics), and the notifiers that deliver
//! alerts and commands over HTTP ([`notify`] in front of [`alertmanager`] and [`webhook`],
//! both on the queue-and-retry machinery of [`deliver`]). Sinks are where side effects
//! live; they never feed back into detection.

pub mod alertmanager;
pub mod deliver;
pub mod kafka;
pub mod notify;
pub mod policy;
pub mod sink;
#[cfg(test)]
mod test_server;
pub mod webhook;

use crate::record::Rejection;
use serde::Serialize;
use std::borrow::Cow;

/// The largest payload copied into a dead letter.
pub const DEAD_LETTER_MAX_PAYLOAD: usize = 64 * 1024;

/// Where a rejected record came from.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Origin<'a> {
    /// A Kafka message.
    Kafka {
        /// Topic.
        topic: &'a str,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// A line of a JSONL file (1-based).
    File {
        /// File name (`-` for stdin).
        file: &'a str,
        /// Line number.
        line: u64,
    },
}

/// A dead-letter record: the rejected payload with the reason it was rejected.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter<'a> {
    /// Bounded reason (also the metric label).
    pub reason: &'static str,
    /// What exactly was wrong.
    pub detail: &'a str,
    /// Where the record came from.
    pub origin: Origin<'a>,
    /// The payload as text (invalid UTF-8 replaced), cut at [`DEAD_LETTER_MAX_PAYLOAD`].
    pub payload: Cow<'a, str>,
    /// Whether the payload was cut.
    pub truncated: bool,
}

impl<'a> DeadLetter<'a> {
    /// Builds a dead letter for `payload` rejected with `rejection`.
    pub fn new(rejection: &'a Rejection, origin: Origin<'a>, payload: &'a [u8]) -> Self {
        let truncated = payload.len() > DEAD_LETTER_MAX_PAYLOAD;
        let cut = &payload[..payload.len().min(DEAD_LETTER_MAX_PAYLOAD)];
        DeadLetter {
            reason: rejection.reason.as_str(),
            detail: &rejection.detail,
            origin,
            payload: String::from_utf8_lossy(cut),
            truncated,
        }
    }
}
