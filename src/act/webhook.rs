//! Generic webhooks: each alert transition, or each rollback command, POSTed as JSON to a
//! URL, through the shared delivery machinery ([`super::deliver`]: bounded queue, retries,
//! counting, shutdown). It owns the request shape and signing; it must not decide what
//! to send (the pipeline does) nor hold the secret anywhere it could be printed.
//!
//! A request carries:
//! - the body: the [`AlertEvent`] (kind `alerts`) or the [`RollbackCommand`] (kind
//!   `commands`) exactly as vigil serialises it elsewhere (stdout, Kafka);
//! - `Content-Type: application/json`, `User-Agent: vigil/<version>`,
//!   `X-Vigil-Event: alert` or `rollback`, and the configured headers;
//! - commands: `Idempotency-Key: <idempotency_key>` (stable across retries and restarts,
//!   so the receiver acts on a key once even if a retry delivers it twice);
//! - with a secret: `X-Vigil-Signature: sha256=<hex>`, the lowercase hex HMAC-SHA256 of
//!   the exact body bytes keyed with the secret (GitHub's `X-Hub-Signature-256`
//!   convention). A receiver recomputes it over the raw body and compares in constant time.
//!
//! The secret comes from an environment variable or a file ([`SecretSource`]), never from
//! the config itself, is read once at start, and lives in a [`Secret`] whose `Debug` prints
//! `<redacted>`; errors name the variable or the path, never the value.

use super::deliver::{self, DeliveryError, DeliveryObserver, Endpoint, Job, Meter, RetryPolicy};
use super::policy::RollbackCommand;
use crate::alert::state::{AlertEvent, AlertState};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-vigil-signature";
/// The idempotency header of rollback commands.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Says what the body is: `alert` or `rollback`.
pub const EVENT_HEADER: &str = "x-vigil-event";

/// Where a webhook's signing secret is read from (at start, once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, e.g. `VIGIL_WEBHOOK_SECRET`.
    Env(String),
    /// A file, e.g. `/run/secrets/hook`; one trailing newline (`\n` or `\r\n`) is removed.
    File(PathBuf),
}

/// A signing secret. Its `Debug` prints `<redacted>`; it has no `Display` and no
/// `Serialize`, so it cannot reach a log line, an error or a metric by accident.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into().into())
    }

    /// Reads the secret from its source. Empty secrets are refused.
    pub fn load(source: &SecretSource) -> Result<Secret, WebhookError> {
        let bytes = match source {
            SecretSource::Env(var) => std::env::var_os(var)
                .ok_or_else(|| WebhookError::SecretEnv { var: var.clone() })?
                .into_encoded_bytes(),
            SecretSource::File(path) => {
                let mut b = std::fs::read(path).map_err(|e| WebhookError::SecretFile {
                    path: path.clone(),
                    reason: e.kind().to_string(),
                })?;
                if b.ends_with(b"\n") {
                    b.pop();
                    if b.ends_with(b"\r") {
                        b.pop();
                    }
                }
                b
            }
        };
        if bytes.is_empty() {
            return Err(WebhookError::SecretEmpty {
                source_name: match source {
                    SecretSource::Env(v) => format!("environment variable {v}"),
                    SecretSource::File(p) => format!("file {}", p.display()),
                },
            });
        }
        Ok(Secret::new(bytes))
    }

    /// `sha256=<hex HMAC-SHA256 of body>`: the value of [`SIGNATURE_HEADER`].
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }
}

/// What a webhook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookKind {
    /// Alert transitions ([`AlertEvent`] JSON).
    #[default]
    Alerts,
    /// Rollback commands ([`RollbackCommand`] JSON), with a completion per command.
    Commands,
}

/// A webhook's configuration (validated data; the TOML layer builds it).
#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    /// Unique among notifiers; the `notifier` metric label.
    pub name: String,
    /// Where to POST.
    pub url: Url,
    /// Extra headers (e.g. `Authorization`). The names vigil sets itself are refused.
    pub headers: BTreeMap<String, String>,
    /// The signing secret's source; `None` sends unsigned requests.
    pub secret: Option<SecretSource>,
    /// Alerts or commands.
    pub kind: WebhookKind,
    /// Alert states sent (kind `alerts`); default: every transition.
    pub states: Vec<AlertState>,
    /// Per-attempt timeout (default 10 s).
    pub timeout: Duration,
    /// Queue capacity in requests (default 1024).
    pub queue: usize,
    /// Retries.
    pub retry: RetryPolicy,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            name: "webhook".into(),
            url: Url::parse("http://127.0.0.1:8080/").expect("a valid URL"),
            headers: BTreeMap::new(),
            secret: None,
            kind: WebhookKind::Alerts,
            states: vec![
                AlertState::Pending,
                AlertState::Firing,
                AlertState::Resolved,
                AlertState::Inactive,
            ],
            timeout: Duration::from_secs(10),
            queue: 1024,
            retry: RetryPolicy::default(),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    // Header values and the URL's path and query may hold credentials: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &deliver::redact_url(&self.url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("secret", &self.secret)
            .field("kind", &self.kind)
            .field("states", &self.states)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Errors starting a webhook.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The secret's environment variable is not set.
    #[error("webhook secret: environment variable {var} is not set")]
    SecretEnv {
        /// The variable.
        var: String,
    },
    /// The secret's file cannot be read.
    #[error("webhook secret: cannot read {}: {reason}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why (the I/O error kind).
        reason: String,
    },
    /// The secret is empty.
    #[error("webhook secret: {source_name} is empty")]
    SecretEmpty {
        /// The variable or file.
        source_name: String,
    },
    /// A configured header is invalid or one vigil sets itself.
    #[error("webhook {webhook}: header {header:?}: {reason}")]
    Header {
        /// The webhook.
        webhook: String,
        /// The header name.
        header: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("webhook {webhook}: HTTP client: {reason}")]
    Client {
        /// The webhook.
        webhook: String,
        /// Why.
        reason: String,
    },
}

const RESERVED: [&str; 4] = [
    "content-type",
    SIGNATURE_HEADER,
    IDEMPOTENCY_HEADER,
    EVENT_HEADER,
];

fn header_map(cfg: &WebhookConfig) -> Result<HeaderMap, WebhookError> {
    let mut map = HeaderMap::new();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in &cfg.headers {
        let bad = |reason| WebhookError::Header {
            webhook: cfg.name.clone(),
            header: k.clone(),
            reason,
        };
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("not a header name"))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(bad("set by vigil"));
        }
        let mut value = HeaderValue::from_str(v).map_err(|_| bad("not a valid header value"))?;
        // Keeps the value out of reqwest's and hyper's debug output.
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// A running webhook notifier.
#[derive(Debug)]
pub struct Webhook {
    kind: WebhookKind,
    states: Vec<AlertState>,
    secret: Option<Secret>,
    meter: Meter,
    queue: deliver::Queue,
    worker: deliver::Worker,
}

impl Webhook {
    /// Reads the secret, builds the client and spawns the worker (inside a tokio runtime).
    pub fn start(
        cfg: &WebhookConfig,
        observer: Option<Arc<dyn DeliveryObserver>>,
    ) -> Result<Webhook, WebhookError> {
        let secret = cfg.secret.as_ref().map(Secret::load).transpose()?;
        let headers = header_map(cfg)?;
        let client = deliver::http_client(cfg.timeout).map_err(|e| WebhookError::Client {
            webhook: cfg.name.clone(),
            reason: e.without_url().to_string(),
        })?;
        let endpoint = Endpoint {
            url: cfg.url.clone(),
            headers,
            client,
            retry: cfg.retry.clone(),
        };
        let meter = Meter::new(&cfg.name, observer);
        let (queue, worker) = deliver::spawn(endpoint, cfg.queue, meter.clone());
        Ok(Webhook {
            kind: cfg.kind,
            states: cfg.states.clone(),
            secret,
            meter,
            queue,
            worker,
        })
    }

    /// The notifier name.
    pub fn name(&self) -> &str {
        self.meter.name()
    }

    /// Its counters, readable after it is shut down.
    pub(crate) fn stats_handle(&self) -> Meter {
        self.meter.clone()
    }

    /// What it carries.
    pub fn kind(&self) -> WebhookKind {
        self.kind
    }

    /// Its counters.
    pub fn stats(&self) -> deliver::StatsSnapshot {
        self.meter.stats()
    }

    fn job(
        &self,
        body: Vec<u8>,
        event: &'static str,
        key: Option<&str>,
        done: Option<deliver::Done>,
    ) -> Job {
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, HeaderValue::from_static(event));
        if let Some(secret) = &self.secret {
            let sig = HeaderValue::from_str(&secret.sign(&body)).expect("hex is a header value");
            headers.insert(SIGNATURE_HEADER, sig);
        }
        if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
            headers.insert(IDEMPOTENCY_HEADER, key);
        }
        Job::new(body, headers, 1, done)
    }

    /// Queues an alert transition (kind `alerts`, a state it sends); never waits.
    pub fn alert(&self, event: &AlertEvent) {
        if self.kind != WebhookKind::Alerts || !self.states.contains(&event.state) {
            return;
        }
        let body = serde_json::to_vec(event).expect("an AlertEvent serialises");
        self.queue.offer(self.job(body, "alert", None, None));
    }

    /// Queues a rollback command (kind `commands`); never waits. The receiver resolves when
    /// the command is delivered (2xx) or not ([`DeliveryError`]).
    pub fn command(&self, cmd: &RollbackCommand) -> oneshot::Receiver<Result<(), DeliveryError>> {
        let (tx, rx) = oneshot::channel();
        if self.kind != WebhookKind::Commands {
            let _ = tx.send(Ok(()));
            return rx;
        }
        let body = serde_json::to_vec(cmd).expect("a RollbackCommand serialises");
        self.queue.offer(self.job(
            body,
            "rollback",
            Some(cmd.idempotency_key.as_str()),
            Some(tx),
        ));
        rx
    }

    /// Drains the queue until `deadline`; returns what was left undelivered.
    pub async fn shutdown(self, deadline: Instant) -> u64 {
        self.worker.shutdown(deadline).await
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
