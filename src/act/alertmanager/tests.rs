//! Tests of the Alertmanager notifier: the alert table over a manual clock (pure), and the
//! requests as a real HTTP peer receives them.

use super::table::{parse_time, rfc3339, Table};
use super::*;
use crate::act::test_server::TestServer;
use crate::alert::rule::Severity;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use std::num::NonZeroU32;

fn t(s: &str) -> DateTime<Utc> {
    parse_time(Some(s)).expect("a test time")
}

fn event(state: AlertState, starts: &str, at: &str) -> AlertEvent {
    AlertEvent {
        rule: "error_rate_regression".into(),
        model: "fraud detector".into(),
        version: "v2".into(),
        series: None,
        state,
        severity: Severity::Critical,
        at: at.into(),
        active_at: starts.into(),
        starts_at: starts.into(),
        ends_at: (state == AlertState::Resolved).then(|| at.to_string()),
        summary: "error_rate 8.80% vs 1.40% on the previous version v1".into(),
        details: json!({"signal": "error_rate", "current": 0.088, "baseline": 0.014}),
        previous_version: Some("v1".into()),
        fingerprint: "7d075eeeeeb08a37".into(),
    }
}

const T0: &str = "2026-12-01T18:40:00.000Z";

fn config(urls: Vec<Url>) -> AlertmanagerConfig {
    AlertmanagerConfig {
        urls,
        static_labels: BTreeMap::from([
            ("cluster".to_string(), "eu-1".to_string()),
            ("model".to_string(), "not-the-model".to_string()),
        ]),
        generator_url: Some(Url::parse("http://vigil.example:9464/").expect("url")),
        dashboard_url: Some(
            "https://grafana.example/d/vigil?var-model={model}&var-version={version}&var-rule={rule}"
                .into(),
        ),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_attempts: NonZeroU32::new(3).expect("3"),
            max_age: Duration::from_secs(60),
            seed: Some(7),
        },
        ..AlertmanagerConfig::default()
    }
}

fn start(cfg: &AlertmanagerConfig, clock: Arc<ManualClock>) -> Alertmanager {
    Alertmanager::start(cfg, None, clock).expect("valid config")
}

fn only(body: &Value) -> &Value {
    let alerts = body.as_array().expect("an array of alerts");
    assert_eq!(alerts.len(), 1, "{body}");
    &alerts[0]
}

#[tokio::test]
async fn a_firing_alert_is_posted_as_prometheus_does() {
    let mut server = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let am = start(&config(vec![server.url.clone()]), clock);
    // Pending is not sent; the first request is the firing alert.
    am.alert(&event(AlertState::Pending, "2026-12-01T18:38:00.000Z", T0));
    am.alert(&event(AlertState::Firing, "2026-12-01T18:39:00.000Z", T0));
    let req = server.next().await;
    assert_eq!(req.uri, "/api/v2/alerts");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body = req.json();
    let a = only(&body);
    assert_eq!(
        a["labels"],
        json!({
            "alertname": "error_rate_regression",
            "rule": "error_rate_regression",
            "model": "fraud detector",
            "version": "v2",
            "severity": "critical",
            "cluster": "eu-1",
        })
    );
    let ann = &a["annotations"];
    assert_eq!(
        ann["summary"],
        "error_rate 8.80% vs 1.40% on the previous version v1"
    );
    assert_eq!(
        ann["description"],
        "error_rate_regression (critical) on model fraud detector version v2: \
         error_rate 8.80% vs 1.40% on the previous version v1"
    );
    assert_eq!(ann["previous_version"], "v1");
    let details: Value =
        serde_json::from_str(ann["details"].as_str().expect("details is text")).expect("JSON");
    assert_eq!(details, event(AlertState::Firing, T0, T0).details);
    assert_eq!(
        ann["dashboard"],
        "https://grafana.example/d/vigil?var-model=fraud%20detector&var-version=v2&var-rule=error_rate_regression"
    );
    assert_eq!(a["startsAt"], "2026-12-01T18:39:00.000Z");
    // Keep-alive: wall clock + 4 x resend_interval (1 min).
    assert_eq!(a["endsAt"], "2026-12-01T18:44:00.000Z");
    assert_eq!(
        a["generatorURL"],
        "http://vigil.example:9464/api/v1/alerts?fingerprint=7d075eeeeeb08a37"
    );
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_resolution_is_sent_with_its_end_time() {
    let mut server = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let am = start(&config(vec![server.url.clone()]), clock.clone());
    am.alert(&event(AlertState::Firing, "2026-12-01T18:39:00.000Z", T0));
    clock.advance(Duration::from_secs(120));
    am.alert(&event(
        AlertState::Resolved,
        "2026-12-01T18:39:00.000Z",
        "2026-12-01T18:41:30.000Z",
    ));
    let firing = server.next().await.json();
    let resolved = server.next().await.json();
    assert_eq!(only(&firing)["labels"], only(&resolved)["labels"]);
    assert_eq!(only(&resolved)["startsAt"], "2026-12-01T18:39:00.000Z");
    assert_eq!(only(&resolved)["endsAt"], "2026-12-01T18:41:30.000Z");
    let report = am.shutdown(Instant::now() + Duration::from_secs(5)).await;
    assert_eq!(report, 0);
}

#[test]
fn event_times_ahead_of_the_wall_clock_are_clamped() {
    let mut table = Table::new(&config(vec![]));
    let now = t(T0);
    // Event time runs 10 minutes ahead of the wall clock.
    let fired = table
        .on_event(
            &event(
                AlertState::Firing,
                "2026-12-01T18:50:00.000Z",
                "2026-12-01T18:50:00.000Z",
            ),
            now,
        )
        .expect("sent");
    assert_eq!(fired.starts_at, T0);
    let resolved = table
        .on_event(
            &event(
                AlertState::Resolved,
                "2026-12-01T18:50:00.000Z",
                "2026-12-01T18:55:00.000Z",
            ),
            now + TimeDelta::seconds(30),
        )
        .expect("sent");
    // Resolved now as far as Alertmanager is concerned, and never before it started.
    assert_eq!(resolved.starts_at, T0);
    assert_eq!(resolved.ends_at, "2026-12-01T18:40:30.000Z");
}

#[test]
fn firing_alerts_are_kept_alive_and_resolutions_retained() {
    let mut table = Table::new(&config(vec![]));
    let t0 = t(T0);
    let s = |secs: i64| t0 + TimeDelta::seconds(secs);
    table.on_event(&event(AlertState::Firing, T0, T0), t0);
    assert!(table.due(s(30)).is_empty(), "sent 30 s ago");
    let again = table.due(s(60));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].ends_at, rfc3339(s(60 + 240)));
    assert_eq!(again[0].starts_at, T0);
    assert!(table.due(s(90)).is_empty());
    table.on_event(
        &event(AlertState::Resolved, T0, "2026-12-01T18:41:40.000Z"),
        s(100),
    );
    // The resolution is repeated, unchanged, for resolved_retention (15 min).
    let repeated = table.due(s(160));
    assert_eq!(repeated.len(), 1);
    assert_eq!(repeated[0].ends_at, "2026-12-01T18:41:40.000Z");
    assert_eq!(table.due(s(100 + 14 * 60)).len(), 1);
    assert!(table.due(s(100 + 15 * 60)).is_empty());
    assert!(table.alerts.is_empty(), "forgotten after the retention");
}

#[tokio::test]
async fn every_url_gets_every_alert() {
    let mut a = TestServer::start().await;
    let mut b = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let am = start(&config(vec![a.url.clone(), b.url.clone()]), clock);
    am.alert(&event(AlertState::Firing, T0, T0));
    let (ra, rb) = (a.next().await, b.next().await);
    assert_eq!(ra.body, rb.body);
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
    assert_eq!(
        a.try_next().map(|r| r.uri),
        None,
        "one request per alert per URL"
    );
}

#[tokio::test]
async fn a_path_prefix_is_kept() {
    let mut server = TestServer::start().await;
    let base = server.url.join("am/").expect("url");
    let am = start(&config(vec![base]), Arc::new(ManualClock::new(t(T0))));
    am.alert(&event(AlertState::Firing, T0, T0));
    assert_eq!(server.next().await.uri, "/am/api/v2/alerts");
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_timer_resends_firing_alerts_with_a_later_end() {
    let mut server = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let mut cfg = config(vec![server.url.clone()]);
    // The timer checks every 10 ms; what is due is decided by the manual clock.
    cfg.resend_interval = Duration::from_millis(40);
    let am = start(&cfg, clock.clone());
    am.alert(&event(AlertState::Firing, T0, T0));
    let first = server.next().await.json();
    assert_eq!(only(&first)["endsAt"], "2026-12-01T18:40:00.160Z");
    clock.advance(Duration::from_secs(60));
    let second = server.next().await.json();
    assert_eq!(only(&second)["labels"], only(&first)["labels"]);
    assert_eq!(only(&second)["startsAt"], T0);
    assert_eq!(only(&second)["endsAt"], "2026-12-01T18:41:00.160Z");
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn seeded_firing_alerts_are_sent_at_once() {
    let mut server = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let am = start(&config(vec![server.url.clone()]), clock);
    let active = |state, fp: &str| ActiveAlert {
        rule: "latency_regression".into(),
        model: "fraud".into(),
        version: "v3".into(),
        series: None,
        state,
        severity: Severity::Critical,
        active_at: "2026-12-01T18:30:00.000Z".into(),
        fired_at: (state == AlertState::Firing).then(|| "2026-12-01T18:32:00.000Z".into()),
        summary: "p99 up".into(),
        details: json!({}),
        fingerprint: fp.into(),
    };
    am.seed(&[
        active(AlertState::Pending, "a"),
        active(AlertState::Firing, "b"),
    ]);
    let body = server.next().await.json();
    let a = only(&body);
    assert_eq!(a["labels"]["alertname"], "latency_regression");
    assert_eq!(a["startsAt"], "2026-12-01T18:32:00.000Z");
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
}

#[tokio::test]
async fn resends_are_batched() {
    let mut server = TestServer::start().await;
    let clock = Arc::new(ManualClock::new(t(T0)));
    let mut cfg = config(vec![server.url.clone()]);
    cfg.max_batch = 2;
    let am = start(&cfg, clock.clone());
    for i in 0..3 {
        let mut ev = event(AlertState::Firing, T0, T0);
        ev.version = format!("v{i}");
        ev.fingerprint = format!("fp{i}");
        am.alert(&ev);
        server.next().await;
    }
    clock.advance(Duration::from_secs(60));
    am.resend_due();
    let sizes = [server.next().await, server.next().await]
        .map(|r| r.json().as_array().map(Vec::len).unwrap_or(0));
    assert_eq!(sizes, [2, 1]);
    let meter = am.stats_handle();
    am.shutdown(Instant::now() + Duration::from_secs(5)).await;
    // Counted per alert: three first sends and three resends.
    assert_eq!(meter.stats().sent, 6);
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t(T0)));
    let url = Url::parse("http://127.0.0.1:9/").expect("url");
    let err = |cfg: AlertmanagerConfig| {
        Alertmanager::start(&cfg, None, clock.clone())
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(
        err(AlertmanagerConfig::default()),
        "alertmanager alertmanager: no urls"
    );
    let mut c = config(vec![url.clone()]);
    c.static_labels.insert("bad-label".into(), "x".into());
    assert!(err(c).contains("\"bad-label\" is not a valid label name"));
    let mut c = config(vec![url.clone()]);
    c.dashboard_url = Some("not a url {model}".into());
    assert!(err(c).contains("dashboard_url"));
    let mut c = config(vec![url]);
    c.resend_interval = Duration::ZERO;
    assert!(err(c).contains("resend_interval must be > 0"));
}

#[test]
fn credentials_in_urls_stay_out_of_debug() {
    let cfg = config(vec![
        Url::parse("http://vigil:hunter2@am.example:9093/").expect("url")
    ]);
    let text = format!("{cfg:?}");
    assert!(text.contains("http://am.example:9093"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
