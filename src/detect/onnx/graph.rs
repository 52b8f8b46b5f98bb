//! From the ONNX file to runnable tract plans: resolve the input and output the config
//! names, check the input's type and shape against the configured features, prune what the
//! output does not need, refuse unsupported operators by node, simplify tree graphs
//! (`fold`), then let tract type and optimise the graph, once for one row and once for
//! micro-batches of any size.

use super::ops::{self, TRACT_ML_OPS, VIGIL_ML_OPS};
use super::tree::raw::RawEnsemble;
use super::{
    attrs::NodeError, fold, InputDtype, ModelInfo, OnnxDetectorConfig, OnnxError, OutputRef,
};
use std::collections::HashSet;
use std::path::Path;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

/// A checked and simplified model, not yet typed by tract.
pub(crate) struct Prepared {
    pub proto: ModelProto,
    pub info: ModelInfo,
}

/// ONNX element types vigil can feed.
const ONNX_FLOAT: i32 = 1;
const ONNX_DOUBLE: i32 = 11;

fn elem_name(t: i32) -> String {
    use tract_onnx::pb::tensor_proto::DataType;
    match DataType::try_from(t) {
        Ok(DataType::Float) => "float (f32)".into(),
        Ok(DataType::Double) => "double (f64)".into(),
        Ok(d) => format!("{d:?}").to_lowercase(),
        Err(_) => format!("unknown type {t}"),
    }
}

fn tensor_type(v: &ValueInfoProto) -> Option<&tract_onnx::pb::type_proto::Tensor> {
    match v.r#type.as_ref()?.value.as_ref()? {
        TypeValue::TensorType(t) => Some(t),
    }
}

/// Dims as declared: `Some(n)` fixed, `None` symbolic or unknown.
fn dims(t: &tract_onnx::pb::type_proto::Tensor) -> Option<Vec<Option<i64>>> {
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(Dim::DimValue(n)) => Some(n),
                _ => None,
            })
            .collect(),
    )
}

fn show_dims(t: &tract_onnx::pb::type_proto::Tensor) -> String {
    let Some(shape) = t.shape.as_ref() else {
        return "unknown".into();
    };
    let d: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Dim::DimValue(n)) => n.to_string(),
            Some(Dim::DimParam(p)) if !p.is_empty() => p.clone(),
            _ => "?".into(),
        })
        .collect();
    format!("[{}]", d.join(", "))
}

fn names(v: &[ValueInfoProto]) -> String {
    if v.is_empty() {
        return "(none)".into();
    }
    v.iter()
        .map(|x| format!("`{}`", x.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and checks the model, prunes it to the selected output and simplifies it.
pub(crate) fn prepare(cfg: &OnnxDetectorConfig, simplify: bool) -> Result<Prepared, OnnxError> {
    let path = &cfg.path;
    let onnx = ops::framework();
    let mut proto = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            onnx.proto_model_for_read(&mut &bytes[..])
                .map_err(|e| format!("not an ONNX model: {e:#}"))
        })
        .map_err(|detail| OnnxError::Unreadable {
            path: path.clone(),
            detail,
        })?;
    let mut graph = proto.graph.take().ok_or_else(|| OnnxError::Unreadable {
        path: path.clone(),
        detail: "the file holds no graph".into(),
    })?;
    let nodes_in_file = graph.node.len();

    let output = select_output(path, &graph, &cfg.output.select)?;
    prune(&mut graph, &output.name);
    let input = select_input(path, &graph, cfg)?;
    let single_row = check_input(path, &input, cfg)?;
    check_operators(path, &graph.node, &onnx)?;

    let report = if simplify {
        let r = fold::simplify(&mut graph, &onnx, &proto, &input.name, cfg.dtype);
        prune(&mut graph, &output.name);
        r
    } else {
        fold::Report::default()
    };
    let info = ModelInfo {
        input: input.name.clone(),
        output: output.name.clone(),
        nodes_in_file,
        nodes_prepared: graph.node.len(),
        trees_folded: report.trees_folded,
        ensembles_merged: report.ensembles_merged,
        fold_skipped: report.skipped,
        single_row,
    };
    proto.graph = Some(graph);
    Ok(Prepared { proto, info })
}

/// The selected output's value info: a graph output, or an intermediate value by name.
fn select_output(
    path: &Path,
    graph: &GraphProto,
    sel: &OutputRef,
) -> Result<ValueInfoProto, OnnxError> {
    let found = match sel {
        OutputRef::Index(i) => graph.output.get(*i).cloned(),
        OutputRef::Name(n) => graph
            .output
            .iter()
            .find(|o| &o.name == n)
            .cloned()
            .or_else(|| {
                let produced = graph
                    .node
                    .iter()
                    .any(|node| node.output.iter().any(|o| o == n));
                produced.then(|| {
                    graph
                        .value_info
                        .iter()
                        .find(|v| &v.name == n)
                        .cloned()
                        .unwrap_or_else(|| ValueInfoProto {
                            name: n.clone(),
                            ..Default::default()
                        })
                })
            }),
    };
    found.ok_or_else(|| OnnxError::OutputNotFound {
        path: path.to_path_buf(),
        output: sel.to_string(),
        available: names(&graph.output),
    })
}

/// Keeps the nodes `output` depends on, the initializers they read and the inputs they
/// need; `output` becomes the only graph output.
pub(crate) fn prune(graph: &mut GraphProto, output: &str) {
    let mut needed: HashSet<String> = HashSet::from([output.to_string()]);
    let mut keep = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(node.input.iter().filter(|s| !s.is_empty()).cloned());
            needed.extend(subgraph_refs(node));
        }
    }
    let mut k = keep.into_iter();
    graph.node.retain(|_| k.next().unwrap_or(false));
    graph.initializer.retain(|t| needed.contains(&t.name));
    graph.input.retain(|v| needed.contains(&v.name));
    graph.value_info.retain(|v| needed.contains(&v.name));
    if let Some(o) = graph.output.iter().find(|o| o.name == output).cloned() {
        graph.output = vec![o];
    } else {
        let info = graph
            .value_info
            .iter()
            .find(|v| v.name == output)
            .cloned()
            .unwrap_or_else(|| ValueInfoProto {
                name: output.to_string(),
                ..Default::default()
            });
        graph.output = vec![info];
    }
}

/// Names a node's subgraphs (If, Loop, Scan bodies) read, including from the outer scope.
pub(crate) fn subgraph_refs(node: &NodeProto) -> Vec<String> {
    let mut out = Vec::new();
    for a in &node.attribute {
        for g in a.g.iter().chain(a.graphs.iter()) {
            for n in &g.node {
                out.extend(n.input.iter().filter(|s| !s.is_empty()).cloned());
                out.extend(subgraph_refs(n));
            }
            out.extend(g.output.iter().map(|o| o.name.clone()));
        }
    }
    out
}

fn select_input(
    path: &Path,
    graph: &GraphProto,
    cfg: &OnnxDetectorConfig,
) -> Result<ValueInfoProto, OnnxError> {
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let real: Vec<ValueInfoProto> = graph
        .input
        .iter()
        .filter(|v| !inits.contains(v.name.as_str()))
        .cloned()
        .collect();
    let input = match &cfg.input_name {
        Some(name) => real
            .iter()
            .find(|v| &v.name == name)
            .cloned()
            .ok_or_else(|| OnnxError::InputNotFound {
                path: path.to_path_buf(),
                input: name.clone(),
                available: names(&real),
            })?,
        None if real.len() == 1 => real[0].clone(),
        None => {
            return Err(OnnxError::Inputs {
                path: path.to_path_buf(),
                detail: if real.is_empty() {
                    "the selected output depends on no input".into()
                } else {
                    "the model has several inputs; set `input_name` to the one vigil feeds".into()
                },
                available: names(&real),
            })
        }
    };
    if let Some(other) = real.iter().find(|v| v.name != input.name) {
        return Err(OnnxError::Inputs {
            path: path.to_path_buf(),
            detail: format!(
                "the selected output also needs input `{}`, but vigil feeds only `{}`",
                other.name, input.name
            ),
            available: names(&real),
        });
    }
    Ok(input)
}

/// Checks type and shape; returns whether the batch dimension is fixed at 1.
fn check_input(
    path: &Path,
    input: &ValueInfoProto,
    cfg: &OnnxDetectorConfig,
) -> Result<bool, OnnxError> {
    let width = cfg.inputs.len();
    let expected_shape = format!("[N, {width}] (a batch of rows of the {width} mapped features)");
    let shape_err = |found: String| OnnxError::InputShape {
        path: path.to_path_buf(),
        input: input.name.clone(),
        expected: expected_shape.clone(),
        found,
    };
    let Some(t) = tensor_type(input) else {
        return Err(shape_err("not a tensor".into()));
    };
    let want = match cfg.dtype {
        InputDtype::F32 => ONNX_FLOAT,
        InputDtype::F64 => ONNX_DOUBLE,
    };
    if t.elem_type != want {
        return Err(OnnxError::InputType {
            path: path.to_path_buf(),
            input: input.name.clone(),
            expected: format!("{} (dtype = \"{}\")", elem_name(want), cfg.dtype.as_str()),
            found: elem_name(t.elem_type),
        });
    }
    let Some(d) = dims(t) else {
        return Ok(false); // no declared shape: trust the config
    };
    if d.len() != 2 {
        return Err(shape_err(show_dims(t)));
    }
    let single_row = match d[0] {
        None => false,
        Some(1) => true,
        Some(_) => {
            return Err(OnnxError::InputShape {
                path: path.to_path_buf(),
                input: input.name.clone(),
                expected: "a dynamic batch dimension (or 1) first".into(),
                found: show_dims(t),
            })
        }
    };
    if let Some(columns) = d[1] {
        let columns = columns.max(0) as usize;
        if columns != width {
            let names: Vec<&str> = cfg.inputs.iter().map(|i| i.name.as_str()).collect();
            let detail = if columns > width {
                format!(
                    "missing a mapping for columns {width}..{columns}; [[inputs]] maps {}",
                    names.join(", ")
                )
            } else {
                format!(
                    "the model takes only the first {columns}; inputs[{columns}..] ({}) have no column",
                    names[columns..].join(", ")
                )
            };
            return Err(OnnxError::FeatureMapping {
                path: path.to_path_buf(),
                input: input.name.clone(),
                columns,
                mapped: width,
                detail,
            });
        }
    }
    Ok(single_row)
}

fn supported_list() -> String {
    let ml: Vec<&str> = VIGIL_ML_OPS.iter().chain(TRACT_ML_OPS).copied().collect();
    format!(
        "vigil runs tract's ONNX operators and, from ai.onnx.ml, {}",
        ml.join(", ")
    )
}

/// Refuses, by node, operators neither tract nor vigil implements and ONNX-ML attributes
/// vigil does not implement. Subgraphs are checked too.
fn check_operators(
    path: &Path,
    nodes: &[NodeProto],
    onnx: &tract_onnx::Onnx,
) -> Result<(), OnnxError> {
    for node in nodes {
        let op = node.op_type.as_str();
        let ml_op = VIGIL_ML_OPS.contains(&op) || TRACT_ML_OPS.contains(&op);
        let known = match node.domain.as_str() {
            "" | "ai.onnx" => onnx.op_register.0.contains_key(op) && !ml_op,
            "ai.onnx.ml" => ml_op,
            _ => false,
        };
        let node_name = if node.name.is_empty() {
            node.output.first().cloned().unwrap_or_default()
        } else {
            node.name.clone()
        };
        let shown = if node.domain.is_empty() {
            op.to_string()
        } else {
            format!("{}.{}", node.domain, op)
        };
        if !known {
            return Err(OnnxError::UnsupportedOperator {
                path: path.to_path_buf(),
                node: node_name,
                op: shown,
                detail: supported_list(),
            });
        }
        if node.domain == "ai.onnx.ml" && VIGIL_ML_OPS.contains(&op) {
            ops::check_node(node)
                .map_err(|e| node_error(path, node_name.clone(), shown.clone(), e))?;
        }
        for a in &node.attribute {
            for g in a.g.iter().chain(a.graphs.iter()) {
                check_operators(path, &g.node, onnx)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn node_error(path: &Path, node: String, op: String, e: NodeError) -> OnnxError {
    let path = path.to_path_buf();
    match e {
        NodeError::Unsupported(detail) => OnnxError::UnsupportedAttribute {
            path,
            node,
            op,
            detail,
        },
        NodeError::Invalid(detail) => OnnxError::InvalidNode {
            path,
            node,
            op,
            detail,
        },
    }
}

/// Whether a node is a single-output tree ensemble regressor, parsed.
pub(crate) fn as_regressor(node: &NodeProto) -> Option<RawEnsemble> {
    if node.domain != "ai.onnx.ml" || node.op_type != "TreeEnsembleRegressor" {
        return None;
    }
    RawEnsemble::parse(node).ok()
}

/// The optimised plans and the buffers to call them.
pub(crate) struct Runner {
    one: TypedSimpleState,
    many: Option<TypedSimpleState>,
    width: usize,
    out_cols: usize,
}

impl Runner {
    /// Types and optimises the model for one row and, unless the model takes a single
    /// row, for a symbolic batch; checks that the output has one row per input row.
    pub fn new(
        path: &Path,
        prepared: &Prepared,
        dtype: InputDtype,
        width: usize,
        batch: usize,
    ) -> Result<Runner, OnnxError> {
        let model_err = |stage: &str, e: TractError| OnnxError::Model {
            path: path.to_path_buf(),
            detail: format!("{stage}: {e:#}"),
        };
        let onnx = ops::framework();
        let model = onnx
            .model_for_proto_model(&prepared.proto)
            .map_err(|e| model_err("cannot build the graph", e))?;
        let dt = match dtype {
            InputDtype::F32 => f32::datum_type(),
            InputDtype::F64 => f64::datum_type(),
        };
        let output = &prepared.info.output;
        let n = model.symbols.sym("N");
        // A model whose batch dimension is fixed at 1 is typed for exactly that.
        let rows_dim = if prepared.info.single_row {
            1.to_dim()
        } else {
            n.to_dim()
        };
        let fact = InferenceFact::dt_shape(dt, tvec![rows_dim, width.to_dim()]);
        // Typed and decluttered once with a symbolic batch; the single-row plan binds it to
        // 1 afterwards, which keeps the batch axis (optimising for [1, F] from the start
        // squeezes it out and runs a reshape around every operator).
        let decluttered = model
            .with_input_fact(0, fact)
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .map_err(|e| model_err("cannot type the graph", e))?;
        let plan = |rows: Option<usize>| -> Result<(TypedSimpleState, usize), OnnxError> {
            let (mut m, rows_dim) = match rows {
                Some(r) => {
                    let subs = std::collections::HashMap::from([(n.clone(), r.to_dim())]);
                    let m = decluttered
                        .set_symbols(&subs)
                        .map_err(|e| model_err("cannot fix the batch size", e))?;
                    (m, r.to_dim())
                }
                None => (decluttered.clone(), n.to_dim()),
            };
            m.optimize()
                .map_err(|e| model_err("cannot optimise the graph", e))?;
            let fact = m
                .output_fact(0)
                .map_err(|e| model_err("no output", e))?
                .clone();
            let shape: Vec<TDim> = fact.shape.iter().cloned().collect();
            let cols = match shape.as_slice() {
                [r] if *r == rows_dim => Some(1),
                [r, c] if *r == rows_dim => c.to_usize().ok(),
                _ => None,
            };
            let cols = cols.ok_or_else(|| OnnxError::OutputShape {
                path: path.to_path_buf(),
                output: output.clone(),
                expected: "[N] or [N, C]: one row per input row".into(),
                found: format!("{:?} for N = {rows_dim}", shape),
            })?;
            let plan = m
                .into_runnable()
                .map_err(|e| model_err("cannot plan the graph", e))?;
            let state =
                TypedSimpleState::new(&plan).map_err(|e| model_err("cannot plan the graph", e))?;
            Ok((state, cols))
        };
        let (one, out_cols) = plan(Some(1))?;
        let many = if prepared.info.single_row || batch == 1 {
            None
        } else {
            Some(plan(None)?.0)
        };
        Ok(Runner {
            one,
            many,
            width,
            out_cols,
        })
    }

    /// Columns of the output.
    pub fn out_cols(&self) -> usize {
        self.out_cols
    }

    /// Runs `rows` rows (`x` row-major) and writes the output into `y` as f64.
    pub fn run<T: Datum + Copy>(
        &mut self,
        x: &[T],
        rows: usize,
        y: &mut Vec<f64>,
    ) -> TractResult<()> {
        let input = Tensor::from_shape(&[rows, self.width], x)?;
        let state = match (&mut self.many, rows) {
            (Some(many), r) if r > 1 => many,
            _ => &mut self.one,
        };
        let out = state.run(tvec![input.into_tvalue()])?;
        let t = &out[0];
        y.clear();
        let view = t.try_as_plain_ram()?;
        match t.datum_type() {
            DatumType::F32 => y.extend(view.as_slice::<f32>()?.iter().map(|&v| v as f64)),
            DatumType::F64 => y.extend_from_slice(view.as_slice::<f64>()?),
            _ => {
                let c = t.cast_to::<f64>()?;
                y.extend_from_slice(c.try_as_plain_ram()?.as_slice::<f64>()?);
            }
        }
        Ok(())
    }
}
