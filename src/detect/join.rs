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
//!   Entries leave in arrival order from the ring they are kept in, so expiry is amortised
//!   O(1) per record; an entry that arrived out of order behind a later one leaves when that
//!   one does, i.e. late by at most the stream's disorder (which decode bounds with
//!   `limits.max_timestamp_skew`), never early. Joins check the TTL themselves, so a late
//!   expiry never joins a pair further apart than `ttl_ms`: the stale entry is counted as
//!   expired and the newcomer waits in its place.
//! - **Capacity**: at most `max_pending` entries wait. A new entry beyond that evicts the
//!   oldest by arrival, counted in [`JoinStats::evicted_predictions`] (`evicted_labels`).
//! - A record without a request id (or model) cannot be joined: counted in
//!   [`JoinStats::no_key`] and not stored.
//!
//! Memory: at most `max_pending` entries wait, in a ring of at most `1.5 * max_pending + 65`
//! slots of 120 bytes (the ring keeps the slots of joined or replaced entries until they
//! reach its front or a compaction drops them), indexed by a hash table of 8-byte sequence
//! numbers (9 bytes a slot, at most 7/8 load). The key (the model's length, the model and
//! the request id), the version and the predicted class are [`CompactString`]s, stored
//! inline up to 24 bytes each, so an entry with short strings allocates nothing of its own.
//! A longer string is allocated (a key with a 36-character UUID request id is), and class
//! probabilities take 8 bytes each ([`MAX_PROBS`] at most). The default 100,000 entries take
//! about 18 MiB with short keys (150,065 ring slots of 120 bytes, 131,072 table slots of
//! 9), about 23 MiB with UUID request ids. No string over [`MAX_KEY_BYTES`] (256) is
//! stored (such an entry is counted and dropped), so the worst case, every entry at that
//! bound with [`MAX_PROBS`] probabilities, is about 1.4 KiB an entry, 140 MiB at the
//! default. One store serves every model (the key includes
//! the model), so this is the bound for the whole daemon. (Storing a prediction is on the
//! hot path, once per inference record: inline strings took four allocations and frees off
//! it, and a hash map of full entries a cache miss or more per operation.)
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

/// Longest string, in bytes, an entry may carry: its key (the model and the request id) and
/// its version, predicted class or label class each. A longer one is not stored (counted in
/// [`JoinStats::too_long_predictions`] / `too_long_labels`), so that a producer with
/// 60 KB request ids cannot take the store from megabytes to gigabytes.
pub const MAX_KEY_BYTES: usize = 256;

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
    /// 100,000 (about 18 MiB): a 1 h TTL without evictions at ~28 predictions/s.
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
    /// Predictions not stored because a string was over [`MAX_KEY_BYTES`].
    #[serde(default)]
    pub too_long_predictions: u64,
    /// Labels not stored because a string was over [`MAX_KEY_BYTES`].
    #[serde(default)]
    pub too_long_labels: u64,
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
    /// Predictions not stored because a string was over [`MAX_KEY_BYTES`].
    #[serde(default)]
    pub too_long_predictions: u64,
    /// Labels not stored because a string was over [`MAX_KEY_BYTES`].
    #[serde(default)]
    pub too_long_labels: u64,
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

    /// The longest string the entry would keep.
    fn longest_string(&self) -> usize {
        match self {
            Pending::Prediction(p) => p.version.len().max(p.label.as_ref().map_or(0, |l| l.len())),
            Pending::Label {
                label: LabelValue::Class(c),
                ..
            } => c.len(),
            Pending::Label { .. } => 0,
        }
    }
}

/// One arrival, in the ring. `entry` is `None` once it has been joined, replaced, expired
/// or evicted; such dead slots leave when they reach the front or at a compaction.
#[derive(Debug, Clone)]
struct Slot {
    key: CompactString,
    entry: Option<Pending>,
}

/// The label-join store. See the module documentation for its rules and bounds.
///
/// Entries live in a ring in arrival order, numbered by consecutive sequence numbers from
/// the front's (`head`), so an entry's place is its number minus `head`; the hash table
/// holds only those numbers. Arrivals write the ring's tail and expiry reads its head, both sequential, and
/// the table (9 bytes per entry) stays in cache: a store of 100,000 entries as a hash map
/// of full entries took a cache miss or more on every operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "JoinSnapshot", from = "JoinSnapshot")]
pub struct JoinStore {
    config: JoinConfig,
    /// Sequence numbers of the live entries, by key.
    table: HashTable<u64>,
    hasher: foldhash::fast::RandomState,
    /// Every arrival since the front's, oldest first.
    ring: VecDeque<Slot>,
    /// The sequence number of the ring's front; the next arrival's is `head + ring.len()`.
    head: u64,
    pending_predictions: usize,
    unreported: ExpiredCounts,
    stats: JoinStats,
    /// Scratch for building lookup keys without allocating.
    key_buf: CompactString,
}

/// The ring position of sequence number `seq`, in a ring of `len` slots from `head`.
fn position(head: u64, len: usize, seq: u64) -> Option<usize> {
    let p = usize::try_from(seq.checked_sub(head)?).ok()?;
    (p < len).then_some(p)
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
        let entries = s
            .ring
            .into_iter()
            .filter_map(|slot| Some((slot.key, slot.entry?)))
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
            if let Some(seq) = s.find(hash, &key) {
                s.remove(hash, seq);
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
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            ring: VecDeque::new(),
            head: 0,
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
        while let Some(front) = self.ring.front() {
            if let Some(e) = &front.entry {
                if now.saturating_sub(e.ts()) <= ttl {
                    break;
                }
            }
            if let Some(entry) = self.pop_front() {
                self.count_expired(&entry);
            }
        }
        std::mem::take(&mut self.unreported)
    }

    /// Entries waiting (predictions plus labels).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No entry waits.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Predictions waiting for their label.
    pub fn pending_predictions(&self) -> usize {
        self.pending_predictions
    }

    /// Labels waiting for their prediction.
    pub fn pending_labels(&self) -> usize {
        self.table.len() - self.pending_predictions
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
        if model.len() + request_id.len() > MAX_KEY_BYTES || new.longest_string() > MAX_KEY_BYTES {
            let is_prediction = matches!(new, Pending::Prediction(_));
            let (total, unreported) = if is_prediction {
                (
                    &mut self.stats.too_long_predictions,
                    &mut self.unreported.too_long_predictions,
                )
            } else {
                (
                    &mut self.stats.too_long_labels,
                    &mut self.unreported.too_long_labels,
                )
            };
            *total += 1;
            *unreported += 1;
            return None;
        }
        // Length-prefixed so that no two (model, request id) pairs share a key.
        // (By hand rather than `write!`: this runs once per record, and the formatting
        // machinery cost more than the rest of the key.)
        self.key_buf.clear();
        self.key_buf
            .push_str(itoa::Buffer::new().format(model.len()));
        self.key_buf.push(':');
        self.key_buf.push_str(model);
        self.key_buf.push_str(request_id);
        let hash = self.hasher.hash_one(self.key_buf.as_str());
        let Some(seq) = self.find(hash, &self.key_buf) else {
            let key = self.key_buf.clone();
            self.enforce_capacity(1);
            self.insert_new(key, hash, new);
            return None;
        };
        let p = position(self.head, self.ring.len(), seq).expect("a live entry is in the ring");
        let waiting = self.ring[p].entry.as_ref().expect("a live entry has one");
        let waiting_ts = waiting.ts();
        let is_prediction = matches!(new, Pending::Prediction(_));
        if matches!(waiting, Pending::Prediction(_)) == is_prediction {
            if is_prediction {
                self.stats.duplicate_predictions += 1;
            } else {
                self.stats.duplicate_labels += 1;
            }
            if new.ts() >= waiting_ts {
                // The newer one wins and its TTL runs from its own event time: it moves to
                // the tail, as a new arrival.
                self.remove(hash, seq);
                let key = self.key_buf.clone();
                self.insert_new(key, hash, new);
            }
            return None;
        }
        let within = waiting_ts.abs_diff(new.ts()) <= self.config.ttl_ms.unsigned_abs();
        let old = self.remove(hash, seq).expect("entry just found");
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

    /// The sequence number of the live entry with `key`.
    fn find(&self, hash: u64, key: &str) -> Option<u64> {
        let (ring, head) = (&self.ring, self.head);
        self.table
            .find(hash, |&seq| {
                position(head, ring.len(), seq).is_some_and(|p| ring[p].key.as_str() == key)
            })
            .copied()
    }

    /// Removes the live entry `seq` (whose key hashes to `hash`) from the table and its
    /// slot; the dead slot stays in the ring.
    fn remove(&mut self, hash: u64, seq: u64) -> Option<Pending> {
        self.table.find_entry(hash, |&s| s == seq).ok()?.remove();
        let p = position(self.head, self.ring.len(), seq)?;
        let slot = &mut self.ring[p];
        // A dead slot's key is never read again: free a long one now, not when it leaves.
        slot.key = CompactString::const_new("");
        let entry = slot.entry.take()?;
        if let Pending::Prediction(_) = entry {
            self.pending_predictions -= 1;
        }
        Some(entry)
    }

    /// Drops the ring's front slot; returns its entry if it was live (now removed).
    fn pop_front(&mut self) -> Option<Pending> {
        let front = self.ring.front()?;
        let entry = if front.entry.is_some() {
            let hash = self.hasher.hash_one(front.key.as_str());
            self.remove(hash, self.head)
        } else {
            None
        };
        self.ring.pop_front();
        self.head += 1;
        entry
    }

    /// Stores an entry whose key is not in the table.
    fn insert_new(&mut self, key: CompactString, hash: u64, entry: Pending) {
        if matches!(entry, Pending::Prediction(_)) {
            self.pending_predictions += 1;
        }
        let seq = self.head + self.ring.len() as u64;
        if self.ring.len() == self.ring.capacity() {
            // Grow geometrically but never past the compaction bound: VecDeque's doubling
            // would round the default bound of 150,065 slots up to 262,144 (30 MiB).
            let room = self.ring_bound().saturating_sub(self.ring.len());
            self.ring
                .reserve_exact(self.ring.len().max(16).min(room).max(1));
        }
        self.ring.push_back(Slot {
            key,
            entry: Some(entry),
        });
        let (ring, head, hasher) = (&self.ring, self.head, &self.hasher);
        self.table.insert_unique(hash, seq, |&s| {
            let p = position(head, ring.len(), s).expect("a live entry is in the ring");
            hasher.hash_one(ring[p].key.as_str())
        });
        self.maybe_compact();
    }

    /// Evicts the oldest entries until `room` more fit.
    fn enforce_capacity(&mut self, room: usize) {
        while self.table.len() + room > self.config.max_pending && !self.ring.is_empty() {
            match self.pop_front() {
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

    /// Slots the ring holds at most: half again as many as entries may wait, plus 65.
    fn ring_bound(&self) -> usize {
        let cap = self.config.max_pending.max(self.table.len());
        cap + cap / 2 + 65
    }

    /// Drops dead slots once the ring holds half again as many slots as entries may wait:
    /// O(n) every >= n/3 arrivals, so amortised O(1). The survivors are renumbered from
    /// `head` (positions stay number minus `head`) and the table is rebuilt.
    fn maybe_compact(&mut self) {
        if self.ring.len() < self.ring_bound() {
            return;
        }
        self.ring.retain(|s| s.entry.is_some());
        self.table.clear();
        let (ring, head, hasher) = (&self.ring, self.head, &self.hasher);
        let rehash = |&s: &u64| {
            let p = position(head, ring.len(), s).expect("a live entry is in the ring");
            hasher.hash_one(ring[p].key.as_str())
        };
        for (i, slot) in ring.iter().enumerate() {
            let hash = hasher.hash_one(slot.key.as_str());
            self.table.insert_unique(hash, head + i as u64, rehash);
        }
    }
}

#[cfg(test)]
mod tests;
