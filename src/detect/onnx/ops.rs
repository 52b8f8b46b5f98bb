//! The ONNX-ML operators vigil adds to tract's ONNX operator registry, as tract ops:
//! `TreeEnsembleRegressor`, `TreeEnsembleClassifier` (replacing tract's own, so that one
//! implementation, checked against onnxruntime, serves every tree model) and
//! `LabelEncoder` (numeric keys and values). Attributes are checked when the graph is
//! prepared (`graph`), so the builders here only fail on models that skipped that check.

use super::attrs::{invalid, unsupported, Attrs, NodeError};
use super::tree::raw::{ClassLabels, RawEnsemble};
use super::tree::TreeEnsemble;
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

/// tract's ONNX framework with vigil's ONNX-ML operators registered.
pub(crate) fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert("TreeEnsembleRegressor", tree_ensemble);
    onnx.op_register
        .insert("TreeEnsembleClassifier", tree_ensemble);
    onnx.op_register.insert("LabelEncoder", label_encoder);
    onnx
}

/// The ai.onnx.ml operators that tract implements itself and vigil lets through.
pub(crate) const TRACT_ML_OPS: &[&str] = &[
    "ArrayFeatureExtractor",
    "CategoryMapper",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
];

/// The ai.onnx.ml operators vigil implements.
pub(crate) const VIGIL_ML_OPS: &[&str] = &[
    "TreeEnsembleRegressor",
    "TreeEnsembleClassifier",
    "LabelEncoder",
];

/// Checks a vigil-implemented node's attributes (called at preparation, for typed errors).
pub(crate) fn check_node(node: &NodeProto) -> Result<(), NodeError> {
    match node.op_type.as_str() {
        "LabelEncoder" => LabelEncoder::parse(node).map(|_| ()),
        _ => TreeEnsemble::build(&RawEnsemble::parse(node)?).map(|_| ()),
    }
}

fn node_error(node: &NodeProto, e: NodeError) -> TractError {
    format_err!("node `{}` ({}): {e}", node.name, node.op_type)
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn tree_ensemble(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let raw = RawEnsemble::parse(node).map_err(|e| node_error(node, e))?;
    let ensemble = TreeEnsemble::build(&raw).map_err(|e| node_error(node, e))?;
    let op = TreeEnsembleOp {
        ensemble: Arc::new(ensemble),
    };
    Ok((expand(op), vec![]))
}

fn label_encoder(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let op = LabelEncoder::parse(node).map_err(|e| node_error(node, e))?;
    Ok((expand(LabelEncoderOp(Arc::new(op))), vec![]))
}

/// A tree ensemble as a tract op: input `[N, F]` float or double; a regressor outputs
/// scores `[N, targets]` (f32), a classifier labels `[N]` (int64 or string) and scores
/// `[N, classes]`.
#[derive(Clone)]
pub(crate) struct TreeEnsembleOp {
    ensemble: Arc<TreeEnsemble>,
}

impl std::fmt::Debug for TreeEnsembleOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TreeEnsemble({} trees, {} outputs)",
            self.ensemble.n_trees(),
            self.ensemble.n_outputs()
        )
    }
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}
impl Eq for TreeEnsembleOp {}

impl TreeEnsembleOp {
    fn label_type(&self) -> Option<DatumType> {
        self.ensemble.labels().map(|l| match l {
            ClassLabels::Int64(_) => DatumType::I64,
            ClassLabels::Strings(_) => DatumType::String,
        })
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        if self.ensemble.labels().is_some() {
            "TreeEnsembleClassifier".into()
        } else {
            "TreeEnsembleRegressor".into()
        }
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(
            shape.len() == 2,
            "tree ensemble input must be 2-D, got {:?}",
            shape
        );
        let (rows, width) = (shape[0], shape[1]);
        let n = self.ensemble.n_outputs();
        let mut z = Tensor::zero::<f32>(&[rows, n])?;
        let mut labels = self.label_type().map(|_| vec![0i64; rows]);
        {
            let mut zv = z.try_as_plain_ram_mut()?;
            let zs = zv.as_slice_mut::<f32>()?;
            let view = input.try_as_plain_ram()?;
            let res = match input.datum_type() {
                DatumType::F32 => {
                    self.ensemble
                        .eval(view.as_slice::<f32>()?, width, zs, labels.as_deref_mut())
                }
                DatumType::F64 => {
                    self.ensemble
                        .eval(view.as_slice::<f64>()?, width, zs, labels.as_deref_mut())
                }
                dt => bail!("tree ensemble input must be float or double, got {dt:?}"),
            };
            res.map_err(|e| format_err!("{e}"))?;
        }
        let Some(labels) = labels else {
            return Ok(tvec!(z.into_tvalue()));
        };
        let labels = match self.ensemble.labels() {
            Some(ClassLabels::Strings(names)) => {
                let v: Vec<String> = labels.iter().map(|&i| names[i as usize].clone()).collect();
                tensor1(&v)
            }
            _ => tensor1(&labels),
        };
        Ok(tvec!(labels.into_tvalue(), z.into_tvalue()))
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].rank() == 2, "tree ensemble input must be 2-D");
        let rows = inputs[0].shape[0].clone();
        let scores = f32::fact([rows.clone(), self.ensemble.n_outputs().to_dim()]);
        Ok(match self.label_type() {
            Some(dt) => tvec!(dt.fact([rows]), scores),
            None => tvec!(scores),
        })
    }

    as_op!();
}

impl Expansion for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        Op::name(self)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.label_type().is_some() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        let label = self.label_type();
        check_output_arity(outputs, if label.is_some() { 2 } else { 1 })?;
        s.equals(&inputs[0].rank, 2)?;
        let z = &outputs[outputs.len() - 1];
        s.equals(&z.datum_type, DatumType::F32)?;
        s.equals(&z.rank, 2)?;
        s.equals(&z.shape[0], &inputs[0].shape[0])?;
        s.equals(&z.shape[1], self.ensemble.n_outputs().to_dim())?;
        if let Some(dt) = label {
            s.equals(&outputs[0].datum_type, dt)?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

/// Keys of a `LabelEncoder`, by the input type they match.
#[derive(Debug, Clone, PartialEq)]
enum Keys {
    Int64(HashMap<i64, usize>),
    /// f32 keys by bit pattern (-0 folded into +0, every NaN into one).
    Float(HashMap<u32, usize>),
    /// f64 keys, likewise.
    Double(HashMap<u64, usize>),
}

/// Values of a `LabelEncoder`, with the default for keys not found last.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
}

/// ONNX-ML `LabelEncoder` (opsets 2 to 4) on numbers: maps each element of the input
/// through the key -> value table, or to the default value. A NaN input matches a NaN key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelEncoder {
    keys: Keys,
    values: Values,
}

fn f32_key(x: f32) -> u32 {
    if x.is_nan() {
        f32::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

fn f64_key(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

fn index<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> HashMap<K, usize> {
    let mut m = HashMap::new();
    for (i, k) in keys.enumerate() {
        m.entry(k).or_insert(i); // the first of duplicate keys wins
    }
    m
}

impl LabelEncoder {
    fn parse(node: &NodeProto) -> Result<LabelEncoder, NodeError> {
        use super::attrs::{tensor_f64, tensor_i64};
        use tract_onnx::pb::tensor_proto::DataType;
        let a = Attrs(node);
        const KNOWN: &[&str] = &[
            "keys_int64s",
            "keys_floats",
            "keys_tensor",
            "values_int64s",
            "values_floats",
            "values_tensor",
            "default_int64",
            "default_float",
            "default_tensor",
        ];
        if let Some(x) = node
            .attribute
            .iter()
            .find(|x| !KNOWN.contains(&x.name.as_str()))
        {
            return Err(unsupported(format!(
                "attribute `{}` (only numeric keys and values are supported)",
                x.name
            )));
        }
        let tensor_kind = |name: &str| -> Result<Option<DataType>, NodeError> {
            Ok(a.tensor(name)?
                .map(|t| DataType::try_from(t.data_type).unwrap_or(DataType::Undefined)))
        };
        let keys = match (
            a.ints("keys_int64s")?,
            a.floats("keys_floats")?,
            a.tensor("keys_tensor")?,
        ) {
            (Some(k), None, None) => Keys::Int64(index(k.iter().copied())),
            (None, Some(k), None) => Keys::Float(index(k.iter().map(|&x| f32_key(x)))),
            (None, None, Some(t)) => match tensor_kind("keys_tensor")? {
                Some(DataType::Int64) => Keys::Int64(index(
                    tensor_i64(t)
                        .map_err(|e| invalid(format!("keys_tensor: {e}")))?
                        .into_iter(),
                )),
                Some(DataType::Float) => Keys::Float(index(
                    tensor_f64(t)
                        .map_err(|e| invalid(format!("keys_tensor: {e}")))?
                        .into_iter()
                        .map(|x| f32_key(x as f32)),
                )),
                Some(DataType::Double) => Keys::Double(index(
                    tensor_f64(t)
                        .map_err(|e| invalid(format!("keys_tensor: {e}")))?
                        .into_iter()
                        .map(f64_key),
                )),
                other => return Err(unsupported(format!("keys_tensor of type {other:?}"))),
            },
            _ => return Err(invalid("exactly one numeric key attribute must be set")),
        };
        let n_keys_given = match (
            a.ints("keys_int64s")?,
            a.floats("keys_floats")?,
            a.tensor("keys_tensor")?,
        ) {
            (Some(k), _, _) => k.len(),
            (_, Some(k), _) => k.len(),
            (_, _, Some(t)) => super::attrs::tensor_len(t).unwrap_or(0),
            _ => 0,
        };
        let default_tensor = a.tensor("default_tensor")?;
        let mut values = match (
            a.ints("values_int64s")?,
            a.floats("values_floats")?,
            a.tensor("values_tensor")?,
        ) {
            (Some(v), None, None) => Values::Int64(v.to_vec()),
            (None, Some(v), None) => Values::Float(v.to_vec()),
            (None, None, Some(t)) => match tensor_kind("values_tensor")? {
                Some(DataType::Int64) => Values::Int64(
                    tensor_i64(t).map_err(|e| invalid(format!("values_tensor: {e}")))?,
                ),
                Some(DataType::Float) => Values::Float(
                    tensor_f64(t)
                        .map_err(|e| invalid(format!("values_tensor: {e}")))?
                        .into_iter()
                        .map(|x| x as f32)
                        .collect(),
                ),
                Some(DataType::Double) => Values::Double(
                    tensor_f64(t).map_err(|e| invalid(format!("values_tensor: {e}")))?,
                ),
                other => return Err(unsupported(format!("values_tensor of type {other:?}"))),
            },
            _ => return Err(invalid("exactly one numeric value attribute must be set")),
        };
        let n_values = match &values {
            Values::Int64(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Double(v) => v.len(),
        };
        if n_values != n_keys_given {
            return Err(invalid(format!(
                "{n_keys_given} keys but {n_values} values"
            )));
        }
        let from_tensor_f64 = |t: &tract_onnx::pb::TensorProto| {
            tensor_f64(t)
                .ok()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| invalid("default_tensor must hold one number"))
        };
        match &mut values {
            Values::Int64(v) => v.push(match default_tensor {
                Some(t) => tensor_i64(t)
                    .ok()
                    .and_then(|v| v.first().copied())
                    .ok_or_else(|| invalid("default_tensor must hold one int64"))?,
                None => a.int("default_int64")?.unwrap_or(-1),
            }),
            Values::Float(v) => v.push(match default_tensor {
                Some(t) => from_tensor_f64(t)? as f32,
                None => a.float("default_float")?.unwrap_or(-0.0),
            }),
            Values::Double(v) => v.push(match default_tensor {
                Some(t) => from_tensor_f64(t)?,
                None => a.float("default_float")?.unwrap_or(-0.0) as f64,
            }),
        }
        Ok(LabelEncoder { keys, values })
    }

    fn value_type(&self) -> DatumType {
        match self.values {
            Values::Int64(_) => DatumType::I64,
            Values::Float(_) => DatumType::F32,
            Values::Double(_) => DatumType::F64,
        }
    }

    fn key_type(&self) -> DatumType {
        match self.keys {
            Keys::Int64(_) => DatumType::I64,
            Keys::Float(_) => DatumType::F32,
            Keys::Double(_) => DatumType::F64,
        }
    }

    fn positions(&self, input: &Tensor) -> TractResult<Vec<usize>> {
        let view = input.try_as_plain_ram()?;
        let default = match &self.values {
            Values::Int64(v) => v.len() - 1,
            Values::Float(v) => v.len() - 1,
            Values::Double(v) => v.len() - 1,
        };
        Ok(match &self.keys {
            Keys::Int64(m) => view
                .as_slice::<i64>()?
                .iter()
                .map(|k| *m.get(k).unwrap_or(&default))
                .collect(),
            Keys::Float(m) => view
                .as_slice::<f32>()?
                .iter()
                .map(|&k| *m.get(&f32_key(k)).unwrap_or(&default))
                .collect(),
            Keys::Double(m) => view
                .as_slice::<f64>()?
                .iter()
                .map(|&k| *m.get(&f64_key(k)).unwrap_or(&default))
                .collect(),
        })
    }
}

#[derive(Debug, Clone)]
struct LabelEncoderOp(Arc<LabelEncoder>);

impl PartialEq for LabelEncoderOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for LabelEncoderOp {}

impl Op for LabelEncoderOp {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoderOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut input = args_1!(inputs);
        // tract's ONNX `Cast` to int64 yields TDim (its integer type for shapes).
        if input.datum_type() == DatumType::TDim && self.0.key_type() == DatumType::I64 {
            input = input.cast_to::<i64>()?.into_owned().into_tvalue();
        }
        ensure!(
            input.datum_type() == self.0.key_type(),
            "LabelEncoder keys are {:?}, input is {:?}",
            self.0.key_type(),
            input.datum_type()
        );
        let pos = self.0.positions(&input)?;
        let shape = input.shape();
        let out = match &self.0.values {
            Values::Int64(v) => {
                let data: Vec<i64> = pos.iter().map(|&i| v[i]).collect();
                Tensor::from_shape(shape, &data)?
            }
            Values::Float(v) => {
                let data: Vec<f32> = pos.iter().map(|&i| v[i]).collect();
                Tensor::from_shape(shape, &data)?
            }
            Values::Double(v) => {
                let data: Vec<f64> = pos.iter().map(|&i| v[i]).collect();
                Tensor::from_shape(shape, &data)?
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LabelEncoderOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.0.value_type().fact(inputs[0].shape.iter())))
    }

    fn axes_mapping(
        &self,
        inputs: &[&TypedFact],
        outputs: &[&TypedFact],
    ) -> TractResult<AxesMapping> {
        AxesMapping::natural(inputs, outputs)
    }

    as_op!();
}

impl Expansion for LabelEncoderOp {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.0.value_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}
