//! Upper tails of count distributions for the far-share tests: the beta-binomial, which
//! allows for a threshold estimated from a finite calibration sample. Checked against
//! scipy (`scripts/multivariate_fixtures.py`). Pure functions.

use statrs::function::beta::ln_beta;
use statrs::function::factorial::ln_binomial;

/// `P(X >= x)` for `X ~ BetaBinomial(n, a, b)`: the count among `n` draws whose common
/// success probability is `Beta(a, b)` distributed. Sums the smaller-looking tail by the
/// pmf's recurrence, from the term next to the bulk outwards until the terms vanish: the
/// lower tail `P(X < x)` when `x` is at most the mean (so that `1 - lower` is not a
/// difference of near-equal numbers in the upper tail), else the upper tail. Starting at
/// the bulk keeps the first term representable for windows of millions of records. Cost:
/// the terms until they fall below 1e-17 of the sum, at most `n`.
pub fn beta_binomial_sf(x: u64, n: u64, a: f64, b: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > n {
        return 0.0;
    }
    let nf = n as f64;
    let ln_pmf = |k: u64| {
        let kf = k as f64;
        ln_binomial(n, k) + ln_beta(kf + a, nf - kf + b) - ln_beta(a, b)
    };
    // pmf(k + 1) / pmf(k).
    let ratio = |k: f64| (nf - k) / (k + 1.0) * (k + a) / (nf - k - 1.0 + b);
    let p = if x as f64 <= nf * a / (a + b) {
        let mut pmf = ln_pmf(x - 1).exp();
        let mut lower = 0.0;
        for k in (0..x).rev() {
            lower += pmf;
            if k == 0 || pmf <= lower * 1e-17 {
                break;
            }
            pmf /= ratio((k - 1) as f64);
        }
        1.0 - lower
    } else {
        let mut pmf = ln_pmf(x).exp();
        let mut upper = 0.0;
        for k in x..=n {
            upper += pmf;
            if k == n || pmf <= upper * 1e-17 {
                break;
            }
            pmf *= ratio(k as f64);
        }
        upper
    };
    p.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{Binomial, DiscreteCDF};

    #[test]
    fn beta_binomial_tails_sum_to_one_and_match_the_binomial_for_a_sharp_prior() {
        // P(X >= 0) = 1, and P(X >= x) + P(X < x) = 1 whichever tail is summed.
        assert_eq!(beta_binomial_sf(0, 100, 2.0, 50.0), 1.0);
        let pmf =
            |k: u64| beta_binomial_sf(k, 100, 2.0, 50.0) - beta_binomial_sf(k + 1, 100, 2.0, 50.0);
        let total: f64 = (0..=100).map(pmf).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // A very concentrated Beta(10^7 p, 10^7 (1 - p)) is nearly a binomial.
        let b = Binomial::new(0.01, 1000).expect("valid");
        for x in [5u64, 10, 16, 25] {
            let want = b.sf(x - 1);
            let got = beta_binomial_sf(x, 1000, 1e7 * 0.01, 1e7 * 0.99);
            assert!((got - want).abs() < 5e-3 * want, "{x}: {got} vs {want}");
        }
        // Far in the upper tail: small, positive, not a rounding residue.
        let tiny = beta_binomial_sf(60, 1000, 21.0, 1980.0);
        assert!(tiny > 0.0 && tiny < 1e-10, "{tiny}");
        // A window of a million records, near the mean: the first pmf term far from the
        // bulk underflows, the tail sum must not.
        let mid = beta_binomial_sf(100_900, 1_000_000, 101.0, 900.0);
        assert!(mid > 0.3 && mid < 0.7, "{mid}");
    }
}
