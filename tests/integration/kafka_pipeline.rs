//! The daemon end to end against librdkafka's mock cluster, through the real rdkafka
//! consumer and producer: detection, alerts, exactly-once rollback commands, dead letters,
//! and restarts. Each test has its own cluster, topics and consumer group.

use crate::common;

use common::*;
use vigil::demo::sim::{script, Behaviour, Phase, SimModel, Simulator};

fn lines(text: String) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn rollout(seed: u64, v1: u64, v2: u64, bad: Behaviour) -> Vec<String> {
    let mut sim = Simulator::new(SimModel::generic("fraud", 8, 3), seed);
    lines(script(
        &mut sim,
        1_767_225_600_000,
        50,
        &[
            Phase {
                records: v1,
                version: "v1".into(),
                behaviour: Behaviour::HEALTHY,
            },
            Phase {
                records: v2,
                version: "v2".into(),
                behaviour: bad,
            },
        ],
    ))
}

fn states<'a>(alerts: &'a [serde_json::Value], rule: &str, version: &str) -> Vec<&'a str> {
    alerts
        .iter()
        .filter(|a| a["rule"] == rule && a["version"] == version)
        .filter_map(|a| a["state"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollout_fires_and_issues_exactly_one_rollback() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let records = rollout(1, 5000, 4000, Behaviour::REGRESSED);
    let n = records.len() as u64;
    produce(&brokers, INFERENCE, records).await;

    let mut d = start(config(&brokers, "g-rollout", None));
    d.handled(n).await;
    let summary = d.stop().await;
    assert_eq!(summary.records, n);

    let alerts = read_all(&brokers, ALERTS).await;
    let firing = states(&alerts, "error_rate_regression", "v2");
    assert!(firing.contains(&"firing"), "alerts: {alerts:?}");
    assert!(
        states(&alerts, "error_rate_regression", "v1").is_empty(),
        "v1 was healthy"
    );
    let firing_alert = alerts
        .iter()
        .find(|a| a["state"] == "firing" && a["version"] == "v2")
        .expect("a firing v2 alert");
    for field in [
        "rule",
        "model",
        "version",
        "severity",
        "starts_at",
        "summary",
        "details",
        "fingerprint",
    ] {
        assert!(
            !firing_alert[field].is_null(),
            "alert lacks {field}: {firing_alert}"
        );
    }

    let commands = read_all(&brokers, COMMANDS).await;
    assert_eq!(commands.len(), 1, "exactly one command: {commands:?}");
    let c = &commands[0];
    assert_eq!(c["kind"], "rollback");
    assert_eq!(c["model"], "fraud");
    assert_eq!(c["from_version"], "v2");
    assert_eq!(c["to_version"], "v1");
    assert_eq!(c["dry_run"], true);
    assert!(c["idempotency_key"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(c["incident"].as_str().is_some_and(|k| !k.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stationary_stream_raises_no_alert() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let mut sim = Simulator::new(SimModel::generic("ranker", 20, 5), 42);
    let records = lines(script(
        &mut sim,
        1_767_225_600_000,
        20,
        &[Phase {
            records: 30_000,
            version: "v1".into(),
            behaviour: Behaviour::HEALTHY,
        }],
    ));
    let n = records.len() as u64;
    let mut d = start(config(&brokers, "g-quiet", None));
    d.feed(&brokers, INFERENCE, records, 5000).await;
    let summary = d.stop().await;
    assert_eq!(summary.records, n);
    assert!(
        summary.windows >= 50,
        "windows were evaluated: {}",
        summary.windows
    );
    assert_eq!(
        count(&brokers, ALERTS),
        0,
        "no alert transitions on a stationary stream"
    );
    assert_eq!(count(&brokers, COMMANDS), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_go_to_dead_letter_and_processing_continues() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let mut good = rollout(3, 3000, 0, Behaviour::HEALTHY);
    let bad = [
        "not json at all".to_string(),
        r#"{"ts":"2026-01-01T00:00:00Z","version":"v1","request_id":"x","features":{},"prediction":0.5}"#.to_string(),
        r#"{"ts":"2026-01-01T00:00:00Z","model":"fraud","version":"v1","request_id":"x","features":{"f0":[1,2]},"prediction":0.5}"#.to_string(),
        r#"{"ts":"2026-01-01T00:00:00Z","model":"fraud","version":"v1","request_id":"x","features":{"f0":1e999},"prediction":0.5}"#.to_string(),
        r#"{"ts":"1970-01-01T00:00:00Z","model":"fraud","version":"v1","request_id":"x","features":{"f0":1},"prediction":0.5}"#.to_string(),
    ];
    // Interleave the bad records among the good ones.
    for (i, b) in bad.iter().enumerate() {
        good.insert(500 + i * 400, b.clone());
    }
    let n = good.len() as u64;
    produce(&brokers, INFERENCE, good).await;
    let mut d = start(config(&brokers, "g-dlq", None));
    d.handled(n).await;
    let metrics = d.shared.metrics.render();
    let summary = d.stop().await;
    assert_eq!(summary.records, n);
    assert_eq!(summary.rejected, bad.len() as u64);

    let dead = read_all(&brokers, DEAD_LETTER).await;
    let reasons: Vec<&str> = dead.iter().filter_map(|d| d["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        [
            "not_json",
            "missing_field",
            "wrong_type",
            "non_finite",
            "bad_timestamp"
        ]
    );
    for d in &dead {
        assert!(d["detail"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(d["origin"]["topic"], INFERENCE);
        assert!(d["payload"].as_str().is_some());
    }
    assert!(
        metrics.contains(r#"vigil_records_rejected_total{reason="not_json"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"vigil_records_total{{kind="inference"}} {}"#,
            n - 5
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_loses_nothing_and_repeats_no_rollback() {
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let state = tempfile::tempdir().expect("tempdir");
    let records = rollout(5, 5000, 5000, Behaviour::REGRESSED);
    let total = records.len() as u64;
    // The first part ends after the rollback command is issued; the second part keeps the
    // bad version firing, which must not issue the command again.
    let (first, second) = records.split_at(8000);

    produce(&brokers, INFERENCE, first.to_vec()).await;
    let mut d = start(config(&brokers, "g-restart", Some(state.path())));
    d.handled(first.len() as u64).await;
    let s1 = d.stop().await;
    assert_eq!(
        count(&brokers, COMMANDS),
        1,
        "the command was issued before the restart"
    );

    produce(&brokers, INFERENCE, second.to_vec()).await;
    let mut d = start(config(&brokers, "g-restart", Some(state.path())));
    d.handled(second.len() as u64).await;
    let s2 = d.stop().await;

    assert_eq!(
        s1.records + s2.records,
        total,
        "every record processed exactly once"
    );
    let snap = vigil::state::StateDir::open(state.path())
        .expect("state dir")
        .load_snapshot()
        .expect("readable")
        .expect("a snapshot");
    assert_eq!(snap.pipeline.records, total);
    assert_eq!(snap.offsets[INFERENCE][&0], total as i64);
    assert_eq!(
        count(&brokers, COMMANDS),
        1,
        "no command repeated after the restart"
    );
    let alerts = read_all(&brokers, ALERTS).await;
    assert!(
        states(&alerts, "error_rate_regression", "v2").contains(&"firing"),
        "{alerts:?}"
    );
}
