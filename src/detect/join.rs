//! Joining late ground-truth labels to the predictions they label, by `(model, request_id)`,
//! within a time-to-live in event time. Either side may arrive first, in any order; a pair is
//! joined when the second side arrives and both sides' event times are at most `ttl_ms`
//! apart. What never finds its other half is counted, never kept forever.
//!
//! Rules:
//! - **Duplicates**: one pending entry per key. A second prediction (or label) for a key that
//!   is still waiting replaces the first if its event time is the same or later, and is
//!   dropped otherwise; either way it is counted in [`JoinStats::duplicate_predictions`]
//!   (`duplicate_labels`). So a retried request or a corrected label wins. Once a pair is
//!   joined it is forgotten: a further label for the same request waits for a prediction
//!   of its own and expires unjoined, so a prediction is scored at most once.
//! - **Expiry** ([`JoinStore::expire`]): an entry of event time `ts` expires once
//!   `now > ts + ttl_ms`, `now` being the caller's watermark (the newest event time seen).
//!   Entries leave in arrival order from a queue beside the map, so expiry is amortised O(1)
//!   per record; an entry that arrived out of order behind a later one leaves when that one
//!   does, i.e. late by at most the stream's disorder (which decode bounds with
//!   `limits.max_timestamp_skew`), never early. Joins check the TTL themselves, so a late
//!   expiry never joins a pair further apart than `ttl_ms`: the stale entry is counted as
//!   expired and the newcomer waits in its place.
//! - **Capacity**: at most `max_pending` entries wait. A new entry beyond that evicts the
//!   oldest by arrival, counted in [`JoinStats::evicted_predictions`] (`evicted_labels`).
//! - A record without a request id (or model) cannot be joined: counted in
//!   [`JoinStats::no_key`] and not stored.
//!
//! Memory: at most `max_pending` map entries and `2 * max_pending + 64` queue entries (the
//! queue keeps joined entries' slots until they reach its front or a compaction drops them).
//! The key (the model's length, the model and the request id), the version and the
//! predicted class are [`CompactString`]s, stored inline up to 24 bytes each, so an entry
//! with short strings allocates nothing of its own: it costs one hash-map slot (about 140
//! bytes, at most 7/8 load) and up to two 40-byte queue slots. A longer string is allocated
//! (a key with a 36-character UUID request id is, once in the map and once in the queue),
//! and class probabilities take 8 bytes each ([`MAX_PROBS`] at most). The default 100,000
//! entries take about 30 MiB with short keys, about 45 MiB with UUID request ids. One store
//! serves every model (the key includes the model), so this is the bound for the whole
//! daemon. (Storing a prediction is on the hot path, once per inference record: inline
//! strings took four allocations and frees off it.)
//!
//! Snapshots serialise the waiting entries in arrival order (a list, not the hash map), so
//! equal states give equal snapshots. Pure: no I/O, no clock.

use crate::record::{FeatureValue, InferenceRecord, Ts};
use compact_str::CompactString;
use foldhash::HashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Class probabilities kept per prediction at most; longer vectors are not kept (the score
/// and label still are).
pub const MAX_PROBS: usize = 64;

/// How long and how many entries wait for their other half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    /// Largest event-time distance, in ms, between a prediction and its label (either may
    /// come first). Default 1 h: enough for click, conversion and review-queue feedback;
    /// longer label delays (chargebacks) need a larger TTL *and* `max_pending` raised to
    /// the traffic that arrives within it. Negative values act as 0.
    pub ttl_ms: i64,
    /// Entries (predictions plus labels) waiting at most, for all models together. Default
    /// 100,000 (about 30 MiB): a 1 h TTL without evictions at ~28 predictions/s.
    /// At least 1.
    pub max_pending: usize,
}

impl Default for JoinConfig {
    fn default() -> Self {
        JoinConfig {
            ttl_ms: 3_600_000,
            max_pending: 100_000,
        }
    }
}

/// A ground-truth label: a number (regression) or a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelValue {
    /// A finite number.
    Num(f64),
    /// A class name (booleans are `"true"` / `"false"`).
    Class(CompactString),
}

impl LabelValue {
    /// The label of a decoded label record; `None` for null.
    pub fn from_feature(v: &FeatureValue<'_>) -> Option<LabelValue> {
        match v {
            FeatureValue::Num(x) => Some(LabelValue::Num(*x)),
            FeatureValue::Cat(s) => Some(LabelValue::Class(CompactString::from(s.as_ref()))),
            FeatureValue::Bool(b) => {
                Some(LabelValue::Class(if *b { "true" } else { "false" }.into()))
            }
            FeatureValue::Null => None,
        }
    }

    /// The class name: a number is written as decode writes numeric prediction labels
    /// (`1.0` is `"1"`), so numeric labels compare equal to numeric predicted classes.
    pub fn class_name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            LabelValue::Num(x) => std::borrow::Cow::Owned(format!("{x}")),
            LabelValue::Class(s) => std::borrow::Cow::Borrowed(s),
        }
    }

    /// The numeric value: a number, or a class name that parses as a finite number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            LabelValue::Num(x) => Some(*x),
            LabelValue::Class(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        }
    }
}

/// What performance needs of a prediction, kept while it waits for its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionSummary {
    /// Model version that made the prediction.
    pub version: CompactString,
    /// Event time of the prediction.
    pub ts: Ts,
    /// Numeric output: regression value or score.
    pub score: Option<f64>,
    /// Predicted class.
    pub label: Option<CompactString>,
    /// Class probabilities by class index, when logged (at most [`MAX_PROBS`]).
    pub probs: Option<Vec<f64>>,
}

impl PredictionSummary {
    /// The summary of a decoded inference record. Records carry no probability vector
    /// (decode folds `probs` into score and label), so `probs` is `None`; see
    /// [`PredictionSummary::with_probs`].
    pub fn from_record(r: &InferenceRecord<'_>) -> PredictionSummary {
        PredictionSummary {
            version: CompactString::from(r.version.as_ref()),
            ts: r.ts,
            score: r.prediction.score,
            label: r.prediction.label.as_deref().map(CompactString::from),
            probs: None,
        }
    }

    /// Keeps class probabilities; more than [`MAX_PROBS`] are not kept (`probs` stays
    /// `None`) rather than truncated, which would change the arg-max.
    pub fn with_probs(mut self, probs: &[f64]) -> PredictionSummary {
        self.probs = (probs.len() <= MAX_PROBS).then(|| probs.to_vec());
        self
    }
}

/// A prediction and its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// The prediction.
    pub prediction: PredictionSummary,
    /// Its ground truth.
    pub label: LabelValue,
    /// Event time of the label.
    pub label_ts: Ts,
}

/// Entries that left the store without being joined since the previous
/// [`JoinStore::expire`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExpiredCounts {
    /// Predictions whose label did not arrive within the TTL.
    pub predictions: u64,
    /// Labels whose prediction did not arrive within the TTL.
    pub labels: u64,
    /// Predictions evicted because the store was full.
    pub evicted_predictions: u64,
    /// Labels evicted because the store was full.
    pub evicted_labels: u64,
}

/// Cumulative counters since the store was created (they survive snapshots), for export as
/// monotonic counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JoinStats {
    /// Pairs joined.
    pub joined: u64,
    /// Predictions that expired unjoined.
    pub expired_predictions: u64,
    /// Labels that expired unjoined.
    pub expired_labels: u64,
    /// Predictions evicted by capacity.
    pub evicted_predictions: u64,
    /// Labels evicted by capacity.
    pub evicted_labels: u64,
    /// Predictions for a key whose prediction was still waiting.
    pub duplicate_predictions: u64,
    /// Labels for a key whose label was still waiting.
    pub duplicate_labels: u64,
    /// Records without a model or request id (not stored).
    pub no_key: u64,
}

/// One waiting half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Pending {
    Prediction(PredictionSummary),
    Label { ts: Ts, label: LabelValue },
}

impl Pending {
    fn ts(&self) -> Ts {
        match self {
            Pending::Prediction(p) => p.ts,
            Pending::Label { ts, .. } => *ts,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    seq: u64,
    entry: Pending,
}

#[derive(Debug, Clone)]
struct Queued {
    seq: u64,
    ts: Ts,
    key: CompactString,
}

/// The label-join store. See the module documentation for its rules and bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "JoinSnapshot", from = "JoinSnapshot")]
pub struct JoinStore {
    config: JoinConfig,
    map: HashMap<CompactString, Slot>,
    /// Arrival order; entries whose `seq` no longer matches the map's are stale.
    queue: VecDeque<Queued>,
    next_seq: u64,
    pending_predictions: usize,
    unreported: ExpiredCounts,
    stats: JoinStats,
    /// Scratch for building lookup keys without allocating.
    key_buf: CompactString,
}

/// The serialised form: waiting entries in arrival order.
#[derive(Serialize, Deserialize)]
struct JoinSnapshot {
    config: JoinConfig,
    entries: Vec<(CompactString, Pending)>,
    unreported: ExpiredCounts,
    stats: JoinStats,
}

impl From<JoinStore> for JoinSnapshot {
    fn from(s: JoinStore) -> Self {
        let mut map = s.map;
        let entries = s
            .queue
            .into_iter()
            .filter_map(|q| {
                let live = map.get(&q.key).is_some_and(|slot| slot.seq == q.seq);
                live.then(|| map.remove(&q.key).map(|slot| (q.key, slot.entry)))
                    .flatten()
            })
            .collect();
        JoinSnapshot {
            config: s.config,
            entries,
            unreported: s.unreported,
            stats: s.stats,
        }
    }
}

impl From<JoinSnapshot> for JoinStore {
    fn from(snap: JoinSnapshot) -> Self {
        let mut s = JoinStore::new(&snap.config);
        for (key, entry) in snap.entries {
            s.insert_new(key, entry);
        }
        s.unreported = snap.unreported;
        s.stats = snap.stats;
        // A snapshot taken under a larger `max_pending` may hold more than fits now.
        s.enforce_capacity(0);
        s
    }
}

impl JoinStore {
    /// An empty store.
    pub fn new(config: &JoinConfig) -> JoinStore {
        JoinStore {
            config: JoinConfig {
                ttl_ms: config.ttl_ms.max(0),
                max_pending: config.max_pending.max(1),
            },
            map: HashMap::default(),
            queue: VecDeque::new(),
            next_seq: 0,
            pending_predictions: 0,
            unreported: ExpiredCounts::default(),
            stats: JoinStats::default(),
            key_buf: CompactString::default(),
        }
    }

    /// Applies a new configuration (after a reload or a restore), keeping the waiting
    /// entries; if `max_pending` shrank, the oldest are evicted and counted.
    pub fn reconfigure(&mut self, config: &JoinConfig) {
        self.config.ttl_ms = config.ttl_ms.max(0);
        self.config.max_pending = config.max_pending.max(1);
        self.enforce_capacity(0);
    }

    /// The configuration in force.
    pub fn config(&self) -> &JoinConfig {
        &self.config
    }

    /// A prediction arrives: returns the pair if its label was waiting (within the TTL),
    /// otherwise the prediction waits for its label.
    pub fn on_prediction(
        &mut self,
        model: &str,
        request_id: &str,
        p: PredictionSummary,
    ) -> Option<Joined> {
        self.arrive(model, request_id, Pending::Prediction(p))
    }

    /// A label arrives: returns the pair if its prediction was waiting (within the TTL),
    /// otherwise the label waits for its prediction.
    pub fn on_label(
        &mut self,
        model: &str,
        request_id: &str,
        ts: Ts,
        label: LabelValue,
    ) -> Option<Joined> {
        self.arrive(model, request_id, Pending::Label { ts, label })
    }

    /// Removes the entries whose TTL has passed at watermark `now` and returns what left
    /// unjoined since the previous call (TTL expiry, including stale entries found at join
    /// time, and capacity evictions).
    pub fn expire(&mut self, now: Ts) -> ExpiredCounts {
        let ttl = self.config.ttl_ms;
        while let Some(front) = self.queue.front() {
            let live = self.is_live(front);
            if live && now.saturating_sub(front.ts) <= ttl {
                break;
            }
            let q = self.queue.pop_front().expect("front exists");
            if live {
                let entry = self.take(&q.key).expect("live entry is in the map");
                self.count_expired(&entry);
            }
        }
        std::mem::take(&mut self.unreported)
    }

    /// Entries waiting (predictions plus labels).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No entry waits.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Predictions waiting for their label.
    pub fn pending_predictions(&self) -> usize {
        self.pending_predictions
    }

    /// Labels waiting for their prediction.
    pub fn pending_labels(&self) -> usize {
        self.map.len() - self.pending_predictions
    }

    /// Cumulative counters.
    pub fn stats(&self) -> &JoinStats {
        &self.stats
    }

    /// Joins `new` with its waiting counterpart, or stores it.
    fn arrive(&mut self, model: &str, request_id: &str, new: Pending) -> Option<Joined> {
        if model.is_empty() || request_id.is_empty() {
            self.stats.no_key += 1;
            return None;
        }
        // Length-prefixed so that no two (model, request id) pairs share a key.
        self.key_buf.clear();
        use std::fmt::Write;
        write!(self.key_buf, "{}:{model}{request_id}", model.len()).expect("String write");
        let is_prediction = matches!(new, Pending::Prediction(_));
        let Some(slot) = self.map.get_mut(self.key_buf.as_str()) else {
            let key = self.key_buf.clone();
            self.enforce_capacity(1);
            self.insert_new(key, new);
            return None;
        };
        if matches!(slot.entry, Pending::Prediction(_)) == is_prediction {
            if is_prediction {
                self.stats.duplicate_predictions += 1;
            } else {
                self.stats.duplicate_labels += 1;
            }
            if new.ts() >= slot.entry.ts() {
                // The newer one wins and its TTL runs from its own event time.
                self.next_seq += 1;
                slot.seq = self.next_seq;
                slot.entry = new;
                let q = Queued {
                    seq: self.next_seq,
                    ts: slot.entry.ts(),
                    key: self.key_buf.clone(),
                };
                self.queue.push_back(q);
                self.maybe_compact();
            }
            return None;
        }
        let within = slot.entry.ts().abs_diff(new.ts()) <= self.config.ttl_ms.unsigned_abs();
        let key = self.key_buf.clone();
        let old = self.take(&key).expect("entry just found");
        if !within {
            // The waiting half is past its TTL (expiry had not reached it yet): it expires,
            // the newcomer waits in its place.
            self.count_expired(&old);
            self.insert_new(key, new);
            return None;
        }
        self.stats.joined += 1;
        match (old, new) {
            (Pending::Prediction(prediction), Pending::Label { ts, label })
            | (Pending::Label { ts, label }, Pending::Prediction(prediction)) => Some(Joined {
                prediction,
                label,
                label_ts: ts,
            }),
            _ => None, // excluded above: the two halves differ in kind
        }
    }

    fn is_live(&self, q: &Queued) -> bool {
        self.map.get(&q.key).is_some_and(|s| s.seq == q.seq)
    }

    /// Removes a waiting entry.
    fn take(&mut self, key: &str) -> Option<Pending> {
        let slot = self.map.remove(key)?;
        if let Pending::Prediction(_) = slot.entry {
            self.pending_predictions -= 1;
        }
        Some(slot.entry)
    }

    fn insert_new(&mut self, key: CompactString, entry: Pending) {
        self.next_seq += 1;
        if matches!(entry, Pending::Prediction(_)) {
            self.pending_predictions += 1;
        }
        self.queue.push_back(Queued {
            seq: self.next_seq,
            ts: entry.ts(),
            key: key.clone(),
        });
        self.map.insert(
            key,
            Slot {
                seq: self.next_seq,
                entry,
            },
        );
        self.maybe_compact();
    }

    /// Evicts the oldest entries until `room` more fit.
    fn enforce_capacity(&mut self, room: usize) {
        while self.map.len() + room > self.config.max_pending {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            if !self.is_live(&q) {
                continue;
            }
            match self.take(&q.key) {
                Some(Pending::Prediction(_)) => {
                    self.unreported.evicted_predictions += 1;
                    self.stats.evicted_predictions += 1;
                }
                Some(Pending::Label { .. }) => {
                    self.unreported.evicted_labels += 1;
                    self.stats.evicted_labels += 1;
                }
                None => {}
            }
        }
    }

    fn count_expired(&mut self, entry: &Pending) {
        if let Pending::Prediction(_) = entry {
            self.unreported.predictions += 1;
            self.stats.expired_predictions += 1;
        } else {
            self.unreported.labels += 1;
            self.stats.expired_labels += 1;
        }
    }

    /// Drops stale queue entries once they outnumber the live ones: O(n) every >= n
    /// arrivals, so amortised O(1).
    fn maybe_compact(&mut self) {
        if self.queue.len() <= 2 * self.config.max_pending.max(self.map.len()) + 64 {
            return;
        }
        let map = &self.map;
        self.queue
            .retain(|q| map.get(&q.key).is_some_and(|s| s.seq == q.seq));
    }
}

#[cfg(test)]
mod tests {
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
        // "new" in the queue; it can no longer join, though.
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
        assert!(s.queue.is_empty());
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
    fn queue_stays_bounded_when_nothing_expires() {
        let mut s = store(i64::MAX, 10);
        for i in 0..10_000 {
            let id = format!("r{i}");
            s.on_prediction("m", &id, pred("v1", i, 0.9));
            assert!(s.on_label("m", &id, i, cls("1")).is_some());
            s.on_prediction("m", "dup", pred("v1", i, 0.9));
            assert!(s.queue.len() <= 2 * 10 + 64 + 1, "{}", s.queue.len());
        }
        assert_eq!(s.len(), 1);
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
        // The module doc's memory bound: a map slot of about 140 bytes, queue slots of 40.
        assert!(std::mem::size_of::<(CompactString, Slot)>() <= 144);
        assert!(std::mem::size_of::<Queued>() <= 40);
        let mut s = JoinStore::new(&JoinConfig::default());
        let mut p = pred("v1.2.3-canary", 0, 0.5);
        p.label = Some("fraud".into());
        s.on_prediction("fraud", "r-8f3a2c1d9e", p);
        let (key, slot) = s.map.iter().next().expect("stored");
        assert_eq!(key.as_str(), "5:fraudr-8f3a2c1d9e");
        assert!(!key.is_heap_allocated());
        let Pending::Prediction(p) = &slot.entry else {
            panic!("a prediction was stored")
        };
        assert!(!p.version.is_heap_allocated());
        assert!(!p.label.as_ref().expect("label").is_heap_allocated());
    }
}
