//! A tree-ensemble node's attributes, read from and written back to an ONNX `NodeProto`.
//!
//! This is the form the graph passes (`fold`) rewrite: they renumber trees, remap features
//! and replace leaf weights, then write a new node that [`super::TreeEnsemble`] compiles.

use super::super::attrs::{invalid, unsupported, Attrs, NodeError};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// How a branch node compares the feature `x` with its threshold `t` (true branch when the
/// comparison holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeMode {
    /// `x <= t`
    Leq,
    /// `x < t`
    Lt,
    /// `x >= t`
    Gte,
    /// `x > t`
    Gt,
    /// `x == t`
    Eq,
    /// `x != t`
    Neq,
    /// A leaf: no comparison, the weights attached to it vote.
    Leaf,
}

impl NodeMode {
    fn parse(s: &str) -> Result<NodeMode, NodeError> {
        Ok(match s {
            "BRANCH_LEQ" => NodeMode::Leq,
            "BRANCH_LT" => NodeMode::Lt,
            "BRANCH_GTE" => NodeMode::Gte,
            "BRANCH_GT" => NodeMode::Gt,
            "BRANCH_EQ" => NodeMode::Eq,
            "BRANCH_NEQ" => NodeMode::Neq,
            "LEAF" => NodeMode::Leaf,
            other => {
                return Err(unsupported(format!(
                    "nodes_modes: `{other}` (supported: BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, \
                     BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF)"
                )))
            }
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            NodeMode::Leq => "BRANCH_LEQ",
            NodeMode::Lt => "BRANCH_LT",
            NodeMode::Gte => "BRANCH_GTE",
            NodeMode::Gt => "BRANCH_GT",
            NodeMode::Eq => "BRANCH_EQ",
            NodeMode::Neq => "BRANCH_NEQ",
            NodeMode::Leaf => "LEAF",
        }
    }
}

/// How the votes of the trees combine (regressors; classifiers always sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    fn as_str(self) -> &'static str {
        match self {
            Aggregate::Sum => "SUM",
            Aggregate::Average => "AVERAGE",
            Aggregate::Min => "MIN",
            Aggregate::Max => "MAX",
        }
    }
}

/// The transform applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    fn as_str(self) -> &'static str {
        match self {
            PostTransform::None => "NONE",
            PostTransform::Logistic => "LOGISTIC",
            PostTransform::Softmax => "SOFTMAX",
            PostTransform::SoftmaxZero => "SOFTMAX_ZERO",
            PostTransform::Probit => "PROBIT",
        }
    }
}

/// Class labels of a classifier: exactly one of the two attributes is set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClassLabels {
    Int64(Vec<i64>),
    Strings(Vec<String>),
}

impl ClassLabels {
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Int64(v) => v.len(),
            ClassLabels::Strings(v) => v.len(),
        }
    }
}

/// Regressor or classifier, with what differs between them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EnsembleKind {
    /// `TreeEnsembleRegressor` with `n_targets` outputs per row.
    Regressor { n_targets: usize },
    /// `TreeEnsembleClassifier`: a label per row and a score per class.
    Classifier { labels: ClassLabels },
}

/// The attributes of a `TreeEnsembleRegressor` or `TreeEnsembleClassifier` node (ai.onnx.ml
/// opsets 1 to 3). Node arrays are indexed alike; weight arrays (`target_*` or `class_*`)
/// are indexed alike.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawEnsemble {
    pub kind: EnsembleKind,
    pub tree_ids: Vec<i64>,
    pub node_ids: Vec<i64>,
    pub feature_ids: Vec<i64>,
    pub modes: Vec<NodeMode>,
    /// Thresholds, exactly as stored (f32 values widened, or doubles).
    pub values: Vec<f64>,
    pub true_ids: Vec<i64>,
    pub false_ids: Vec<i64>,
    /// `nodes_missing_value_tracks_true`; may be shorter than the node arrays (then the
    /// remaining nodes send NaN to the false branch).
    pub missing_true: Vec<bool>,
    pub w_tree_ids: Vec<i64>,
    pub w_node_ids: Vec<i64>,
    pub w_ids: Vec<i64>,
    pub w_values: Vec<f64>,
    pub base_values: Option<Vec<f64>>,
    pub aggregate: Aggregate,
    pub post_transform: PostTransform,
    /// Whether thresholds, weights and base values were given as double tensors
    /// (`*_as_tensor`), so that a rewritten node keeps them as such.
    pub doubles: bool,
}

const COMMON: &[&str] = &[
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_modes",
    "nodes_values",
    "nodes_values_as_tensor",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_missing_value_tracks_true",
    "nodes_hitrates",
    "nodes_hitrates_as_tensor",
    "base_values",
    "base_values_as_tensor",
    "post_transform",
];

fn required<T>(v: Option<T>, name: &str) -> Result<T, NodeError> {
    v.ok_or_else(|| invalid(format!("attribute `{name}` is missing")))
}

fn same_len(name: &str, len: usize, expected: usize) -> Result<(), NodeError> {
    if len == expected {
        Ok(())
    } else {
        Err(invalid(format!(
            "attribute `{name}` has {len} values, expected {expected} (one per entry)"
        )))
    }
}

impl RawEnsemble {
    /// Reads a `TreeEnsembleRegressor` or `TreeEnsembleClassifier` node.
    pub fn parse(node: &NodeProto) -> Result<RawEnsemble, NodeError> {
        let a = Attrs(node);
        let classifier = match node.op_type.as_str() {
            "TreeEnsembleRegressor" => false,
            "TreeEnsembleClassifier" => true,
            other => return Err(invalid(format!("`{other}` is not a tree ensemble"))),
        };
        let prefix = if classifier { "class" } else { "target" };
        let known_own: &[&str] = if classifier {
            &[
                "class_ids",
                "class_nodeids",
                "class_treeids",
                "class_weights",
                "class_weights_as_tensor",
                "classlabels_int64s",
                "classlabels_strings",
            ]
        } else {
            &[
                "target_ids",
                "target_nodeids",
                "target_treeids",
                "target_weights",
                "target_weights_as_tensor",
                "n_targets",
                "aggregate_function",
            ]
        };
        if let Some(attr) = node
            .attribute
            .iter()
            .find(|x| !COMMON.contains(&x.name.as_str()) && !known_own.contains(&x.name.as_str()))
        {
            return Err(unsupported(format!("attribute `{}`", attr.name)));
        }

        let kind = if classifier {
            let labels = match (
                a.ints("classlabels_int64s")?,
                a.strings("classlabels_strings")?,
            ) {
                (Some(i), None) => ClassLabels::Int64(i.to_vec()),
                (None, Some(s)) => ClassLabels::Strings(s.iter().map(|s| s.to_string()).collect()),
                _ => {
                    return Err(invalid(
                        "exactly one of `classlabels_int64s` and `classlabels_strings` must be set",
                    ))
                }
            };
            if labels.len() < 2 {
                return Err(unsupported(format!(
                    "a classifier with {} class label(s) (at least 2 are needed)",
                    labels.len()
                )));
            }
            EnsembleKind::Classifier { labels }
        } else {
            let n = required(a.int("n_targets")?, "n_targets")?;
            if n < 1 {
                return Err(invalid(format!("`n_targets` is {n}, expected at least 1")));
            }
            EnsembleKind::Regressor {
                n_targets: n as usize,
            }
        };

        let tree_ids = required(a.ints("nodes_treeids")?, "nodes_treeids")?.to_vec();
        let n = tree_ids.len();
        if n == 0 {
            return Err(invalid("the ensemble has no nodes"));
        }
        let ints = |name: &str| -> Result<Vec<i64>, NodeError> {
            let v = required(a.ints(name)?, name)?;
            same_len(name, v.len(), n)?;
            Ok(v.to_vec())
        };
        let node_ids = ints("nodes_nodeids")?;
        let feature_ids = ints("nodes_featureids")?;
        let true_ids = ints("nodes_truenodeids")?;
        let false_ids = ints("nodes_falsenodeids")?;
        let modes = required(a.strings("nodes_modes")?, "nodes_modes")?;
        same_len("nodes_modes", modes.len(), n)?;
        let modes = modes
            .iter()
            .map(|s| NodeMode::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let values_as_tensor = a.has("nodes_values_as_tensor");
        let values = required(a.floats_or_tensor("nodes_values")?, "nodes_values")?;
        same_len("nodes_values", values.len(), n)?;
        let missing_true = a
            .ints("nodes_missing_value_tracks_true")?
            .map(|v| v.iter().map(|&x| x == 1).collect::<Vec<_>>())
            .unwrap_or_default();
        if missing_true.len() > n {
            return Err(invalid(format!(
                "attribute `nodes_missing_value_tracks_true` has {} values for {n} nodes",
                missing_true.len()
            )));
        }
        if feature_ids.iter().any(|&f| f < 0 || f > u32::MAX as i64) {
            return Err(invalid(
                "attribute `nodes_featureids` holds a negative feature",
            ));
        }

        let wname = |s: &str| format!("{prefix}_{s}");
        let w_ids = required(a.ints(&wname("ids"))?, &wname("ids"))?.to_vec();
        let m = w_ids.len();
        let wints = |s: &str| -> Result<Vec<i64>, NodeError> {
            let name = wname(s);
            let v = required(a.ints(&name)?, &name)?;
            same_len(&name, v.len(), m)?;
            Ok(v.to_vec())
        };
        let w_node_ids = wints("nodeids")?;
        let w_tree_ids = wints("treeids")?;
        let weights_as_tensor = a.has(&wname("weights_as_tensor"));
        let w_values = required(a.floats_or_tensor(&wname("weights"))?, &wname("weights"))?;
        same_len(&wname("weights"), w_values.len(), m)?;
        let base_as_tensor = a.has("base_values_as_tensor");
        let base_values = a.floats_or_tensor("base_values")?;

        let aggregate = if classifier {
            Aggregate::Sum
        } else {
            match a.string("aggregate_function")?.unwrap_or("SUM") {
                "SUM" => Aggregate::Sum,
                "AVERAGE" => Aggregate::Average,
                "MIN" => Aggregate::Min,
                "MAX" => Aggregate::Max,
                other => {
                    return Err(unsupported(format!(
                        "aggregate_function `{other}` (supported: SUM, AVERAGE, MIN, MAX)"
                    )))
                }
            }
        };
        let post_transform = match a.string("post_transform")?.unwrap_or("NONE") {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            other => {
                return Err(unsupported(format!(
                    "post_transform `{other}` (supported: NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, \
                     PROBIT)"
                )))
            }
        };
        Ok(RawEnsemble {
            kind,
            tree_ids,
            node_ids,
            feature_ids,
            modes,
            values,
            true_ids,
            false_ids,
            missing_true,
            w_tree_ids,
            w_node_ids,
            w_ids,
            w_values,
            base_values,
            aggregate,
            post_transform,
            doubles: values_as_tensor || weights_as_tensor || base_as_tensor,
        })
    }

    /// Number of outputs per row: targets, or classes.
    pub fn n_outputs(&self) -> usize {
        match &self.kind {
            EnsembleKind::Regressor { n_targets } => *n_targets,
            EnsembleKind::Classifier { labels } => labels.len(),
        }
    }

    /// Writes the ensemble as a node with the given name, input and outputs.
    pub fn to_node(&self, name: &str, input: &str, outputs: &[String]) -> NodeProto {
        let mut attrs = Vec::new();
        let ints = |name: &str, v: &[i64]| AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        };
        let numbers = |name: &str, v: &[f64], doubles: bool| {
            if doubles {
                AttributeProto {
                    name: format!("{name}_as_tensor"),
                    r#type: AttributeType::Tensor as i32,
                    t: Some(TensorProto {
                        dims: vec![v.len() as i64],
                        data_type: DataType::Double as i32,
                        double_data: v.to_vec(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            } else {
                AttributeProto {
                    name: name.into(),
                    r#type: AttributeType::Floats as i32,
                    floats: v.iter().map(|&x| x as f32).collect(),
                    ..Default::default()
                }
            }
        };
        let string = |name: &str, s: &str| AttributeProto {
            name: name.into(),
            r#type: AttributeType::String as i32,
            s: s.as_bytes().to_vec(),
            ..Default::default()
        };
        let strings = |name: &str, v: Vec<&str>| AttributeProto {
            name: name.into(),
            r#type: AttributeType::Strings as i32,
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        attrs.push(ints("nodes_treeids", &self.tree_ids));
        attrs.push(ints("nodes_nodeids", &self.node_ids));
        attrs.push(ints("nodes_featureids", &self.feature_ids));
        attrs.push(strings(
            "nodes_modes",
            self.modes.iter().map(|m| m.as_str()).collect(),
        ));
        attrs.push(numbers("nodes_values", &self.values, self.doubles));
        attrs.push(ints("nodes_truenodeids", &self.true_ids));
        attrs.push(ints("nodes_falsenodeids", &self.false_ids));
        if !self.missing_true.is_empty() {
            let v: Vec<i64> = self.missing_true.iter().map(|&b| b as i64).collect();
            attrs.push(ints("nodes_missing_value_tracks_true", &v));
        }
        let prefix = match &self.kind {
            EnsembleKind::Regressor { n_targets } => {
                attrs.push(AttributeProto {
                    name: "n_targets".into(),
                    r#type: AttributeType::Int as i32,
                    i: *n_targets as i64,
                    ..Default::default()
                });
                attrs.push(string("aggregate_function", self.aggregate.as_str()));
                "target"
            }
            EnsembleKind::Classifier { labels } => {
                attrs.push(match labels {
                    ClassLabels::Int64(v) => ints("classlabels_int64s", v),
                    ClassLabels::Strings(v) => strings(
                        "classlabels_strings",
                        v.iter().map(|s| s.as_str()).collect(),
                    ),
                });
                "class"
            }
        };
        attrs.push(ints(&format!("{prefix}_ids"), &self.w_ids));
        attrs.push(ints(&format!("{prefix}_nodeids"), &self.w_node_ids));
        attrs.push(ints(&format!("{prefix}_treeids"), &self.w_tree_ids));
        attrs.push(numbers(
            &format!("{prefix}_weights"),
            &self.w_values,
            self.doubles,
        ));
        if let Some(b) = &self.base_values {
            attrs.push(numbers("base_values", b, self.doubles));
        }
        attrs.push(string("post_transform", self.post_transform.as_str()));
        NodeProto {
            name: name.into(),
            op_type: match self.kind {
                EnsembleKind::Regressor { .. } => "TreeEnsembleRegressor".into(),
                EnsembleKind::Classifier { .. } => "TreeEnsembleClassifier".into(),
            },
            domain: "ai.onnx.ml".into(),
            input: vec![input.into()],
            output: outputs.to_vec(),
            attribute: attrs,
            ..Default::default()
        }
    }
}
