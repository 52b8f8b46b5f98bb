//! EWMA control chart: a slow exponentially weighted mean and variance are the in-control
//! baseline; a fast EWMA of the samples is compared with it in units of its control limit.

use serde::{Deserialize, Serialize};

/// EWMA baseline (mean, variance) plus the classical EWMA chart statistic. O(1) memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EwmaChart {
    /// Baseline weight per sample.
    #[serde(with = "super::exact::f64")]
    alpha: f64,
    /// Chart smoothing weight per sample (lambda).
    #[serde(with = "super::exact::f64")]
    lambda: f64,
    #[serde(with = "super::exact::f64")]
    mean: f64,
    #[serde(with = "super::exact::f64")]
    var: f64,
    #[serde(with = "super::exact::f64")]
    smooth: f64,
    n: u64,
}

/// What one sample did to the chart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EwmaStats {
    /// Fast EWMA minus baseline mean, over the chart's standard deviation
    /// `sigma * sqrt(lambda / (2 - lambda))`.
    pub chart_z: f64,
    /// The sample minus the baseline mean, over sigma.
    pub point_z: f64,
}

impl EwmaChart {
    /// A chart with baseline weight `alpha` and chart weight `lambda`, both in (0, 1].
    pub fn new(alpha: f64, lambda: f64) -> Self {
        EwmaChart {
            alpha,
            lambda,
            mean: 0.0,
            var: 0.0,
            smooth: 0.0,
            n: 0,
        }
    }

    /// Samples seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Baseline mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Baseline standard deviation.
    pub fn sd(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// Scores `x` against the baseline before `x`, then learns it. `floor` bounds sigma
    /// from below (a constant series would otherwise divide by zero).
    pub fn update(&mut self, x: f64, floor: f64) -> EwmaStats {
        if self.n == 0 {
            self.mean = x;
            self.smooth = x;
            self.var = 0.0;
            self.n = 1;
            return EwmaStats::default();
        }
        let sd = self.sd().max(floor);
        self.smooth = self.lambda * x + (1.0 - self.lambda) * self.smooth;
        let chart_sd = sd * (self.lambda / (2.0 - self.lambda)).sqrt();
        let stats = EwmaStats {
            chart_z: (self.smooth - self.mean) / chart_sd,
            point_z: (x - self.mean) / sd,
        };
        // Early on, average (weight 1/n) so the baseline does not depend on the first sample.
        self.n += 1;
        let a = self.alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
        stats
    }
}
