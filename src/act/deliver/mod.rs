//! Delivery machinery shared by every HTTP notifier ([`super::alertmanager`],
//! [`super::webhook`]): one tokio task per endpoint, fed by a bounded `mpsc` queue, that
//! POSTs each [`Job`] with retries. It owns queueing, retries, counting and shutdown; it
//! knows nothing of alerts or commands (callers hand it finished bodies and headers).
//!
//! Policy, in one place:
//! - **Never blocks the caller.** [`Queue::offer`] uses `try_send`. When the queue is full
//!   the **new** job is dropped (tokio's `mpsc` cannot evict from the sending side, and the
//!   queued jobs are older transitions that must keep their order): the drop is counted
//!   (`dropped`), logged at warn, and a job's completion, if it has one, resolves at once
//!   with [`DeliveryError::QueueFull`].
//! - **In order, one at a time.** A worker sends its queue head to completion (success,
//!   permanent failure or giving up) before the next job, so a resolution never overtakes
//!   the firing notification it follows.
//! - **Retries** ([`RetryPolicy`]): 2xx is success; 408, 429, 5xx, timeouts and connection
//!   errors are transient; any other status (3xx, since redirects are not followed, and
//!   4xx) is permanent and not retried. Transient failures are retried after
//!   `min(max_backoff, initial_backoff * 2^(n-1))`, of which the upper half is jitter from a
//!   seeded RNG ("equal jitter"), or after `Retry-After` (seconds) if that is longer (still
//!   capped at `max_backoff`); at most `max_attempts` attempts in all, and no attempt would
//!   start later than `max_age` after the job was queued.
//! - **Counting** per notifier name (a bounded label): `sent`, `failed` (permanent or gave
//!   up), `dropped` (queue full), `retried` (retry attempts), as atomics ([`Stats`]) and, if
//!   given, through a [`DeliveryObserver`] (the metrics module implements it). A job
//!   counts as many notifications as it carries (an Alertmanager batch, one per alert).
//! - **Shutdown** ([`Worker::shutdown`]): the queue is closed, the worker drains it; at the
//!   deadline the request in flight is abandoned and whatever is left is reported (and each
//!   completion resolves with [`DeliveryError::ShutDown`]).
//! - **No secrets out.** Logs and errors name the notifier and the endpoint's scheme, host
//!   and port only (webhook URLs often carry tokens in their path or query); reqwest errors
//!   are stripped of their URL.

mod count;
mod retry;

pub use count::{DeliveryObserver, Meter, Outcome, Stats, StatsSnapshot};
pub use retry::RetryPolicy;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a job was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The notifier's queue was full; the job was dropped without an attempt.
    #[error("{notifier}: queue full, dropped")]
    QueueFull {
        /// Notifier name.
        notifier: String,
    },
    /// The endpoint answered with a status that retrying cannot fix (4xx other than 408
    /// and 429, or 3xx).
    #[error("{notifier}: {endpoint} rejected the request with HTTP {status}: {reason:?}")]
    Rejected {
        /// Notifier name.
        notifier: String,
        /// Scheme, host and port of the endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, on one line: where a receiver says why
        /// (Alertmanager names the offending field).
        reason: String,
    },
    /// Transient failures until `max_attempts` or `max_age` ran out.
    #[error("{notifier}: {endpoint}: gave up after {attempts} attempt(s): {last}")]
    GaveUp {
        /// Notifier name.
        notifier: String,
        /// Scheme, host and port of the endpoint.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure (an HTTP status or a connection error, without the URL).
        last: String,
    },
    /// The shutdown deadline passed before the job was delivered.
    #[error("{notifier}: not delivered before the shutdown deadline")]
    ShutDown {
        /// Notifier name.
        notifier: String,
    },
    /// The notifier's task is gone (it panicked or its runtime stopped).
    #[error("{notifier}: notifier stopped")]
    Stopped {
        /// Notifier name.
        notifier: String,
    },
}

/// Resolves when a job is delivered or given up.
pub type Done = oneshot::Sender<Result<(), DeliveryError>>;

/// One POST to make.
#[derive(Debug)]
pub struct Job {
    /// The exact body bytes (signatures are computed over them).
    pub body: Vec<u8>,
    /// Headers besides those of the endpoint.
    pub headers: HeaderMap,
    /// Notifications it carries (alerts in a batch), for counting.
    pub items: u64,
    /// Told the outcome, if the sender waits for it.
    pub done: Option<Done>,
    /// When it was queued (for `max_age`).
    pub queued: Instant,
}

impl Job {
    /// A job queued now.
    pub fn new(body: Vec<u8>, headers: HeaderMap, items: u64, done: Option<Done>) -> Job {
        Job {
            body,
            headers,
            items,
            done,
            queued: Instant::now(),
        }
    }

    fn finish(self, result: Result<(), DeliveryError>) {
        if let Some(done) = self.done {
            // The caller may have stopped waiting; that is its choice.
            let _ = done.send(result);
        }
    }
}

/// Where a worker POSTs, and how.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The full URL.
    pub url: Url,
    /// Headers sent with every job (content type, configured headers).
    pub headers: HeaderMap,
    /// The HTTP client (it carries the per-attempt timeout).
    pub client: Client,
    /// Retries.
    pub retry: RetryPolicy,
}

/// Scheme, host and port of a URL: safe to log (no user info, path or query).
pub fn redact_url(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => format!("{}://?", url.scheme()),
    }
}

/// Installs rustls' ring crypto provider for the whole process. reqwest is built without a
/// default provider (the default, aws-lc, needs cmake and more to build); every HTTP client
/// vigil makes (notifiers, OTLP) calls this first. Idempotent: an Err only says that a
/// provider is installed already.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for notifiers: per-attempt `timeout`, no redirects, vigil's user agent.
pub fn http_client(timeout: Duration) -> Result<Client, reqwest::Error> {
    install_tls_provider();
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The sending side of a worker's queue.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::Sender<Job>,
    meter: Meter,
    endpoint: String,
}

impl Queue {
    /// Queues `job` without waiting. A full queue drops it: counted, logged, and its
    /// completion told [`DeliveryError::QueueFull`] ([`DeliveryError::Stopped`] if the
    /// worker is gone).
    pub fn offer(&self, job: Job) -> bool {
        let (job, error) = match self.tx.try_send(job) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Full(job)) => {
                tracing::warn!(notifier = %self.meter.name(), endpoint = %self.endpoint, items = job.items, "notification queue full; dropped the new notification");
                let notifier = self.meter.name().to_string();
                (job, DeliveryError::QueueFull { notifier })
            }
            Err(mpsc::error::TrySendError::Closed(job)) => {
                tracing::warn!(notifier = %self.meter.name(), items = job.items, "notifier stopped; dropped the notification");
                let notifier = self.meter.name().to_string();
                (job, DeliveryError::Stopped { notifier })
            }
        };
        self.meter.add(Outcome::Dropped, job.items);
        job.finish(Err(error));
        false
    }
}

/// A running worker: its task and the tokens that stop it.
#[derive(Debug)]
pub struct Worker {
    name: Arc<str>,
    task: JoinHandle<u64>,
    drain: CancellationToken,
    abort: CancellationToken,
}

impl Worker {
    /// Closes the queue, lets the worker drain it until `deadline`, then abandons what is
    /// left. Returns the notifications left undelivered.
    pub async fn shutdown(self, deadline: Instant) -> u64 {
        let Worker {
            name,
            mut task,
            drain,
            abort,
        } = self;
        drain.cancel();
        let joined = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(r) => r,
            Err(_) => {
                abort.cancel();
                task.await
            }
        };
        joined.unwrap_or_else(|e| {
            tracing::error!(notifier = %name, error = %e, "notifier task failed");
            0
        })
    }
}

/// Spawns a worker for `endpoint` with a queue of `capacity` jobs (at least 1).
pub fn spawn(endpoint: Endpoint, capacity: usize, meter: Meter) -> (Queue, Worker) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let seed = endpoint.retry.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        meter
            .name()
            .bytes()
            .fold(nanos, |h, b| h.rotate_left(5) ^ u64::from(b))
    });
    let drain = CancellationToken::new();
    let abort = CancellationToken::new();
    let queue = Queue {
        tx,
        meter: meter.clone(),
        endpoint: redact_url(&endpoint.url),
    };
    let name: Arc<str> = meter.name().into();
    let task = tokio::spawn(run(
        rx,
        endpoint,
        meter,
        Pcg64Mcg::seed_from_u64(seed),
        drain.clone(),
        abort.clone(),
    ));
    (
        queue,
        Worker {
            name,
            task,
            drain,
            abort,
        },
    )
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    ep: Endpoint,
    meter: Meter,
    mut rng: Pcg64Mcg,
    drain: CancellationToken,
    abort: CancellationToken,
) -> u64 {
    let mut closing = false;
    let mut left = Vec::new();
    loop {
        let job = tokio::select! {
            biased;
            _ = abort.cancelled() => break,
            _ = drain.cancelled(), if !closing => {
                // Closing refuses new jobs; recv still yields the queued ones, then None.
                rx.close();
                closing = true;
                continue;
            }
            job = rx.recv() => match job {
                Some(j) => j,
                None => break,
            },
        };
        let result = tokio::select! {
            biased;
            _ = abort.cancelled() => None,
            r = deliver(&ep, &job, &mut rng, &meter) => Some(r),
        };
        match result {
            Some(Ok(())) => {
                meter.add(Outcome::Sent, job.items);
                job.finish(Ok(()));
            }
            Some(Err(e)) => {
                meter.add(Outcome::Failed, job.items);
                tracing::warn!(notifier = %meter.name(), error = %e, items = job.items, "notification not delivered");
                job.finish(Err(e));
            }
            None => {
                left.push(job);
                break;
            }
        }
    }
    rx.close();
    while let Ok(job) = rx.try_recv() {
        left.push(job);
    }
    let mut undelivered = 0;
    for job in left {
        undelivered += job.items;
        job.finish(Err(DeliveryError::ShutDown {
            notifier: meter.name().to_string(),
        }));
    }
    if undelivered > 0 {
        tracing::warn!(notifier = %meter.name(), undelivered, "shutdown deadline passed with notifications undelivered");
    }
    undelivered
}

/// How one attempt went.
enum Attempt {
    Ok,
    Permanent(StatusCode, String),
    Transient {
        what: String,
        retry_after: Option<Duration>,
    },
}

async fn attempt(ep: &Endpoint, job: &Job) -> Attempt {
    let req = ep
        .client
        .post(ep.url.clone())
        .headers(ep.headers.clone())
        .headers(job.headers.clone())
        .body(job.body.clone());
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Attempt::Ok;
            }
            let transient = status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS;
            if transient {
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Attempt::Transient {
                    what: format!("HTTP {}", status.as_u16()),
                    retry_after,
                }
            } else {
                Attempt::Permanent(status, body_excerpt(resp).await)
            }
        }
        Err(e) => Attempt::Transient {
            what: describe(&e),
            retry_after: None,
        },
    }
}

/// Bytes of a rejecting answer's body kept for the error (a receiver may send much more).
const REASON_BYTES: usize = 512;

/// The first [`REASON_BYTES`] of a body, read no further, as one line of text.
async fn body_excerpt(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < REASON_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(REASON_BYTES);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reqwest error as text without its URL: its kind and its causes.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

async fn deliver(
    ep: &Endpoint,
    job: &Job,
    rng: &mut Pcg64Mcg,
    meter: &Meter,
) -> Result<(), DeliveryError> {
    let endpoint = || redact_url(&ep.url);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match attempt(ep, job).await {
            Attempt::Ok => return Ok(()),
            Attempt::Permanent(status, reason) => {
                return Err(DeliveryError::Rejected {
                    notifier: meter.name().to_string(),
                    endpoint: endpoint(),
                    status: status.as_u16(),
                    reason,
                })
            }
            Attempt::Transient { what, retry_after } => {
                let delay = ep
                    .retry
                    .backoff(attempts, rng)
                    .max(retry_after.unwrap_or_default())
                    .min(ep.retry.max_backoff);
                let too_old = job.queued.elapsed() + delay > ep.retry.max_age;
                if attempts >= ep.retry.max_attempts.get() || too_old {
                    return Err(DeliveryError::GaveUp {
                        notifier: meter.name().to_string(),
                        endpoint: endpoint(),
                        attempts,
                        last: what,
                    });
                }
                // The first failure of a notification is a warning, so that an unreachable
                // receiver shows while it happens, not only once the retries run out.
                if attempts == 1 {
                    tracing::warn!(notifier = %meter.name(), endpoint = %endpoint(), failure = %what, delay_ms = delay.as_millis() as u64, "notification failed; retrying");
                } else {
                    tracing::debug!(notifier = %meter.name(), endpoint = %endpoint(), failure = %what, attempt = attempts, delay_ms = delay.as_millis() as u64, "notification failed; retrying");
                }
                meter.add(Outcome::Retried, job.items);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_keep_no_path_query_or_credentials() {
        let u = Url::parse("https://user:pw@hooks.example.com/services/T0/B0/XXXX?token=abc")
            .expect("valid");
        assert_eq!(redact_url(&u), "https://hooks.example.com:443");
    }
}
