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
//! with short strings allocates nothing of its own: it costs one table slot (128 bytes plus
//! a control byte, at most 7/8 load) and up to two 24-byte queue slots (sequence number,
//! event time, hash: the queue holds no copy of the key). A longer string is allocated once
//! (a key with a 36-character UUID request id is), and class probabilities take 8 bytes
//! each ([`MAX_PROBS`] at most). The default 100,000 entries take about 22 MiB with short
//! keys (131,072 slots of 129 bytes, a queue of at most 262,144 x 24 bytes), about 27 MiB
//! with UUID request ids. One store serves every model (the key includes the model), so
//! this is the bound for the whole daemon. (Storing a prediction is on the hot path, once per inference record: inline
//! strings took four allocations and frees off it.)
//!
//! Snapshots serialise the waiting entries in arrival order (a list, not the hash map), so
//! equal states give equal snapshots. Pure: no I/O, no clock.

use crate::record::{FeatureValue, InferenceRecord, Ts};
use compact_str::CompactString;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::hash::BuildHasher;

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
    /// 100,000 (about 22 MiB): a 1 h TTL without evictions at ~28 predictions/s.
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

/// A waiting entry. `seq` is unique among live slots, so a queue entry finds its slot by
/// (hash, seq) without comparing keys.
#[derive(Debug, Clone)]
struct Slot {
    key: CompactString,
    seq: u64,
    entry: Pending,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    seq: u64,
    ts: Ts,
    hash: u64,
}

/// The label-join store. See the module documentation for its rules and bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "JoinSnapshot", from = "JoinSnapshot")]
pub struct JoinStore {
    config: JoinConfig,
    /// The waiting entries. A `HashTable` rather than a map: one hash per arrival, and the
    /// queue's lookups match on `seq` instead of comparing keys.
    map: HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
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
                let slot = map.find_entry(q.hash, |slot| slot.seq == q.seq).ok()?;
                let slot = slot.remove().0;
                Some((slot.key, slot.entry))
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
            let hash = s.hasher.hash_one(key.as_str());
            // Keys are unique in a snapshot this code wrote; a later duplicate wins.
            if let Ok(old) = s.map.find_entry(hash, |slot| slot.key == key) {
                if let Pending::Prediction(_) = old.remove().0.entry {
                    s.pending_predictions -= 1;
                }
            }
            s.insert_new(key, hash, entry);
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
            map: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
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
        while let Some(&front) = self.queue.front() {
            if self.is_live(&front) && now.saturating_sub(front.ts) <= ttl {
                break;
            }
            self.queue.pop_front();
            if let Some(entry) = self.take(&front) {
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
        let hash = self.hasher.hash_one(self.key_buf.as_str());
        let is_prediction = matches!(new, Pending::Prediction(_));
        let key_buf = &self.key_buf;
        let Some(slot) = self.map.find_mut(hash, |s| s.key == *key_buf) else {
            let key = self.key_buf.clone();
            self.enforce_capacity(1);
            self.insert_new(key, hash, new);
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
                    hash,
                };
                self.queue.push_back(q);
                self.maybe_compact();
            }
            return None;
        }
        let within = slot.entry.ts().abs_diff(new.ts()) <= self.config.ttl_ms.unsigned_abs();
        let found = Queued {
            seq: slot.seq,
            ts: slot.entry.ts(),
            hash,
        };
        let old = self.take(&found).expect("entry just found");
        if !within {
            // The waiting half is past its TTL (expiry had not reached it yet): it expires,
            // the newcomer waits in its place.
            self.count_expired(&old);
            let key = self.key_buf.clone();
            self.insert_new(key, hash, new);
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
        self.map.find(q.hash, |s| s.seq == q.seq).is_some()
    }

    /// Removes the waiting entry `q` refers to, if it is still live.
    fn take(&mut self, q: &Queued) -> Option<Pending> {
        let slot = self.map.find_entry(q.hash, |s| s.seq == q.seq).ok()?;
        let slot = slot.remove().0;
        if let Pending::Prediction(_) = slot.entry {
            self.pending_predictions -= 1;
        }
        Some(slot.entry)
    }

    /// Stores an entry whose key is not in the map.
    fn insert_new(&mut self, key: CompactString, hash: u64, entry: Pending) {
        self.next_seq += 1;
        if matches!(entry, Pending::Prediction(_)) {
            self.pending_predictions += 1;
        }
        self.queue.push_back(Queued {
            seq: self.next_seq,
            ts: entry.ts(),
            hash,
        });
        let slot = Slot {
            key,
            seq: self.next_seq,
            entry,
        };
        let hasher = &self.hasher;
        self.map
            .insert_unique(hash, slot, |s| hasher.hash_one(s.key.as_str()));
        self.maybe_compact();
    }

    /// Evicts the oldest entries until `room` more fit.
    fn enforce_capacity(&mut self, room: usize) {
        while self.map.len() + room > self.config.max_pending {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            match self.take(&q) {
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
            .retain(|q| map.find(q.hash, |s| s.seq == q.seq).is_some());
    }
}

#[cfg(test)]
mod tests;
