//! Tree ensembles on hand-made attributes: traversal rules, aggregation, and the checks that
//! refuse malformed trees. onnxruntime agreement is checked on real and generated models in
//! `tests/integration/reference_onnx.rs`.

use super::raw::{Aggregate, ClassLabels, EnsembleKind, NodeMode, PostTransform, RawEnsemble};
use super::*;

/// One tree `x[0] <mode> 0.5 ? leaf(1.0) : leaf(2.0)`, plus a second identical tree when
/// `two`.
fn stump(mode: NodeMode, two: bool) -> RawEnsemble {
    let trees = if two { 2 } else { 1 };
    let mut r = RawEnsemble {
        kind: EnsembleKind::Regressor { n_targets: 1 },
        tree_ids: vec![],
        node_ids: vec![],
        feature_ids: vec![],
        modes: vec![],
        values: vec![],
        true_ids: vec![],
        false_ids: vec![],
        missing_true: vec![],
        w_tree_ids: vec![],
        w_node_ids: vec![],
        w_ids: vec![],
        w_values: vec![],
        base_values: None,
        aggregate: Aggregate::Sum,
        post_transform: PostTransform::None,
        doubles: false,
    };
    for t in 0..trees {
        r.tree_ids.extend([t, t, t]);
        r.node_ids.extend([0, 1, 2]);
        r.feature_ids.extend([0, 0, 0]);
        r.modes.extend([mode, NodeMode::Leaf, NodeMode::Leaf]);
        r.values.extend([0.5, 0.0, 0.0]);
        r.true_ids.extend([1, 0, 0]);
        r.false_ids.extend([2, 0, 0]);
        r.w_tree_ids.extend([t, t]);
        r.w_node_ids.extend([1, 2]);
        r.w_ids.extend([0, 0]);
        r.w_values.extend([1.0, 2.0]);
    }
    r
}

fn eval1(r: &RawEnsemble, x: f32) -> f32 {
    let t = TreeEnsemble::build(r).unwrap();
    let mut z = vec![0f32; t.n_outputs()];
    t.eval(&[x], 1, &mut z, None).unwrap();
    z[0]
}

#[test]
fn each_mode_compares_as_named_and_nan_follows_the_missing_track() {
    let cases = [
        (NodeMode::Leq, [1.0, 1.0, 2.0]),
        (NodeMode::Lt, [1.0, 2.0, 2.0]),
        (NodeMode::Gte, [2.0, 1.0, 1.0]),
        (NodeMode::Gt, [2.0, 2.0, 1.0]),
        (NodeMode::Eq, [2.0, 1.0, 2.0]),
        (NodeMode::Neq, [1.0, 2.0, 1.0]),
    ];
    for (mode, want) in cases {
        let r = stump(mode, false);
        let got = [eval1(&r, 0.25), eval1(&r, 0.5), eval1(&r, 0.75)];
        assert_eq!(got, want, "{mode:?}");
        // NaN: every comparison but != is false.
        let nan_false = if mode == NodeMode::Neq { 1.0 } else { 2.0 };
        assert_eq!(eval1(&r, f32::NAN), nan_false, "{mode:?}");
        let mut tracked = r.clone();
        tracked.missing_true = vec![true];
        assert_eq!(eval1(&tracked, f32::NAN), 1.0, "{mode:?}");
    }
}

#[test]
fn aggregates_and_base_value_combine_trees() {
    let mut r = stump(NodeMode::Leq, true);
    r.base_values = Some(vec![0.5]);
    assert_eq!(eval1(&r, 0.0), 2.5);
    r.aggregate = Aggregate::Average;
    assert_eq!(eval1(&r, 1.0), 2.5);
    r.aggregate = Aggregate::Min;
    r.w_values[3] = 0.5; // the second tree's false leaf
    assert_eq!(eval1(&r, 1.0), 1.0);
    r.aggregate = Aggregate::Max;
    assert_eq!(eval1(&r, 1.0), 2.5);
}

#[test]
fn a_double_threshold_is_rounded_for_float_input_only() {
    let mut r = stump(NodeMode::Leq, false);
    r.values[0] = 0.1; // not representable in f32: 0.1f32 > 0.1
    let t = TreeEnsemble::build(&r).unwrap();
    let mut z = [0f32];
    t.eval(&[0.1f32], 1, &mut z, None).unwrap();
    assert_eq!(z[0], 1.0, "0.1f32 <= (0.1 as f32)");
    t.eval(&[0.1f32 as f64], 1, &mut z, None).unwrap();
    assert_eq!(z[0], 2.0, "0.1f32 as f64 > 0.1");
}

#[test]
fn malformed_trees_are_refused() {
    let mut r = stump(NodeMode::Leq, false);
    r.true_ids[0] = 7;
    let e = TreeEnsemble::build(&r).unwrap_err();
    assert!(
        e.to_string()
            .contains("node 7 of tree 0, which does not exist"),
        "{e}"
    );

    let mut r = stump(NodeMode::Leq, false);
    r.node_ids[2] = 1;
    assert!(TreeEnsemble::build(&r)
        .unwrap_err()
        .to_string()
        .contains("appears twice"));

    let mut r = stump(NodeMode::Leq, false);
    r.w_node_ids[1] = 1;
    let e = TreeEnsemble::build(&r).unwrap_err();
    assert!(
        e.to_string().contains("leaf 2 of tree 0 has no weight"),
        "{e}"
    );

    // 0 -> 1 -> 0: node 1 made a branch pointing back to the root.
    let mut r = stump(NodeMode::Leq, false);
    r.modes[1] = NodeMode::Leq;
    r.true_ids[1] = 0;
    r.false_ids[1] = 2;
    let e = TreeEnsemble::build(&r).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");

    let mut r = stump(NodeMode::Leq, false);
    r.kind = EnsembleKind::Regressor { n_targets: 2 };
    r.w_ids[0] = 2;
    let e = TreeEnsemble::build(&r).unwrap_err();
    assert!(
        e.to_string().contains("output 2, but there are 2 outputs"),
        "{e}"
    );
}

#[test]
fn rows_must_have_the_features_trees_read() {
    let mut r = stump(NodeMode::Leq, false);
    r.feature_ids[0] = 3;
    let t = TreeEnsemble::build(&r).unwrap();
    let mut z = [0f32; 2];
    let e = t.eval(&[0f32; 4], 2, &mut z, None).unwrap_err();
    assert!(e.contains("feature 3 but rows have 2 features"), "{e}");
}

#[test]
fn leaf_outputs_are_what_eval_gives_at_each_leaf() {
    let mut r = stump(NodeMode::Leq, false);
    r.base_values = Some(vec![0.25]);
    r.aggregate = Aggregate::Average;
    let t = TreeEnsemble::build(&r).unwrap();
    assert_eq!(t.leaf_outputs(false), Some(vec![(1, 1.25), (2, 2.25)]));
    assert_eq!(eval1(&r, 0.0), 1.25);
    assert!(TreeEnsemble::build(&stump(NodeMode::Leq, true))
        .unwrap()
        .leaf_outputs(false)
        .is_none());
}

#[test]
fn binary_classifier_with_one_voted_class_derives_the_other() {
    // All votes for class 0 (a GradientBoostingClassifier's layout): scores become
    // [logistic(-s), logistic(s)] and the label follows the sign of s.
    let mut r = stump(NodeMode::Leq, false);
    r.kind = EnsembleKind::Classifier {
        labels: ClassLabels::Int64(vec![4, 9]),
    };
    r.w_values = vec![-1.0, 2.0];
    r.base_values = Some(vec![0.5]);
    r.post_transform = PostTransform::Logistic;
    let t = TreeEnsemble::build(&r).unwrap();
    let mut z = [0f32; 4];
    let mut labels = [0i64; 2];
    t.eval(&[0.0f32, 1.0], 1, &mut z, Some(&mut labels))
        .unwrap();
    let l = |v: f32| 1.0 / (1.0 + (-v).exp());
    assert_eq!(labels, [4, 9]);
    assert!(
        (z[0] - l(0.5)).abs() < 1e-7 && (z[1] - l(-0.5)).abs() < 1e-7,
        "{z:?}"
    );
    assert!(
        (z[2] - l(-2.5)).abs() < 1e-7 && (z[3] - l(2.5)).abs() < 1e-7,
        "{z:?}"
    );
}

#[test]
fn string_labels_are_reported_by_index() {
    let mut r = stump(NodeMode::Leq, false);
    r.kind = EnsembleKind::Classifier {
        labels: ClassLabels::Strings(vec!["a".into(), "b".into(), "c".into()]),
    };
    r.w_ids = vec![2, 1];
    let t = TreeEnsemble::build(&r).unwrap();
    let mut z = [0f32; 3];
    let mut label = [0i64];
    t.eval(&[0.0f32], 1, &mut z, Some(&mut label)).unwrap();
    assert_eq!(label, [2]);
    assert_eq!(z, [0.0, 0.0, 1.0]);
}

#[test]
fn attributes_round_trip_through_a_node() {
    let mut r = stump(NodeMode::Gt, true);
    r.missing_true = vec![true, false, false, false, true, false];
    r.base_values = Some(vec![0.125]);
    let node = r.to_node("n", "X", &["Y".to_string()]);
    assert_eq!(RawEnsemble::parse(&node).unwrap(), r);
    r.doubles = true;
    r.values[0] = 0.1;
    let node = r.to_node("n", "X", &["Y".to_string()]);
    assert_eq!(RawEnsemble::parse(&node).unwrap(), r);
}

#[test]
fn unknown_modes_transforms_and_attributes_are_unsupported() {
    let r = stump(NodeMode::Leq, false);
    let mut node = r.to_node("n", "X", &["Y".to_string()]);
    let modes = node
        .attribute
        .iter_mut()
        .find(|a| a.name == "nodes_modes")
        .unwrap();
    modes.strings[0] = b"BRANCH_MEMBER".to_vec();
    let e = RawEnsemble::parse(&node).unwrap_err();
    assert!(matches!(e, NodeError::Unsupported(_)));
    assert!(
        e.to_string().contains("nodes_modes: `BRANCH_MEMBER`"),
        "{e}"
    );

    let mut node = r.to_node("n", "X", &["Y".to_string()]);
    let post = node
        .attribute
        .iter_mut()
        .find(|a| a.name == "post_transform")
        .unwrap();
    post.s = b"CUBIC".to_vec();
    assert!(RawEnsemble::parse(&node)
        .unwrap_err()
        .to_string()
        .contains("`CUBIC`"));

    let mut node = r.to_node("n", "X", &["Y".to_string()]);
    node.attribute.push(tract_onnx::pb::AttributeProto {
        name: "leaf_weights".into(),
        ..Default::default()
    });
    let e = RawEnsemble::parse(&node).unwrap_err();
    assert!(e.to_string().contains("attribute `leaf_weights`"), "{e}");
}
