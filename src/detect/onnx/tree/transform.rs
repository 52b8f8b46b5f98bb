//! onnxruntime's post transforms of tree-ensemble scores (`ml_common.h`), in f32 as there:
//! LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT (with its erfinv approximation), and the
//! derivation of a binary classifier's second column.

use super::raw::PostTransform;
use super::{Acc, Score};

/// onnxruntime's `write_scores`: the post transform, and for a single remaining class
/// score the second column derived as `second` says (0/1: `1 - p`; 2/3: `-s`, or the
/// logistic of `-s` and `s`; -1: one value, the other column left at 0).
pub(super) fn write_scores<T: Acc>(
    p: &[Score<T>],
    post: PostTransform,
    out: &mut [f32],
    second: i32,
) {
    if p.len() >= 2 {
        match post {
            PostTransform::Probit => {
                for (o, s) in out.iter_mut().zip(p) {
                    *o = probit(s.get().to_f32());
                }
            }
            PostTransform::Logistic => {
                for (o, s) in out.iter_mut().zip(p) {
                    *o = logistic(s.get().to_f32());
                }
            }
            PostTransform::Softmax => {
                let vmax = p.iter().map(|s| s.get().to_f32()).fold(-f32::MAX, pick_max);
                let mut sum = 0f32;
                for (o, s) in out.iter_mut().zip(p) {
                    *o = (s.get().to_f32() - vmax).exp();
                    sum += *o;
                }
                out.iter_mut().for_each(|o| *o /= sum);
            }
            PostTransform::SoftmaxZero => {
                let vmax = p.iter().map(|s| s.get().to_f32()).fold(-f32::MAX, pick_max);
                let exp_neg_max = T::of32((-vmax).exp());
                let mut sum = 0f32;
                let mut tmp: Vec<T> = Vec::with_capacity(p.len());
                for s in p {
                    let v = s.get().to_f32();
                    // Not a range check: a NaN must take the second branch, as in onnxruntime.
                    #[allow(clippy::manual_range_contains)]
                    if v > 1e-7 || v < -1e-7 {
                        let e = (v - vmax).exp();
                        sum += e;
                        tmp.push(T::of32(e));
                    } else {
                        tmp.push(s.get() * exp_neg_max);
                    }
                }
                for (o, t) in out.iter_mut().zip(tmp) {
                    *o = (t / T::of32(sum)).to_f32();
                }
            }
            PostTransform::None => {
                for (o, s) in out.iter_mut().zip(p) {
                    *o = s.get().to_f32();
                }
            }
        }
    } else if let Some(first) = p.first() {
        let s0 = first.get();
        out.iter_mut().for_each(|o| *o = 0.0);
        if post == PostTransform::Probit {
            out[0] = probit(s0.to_f32());
            return;
        }
        match second {
            0 | 1 => {
                out[0] = (T::ONE - s0).to_f32();
                out[1] = s0.to_f32();
            }
            2 | 3 if post == PostTransform::Logistic => {
                out[1] = logistic(s0.to_f32());
                out[0] = logistic((-s0).to_f32());
            }
            2 | 3 => {
                out[0] = (-s0).to_f32();
                out[1] = s0.to_f32();
            }
            _ => out[0] = s0.to_f32(),
        }
    }
}

#[inline]
fn pick_max(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

/// onnxruntime's `ComputeLogistic`, in f32.
fn logistic(v: f32) -> f32 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 {
        1.0 - e
    } else {
        e
    }
}

/// onnxruntime's `ComputeProbit`: `sqrt(2) * erfinv(2v - 1)` with its erfinv approximation.
pub(super) fn probit(v: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * v - 1.0)
}

fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}
