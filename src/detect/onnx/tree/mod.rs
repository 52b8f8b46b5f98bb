//! ONNX-ML tree ensembles (`TreeEnsembleRegressor`, `TreeEnsembleClassifier`, ai.onnx.ml
//! opsets 1 to 3), compiled from their attributes ([`raw`]) and evaluated as onnxruntime
//! 1.32 evaluates them, so that scores agree bit for bit where the arithmetic allows:
//!
//! - thresholds and leaf weights are held, compared and summed in the input's precision
//!   (f32 for float input, f64 for double input), trees in the order onnxruntime visits them
//!   (a new tree starts where `nodes_treeids` changes), outputs are f32;
//! - a NaN feature goes to the true branch where `nodes_missing_value_tracks_true` is 1, to
//!   the false branch otherwise (every comparison with NaN but `!=` is false);
//! - single-target regressors use each leaf's first weight and apply only PROBIT (as
//!   onnxruntime does: LOGISTIC and SOFTMAX are no-ops on one output); several targets
//!   get LOGISTIC, SOFTMAX, SOFTMAX_ZERO or PROBIT per row; a target no leaf voted for
//!   reads 0 (onnxruntime's convention, even with a base value);
//! - classifiers sum votes per class, add `base_values` and pick the label with
//!   onnxruntime's rules for two classes (a "binary case" when all votes go to one class,
//!   with the second probability derived from the first) and for more.
//!
//! Pure data and functions; no I/O.

pub(crate) mod raw;
mod transform;

use super::attrs::{invalid, NodeError};
use raw::{Aggregate, ClassLabels, EnsembleKind, NodeMode, PostTransform, RawEnsemble};
use std::collections::HashMap;
use transform::{probit, write_scores};

#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The threshold as given, compared with double input.
    threshold: f64,
    /// The threshold rounded to f32 and widened back, compared with float input.
    threshold32: f64,
    feature: u32,
    mode: NodeMode,
    missing_true: bool,
    /// Branch: index of the true child. Leaf: index of its first weight.
    a: u32,
    /// Branch: index of the false child. Leaf: number of weights.
    b: u32,
}

#[derive(Debug, Clone)]
struct Classes {
    labels: ClassLabels,
    /// Two classes and every vote for the same one.
    binary_case: bool,
    weights_all_positive: bool,
}

/// A compiled tree ensemble.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    weights: Vec<(u32, f64)>,
    n_outputs: usize,
    aggregate: Aggregate,
    post_transform: PostTransform,
    base_values: Vec<f64>,
    max_feature: usize,
    classes: Option<Classes>,
    /// Every branch is BRANCH_LEQ without a missing track.
    plain_leq: bool,
}

/// An input element type, which also fixes the precision of thresholds and sums.
pub(crate) trait Input: Copy {
    type Acc: Acc;
    fn to_f64(self) -> f64;
    /// The node's threshold in this precision.
    fn threshold(node: &Node) -> f64;
}

impl Input for f32 {
    type Acc = f32;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn threshold(node: &Node) -> f64 {
        node.threshold32
    }
}

impl Input for f64 {
    type Acc = f64;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn threshold(node: &Node) -> f64 {
        node.threshold
    }
}

/// Arithmetic in the ensemble's precision.
pub(crate) trait Acc:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    fn of(x: f64) -> Self;
    fn of32(x: f32) -> Self;
    fn to_f32(self) -> f32;
}

impl Acc for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline]
    fn of(x: f64) -> f32 {
        x as f32
    }
    #[inline]
    fn of32(x: f32) -> f32 {
        x
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Acc for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline]
    fn of(x: f64) -> f64 {
        x
    }
    #[inline]
    fn of32(x: f32) -> f64 {
        x as f64
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// A running score and whether any leaf voted for it (onnxruntime's `ScoreValue`): an
/// unvoted score reads as 0.
#[derive(Debug, Clone, Copy)]
struct Score<T> {
    v: T,
    has: bool,
}

impl<T: Acc> Score<T> {
    const EMPTY: Score<T> = Score {
        v: T::ZERO,
        has: false,
    };

    #[inline]
    fn get(self) -> T {
        if self.has {
            self.v
        } else {
            T::ZERO
        }
    }
}

impl TreeEnsemble {
    /// Compiles and checks an ensemble: every child and every weight points to a node of
    /// its own tree, every leaf has a weight, target and class ids are in range, and no
    /// tree has a cycle.
    pub fn build(raw: &RawEnsemble) -> Result<TreeEnsemble, NodeError> {
        let n = raw.tree_ids.len();
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        for i in 0..n {
            if index
                .insert((raw.tree_ids[i], raw.node_ids[i]), i as u32)
                .is_some()
            {
                return Err(invalid(format!(
                    "node {} of tree {} appears twice",
                    raw.node_ids[i], raw.tree_ids[i]
                )));
            }
        }
        let find = |tree: i64, node: i64, what: &str| {
            index.get(&(tree, node)).copied().ok_or_else(|| {
                invalid(format!(
                    "{what} points to node {node} of tree {tree}, which does not exist"
                ))
            })
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let mode = raw.modes[i];
            let (a, b) = if mode == NodeMode::Leaf {
                (0, 0)
            } else {
                let t = find(raw.tree_ids[i], raw.true_ids[i], "a true branch")?;
                let f = find(raw.tree_ids[i], raw.false_ids[i], "a false branch")?;
                if t as usize == i || f as usize == i {
                    return Err(invalid(format!(
                        "node {} of tree {} is its own child",
                        raw.node_ids[i], raw.tree_ids[i]
                    )));
                }
                (t, f)
            };
            nodes.push(Node {
                threshold: raw.values[i],
                threshold32: raw.values[i] as f32 as f64,
                feature: raw.feature_ids[i] as u32,
                mode,
                missing_true: raw.missing_true.get(i).copied().unwrap_or(false),
                a,
                b,
            });
        }

        let n_outputs = raw.n_outputs();
        let single = matches!(raw.kind, EnsembleKind::Regressor { n_targets: 1 });
        // Weights per leaf, in (tree, node, attribute order) order as onnxruntime sorts them.
        let mut order: Vec<usize> = (0..raw.w_ids.len()).collect();
        order.sort_by_key(|&j| (raw.w_tree_ids[j], raw.w_node_ids[j], j));
        let mut weights = Vec::with_capacity(order.len());
        for j in order {
            let at = find(raw.w_tree_ids[j], raw.w_node_ids[j], "a weight")? as usize;
            if nodes[at].mode != NodeMode::Leaf {
                continue; // onnxruntime ignores weights on branch nodes (old converters)
            }
            let id = raw.w_ids[j];
            if !single && (id < 0 || id as usize >= n_outputs) {
                return Err(invalid(format!(
                    "a weight is for output {id}, but there are {n_outputs} outputs"
                )));
            }
            let leaf = &mut nodes[at];
            if leaf.b == 0 {
                leaf.a = weights.len() as u32;
            }
            leaf.b += 1;
            weights.push((id.max(0) as u32, raw.w_values[j]));
        }
        if let Some(i) = (0..n).find(|&i| nodes[i].mode == NodeMode::Leaf && nodes[i].b == 0) {
            return Err(invalid(format!(
                "leaf {} of tree {} has no weight",
                raw.node_ids[i], raw.tree_ids[i]
            )));
        }

        let roots: Vec<u32> = (0..n)
            .filter(|&i| i == 0 || raw.tree_ids[i] != raw.tree_ids[i - 1])
            .map(|i| i as u32)
            .collect();
        check_acyclic(&nodes, &roots).map_err(|i| {
            invalid(format!(
                "tree {} has a cycle through node {}",
                raw.tree_ids[i], raw.node_ids[i]
            ))
        })?;

        let base_values = raw.base_values.clone().unwrap_or_default();
        let classes = match &raw.kind {
            EnsembleKind::Regressor { .. } => None,
            EnsembleKind::Classifier { labels } => {
                if base_values.len() > n_outputs {
                    return Err(invalid(format!(
                        "{} base values for {n_outputs} classes",
                        base_values.len()
                    )));
                }
                let mut voted: Vec<i64> = raw.w_ids.clone();
                voted.sort_unstable();
                voted.dedup();
                Some(Classes {
                    labels: labels.clone(),
                    binary_case: n_outputs == 2 && voted.len() == 1,
                    weights_all_positive: raw.w_values.iter().all(|&w| w >= 0.0),
                })
            }
        };
        let max_feature = nodes
            .iter()
            .filter(|n| n.mode != NodeMode::Leaf)
            .map(|n| n.feature as usize)
            .max()
            .unwrap_or(0);
        Ok(TreeEnsemble {
            roots,
            weights,
            n_outputs,
            aggregate: raw.aggregate,
            post_transform: raw.post_transform,
            base_values,
            max_feature,
            plain_leq: nodes
                .iter()
                .all(|n| n.mode == NodeMode::Leaf || (n.mode == NodeMode::Leq && !n.missing_true)),
            nodes,
            classes,
        })
    }

    /// Outputs per row: targets or classes.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Number of trees, as onnxruntime counts them.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// The class labels of a classifier.
    pub fn labels(&self) -> Option<&ClassLabels> {
        self.classes.as_ref().map(|c| &c.labels)
    }

    #[inline]
    fn leaf<I: Input>(&self, root: u32, row: &[I]) -> &Node {
        let mut node = &self.nodes[root as usize];
        if self.plain_leq {
            // scikit-learn's layout: one comparison, no missing tracks (NaN goes false).
            while node.mode != NodeMode::Leaf {
                let go = row[node.feature as usize].to_f64() <= I::threshold(node);
                node = &self.nodes[if go { node.a } else { node.b } as usize];
            }
            return node;
        }
        while node.mode != NodeMode::Leaf {
            let x = row[node.feature as usize].to_f64();
            let t = I::threshold(node);
            let go = match node.mode {
                NodeMode::Leq => x <= t,
                NodeMode::Lt => x < t,
                NodeMode::Gte => x >= t,
                NodeMode::Gt => x > t,
                NodeMode::Eq => x == t,
                NodeMode::Neq => x != t,
                NodeMode::Leaf => unreachable!("the loop stops at leaves"),
            } || (node.missing_true && x.is_nan());
            node = &self.nodes[if go { node.a } else { node.b } as usize];
        }
        node
    }

    /// Evaluates `rows` rows of `width` features (row-major in `x`) into `z` (`rows` x
    /// [`Self::n_outputs`]) and, for classifiers, `labels` (one per row: the label value
    /// for int64 labels, the label's index for string labels).
    pub fn eval<I: Input>(
        &self,
        x: &[I],
        width: usize,
        z: &mut [f32],
        mut labels: Option<&mut [i64]>,
    ) -> Result<(), String> {
        if self.max_feature >= width {
            return Err(format!(
                "a tree reads feature {} but rows have {width} features",
                self.max_feature
            ));
        }
        let rows = x.len().checked_div(width).unwrap_or(0);
        let n = self.n_outputs;
        if z.len() != rows * n {
            return Err(format!(
                "output of {} values for {rows} rows of {n}",
                z.len()
            ));
        }
        // Per-output scores; the single-target path needs none.
        let single = self.classes.is_none() && n == 1;
        let mut scores = vec![Score::<I::Acc>::EMPTY; if single { 0 } else { n }];
        for r in 0..rows {
            let row = &x[r * width..(r + 1) * width];
            let out = &mut z[r * n..(r + 1) * n];
            match &self.classes {
                None if single => {
                    let leaves = self.roots.iter().map(|&root| self.leaf(root, row));
                    out[0] = self.regress1::<I::Acc, _>(leaves);
                }
                None => {
                    scores.iter_mut().for_each(|s| *s = Score::EMPTY);
                    for &root in &self.roots {
                        let leaf = self.leaf(root, row);
                        self.vote(&mut scores, leaf);
                    }
                    self.finish_regression(&mut scores, out);
                }
                Some(classes) => {
                    scores.clear();
                    scores.resize(n, Score::EMPTY);
                    for &root in &self.roots {
                        let leaf = self.leaf(root, row);
                        self.vote(&mut scores, leaf);
                    }
                    let label = self.finish_classification(classes, &mut scores, out);
                    if let Some(l) = labels.as_deref_mut() {
                        l[r] = label;
                    }
                }
            }
        }
        Ok(())
    }

    /// One target: the leaves' first weights aggregated, base value added, PROBIT if set.
    fn regress1<'a, T: Acc, L: Iterator<Item = &'a Node>>(&'a self, leaves: L) -> f32 {
        let mut s = Score::<T>::EMPTY;
        for leaf in leaves {
            let w = T::of(self.weights[leaf.a as usize].1);
            match self.aggregate {
                Aggregate::Sum | Aggregate::Average => s.v = s.v + w,
                Aggregate::Min => {
                    s.v = if !s.has || w < s.v { w } else { s.v };
                    s.has = true;
                }
                Aggregate::Max => {
                    s.v = if !s.has || w > s.v { w } else { s.v };
                    s.has = true;
                }
            }
        }
        let origin = if self.base_values.len() == 1 {
            T::of(self.base_values[0])
        } else {
            T::ZERO
        };
        let v = match self.aggregate {
            Aggregate::Sum => s.v + origin,
            Aggregate::Average => s.v / T::of(self.roots.len() as f64) + origin,
            Aggregate::Min | Aggregate::Max if s.has => s.v + origin,
            Aggregate::Min | Aggregate::Max => origin,
        };
        if self.post_transform == PostTransform::Probit {
            probit(v.to_f32())
        } else {
            v.to_f32()
        }
    }

    fn vote<T: Acc>(&self, scores: &mut [Score<T>], leaf: &Node) {
        let range = leaf.a as usize..(leaf.a + leaf.b) as usize;
        for &(id, w) in &self.weights[range] {
            let s = &mut scores[id as usize];
            let w = T::of(w);
            s.v = match self.aggregate {
                Aggregate::Sum | Aggregate::Average => s.v + w,
                Aggregate::Min if !s.has || w < s.v => w,
                Aggregate::Max if !s.has || w > s.v => w,
                Aggregate::Min | Aggregate::Max => s.v,
            };
            s.has = true;
        }
    }

    fn finish_regression<T: Acc>(&self, scores: &mut [Score<T>], out: &mut [f32]) {
        let use_base = self.base_values.len() == scores.len();
        let n_trees = T::of(self.roots.len() as f64);
        for (j, s) in scores.iter_mut().enumerate() {
            let base = if use_base {
                T::of(self.base_values[j])
            } else {
                T::ZERO
            };
            s.v = match self.aggregate {
                Aggregate::Sum => s.v + base,
                Aggregate::Average => s.v / n_trees + base,
                Aggregate::Min | Aggregate::Max => base + s.get(),
            };
        }
        write_scores(scores, self.post_transform, out, -1);
    }

    /// onnxruntime's `TreeAggregatorClassifier::FinalizeScores`; returns the label.
    fn finish_classification<T: Acc>(
        &self,
        classes: &Classes,
        p: &mut Vec<Score<T>>,
        out: &mut [f32],
    ) -> i64 {
        let label_at = |i: usize| match &classes.labels {
            ClassLabels::Int64(v) => v[i],
            ClassLabels::Strings(_) => i as i64,
        };
        let base = |k: usize| T::of(self.base_values[k]);
        let mut second = -1;
        let label;
        if p.len() > 2 {
            for (k, s) in p.iter_mut().enumerate().take(self.base_values.len()) {
                if s.has {
                    s.v = s.v + base(k);
                } else {
                    *s = Score {
                        v: base(k),
                        has: true,
                    };
                }
            }
            let mut best: Option<(usize, T)> = None;
            for (i, s) in p.iter().enumerate() {
                if s.has && best.is_none_or(|(_, w)| s.v > w) {
                    best = Some((i, s.v));
                }
            }
            label = label_at(best.map_or(0, |(i, _)| i));
        } else {
            match self.base_values.len() {
                2 if p[1].has => {
                    // As onnxruntime: class 1 gets base_values[1] plus class 0's votes.
                    p[1].v = base(1) + p[0].v;
                    p[0].v = -p[1].v;
                }
                2 => {
                    p[1].v = p[1].v + base(1);
                    p[0].v = p[0].v + base(0);
                }
                1 => {
                    p[0].v = p[0].v + base(0);
                    if !p[1].has {
                        p.truncate(1);
                    }
                }
                0 => {
                    second = 3;
                    if !p[1].has {
                        p.truncate(1);
                    }
                }
                _ => {}
            }
            let (s0, h0) = (p[0].v, p[0].has);
            let pos = if p.len() == 2 && p[1].has {
                p[1].v
            } else if h0 {
                s0
            } else {
                T::ZERO
            };
            label = if classes.binary_case {
                let (cut, hi, lo) = if classes.weights_all_positive {
                    (T::of(0.5), 0, 1)
                } else {
                    (T::ZERO, 2, 3)
                };
                if pos > cut {
                    second = hi;
                    label_at(1)
                } else {
                    second = lo;
                    label_at(0)
                }
            } else if pos > T::ZERO {
                1
            } else {
                0
            };
        }
        write_scores(p, self.post_transform, out, second);
        label
    }

    /// For a single-tree, single-target regressor: the output each leaf gives, as
    /// `(node index, output)`, computed exactly as [`Self::eval`] computes it for
    /// `input_f64` (double) or float input. `None` for any other ensemble.
    pub fn leaf_outputs(&self, input_f64: bool) -> Option<Vec<(usize, f32)>> {
        if self.roots.len() != 1 || self.n_outputs != 1 || self.classes.is_some() {
            return None;
        }
        let out = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.mode == NodeMode::Leaf)
            .map(|(i, n)| {
                let leaf = std::iter::once(n);
                let v = if input_f64 {
                    self.regress1::<f64, _>(leaf)
                } else {
                    self.regress1::<f32, _>(leaf)
                };
                (i, v)
            })
            .collect();
        Some(out)
    }
}

/// Finds a cycle reachable from a root; returns a node on it.
fn check_acyclic(nodes: &[Node], roots: &[u32]) -> Result<(), usize> {
    // 0: unseen, 1: on the current path, 2: done.
    let mut state = vec![0u8; nodes.len()];
    let mut stack: Vec<(usize, bool)> = Vec::new();
    for &root in roots {
        stack.push((root as usize, false));
        while let Some((i, leaving)) = stack.pop() {
            if leaving {
                state[i] = 2;
                continue;
            }
            match state[i] {
                1 => return Err(i),
                2 => continue,
                _ => {}
            }
            state[i] = 1;
            stack.push((i, true));
            let n = &nodes[i];
            if n.mode != NodeMode::Leaf {
                for c in [n.a as usize, n.b as usize] {
                    if state[c] == 1 {
                        return Err(c);
                    }
                    if state[c] == 0 {
                        stack.push((c, false));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
