//! Seasonal baseline: daily and weekly profiles learnt on event time, and the choice of the
//! period (if any) that a series follows, by autocorrelation of its hourly means.
//!
//! Phase comes from the sample's timestamp (`ts` modulo the period, UTC), never from a
//! sample count, so irregular sampling and gaps are fine. A profile bucket learns once per
//! period (the mean of its samples in that period folds into an EWMA when the next period
//! reaches it), so its learning rate is the same whatever the sampling rate, and a
//! prediction only uses earlier periods.

use crate::record::Ts;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// One week in milliseconds.
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// Hours of history kept for the autocorrelation (three weeks).
pub const HISTORY_HOURS: usize = 3 * 168;

/// A seasonal period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// 24 hours.
    Daily,
    /// 7 days.
    Weekly,
}

/// Settings of [`SeasonalModel`]; `MetricDetectorConfig` documents each one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalParams {
    /// Buckets of the daily profile.
    pub daily_buckets: usize,
    /// Buckets of the weekly profile.
    pub weekly_buckets: usize,
    /// Per-period EWMA weight of a bucket.
    pub alpha: f64,
    /// Periods a bucket must have learnt before it predicts (at least 2).
    pub warmup_periods: u32,
    /// Autocorrelation of the hourly means at which a period is taken as present.
    pub min_acf: f64,
    /// How much the weekly autocorrelation must exceed the daily one for weekly.
    pub weekly_margin: f64,
    /// Phase tolerance in buckets.
    pub tolerance: usize,
    /// `None`: detect the period; `Some(p)`: always use `p` (`None` inside: no season).
    pub fixed: Option<Option<Period>>,
}

/// One phase bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Bucket {
    /// EWMA over periods of the bucket's mean.
    #[serde(with = "super::exact::f64")]
    mean: f64,
    /// EWMA over periods of the mean absolute deviation from `mean`.
    #[serde(with = "super::exact::f64")]
    dev: f64,
    /// Periods folded in (saturating).
    periods: u32,
    /// The period whose samples `visit_*` accumulates.
    visit_period: i64,
    #[serde(with = "super::exact::f64")]
    visit_sum: f64,
    #[serde(with = "super::exact::f64")]
    visit_dev: f64,
    visit_n: u32,
}

impl Bucket {
    fn fold(&mut self, alpha: f64) {
        if self.visit_n == 0 {
            return;
        }
        let n = self.visit_n as f64;
        let m = self.visit_sum / n;
        if self.periods == 0 {
            self.mean = m;
        } else {
            // Average the first periods equally, then weigh them exponentially.
            let a = alpha.max(1.0 / self.periods as f64);
            let d = self.visit_dev / n;
            self.dev = if self.periods == 1 {
                d
            } else {
                self.dev + a * (d - self.dev)
            };
            let a = alpha.max(1.0 / (self.periods + 1) as f64);
            self.mean += a * (m - self.mean);
        }
        self.periods = self.periods.saturating_add(1);
        self.visit_sum = 0.0;
        self.visit_dev = 0.0;
        self.visit_n = 0;
    }
}

/// A profile of phase buckets over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    period_ms: i64,
    buckets: Vec<Bucket>,
}

impl Profile {
    fn new(period_ms: i64, buckets: usize) -> Self {
        Profile {
            period_ms,
            buckets: vec![Bucket::default(); buckets.max(1)],
        }
    }

    /// Phase of `ts` in buckets, in [0, B).
    fn phase(&self, ts: Ts) -> f64 {
        let nb = self.buckets.len() as f64;
        ts.rem_euclid(self.period_ms) as f64 / self.period_ms as f64 * nb
    }

    /// Expected value and absolute deviation at `ts`: linear interpolation between the two
    /// nearest bucket centres, or, when closer to `x`, the mean of a bucket within `tol`
    /// buckets (a peak that comes a little early or late is not an anomaly). Only buckets
    /// that learnt `warmup` periods take part.
    fn expect(&self, ts: Ts, x: f64, warmup: u32, tol: usize) -> Option<(f64, f64)> {
        let nb = self.buckets.len() as i64;
        let ph = self.phase(ts);
        let p = ph - 0.5;
        let lo = p.floor();
        let frac = p - lo;
        let b0 = &self.buckets[(lo as i64).rem_euclid(nb) as usize];
        let b1 = &self.buckets[(lo as i64 + 1).rem_euclid(nb) as usize];
        let ok = |b: &Bucket| b.periods >= warmup.max(2);
        let mut best = match (ok(b0), ok(b1)) {
            (true, true) => Some((
                b0.mean + frac * (b1.mean - b0.mean),
                b0.dev + frac * (b1.dev - b0.dev),
            )),
            (true, false) => Some((b0.mean, b0.dev)),
            (false, true) => Some((b1.mean, b1.dev)),
            (false, false) => None,
        };
        let centre = ph.floor() as i64;
        let t = (tol as i64).min(nb / 2);
        for off in -t..=t {
            let b = &self.buckets[(centre + off).rem_euclid(nb) as usize];
            if ok(b) && best.is_none_or(|(m, _)| (x - b.mean).abs() < (x - m).abs()) {
                best = Some((b.mean, b.dev));
            }
        }
        best
    }

    fn update(&mut self, ts: Ts, x: f64, alpha: f64) {
        let nb = self.buckets.len();
        let i = (self.phase(ts).floor() as usize).min(nb - 1);
        let period = ts.div_euclid(self.period_ms);
        let b = &mut self.buckets[i];
        if b.visit_n > 0 && b.visit_period != period {
            b.fold(alpha);
        }
        b.visit_period = period;
        b.visit_sum += x;
        if b.periods > 0 {
            b.visit_dev += (x - b.mean).abs();
        }
        b.visit_n = b.visit_n.saturating_add(1);
    }
}

/// The last [`HISTORY_HOURS`] hourly means (`None` for hours without samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HourlyHistory {
    /// Oldest first.
    hours: VecDeque<Option<f32>>,
    cur_hour: Option<i64>,
    #[serde(with = "super::exact::f64")]
    cur_sum: f64,
    cur_n: u32,
}

impl HourlyHistory {
    fn new() -> Self {
        HourlyHistory {
            hours: VecDeque::new(),
            cur_hour: None,
            cur_sum: 0.0,
            cur_n: 0,
        }
    }

    fn push_hour(&mut self, v: Option<f32>) {
        if self.hours.len() == HISTORY_HOURS {
            self.hours.pop_front();
        }
        self.hours.push_back(v);
    }

    /// Adds a sample; true when an hour closed. A sample older than the current hour is
    /// counted in the current hour.
    fn update(&mut self, ts: Ts, x: f64) -> bool {
        let h = ts.div_euclid(HOUR_MS);
        let mut closed = false;
        match self.cur_hour {
            None => self.cur_hour = Some(h),
            Some(c) if h > c => {
                let mean = (self.cur_n > 0).then(|| (self.cur_sum / self.cur_n as f64) as f32);
                self.push_hour(mean);
                let gap = usize::try_from(h - c - 1)
                    .unwrap_or(usize::MAX)
                    .min(HISTORY_HOURS);
                for _ in 0..gap {
                    self.push_hour(None);
                }
                self.cur_hour = Some(h);
                self.cur_sum = 0.0;
                self.cur_n = 0;
                closed = true;
            }
            Some(_) => {}
        }
        self.cur_sum += x;
        self.cur_n = self.cur_n.saturating_add(1);
        closed
    }

    /// Pearson correlation of the hourly means with themselves `lag` hours earlier, over the
    /// pairs where both exist, after winsorising at the median +- 4 robust sigmas (so that a
    /// few spikes do not decide); `None` below `min_pairs` pairs or without variance.
    fn acf(&self, lag: usize, min_pairs: usize) -> Option<f64> {
        let h = &self.hours;
        if h.len() <= lag {
            return None;
        }
        let mut v: Vec<f64> = h.iter().flatten().map(|&x| x as f64).collect();
        if v.len() < 3 {
            return None;
        }
        v.sort_unstable_by(f64::total_cmp);
        let med = v[v.len() / 2];
        let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        dev.sort_unstable_by(f64::total_cmp);
        let spread = 4.0 * 1.4826 * dev[dev.len() / 2];
        let clip = |x: f32| {
            let x = x as f64;
            if spread > 0.0 {
                x.clamp(med - spread, med + spread)
            } else {
                x
            }
        };
        let (mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0);
        for i in lag..h.len() {
            if let (Some(a), Some(b)) = (h[i], h[i - lag]) {
                let (x, y) = (clip(a), clip(b));
                n += 1;
                sx += x;
                sy += y;
                sxx += x * x;
                syy += y * y;
                sxy += x * y;
            }
        }
        if n < min_pairs.max(3) {
            return None;
        }
        let nf = n as f64;
        let vx = sxx - sx * sx / nf;
        let vy = syy - sy * sy / nf;
        if vx <= 0.0 || vy <= 0.0 {
            return None;
        }
        Some(((sxy - sx * sy / nf) / (vx * vy).sqrt()).clamp(-1.0, 1.0))
    }
}

/// Daily and weekly profiles (both always learning) and the period in use.
///
/// Memory: `daily_buckets + weekly_buckets` buckets of 56 bytes, plus 504 hourly means of
/// 8 bytes: 31 KiB with the default 144 + 336 buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeasonalModel {
    daily: Profile,
    weekly: Profile,
    history: HourlyHistory,
    active: Option<Period>,
    /// Autocorrelation of the hourly means at 24 h, 12 h and 168 h at the last check.
    acf: [Option<f64>; 3],
}

/// The seasonal expectation of one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// The period it comes from.
    pub period: Period,
    /// Expected value.
    pub mean: f64,
    /// Expected absolute deviation from `mean`.
    pub dev: f64,
}

impl SeasonalModel {
    /// Empty profiles of the configured sizes.
    pub fn new(p: &SeasonalParams) -> Self {
        SeasonalModel {
            daily: Profile::new(DAY_MS, p.daily_buckets),
            weekly: Profile::new(WEEK_MS, p.weekly_buckets),
            history: HourlyHistory::new(),
            active: p.fixed.flatten(),
            acf: [None; 3],
        }
    }

    /// The period in use, if any.
    pub fn active(&self) -> Option<Period> {
        self.active
    }

    /// Autocorrelations at 24 h, 12 h and 168 h from the last check.
    pub fn acf(&self) -> [Option<f64>; 3] {
        self.acf
    }

    /// The expectation for `x` at `ts` from the profile in use, before `x` is learnt.
    pub fn expect(&self, ts: Ts, x: f64, p: &SeasonalParams) -> Option<Expectation> {
        let period = self.active?;
        let prof = match period {
            Period::Daily => &self.daily,
            Period::Weekly => &self.weekly,
        };
        prof.expect(ts, x, p.warmup_periods, p.tolerance)
            .map(|(mean, dev)| Expectation { period, mean, dev })
    }

    /// Learns `x` at `ts`; re-decides the period each time an hour closes.
    pub fn update(&mut self, ts: Ts, x: f64, p: &SeasonalParams) {
        self.daily.update(ts, x, p.alpha);
        self.weekly.update(ts, x, p.alpha);
        if self.history.update(ts, x) && p.fixed.is_none() {
            self.detect(p);
        }
    }

    /// Daily when the 24 h autocorrelation reaches `min_acf` and beats the 12 h one by 0.1
    /// (a trend or a slow drift correlates at every lag; a daily cycle peaks at 24 h);
    /// weekly when the 168 h autocorrelation reaches `min_acf` and beats the 24 h one by
    /// `weekly_margin`. Hysteresis against flapping: a period in use is kept until its
    /// autocorrelation falls 0.1 below `min_acf`, and weekly until its margin falls by 0.05.
    fn detect(&mut self, p: &SeasonalParams) {
        let r24 = self.history.acf(24, 48);
        let r12 = self.history.acf(12, 48);
        let r168 = self.history.acf(168, 168);
        self.acf = [r24, r12, r168];
        let on = |in_use: bool| if in_use { p.min_acf - 0.1 } else { p.min_acf };
        let daily = match (r24, r12) {
            (Some(a), Some(b)) => a >= on(self.active.is_some()) && a > b + 0.1,
            _ => false,
        };
        let weekly_now = self.active == Some(Period::Weekly);
        let weekly = match (r168, r24) {
            (Some(w), Some(d)) => {
                let margin = if weekly_now {
                    p.weekly_margin - 0.05
                } else {
                    p.weekly_margin
                };
                w >= on(weekly_now) && w >= d + margin
            }
            _ => false,
        };
        self.active = if weekly {
            Some(Period::Weekly)
        } else if daily {
            Some(Period::Daily)
        } else {
            None
        };
    }
}
