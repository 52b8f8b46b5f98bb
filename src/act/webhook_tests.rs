//! Tests of the webhooks and, through them, of the shared delivery machinery (retries,
//! permanent failures, queue-full drops, shutdown), against a real HTTP peer.

use super::*;
use crate::act::deliver::{Outcome, StatsSnapshot};
use crate::act::notify::{Notifiers, NotifiersConfig};
use crate::act::test_server::TestServer;
use crate::alert::rule::Severity;
use serde_json::json;
use std::io::Write;
use std::num::NonZeroU32;
use std::sync::Mutex;

const SECRET: &str = "s3cr3t-hook-value";

fn event(state: AlertState) -> AlertEvent {
    AlertEvent {
        rule: "input_drift".into(),
        model: "fraud".into(),
        version: "v2".into(),
        series: None,
        state,
        severity: Severity::Warning,
        at: "2026-12-01T18:35:38.096Z".into(),
        active_at: "2026-12-01T18:35:36.846Z".into(),
        starts_at: "2026-12-01T18:35:38.096Z".into(),
        ends_at: None,
        summary: "5 of 8 input features drifted".into(),
        details: json!({"features": [{"name": "amount", "ks": 0.412}]}),
        previous_version: None,
        fingerprint: "0123456789abcdef".into(),
    }
}

fn command(key: &str) -> RollbackCommand {
    RollbackCommand::for_test(key)
}

fn config(name: &str, url: &Url, kind: WebhookKind) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: url.clone(),
        kind,
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_attempts: NonZeroU32::new(4).expect("4"),
            max_age: Duration::from_secs(60),
            seed: Some(11),
        },
        ..WebhookConfig::default()
    }
}

fn start(cfgs: Vec<WebhookConfig>) -> Notifiers {
    Notifiers::start(
        &NotifiersConfig {
            alertmanagers: vec![],
            webhooks: cfgs,
        },
        None,
    )
    .expect("valid config")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Recomputes the signature the way a receiver would.
fn verify(secret: &[u8], body: &[u8], header: Option<&str>) {
    let header = header.expect("a signature header");
    let tag = header.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("key");
    mac.update(body);
    assert_eq!(tag, hex(&mac.finalize().into_bytes()));
}

fn soon() -> Duration {
    Duration::from_secs(10)
}

#[tokio::test]
async fn an_alert_is_posted_as_serialised_and_signed() {
    let mut server = TestServer::start().await;
    std::env::set_var("VIGIL_TEST_SECRET_ALERT", SECRET);
    let mut cfg = config(
        "hook",
        &server.url.join("hooks/vigil?x=1").expect("url"),
        WebhookKind::Alerts,
    );
    cfg.secret = Some(SecretSource::Env("VIGIL_TEST_SECRET_ALERT".into()));
    cfg.headers
        .insert("Authorization".into(), "Bearer tok-123".into());
    let n = start(vec![cfg]);
    let ev = event(AlertState::Firing);
    n.alert(&ev);
    let req = server.next().await;
    assert_eq!(req.uri, "/hooks/vigil?x=1");
    assert_eq!(req.body, serde_json::to_vec(&ev).expect("json"));
    let back: AlertEvent = serde_json::from_slice(&req.body).expect("an AlertEvent");
    assert_eq!(back, ev);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(req.header("x-vigil-event"), Some("alert"));
    assert_eq!(req.header("idempotency-key"), None);
    assert!(req
        .header("user-agent")
        .is_some_and(|u| u.starts_with("vigil/")));
    verify(
        SECRET.as_bytes(),
        &req.body,
        req.header("x-vigil-signature"),
    );
    assert!(n.shutdown(soon()).await.is_clean());
}

#[tokio::test]
async fn only_the_configured_states_are_sent_and_unsigned_without_a_secret() {
    let mut server = TestServer::start().await;
    let mut cfg = config("hook", &server.url, WebhookKind::Alerts);
    cfg.states = vec![AlertState::Firing, AlertState::Resolved];
    let n = start(vec![cfg]);
    n.alert(&event(AlertState::Pending));
    n.alert(&event(AlertState::Firing));
    let req = server.next().await;
    assert_eq!(req.json()["state"], "firing");
    assert_eq!(req.header("x-vigil-signature"), None);
    // A commands webhook ignores alerts, and an alerts webhook commands.
    assert_eq!(n.command(&command("rb-1")).await, Ok(()));
    n.shutdown(soon()).await;
    assert!(server.try_next().is_none());
}

#[tokio::test]
async fn a_command_carries_its_idempotency_key_and_completes() {
    let mut server = TestServer::start().await;
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "{SECRET}").expect("write");
    let mut cfg = config("commands", &server.url, WebhookKind::Commands);
    cfg.secret = Some(SecretSource::File(file.path().to_path_buf()));
    let n = start(vec![cfg]);
    let cmd = command("rb-d0d81c688e23d4e1043b06368566e25f");
    let done = n.command(&cmd);
    let req = server.next().await;
    assert_eq!(done.await, Ok(()));
    assert_eq!(req.body, serde_json::to_vec(&cmd).expect("json"));
    assert_eq!(
        req.header("idempotency-key"),
        Some("rb-d0d81c688e23d4e1043b06368566e25f")
    );
    assert_eq!(req.header("x-vigil-event"), Some("rollback"));
    // The file's trailing newline is not part of the secret.
    verify(
        SECRET.as_bytes(),
        &req.body,
        req.header("x-vigil-signature"),
    );
    assert_eq!(
        n.stats("commands"),
        Some(StatsSnapshot {
            sent: 1,
            ..StatsSnapshot::default()
        })
    );
    n.shutdown(soon()).await;
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_body_and_signature() {
    let mut server = TestServer::start().await;
    server.script(&[503, 429]);
    std::env::set_var("VIGIL_TEST_SECRET_RETRY", SECRET);
    let mut cfg = config("commands", &server.url, WebhookKind::Commands);
    cfg.secret = Some(SecretSource::Env("VIGIL_TEST_SECRET_RETRY".into()));
    let n = start(vec![cfg]);
    assert_eq!(n.command(&command("rb-2")).await, Ok(()));
    let reqs = [
        server.next().await,
        server.next().await,
        server.next().await,
    ];
    for r in &reqs[1..] {
        assert_eq!(r.body, reqs[0].body);
        assert_eq!(
            r.header("x-vigil-signature"),
            reqs[0].header("x-vigil-signature")
        );
        assert_eq!(r.header("idempotency-key"), Some("rb-2"));
    }
    let s = n.stats("commands").expect("stats");
    assert_eq!((s.sent, s.retried, s.failed), (1, 2, 0));
    n.shutdown(soon()).await;
    assert!(server.try_next().is_none());
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let mut server = TestServer::start().await;
    server.script(&[400]);
    let n = start(vec![config("commands", &server.url, WebhookKind::Commands)]);
    let err = n.command(&command("rb-3")).await.expect_err("rejected");
    assert_eq!(
        err,
        DeliveryError::Rejected {
            notifier: "commands".into(),
            endpoint: deliver::redact_url(&server.url),
            status: 400,
            reason: "test server: scripted HTTP 400".into(),
        }
    );
    let s = n.stats("commands").expect("stats");
    assert_eq!((s.sent, s.retried, s.failed), (0, 0, 1));
    n.shutdown(soon()).await;
    server.next().await;
    assert!(server.try_next().is_none(), "exactly one attempt");
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let mut server = TestServer::start().await;
    server.script(&[500, 502, 503, 504, 500]);
    let n = start(vec![config("commands", &server.url, WebhookKind::Commands)]);
    let err = n.command(&command("rb-4")).await.expect_err("gave up");
    assert!(
        matches!(&err, DeliveryError::GaveUp { attempts: 4, last, .. } if last == "HTTP 504"),
        "{err:?}"
    );
    n.shutdown(soon()).await;
    for _ in 0..4 {
        server.next().await;
    }
    assert!(server.try_next().is_none());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = Url::parse(&format!(
        "http://{}/hook",
        closed.local_addr().expect("addr")
    ))
    .expect("url");
    drop(closed);
    let n = start(vec![config("commands", &url, WebhookKind::Commands)]);
    let err = n.command(&command("rb-5")).await.expect_err("gave up");
    let DeliveryError::GaveUp { attempts, last, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*attempts, 4);
    assert!(last.starts_with("connection failed"), "{last}");
    assert!(
        !err.to_string().contains("/hook"),
        "no path in errors: {err}"
    );
    assert_eq!(n.stats("commands").expect("stats").retried, 3);
    n.shutdown(soon()).await;
}

/// Records what the metrics module would be told.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Outcome, u64)>>);

impl DeliveryObserver for Recorder {
    fn record(&self, notifier: &str, outcome: Outcome, count: u64) {
        if count > 0 {
            self.0
                .lock()
                .expect("lock")
                .push((notifier.to_string(), outcome, count));
        }
    }
}

#[tokio::test]
async fn a_full_queue_drops_the_new_notification_and_counts_it() {
    let mut server = TestServer::gated().await;
    let mut cfg = config("commands", &server.url, WebhookKind::Commands);
    cfg.queue = 1;
    let recorder = Arc::new(Recorder::default());
    let n = Notifiers::start(
        &NotifiersConfig {
            alertmanagers: vec![],
            webhooks: vec![cfg],
        },
        Some(recorder.clone()),
    )
    .expect("valid");
    let first = n.command(&command("rb-a"));
    // The worker holds the first in flight; the second fills the queue of one.
    server.next().await;
    let second = n.command(&command("rb-b"));
    let third = n.command(&command("rb-c"));
    assert_eq!(
        third.await,
        Err(DeliveryError::QueueFull {
            notifier: "commands".into()
        })
    );
    assert_eq!(n.stats("commands").expect("stats").dropped, 1);
    server.release(2);
    assert_eq!(first.await, Ok(()));
    assert_eq!(second.await, Ok(()));
    assert_eq!(
        server.next().await.header("idempotency-key"),
        Some("rb-b"),
        "the queued one, not the dropped one"
    );
    n.shutdown(soon()).await;
    assert!(server.try_next().is_none());
    let seen = recorder.0.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            ("commands".to_string(), Outcome::Dropped, 1),
            ("commands".to_string(), Outcome::Sent, 1),
            ("commands".to_string(), Outcome::Sent, 1),
        ]
    );
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued() {
    let mut server = TestServer::gated().await;
    let n = start(vec![config("hook", &server.url, WebhookKind::Alerts)]);
    for s in [
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Resolved,
    ] {
        n.alert(&event(s));
    }
    server.next().await;
    let shutdown = tokio::spawn(n.shutdown(Duration::from_secs(30)));
    server.release(3);
    let report = shutdown.await.expect("shutdown");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.notifiers[0].stats.sent, 3);
    let states: Vec<_> = [server.next().await, server.next().await]
        .iter()
        .map(|r| r.json()["state"].clone())
        .collect();
    assert_eq!(states, ["firing", "resolved"]);
}

#[tokio::test]
async fn the_shutdown_deadline_reports_what_is_left() {
    let mut server = TestServer::gated().await;
    let n = start(vec![config("commands", &server.url, WebhookKind::Commands)]);
    let in_flight = n.command(&command("rb-x"));
    server.next().await;
    let queued = n.command(&command("rb-y"));
    // Never released: the deadline passes with one in flight and one queued.
    let report = n.shutdown(Duration::from_millis(100)).await;
    assert_eq!(report.undelivered(), 2);
    assert_eq!(report.notifiers[0].name, "commands");
    for done in [in_flight, queued] {
        assert_eq!(
            done.await,
            Err(DeliveryError::ShutDown {
                notifier: "commands".into()
            })
        );
    }
}

#[tokio::test]
async fn without_a_commands_webhook_a_command_completes_at_once() {
    let n = start(vec![]);
    assert!(n.is_empty());
    assert_eq!(n.command(&command("rb-z")).await, Ok(()));
    assert!(n.shutdown(soon()).await.is_clean());
}

#[tokio::test]
async fn counts_reach_the_metrics_module() {
    let mut server = TestServer::start().await;
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new().expect("metrics"));
    let n = Notifiers::start(
        &NotifiersConfig {
            alertmanagers: vec![],
            webhooks: vec![config("ops-hook", &server.url, WebhookKind::Commands)],
        },
        Some(metrics.clone()),
    )
    .expect("valid");
    assert_eq!(n.command(&command("rb-m")).await, Ok(()));
    server.next().await;
    n.shutdown(soon()).await;
    let text = metrics.render();
    for line in [
        "vigil_notifications_sent_total{notifier=\"ops-hook\"} 1",
        "vigil_notifications_failed_total{notifier=\"ops-hook\"} 0",
        "vigil_notifications_dropped_total{notifier=\"ops-hook\"} 0",
        "vigil_notifications_retried_total{notifier=\"ops-hook\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
}

#[tokio::test]
async fn the_secret_never_shows() {
    std::env::set_var("VIGIL_TEST_SECRET_DEBUG", SECRET);
    let source = SecretSource::Env("VIGIL_TEST_SECRET_DEBUG".into());
    let secret = Secret::load(&source).expect("set");
    assert_eq!(format!("{secret:?}"), "<redacted>");
    let url =
        Url::parse("https://user:pw@hooks.example.com/T0/B0/tok-in-path?token=q").expect("url");
    let mut cfg = config("hook", &url, WebhookKind::Alerts);
    cfg.secret = Some(source);
    cfg.headers
        .insert("Authorization".into(), "Bearer tok-in-header".into());
    let n = start(vec![cfg.clone()]);
    let texts = [format!("{cfg:?}"), format!("{n:?}"), format!("{secret:?}")];
    for t in &texts {
        for leak in [SECRET, "tok-in-header", "tok-in-path", "token=q", "pw@"] {
            assert!(!t.contains(leak), "{leak} in {t}");
        }
    }
    n.shutdown(Duration::from_millis(10)).await;
    // Errors name the source, not the value.
    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let e = Secret::load(&SecretSource::File(empty.path().to_path_buf())).expect_err("empty");
    assert!(e.to_string().contains("is empty"));
    let e = Secret::load(&SecretSource::Env("VIGIL_TEST_SECRET_UNSET".into())).expect_err("unset");
    assert_eq!(
        e.to_string(),
        "webhook secret: environment variable VIGIL_TEST_SECRET_UNSET is not set"
    );
}

#[tokio::test]
async fn bad_configs_are_refused() {
    let url = Url::parse("http://127.0.0.1:9/").expect("url");
    let mut cfg = config("hook", &url, WebhookKind::Alerts);
    cfg.headers
        .insert("X-Vigil-Signature".into(), "forged".into());
    let e = Notifiers::start(
        &NotifiersConfig {
            alertmanagers: vec![],
            webhooks: vec![cfg],
        },
        None,
    )
    .expect_err("reserved header");
    assert_eq!(
        e.to_string(),
        "webhook hook: header \"X-Vigil-Signature\": set by vigil"
    );
    let e = Notifiers::start(
        &NotifiersConfig {
            alertmanagers: vec![],
            webhooks: vec![
                config("same", &url, WebhookKind::Alerts),
                config("same", &url, WebhookKind::Commands),
            ],
        },
        None,
    )
    .expect_err("duplicate");
    assert_eq!(e.to_string(), "two notifiers are named \"same\"");
}
