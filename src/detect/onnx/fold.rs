//! Exact simplifications of tree graphs, on the ONNX graph before tract sees it.
//!
//! 1. **Leaf folding.** A `TreeEnsembleRegressor` with one tree and one target outputs, per
//!    row, one of as many values as the tree has leaves. When its output feeds a chain of
//!    row-wise nodes (element-wise operators whose other operands are one-element constants,
//!    `Cast`, `LabelEncoder`, `Reshape` to `[-1, 1]`) that leaves the chain through a
//!    single value, that value is a function of the leaf. The chains are evaluated once, by
//!    tract, on every leaf's output (one row per leaf), and the results become the leaves'
//!    weights; the chain nodes go. The folded values are computed by the same tract
//!    operators, optimised the same way, as would have run per record, so every output is
//!    the same to the bit (tested on the IsolationForest).
//! 2. **Ensemble merging.** A `Sum` whose every input is a single-target, SUM-aggregated,
//!    untransformed regressor without base values, used only there, reading the fed float
//!    input directly or through `Gather(axis = 1)` with constant indices, becomes one
//!    regressor over the fed input, with the trees in the same order and the gathered
//!    columns renumbered. Trees are then summed in f32 in the order `Sum` adds the
//!    per-ensemble f32 outputs, so the result is unchanged (double input is left alone:
//!    its ensembles sum in f64 before rounding to f32, which merging would change).
//!
//! Anything that does not match is left as it is. A failure while evaluating chains skips
//! folding (reported in `ModelInfo::fold_skipped`); the model then runs unfolded.

use super::attrs::{tensor_i64, tensor_len, Attrs};
use super::graph::{as_regressor, subgraph_refs};
use super::tree::raw::{Aggregate, EnsembleKind, PostTransform, RawEnsemble};
use super::tree::TreeEnsemble;
use super::InputDtype;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

/// What [`simplify`] did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub trees_folded: usize,
    pub ensembles_merged: usize,
    pub skipped: Option<String>,
}

/// Folds leaf chains, then merges sums of ensembles. `input` is the fed input's name.
pub(crate) fn simplify(
    graph: &mut GraphProto,
    onnx: &tract_onnx::Onnx,
    model: &ModelProto,
    input: &str,
    dtype: InputDtype,
) -> Report {
    let mut report = Report::default();
    match fold_leaves(graph, onnx, model, dtype == InputDtype::F64) {
        Ok(n) => report.trees_folded = n,
        Err(e) => report.skipped = Some(e),
    }
    if dtype == InputDtype::F32 {
        report.ensembles_merged = merge_sums(graph, input);
    }
    report
}

const UNARY: &[&str] = &[
    "Abs",
    "Cast",
    "Ceil",
    "Exp",
    "Floor",
    "Identity",
    "IsNaN",
    "Log",
    "Neg",
    "Not",
    "Reciprocal",
    "Relu",
    "Round",
    "Sigmoid",
    "Sign",
    "Sqrt",
    "Tanh",
];
const NARY: &[&str] = &[
    "Add",
    "And",
    "Clip",
    "Div",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Max",
    "Mean",
    "Min",
    "Mul",
    "Or",
    "Pow",
    "Sub",
    "Sum",
    "Where",
    "Xor",
];

/// Constant values of the graph: initializers and `Constant` nodes holding a tensor.
struct Consts<'a> {
    tensors: HashMap<&'a str, &'a TensorProto>,
    /// Which node produces a constant, for copying it into the chain model.
    nodes: HashMap<&'a str, usize>,
}

impl<'a> Consts<'a> {
    fn of(graph: &'a GraphProto) -> Consts<'a> {
        let mut tensors: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut nodes = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            if n.op_type == "Constant" && n.domain.is_empty() && n.output.len() == 1 {
                if let Ok(Some(t)) = Attrs(n).tensor("value") {
                    tensors.insert(n.output[0].as_str(), t);
                    nodes.insert(n.output[0].as_str(), i);
                }
            }
        }
        Consts { tensors, nodes }
    }

    /// A one-element constant of rank at most 2: broadcasting it leaves an `[N, 1]`
    /// operand's shape alone.
    fn scalar(&self, name: &str) -> bool {
        self.tensors
            .get(name)
            .is_some_and(|t| tensor_len(t) == Some(1) && t.dims.len() <= 2)
    }

    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.tensors.get(name).and_then(|t| tensor_i64(t).ok())
    }
}

/// Whether `node` computes each row from the same row of `chain` values only.
fn rowwise(node: &NodeProto, chain: &HashSet<String>, consts: &Consts) -> bool {
    let ins: Vec<&String> = node.input.iter().filter(|s| !s.is_empty()).collect();
    if node.output.len() != 1 || !subgraph_refs(node).is_empty() {
        return false;
    }
    let op = node.op_type.as_str();
    match node.domain.as_str() {
        "ai.onnx.ml" => op == "LabelEncoder" && ins.len() == 1 && chain.contains(ins[0]),
        "" | "ai.onnx" if UNARY.contains(&op) => ins.len() == 1 && chain.contains(ins[0]),
        "" | "ai.onnx" if op == "Reshape" => {
            ins.len() == 2
                && chain.contains(ins[0])
                && consts.ints(ins[1]).is_some_and(|s| s == [-1, 1])
        }
        "" | "ai.onnx" if NARY.contains(&op) => {
            ins.iter().all(|i| chain.contains(*i) || consts.scalar(i))
                && ins.iter().any(|i| chain.contains(*i))
        }
        _ => false,
    }
}

/// A single-tree ensemble whose row-wise tail can be folded.
struct Candidate {
    /// Index of the ensemble node.
    at: usize,
    raw: RawEnsemble,
    /// `(node index, output)` per leaf.
    leaves: Vec<(usize, f32)>,
    /// Indices of the chain's nodes.
    chain: Vec<usize>,
    /// The value through which the chain leaves.
    exit: String,
}

fn find_candidates(graph: &GraphProto, consts: &Consts, input_f64: bool) -> Vec<Candidate> {
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut out = Vec::new();
    for (at, node) in graph.node.iter().enumerate() {
        let Some(raw) = as_regressor(node) else {
            continue;
        };
        let Some(leaves) = TreeEnsemble::build(&raw)
            .ok()
            .and_then(|t| t.leaf_outputs(input_f64))
        else {
            continue;
        };
        let Some(start) = node.output.first() else {
            continue;
        };
        let mut values: HashSet<String> = HashSet::from([start.clone()]);
        let mut chain = Vec::new();
        let mut exits: HashSet<String> = HashSet::new();
        for (j, n) in graph.node.iter().enumerate().skip(at + 1) {
            exits.extend(subgraph_refs(n).into_iter().filter(|r| values.contains(r)));
            let uses: Vec<&String> = n.input.iter().filter(|i| values.contains(*i)).collect();
            if uses.is_empty() {
                continue;
            }
            if rowwise(n, &values, consts) {
                chain.push(j);
                values.extend(n.output.iter().cloned());
            } else {
                exits.extend(uses.into_iter().cloned());
            }
        }
        exits.extend(
            values
                .iter()
                .filter(|v| graph_outputs.contains(v.as_str()))
                .cloned(),
        );
        if exits.len() != 1 || chain.is_empty() {
            continue;
        }
        let exit = exits.into_iter().next().expect("one exit");
        if &exit == start {
            continue;
        }
        out.push(Candidate {
            at,
            raw,
            leaves,
            chain,
            exit,
        });
    }
    out
}

fn float_column(name: &str, rows: usize) -> ValueInfoProto {
    let dim = |n: i64| Dimension {
        value: Some(Dim::DimValue(n)),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(rows as i64), dim(1)],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Evaluates every candidate's chain on its leaves' outputs: one small model, run once.
fn eval_chains(
    graph: &GraphProto,
    consts: &Consts,
    onnx: &tract_onnx::Onnx,
    model: &ModelProto,
    cands: &[Candidate],
) -> Result<Vec<Vec<f32>>, String> {
    let mut sub = GraphProto {
        name: "vigil_leaf_chains".into(),
        ..Default::default()
    };
    let mut take: Vec<usize> = Vec::new();
    let mut inits: HashSet<&str> = HashSet::new();
    let init_names: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for c in cands {
        sub.input
            .push(float_column(&graph.node[c.at].output[0], c.leaves.len()));
        sub.output.push(ValueInfoProto {
            name: c.exit.clone(),
            ..Default::default()
        });
        for &j in &c.chain {
            take.push(j);
            for i in &graph.node[j].input {
                if let Some(&k) = consts.nodes.get(i.as_str()) {
                    take.push(k);
                } else if init_names.contains(i.as_str()) {
                    inits.insert(i.as_str());
                }
            }
        }
    }
    take.sort_unstable();
    take.dedup();
    sub.node = take.iter().map(|&j| graph.node[j].clone()).collect();
    sub.initializer = graph
        .initializer
        .iter()
        .filter(|t| inits.contains(t.name.as_str()))
        .cloned()
        .collect();
    let proto = ModelProto {
        ir_version: model.ir_version,
        opset_import: model.opset_import.clone(),
        graph: Some(sub),
        ..Default::default()
    };
    let run = || -> TractResult<TVec<TValue>> {
        let m = onnx.model_for_proto_model(&proto)?;
        let plan = m.into_optimized()?.into_runnable()?;
        let inputs = cands
            .iter()
            .map(|c| {
                let v: Vec<f32> = c.leaves.iter().map(|l| l.1).collect();
                Ok(Tensor::from_shape(&[v.len(), 1], &v)?.into_tvalue())
            })
            .collect::<TractResult<TVec<_>>>()?;
        plan.run(inputs)
    };
    let outputs = run().map_err(|e| format!("evaluating leaf chains: {e:#}"))?;
    cands
        .iter()
        .zip(outputs.iter())
        .map(|(c, t)| {
            if t.datum_type() != f32::datum_type() || t.len() != c.leaves.len() {
                return Err(format!(
                    "leaf chain ending in `{}` gives {:?} {:?}, expected {} floats",
                    c.exit,
                    t.datum_type(),
                    t.shape(),
                    c.leaves.len()
                ));
            }
            let view = t.try_as_plain_ram().map_err(|e| e.to_string())?;
            Ok(view.as_slice::<f32>().map_err(|e| e.to_string())?.to_vec())
        })
        .collect()
}

fn fold_leaves(
    graph: &mut GraphProto,
    onnx: &tract_onnx::Onnx,
    model: &ModelProto,
    input_f64: bool,
) -> Result<usize, String> {
    let (cands, values) = {
        let consts = Consts::of(graph);
        let cands = find_candidates(graph, &consts, input_f64);
        if cands.is_empty() {
            return Ok(0);
        }
        let values = eval_chains(graph, &consts, onnx, model, &cands)?;
        (cands, values)
    };
    let mut drop = vec![false; graph.node.len()];
    for (c, vals) in cands.iter().zip(values) {
        let mut raw = c.raw.clone();
        raw.w_tree_ids = c.leaves.iter().map(|&(k, _)| raw.tree_ids[k]).collect();
        raw.w_node_ids = c.leaves.iter().map(|&(k, _)| raw.node_ids[k]).collect();
        raw.w_ids = vec![0; c.leaves.len()];
        raw.w_values = vals.iter().map(|&v| v as f64).collect();
        raw.base_values = None;
        raw.aggregate = Aggregate::Sum;
        raw.post_transform = PostTransform::None;
        let old = &graph.node[c.at];
        let name = if old.name.is_empty() {
            c.exit.clone()
        } else {
            old.name.clone()
        };
        let node = raw.to_node(&name, &old.input[0], std::slice::from_ref(&c.exit));
        graph.node[c.at] = node;
        for &j in &c.chain {
            drop[j] = true;
        }
    }
    let mut d = drop.into_iter();
    graph.node.retain(|_| !d.next().unwrap_or(false));
    Ok(cands.len())
}

/// A regressor eligible for merging: its raw attributes and the input columns it reads
/// (`None`: the fed input as is).
fn mergeable(
    graph: &GraphProto,
    consts: &Consts,
    producer: &HashMap<&str, usize>,
    uses: &HashMap<&str, usize>,
    value: &str,
    input: &str,
) -> Option<(usize, RawEnsemble, Option<Vec<i64>>)> {
    let &at = producer.get(value)?;
    let node = &graph.node[at];
    let raw = as_regressor(node)?;
    let plain = raw.kind == EnsembleKind::Regressor { n_targets: 1 }
        && raw.aggregate == Aggregate::Sum
        && raw.post_transform == PostTransform::None
        && raw
            .base_values
            .as_ref()
            .is_none_or(|b| b.iter().all(|&x| x == 0.0));
    if !plain || uses.get(value).copied() != Some(1) {
        return None;
    }
    let src = node.input.first()?;
    if src == input {
        return Some((at, raw, None));
    }
    let g = &graph.node[*producer.get(src.as_str())?];
    let axis = Attrs(g).int("axis").ok()?.unwrap_or(0);
    if g.op_type != "Gather" || !g.domain.is_empty() || axis != 1 || g.input.len() != 2 {
        return None;
    }
    if g.input[0] != input || consts.tensors.get(g.input[1].as_str())?.dims.len() != 1 {
        return None;
    }
    let cols = consts.ints(&g.input[1])?;
    if cols.iter().any(|&c| c < 0) || raw.feature_ids.iter().any(|&f| f as usize >= cols.len()) {
        return None;
    }
    Some((at, raw, Some(cols)))
}

fn merge_sums(graph: &mut GraphProto, input: &str) -> usize {
    let mut merged = 0;
    loop {
        let found = {
            let consts = Consts::of(graph);
            let mut producer: HashMap<&str, usize> = HashMap::new();
            let mut uses: HashMap<&str, usize> = HashMap::new();
            for (i, n) in graph.node.iter().enumerate() {
                for o in &n.output {
                    producer.insert(o.as_str(), i);
                }
                for x in n.input.iter().filter(|s| !s.is_empty()) {
                    *uses.entry(x.as_str()).or_default() += 1;
                }
            }
            for o in &graph.output {
                *uses.entry(o.name.as_str()).or_default() += 1;
            }
            let mut found = None;
            for (s, n) in graph.node.iter().enumerate() {
                let is_sum = n.domain.is_empty()
                    && (n.op_type == "Sum" || (n.op_type == "Add" && n.input.len() == 2));
                if !is_sum || n.input.len() < 2 || n.output.len() != 1 {
                    continue;
                }
                let parts: Option<Vec<_>> = n
                    .input
                    .iter()
                    .map(|v| mergeable(graph, &consts, &producer, &uses, v, input))
                    .collect();
                if let Some(parts) = parts {
                    found = Some((s, parts));
                    break;
                }
            }
            found
        };
        let Some((s, parts)) = found else { break };
        let mut all = parts[0].1.clone();
        all.tree_ids.clear();
        all.node_ids.clear();
        all.feature_ids.clear();
        all.modes.clear();
        all.values.clear();
        all.true_ids.clear();
        all.false_ids.clear();
        all.missing_true.clear();
        all.w_tree_ids.clear();
        all.w_node_ids.clear();
        all.w_ids.clear();
        all.w_values.clear();
        all.base_values = None;
        let mut next_tree = 0i64;
        let mut tracks = false;
        for (_, raw, cols) in &parts {
            let min = raw.tree_ids.iter().copied().min().unwrap_or(0);
            let max = raw.tree_ids.iter().copied().max().unwrap_or(0);
            let shift = next_tree - min;
            let n = raw.tree_ids.len();
            all.tree_ids.extend(raw.tree_ids.iter().map(|t| t + shift));
            all.node_ids.extend_from_slice(&raw.node_ids);
            all.feature_ids
                .extend(raw.feature_ids.iter().map(|&f| match cols {
                    Some(c) => c[f as usize],
                    None => f,
                }));
            all.modes.extend_from_slice(&raw.modes);
            all.values.extend_from_slice(&raw.values);
            all.true_ids.extend_from_slice(&raw.true_ids);
            all.false_ids.extend_from_slice(&raw.false_ids);
            let mut m = raw.missing_true.clone();
            m.resize(n, false);
            tracks |= m.iter().any(|&b| b);
            all.missing_true.extend(m);
            all.w_tree_ids
                .extend(raw.w_tree_ids.iter().map(|t| t + shift));
            all.w_node_ids.extend_from_slice(&raw.w_node_ids);
            all.w_ids.extend_from_slice(&raw.w_ids);
            all.w_values.extend_from_slice(&raw.w_values);
            all.doubles |= raw.doubles;
            next_tree = max + shift + 1;
        }
        if !tracks {
            all.missing_true.clear();
        }
        let sum = &graph.node[s];
        let name = if sum.name.is_empty() {
            format!("{}_trees", sum.output[0])
        } else {
            sum.name.clone()
        };
        let node = all.to_node(&name, input, &sum.output.clone());
        graph.node[s] = node;
        let gone: HashSet<usize> = parts.iter().map(|p| p.0).collect();
        merged += gone.len() - 1;
        let mut i = 0;
        graph.node.retain(|_| {
            i += 1;
            !gone.contains(&(i - 1))
        });
    }
    merged
}
