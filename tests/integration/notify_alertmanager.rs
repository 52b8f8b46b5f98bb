//! The Alertmanager notifier against the real Alertmanager (Debian's
//! `prometheus-alertmanager`; `tests/e2e/install-observability.sh` installs it). Each test
//! starts its own instance on a free loopback port with clustering off and a null
//! receiver, sends through `Notifiers`, and reads back what Alertmanager's API v2 holds.
//!
//! Without the binary the tests skip loudly, unless `CI` is set: then a missing binary is
//! a failure. `VIGIL_ALERTMANAGER_BIN` points at another binary (if it does not exist, the
//! binary counts as missing).
//!
//! What Alertmanager shows for a resolved alert (checked against 0.25): `GET
//! /api/v2/alerts` leaves out every alert whose `endsAt` has passed, whatever the
//! `active`/`silenced`/`inhibited`/`unprocessed` filters say, and
//! `alertmanager_alerts_received_total{status="resolved"}` counts its arrival. The test
//! asserts both.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Client, Url};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vigil::act::alertmanager::AlertmanagerConfig;
use vigil::act::notify::{Notifiers, NotifiersConfig};
use vigil::alert::rule::Severity;
use vigil::alert::state::{AlertEvent, AlertState};

/// Polls are bounded: this many attempts, `POLL` apart.
const ATTEMPTS: u32 = 150;
const POLL: Duration = Duration::from_millis(100);

const CONFIG: &str = r#"
route:
  receiver: "null"
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"#;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn binary() -> Option<PathBuf> {
    let candidates = match std::env::var_os("VIGIL_ALERTMANAGER_BIN") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![
            PathBuf::from("/usr/bin/prometheus-alertmanager"),
            PathBuf::from("/usr/bin/alertmanager"),
        ],
    };
    candidates.into_iter().find(|p| p.exists())
}

/// A running Alertmanager, killed on drop.
struct Instance {
    child: Child,
    url: Url,
    dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("bound address").port()
}

/// Starts Alertmanager, or returns None (after saying so loudly) when it is not installed
/// outside CI.
async fn alertmanager(client: &Client) -> Option<Instance> {
    let Some(bin) = binary() else {
        assert!(
            !in_ci(),
            "prometheus-alertmanager is not installed and CI is set: run tests/e2e/install-observability.sh"
        );
        eprintln!(
            "\n\n*** SKIPPING the real-Alertmanager test: /usr/bin/prometheus-alertmanager is \
             missing. Install it with tests/e2e/install-observability.sh (or apt-get install \
             prometheus-alertmanager). With CI set this is a failure. ***\n"
        );
        return None;
    };
    // The free port may be taken between probing and binding: a few tries.
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, CONFIG).expect("write config");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log file");
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        let mut am = Instance {
            child,
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
            dir,
        };
        for _ in 0..ATTEMPTS {
            if let Ok(Some(_)) = am.child.try_wait() {
                break;
            }
            let ready = am.url.join("-/ready").expect("url");
            if client
                .get(ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(am);
            }
            tokio::time::sleep(POLL).await;
        }
        eprintln!("alertmanager did not become ready:\n{}", am.log());
    }
    panic!("alertmanager did not start");
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn event(rule: &str, state: AlertState, starts: DateTime<Utc>, at: DateTime<Utc>) -> AlertEvent {
    AlertEvent {
        rule: rule.into(),
        model: "fraud".into(),
        version: "v2".into(),
        series: None,
        state,
        severity: Severity::Critical,
        at: rfc3339(at),
        active_at: rfc3339(starts),
        starts_at: rfc3339(starts),
        ends_at: (state == AlertState::Resolved).then(|| rfc3339(at)),
        summary: "error_rate 8.80% vs 1.40% on the previous version v1 (6.29x, p=5.23e-8)".into(),
        details: json!({"signal": "error_rate", "current": 0.088, "baseline": 0.014, "p_value": 5.2e-8}),
        previous_version: Some("v1".into()),
        fingerprint: "7d075eeeeeb08a37".into(),
    }
}

fn config(am: &Instance, resend: Duration) -> NotifiersConfig {
    NotifiersConfig {
        alertmanagers: vec![AlertmanagerConfig {
            urls: vec![am.url.clone()],
            static_labels: BTreeMap::from([
                ("cluster".to_string(), "eu-test".to_string()),
                ("team".to_string(), "ml-platform".to_string()),
            ]),
            generator_url: Some(Url::parse("http://vigil.test:9464").expect("url")),
            dashboard_url: Some(
                "https://grafana.test/d/vigil?var-model={model}&var-version={version}".into(),
            ),
            resend_interval: resend,
            ..AlertmanagerConfig::default()
        }],
        webhooks: vec![],
    }
}

/// Every alert Alertmanager lists, whatever its status.
async fn listed(client: &Client, am: &Instance) -> Vec<Value> {
    let url = am
        .url
        .join("api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
        .expect("url");
    let resp = client.get(url).send().await.expect("GET /api/v2/alerts");
    assert!(resp.status().is_success(), "{}", resp.status());
    let v: Value = resp.json().await.expect("JSON");
    v.as_array().cloned().unwrap_or_default()
}

async fn find(client: &Client, am: &Instance, rule: &str) -> Option<Value> {
    listed(client, am)
        .await
        .into_iter()
        .find(|a| a["labels"]["alertname"] == rule)
}

/// The value of `alertmanager_alerts_received_total{status=...,version="v2"}`.
async fn received(client: &Client, am: &Instance, status: &str) -> f64 {
    let text = client
        .get(am.url.join("metrics").expect("url"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    let prefix =
        format!("alertmanager_alerts_received_total{{status=\"{status}\",version=\"v2\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_firing_alert_appears_with_its_labels_and_resolves() {
    let client = vigil::act::deliver::http_client(Duration::from_secs(5)).expect("client");
    let Some(am) = alertmanager(&client).await else {
        return;
    };
    let notifiers = Notifiers::start(&config(&am, Duration::from_secs(60)), None).expect("start");
    let rule = "error_rate_regression";
    let started = Utc::now() - chrono::TimeDelta::minutes(2);
    let started = DateTime::from_timestamp_millis(started.timestamp_millis()).expect("ms");
    notifiers.alert(&event(rule, AlertState::Pending, started, started));
    notifiers.alert(&event(rule, AlertState::Firing, started, started));

    let mut alert = None;
    for _ in 0..ATTEMPTS {
        alert = find(&client, &am, rule).await;
        if alert.is_some() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let alert = alert.unwrap_or_else(|| panic!("the alert never appeared; log:\n{}", am.log()));
    assert_eq!(
        alert["labels"],
        json!({
            "alertname": rule,
            "rule": rule,
            "model": "fraud",
            "version": "v2",
            "severity": "critical",
            "cluster": "eu-test",
            "team": "ml-platform",
        })
    );
    let ann = &alert["annotations"];
    assert_eq!(
        ann["summary"],
        "error_rate 8.80% vs 1.40% on the previous version v1 (6.29x, p=5.23e-8)"
    );
    assert!(
        ann["description"].as_str().is_some_and(
            |d| d.starts_with("error_rate_regression (critical) on model fraud version v2")
        ),
        "{ann}"
    );
    let details: Value =
        serde_json::from_str(ann["details"].as_str().expect("text")).expect("JSON");
    assert_eq!(details["baseline"], 0.014);
    assert_eq!(
        ann["dashboard"],
        "https://grafana.test/d/vigil?var-model=fraud&var-version=v2"
    );
    assert_eq!(
        alert["generatorURL"],
        "http://vigil.test:9464/api/v1/alerts?fingerprint=7d075eeeeeb08a37"
    );
    assert_eq!(time(&alert["startsAt"]), started);
    // Kept alive for 4 x resend_interval (4 min) from when it was sent.
    assert!(
        time(&alert["endsAt"]) > Utc::now() + chrono::TimeDelta::minutes(3),
        "{alert}"
    );
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["receivers"], json!([{"name": "null"}]));
    assert_eq!(received(&client, &am, "resolved").await, 0.0);

    notifiers.alert(&event(rule, AlertState::Resolved, started, Utc::now()));
    let mut resolved = 0.0;
    for _ in 0..ATTEMPTS {
        resolved = received(&client, &am, "resolved").await;
        if resolved >= 1.0 {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        resolved,
        1.0,
        "the resolution never arrived; log:\n{}",
        am.log()
    );
    assert_eq!(
        received(&client, &am, "firing").await,
        1.0,
        "pending is not sent"
    );
    // A resolved alert (endsAt passed) is no longer listed, under any filter.
    assert_eq!(find(&client, &am, rule).await, None);

    let report = notifiers.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.notifiers[0].stats.sent, 2);
    assert_eq!(report.notifiers[0].stats.failed, 0);
}

#[tokio::test]
async fn resends_keep_a_firing_alert_active() {
    let client = vigil::act::deliver::http_client(Duration::from_secs(5)).expect("client");
    let Some(am) = alertmanager(&client).await else {
        return;
    };
    // A short resend interval, so that Alertmanager sees the alert's end move forward.
    let notifiers =
        Notifiers::start(&config(&am, Duration::from_millis(500)), None).expect("start");
    let rule = "latency_regression";
    let now = Utc::now();
    notifiers.alert(&event(rule, AlertState::Firing, now, now));
    let mut ends = Vec::new();
    for _ in 0..ATTEMPTS {
        if let Some(a) = find(&client, &am, rule).await {
            let e = time(&a["endsAt"]);
            if ends.last() != Some(&e) {
                ends.push(e);
            }
            if ends.len() >= 3 {
                assert_eq!(a["status"]["state"], "active");
                break;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(
        ends.len() >= 3,
        "endsAt never moved: {ends:?}; log:\n{}",
        am.log()
    );
    assert!(ends.windows(2).all(|w| w[0] < w[1]), "{ends:?}");
    assert!(received(&client, &am, "firing").await >= 3.0);
    let report = notifiers.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
}
