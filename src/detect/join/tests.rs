//! Tests of the label-join store.

use super::*;

fn pred(version: &str, ts: Ts, score: f64) -> PredictionSummary {
    PredictionSummary {
        version: version.into(),
        ts,
        score: Some(score),
        label: Some(if score >= 0.5 { "1" } else { "0" }.into()),
        probs: None,
    }
}

fn cls(s: &str) -> LabelValue {
    LabelValue::Class(s.into())
}

fn store(ttl_ms: i64, max_pending: usize) -> JoinStore {
    JoinStore::new(&JoinConfig {
        ttl_ms,
        max_pending,
    })
}

#[test]
fn joins_in_either_order() {
    let mut s = store(1_000, 10);
    assert_eq!(s.on_prediction("m", "r1", pred("v1", 100, 0.9)), None);
    let j = s.on_label("m", "r1", 600, cls("1")).expect("joined");
    assert_eq!(j.prediction, pred("v1", 100, 0.9));
    assert_eq!((j.label, j.label_ts), (cls("1"), 600));

    assert_eq!(s.on_label("m", "r2", 700, cls("0")), None);
    let j = s
        .on_prediction("m", "r2", pred("v2", 650, 0.2))
        .expect("joined");
    assert_eq!((j.prediction.version.as_str(), j.label_ts), ("v2", 700));
    assert!(s.is_empty());
    assert_eq!(s.stats().joined, 2);
}

#[test]
fn keys_are_per_model_and_unambiguous() {
    let mut s = store(1_000, 10);
    s.on_prediction("ab", "c", pred("v1", 0, 0.9));
    assert_eq!(s.on_label("a", "bc", 1, cls("1")), None);
    assert_eq!(s.on_label("other", "c", 1, cls("1")), None);
    assert!(s.on_label("ab", "c", 1, cls("1")).is_some());
    assert_eq!(s.pending_labels(), 2);
}

#[test]
fn out_of_order_arrival_joins_and_ttl_is_checked_at_join() {
    let mut s = store(1_000, 100);
    // Labels arrive before their predictions, interleaved and out of order.
    for (i, ts) in [(3, 3_000), (1, 1_000), (2, 2_500)] {
        s.on_label("m", &format!("r{i}"), ts, cls("1"));
    }
    for (i, ts) in [(2, 2_000), (3, 2_100), (1, 900)] {
        let j = s.on_prediction("m", &format!("r{i}"), pred("v1", ts, 0.7));
        assert!(j.is_some(), "r{i}");
    }
    // 1,001 ms apart: not joined even though expire() was never called.
    s.on_prediction("m", "late", pred("v1", 10_000, 0.7));
    assert_eq!(s.on_label("m", "late", 11_001, cls("1")), None);
    assert_eq!(s.pending_labels(), 1);
    let e = s.expire(11_001);
    assert_eq!((e.predictions, e.labels), (1, 0));
}

#[test]
fn ttl_expiry_is_counted_per_side() {
    let mut s = store(1_000, 100);
    s.on_prediction("m", "p1", pred("v1", 0, 0.9));
    s.on_label("m", "l1", 200, cls("0"));
    s.on_prediction("m", "p2", pred("v1", 500, 0.9));
    assert_eq!(s.expire(1_000), ExpiredCounts::default());
    let e = s.expire(1_300);
    assert_eq!((e.predictions, e.labels), (1, 1));
    assert_eq!(s.len(), 1);
    let e = s.expire(1_501);
    assert_eq!((e.predictions, e.labels), (1, 0));
    assert!(s.is_empty());
    // Counted once: expired entries do not join later.
    assert_eq!(s.on_label("m", "p1", 1_600, cls("1")), None);
    let st = s.stats();
    assert_eq!((st.expired_predictions, st.expired_labels), (2, 1));
}

#[test]
fn expiry_follows_arrival_order_late_never_early() {
    let mut s = store(1_000, 100);
    s.on_prediction("m", "new", pred("v1", 5_000, 0.9));
    // Arrives out of order, behind "new": it is past its TTL at 2,000 but waits behind
    // "new" in the ring; it can no longer join, though.
    s.on_prediction("m", "old", pred("v1", 0, 0.9));
    assert_eq!(s.expire(2_000).predictions, 0);
    assert_eq!(s.on_label("m", "old", 2_000, cls("1")), None);
    assert_eq!(s.expire(2_000).predictions, 1, "found stale at join time");
    assert_eq!(s.len(), 2);
    let e = s.expire(6_001);
    assert_eq!((e.predictions, e.labels), (1, 1));
    assert!(s.is_empty());
}

#[test]
fn capacity_evicts_the_oldest_and_counts_it() {
    let mut s = store(1_000_000, 3);
    s.on_prediction("m", "a", pred("v1", 0, 0.9));
    s.on_label("m", "b", 1, cls("1"));
    s.on_prediction("m", "c", pred("v1", 2, 0.9));
    s.on_prediction("m", "d", pred("v1", 3, 0.9));
    assert_eq!(s.len(), 3);
    s.on_prediction("m", "e", pred("v1", 4, 0.9));
    assert_eq!(s.len(), 3);
    let e = s.expire(5);
    assert_eq!((e.evicted_predictions, e.evicted_labels), (1, 1));
    assert_eq!(s.on_label("m", "a", 5, cls("1")), None, "a was evicted");
    assert!(s.on_label("m", "e", 5, cls("1")).is_some());
}

#[test]
fn duplicates_newest_event_time_wins() {
    let mut s = store(10_000, 10);
    s.on_prediction("m", "r", pred("v1", 100, 0.9));
    s.on_prediction("m", "r", pred("v2", 200, 0.1)); // retry: wins
    s.on_prediction("m", "r", pred("v3", 150, 0.5)); // older: dropped
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().duplicate_predictions, 2);
    let j = s.on_label("m", "r", 300, cls("0")).expect("joined");
    assert_eq!(j.prediction.version, "v2");
    // A second label after the join waits for a prediction of its own.
    assert_eq!(s.on_label("m", "r", 310, cls("1")), None);
    s.on_label("m", "r", 320, cls("0")); // correction: wins
    let j = s
        .on_prediction("m", "r", pred("v2", 305, 0.1))
        .expect("joined");
    assert_eq!(j.label, cls("0"));
    assert_eq!(s.stats().duplicate_labels, 1);
}

#[test]
fn replaced_entries_expire_from_their_own_time() {
    let mut s = store(1_000, 10);
    s.on_prediction("m", "r", pred("v1", 0, 0.9));
    s.on_prediction("m", "r", pred("v1", 900, 0.9));
    assert_eq!(s.expire(1_500).predictions, 0);
    assert_eq!(s.expire(1_901).predictions, 1);
    assert!(s.ring.is_empty());
}

#[test]
fn records_without_a_key_are_counted_not_stored() {
    let mut s = store(1_000, 10);
    assert_eq!(s.on_prediction("m", "", pred("v1", 0, 0.9)), None);
    assert_eq!(s.on_label("m", "", 0, cls("1")), None);
    assert!(s.is_empty());
    assert_eq!(s.stats().no_key, 2);
}

#[test]
fn entries_with_overlong_strings_are_counted_not_stored() {
    let mut s = store(1_000, 10);
    let long = "q".repeat(MAX_KEY_BYTES + 1);
    // The key is the model and the request id together.
    assert_eq!(s.on_prediction("m", &long, pred("v1", 0, 0.9)), None);
    assert_eq!(s.on_label("m", &long, 0, cls("1")), None);
    // A version or class over the bound, with a short key.
    assert_eq!(s.on_prediction("m", "r1", pred(&long, 0, 0.9)), None);
    assert_eq!(s.on_label("m", "r2", 0, cls(&long)), None);
    assert!(s.is_empty());
    assert_eq!(s.stats().too_long_predictions, 2);
    assert_eq!(s.stats().too_long_labels, 2);
    let e = s.expire(0);
    assert_eq!((e.too_long_predictions, e.too_long_labels), (2, 2));
    // At the bound itself an entry is kept and joins.
    let id = "q".repeat(MAX_KEY_BYTES - 1);
    s.on_prediction("m", &id, pred("v1", 0, 0.9));
    assert!(s.on_label("m", &id, 0, cls("1")).is_some());
}

#[test]
fn ring_stays_bounded_when_nothing_expires() {
    let mut s = store(i64::MAX, 10);
    for i in 0..10_000 {
        let id = format!("r{i}");
        s.on_prediction("m", &id, pred("v1", i, 0.9));
        assert!(s.on_label("m", &id, i, cls("1")).is_some());
        s.on_prediction("m", "dup", pred("v1", i, 0.9));
        assert!(s.ring.len() <= 10 + 5 + 64 + 1, "{}", s.ring.len());
    }
    assert_eq!(s.len(), 1);
    // Its allocation too: the ring grows to its bound, not to the next power of two.
    assert!(s.ring.capacity() <= 10 + 5 + 65, "{}", s.ring.capacity());
}

#[test]
fn snapshot_round_trip_is_deterministic_and_resumes() {
    let mut s = store(1_000, 100);
    for i in 0..20 {
        s.on_prediction("m", &format!("p{i}"), pred("v1", i * 10, 0.3));
        s.on_label("m", &format!("l{i}"), i * 10 + 5, LabelValue::Num(i as f64));
    }
    s.on_prediction("m", "p3", pred("v2", 400, 0.8)); // a replaced entry: stale slot
    s.on_label("m", "p0", 10, cls("1")); // joined
    let json = serde_json::to_string(&s).expect("serialise");
    let mut r: JoinStore = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(serde_json::to_string(&r).expect("serialise"), json);
    assert_eq!(serde_json::to_string(&s.clone()).expect("serialise"), json);
    assert_eq!(
        (r.len(), r.pending_predictions()),
        (s.len(), s.pending_predictions())
    );
    assert_eq!(r.stats(), s.stats());
    // Both continue identically.
    for st in [&mut s, &mut r] {
        assert_eq!(
            st.on_label("m", "p3", 450, cls("1"))
                .map(|j| j.prediction.version),
            Some("v2".into())
        );
    }
    assert_eq!(s.expire(1_100), r.expire(1_100));
    assert_eq!(s.len(), r.len());
}

#[test]
fn reconfigure_to_a_smaller_store_evicts_oldest() {
    let mut s = store(1_000, 10);
    for i in 0..10 {
        s.on_prediction("m", &format!("r{i}"), pred("v1", i, 0.9));
    }
    s.reconfigure(&JoinConfig {
        ttl_ms: 1_000,
        max_pending: 4,
    });
    assert_eq!(s.len(), 4);
    assert_eq!(s.expire(0).evicted_predictions, 6);
    assert!(s.on_label("m", "r9", 9, cls("1")).is_some());
    assert_eq!(s.on_label("m", "r0", 9, cls("1")), None);
}

#[test]
fn label_values_convert_like_decode() {
    assert_eq!(LabelValue::Num(1.0).class_name(), "1");
    assert_eq!(LabelValue::Num(2.5).class_name(), "2.5");
    assert_eq!(
        LabelValue::from_feature(&FeatureValue::Bool(true)),
        Some(cls("true"))
    );
    assert_eq!(LabelValue::from_feature(&FeatureValue::Null), None);
    assert_eq!(cls(" 3.5").as_f64(), Some(3.5));
    assert_eq!(cls("cat").as_f64(), None);
    let p = pred("v1", 0, 0.5).with_probs(&[0.5; MAX_PROBS + 1]);
    assert_eq!(p.probs, None);
}

#[test]
fn an_entry_with_short_strings_allocates_nothing_and_fits_the_documented_size() {
    // The module doc's memory bound: a ring slot of 120 bytes.
    assert!(std::mem::size_of::<Slot>() <= 120);
    let mut s = JoinStore::new(&JoinConfig::default());
    let mut p = pred("v1.2.3-canary", 0, 0.5);
    p.label = Some("fraud".into());
    s.on_prediction("fraud", "r-8f3a2c1d9e", p);
    let slot = s.ring.front().expect("stored");
    assert_eq!(slot.key.as_str(), "5:fraudr-8f3a2c1d9e");
    assert!(!slot.key.is_heap_allocated());
    let Some(Pending::Prediction(p)) = &slot.entry else {
        panic!("a prediction was stored")
    };
    assert!(!p.version.is_heap_allocated());
    assert!(!p.label.as_ref().expect("label").is_heap_allocated());
}

#[test]
fn compaction_keeps_waiting_entries_joinable_and_in_arrival_order() {
    let mut s = store(10_000, 10);
    for i in 0..1_000 {
        if i % 200 == 0 {
            s.on_prediction("m", &format!("keep{}", i / 200), pred("v1", i, 0.9));
        }
        let id = format!("r{i}");
        s.on_prediction("m", &id, pred("v1", i, 0.9));
        assert!(s.on_label("m", &id, i, cls("1")).is_some());
    }
    // 2,005 arrivals through a ring compacted at 10 + 5 + 64 slots: renumbered many times.
    assert_eq!(s.len(), 5);
    assert!(s.ring.len() <= 10 + 5 + 64 + 1, "{}", s.ring.len());
    let j = s
        .on_label("m", "keep2", 500, cls("1"))
        .expect("still joinable");
    assert_eq!(j.prediction.ts, 400);
    // The rest expire oldest first, each once its own TTL has passed.
    assert_eq!(s.expire(10_000).predictions, 0);
    assert_eq!(s.expire(10_001).predictions, 1); // keep0 (ts 0)
    assert_eq!(s.expire(10_201).predictions, 1); // keep1 (ts 200)
    assert_eq!(s.expire(10_801).predictions, 2); // keep3, keep4 (ts 600, 800)
    assert!(s.is_empty());
    assert_eq!(s.pending_predictions(), 0);
}
