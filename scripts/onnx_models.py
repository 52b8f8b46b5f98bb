#!/usr/bin/env python3
"""Small real ONNX anomaly models and onnxruntime's outputs on them, for vigil's `onnx` detector.

Trains four kinds of model on seeded synthetic tabular data (8 numeric features of a payments-like
stream, driven by 3 latent factors so that the features are correlated), exports them with
skl2onnx and writes:

    testdata/models/autoencoder.onnx     MLPRegressor fitted X -> X on standardised features
                                         (neural: MatMul/Add/Relu, run by tract)
    testdata/models/autoencoder_f64.onnx the same, exported for float64 input
    testdata/models/iforest.onnx         IsolationForest, 50 trees (ai.onnx.ml
                                         TreeEnsembleRegressor + LabelEncoder + arithmetic)
    testdata/models/gbc.onnx             GradientBoostingClassifier, binary, no ZipMap
                                         (ai.onnx.ml TreeEnsembleClassifier, LOGISTIC)
    testdata/models/gbc_zipmap.onnx      the same classifier as skl2onnx writes it by default,
                                         ending in a ZipMap
    testdata/models/rf_regressor.onnx    RandomForestRegressor (TreeEnsembleRegressor, AVERAGE)
    testdata/models/unsupported_op.onnx  a hand-made model with an operator vigil does not
                                         support (ai.onnx.ml SVMRegressor), for the error test
    testdata/models/*.onnx (others)      more error cases: a 3-D input, fixed batch sizes,
                                         skl2onnx's MLPRegressor output flattened to [8N, 1],
                                         an unsupported attribute value, a file that is not ONNX
    testdata/models/trees/*.onnx         25 hand-made tree ensembles (see tree_cases())
    testdata/fixtures/onnx.json          per model: the detector config (inputs with their
                                         scaling and missing value, output and score mapping),
                                         test records (with nulls and absent features), the
                                         input tensor those records map to, onnxruntime's
                                         outputs and the anomaly scores the mapping gives

tests/integration/reference_onnx.rs checks vigil against onnx.json; examples/onnx_bench.rs measures vigil
on the same models and rows while this script prints onnxruntime's rows per CPU-second (one
row per call and in micro-batches of 64 and 256, one intra-op thread, called from Python, so
each single-row call includes a few microseconds of Python) as one JSON line.

Opsets are pinned: skl2onnx 1.20 emits ai.onnx.ml opset 4 by default, which it then refuses
to write ("You need to specify target_opset={'ai.onnx.ml': 3}"); ai.onnx.ml 3 goes with
ai.onnx 18 (skl2onnx's own OPSET_ML_TO_OPSET), the newest opset tract is tested against.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/onnx_models.py            # models, fixtures, then the timings
    .venv/bin/python scripts/onnx_models.py --no-bench # models and fixtures only

Pinned (scripts/requirements.txt): numpy 2.4.6, scikit-learn 1.9.1, onnx 1.23.2,
onnxruntime 1.32.0, skl2onnx 1.20.0. Models and fixtures are deterministic for these versions.
"""
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import sklearn
import skl2onnx
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestRegressor
from sklearn.neural_network import MLPRegressor

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "testdata", "models")
FIXTURE = os.path.join(ROOT, "testdata", "fixtures", "onnx.json")

TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
SEED = 20261205

FEATURES = [
    "amount",
    "merchant_risk",
    "account_age_days",
    "txn_count_1h",
    "avg_amount_30d",
    "distance_km",
    "hour_of_day",
    "device_score",
]
# Raw scale of each feature: mean and standard deviation of the synthetic generator.
RAW_MEAN = np.array([120.0, 0.3, 900.0, 2.0, 110.0, 15.0, 13.0, 0.7])
RAW_STD = np.array([80.0, 0.15, 400.0, 1.5, 60.0, 12.0, 5.0, 0.2])


def latent_rows(rng, n):
    """Standardised rows driven by 3 latent factors plus noise."""
    w = np.random.default_rng(SEED + 1).normal(size=(3, len(FEATURES)))
    w /= np.linalg.norm(w, axis=0, keepdims=True)
    z = rng.normal(size=(n, 3))
    return z @ w + 0.25 * rng.normal(size=(n, len(FEATURES)))


def to_raw(std_rows):
    return RAW_MEAN + RAW_STD * std_rows


def test_records(rng):
    """Records as a serving layer logs them: 48 normal, 12 anomalous, 4 with gaps.

    Values are rounded to 4 decimals so that the JSON holds them exactly as used."""
    normal = to_raw(latent_rows(rng, 48))
    # Anomalies: features drawn independently (correlations broken) and a few extremes.
    broken = to_raw(rng.normal(size=(8, len(FEATURES))) * 1.5)
    extreme = to_raw(latent_rows(rng, 4))
    extreme[:, 0] *= 12.0
    extreme[:, 5] += 400.0
    rows = np.round(np.vstack([normal, broken, extreme]), 4)
    records = [dict(zip(FEATURES, map(float, r))) for r in rows]
    gaps = [dict(zip(FEATURES, map(float, r))) for r in np.round(to_raw(latent_rows(rng, 4)), 4)]
    gaps[0]["amount"] = None  # explicit null
    del gaps[1]["distance_km"]  # absent
    gaps[2]["hour_of_day"] = None
    del gaps[2]["device_score"]
    gaps[3] = {k: v for k, v in reversed(list(gaps[3].items()))}  # another order
    gaps[3]["unused_feature"] = 1.0  # features the model does not use are ignored
    return records + gaps


def config_inputs(mean, std):
    """The detector's [[inputs]]: one per tensor column, with scaling and missing value."""
    out = []
    for i, name in enumerate(FEATURES):
        out.append({
            "name": name,
            "scale": None if std is None else [float(mean[i]), float(std[i])],
            "missing": float(mean[i]),
        })
    return out


def input_tensor(records, inputs, dtype):
    """What vigil's mapping must produce: raw value (or `missing`), then (x - mean) / std."""
    t = np.zeros((len(records), len(inputs)), dtype=np.float64)
    for r, rec in enumerate(records):
        for c, inp in enumerate(inputs):
            v = rec.get(inp["name"])
            x = inp["missing"] if v is None else v
            if inp["scale"] is not None:
                m, s = inp["scale"]
                x = (x - m) / s
            t[r, c] = x
    return t.astype(dtype)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def save(model, name):
    # skl2onnx lists opsets in set order, which varies from run to run: sort them so that
    # regenerating writes the same bytes.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    path = os.path.join(MODELS, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def score_from(outputs, output_name, mapping, tensor):
    y = np.asarray(outputs[output_name], dtype=np.float64)
    if mapping["kind"] == "reconstruction_error":
        d = y - tensor.astype(np.float64)
        if mapping["metric"] == "mse":
            return np.mean(d * d, axis=1)
        if mapping["metric"] == "mae":
            return np.mean(np.abs(d), axis=1)
        return np.max(np.abs(d), axis=1)
    col = y.reshape(len(y), -1)[:, mapping["column"]]
    return -col if mapping["negate"] else col


def entry(name, path, dtype, inputs, output, mapping, records, note):
    sess = session(path)
    in_name = sess.get_inputs()[0].name
    tensor = input_tensor(records, inputs, np.float32 if dtype == "f32" else np.float64)
    names = [o.name for o in sess.get_outputs()]
    res = dict(zip(names, sess.run(None, {in_name: tensor})))
    scores = score_from(res, output, mapping, tensor)
    return {
        "name": name,
        "file": os.path.basename(path),
        "note": note,
        "config": {
            "path": os.path.basename(path),
            "inputs": inputs,
            "input_name": in_name,
            "dtype": dtype,
            "output": {"select": output, "score": mapping},
            "batch": 16,
        },
        "records": records,
        "tensor": tensor.astype(np.float64).tolist(),
        "outputs": {k: np.asarray(v).astype(np.float64).tolist() for k, v in res.items()},
        "scores": scores.tolist(),
    }


def fix_mlp_output(model):
    """skl2onnx 1.20 ends MLPRegressor graphs with Reshape(-1, 1), which assumes one target
    and flattens an autoencoder's [N, 8] reconstruction into [8N, 1]; reshape to [-1, 8]."""
    width = len(FEATURES)
    for init in model.graph.initializer:
        if init.name == "shape_tensor":
            init.CopyFrom(onnx.numpy_helper.from_array(
                np.array([-1, width], dtype=np.int64), "shape_tensor"))
    out = model.graph.output[0].type.tensor_type.shape
    out.dim[1].dim_value = width
    onnx.checker.check_model(model)
    return model


def unsupported_op_model():
    """X[N,8] -> ai.onnx.ml SVMRegressor (linear kernel): valid ONNX, not supported by vigil."""
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 8])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    node = helper.make_node(
        "SVMRegressor", ["X"], ["Y"], domain="ai.onnx.ml", name="svm",
        kernel_type="LINEAR", coefficients=[1.0], support_vectors=[0.5] * 8,
        n_supports=1, rho=[0.0])
    graph = helper.make_graph([node], "unsupported", [x], [y])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------------------------------
# Hand-made tree ensembles covering the attribute combinations vigil implements, checked
# against onnxruntime on rows with NaNs and values equal to thresholds.

MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
CASE_FEATURES = 4


def random_trees(rng, n_trees, depth, n_out, modes, weights_per_leaf, weight_range, tracks):
    """Complete binary trees: node ids in breadth-first order, random splits and weights."""
    a = {k: [] for k in ["treeids", "nodeids", "featureids", "modes", "values", "true", "false",
                         "tracks", "w_tree", "w_node", "w_id", "w"]}
    thresholds = []
    for t in range(n_trees):
        n_nodes = 2 ** (depth + 1) - 1
        for i in range(n_nodes):
            a["treeids"].append(t)
            a["nodeids"].append(i)
            if i < 2 ** depth - 1:
                f = int(rng.integers(0, CASE_FEATURES))
                v = float(np.float32(np.round(rng.normal(), 2)))
                thresholds.append((f, v))
                a["featureids"].append(f)
                a["modes"].append(str(rng.choice(modes)))
                a["values"].append(v)
                a["true"].append(2 * i + 1)
                a["false"].append(2 * i + 2)
                a["tracks"].append(int(rng.random() < 0.5) if tracks else 0)
            else:
                a["featureids"].append(0)
                a["modes"].append("LEAF")
                a["values"].append(0.0)
                a["true"].append(0)
                a["false"].append(0)
                a["tracks"].append(0)
                k = int(rng.integers(1, weights_per_leaf + 1))
                for target in rng.choice(n_out, size=min(k, n_out), replace=False):
                    a["w_tree"].append(t)
                    a["w_node"].append(i)
                    a["w_id"].append(int(target))
                    lo, hi = weight_range
                    a["w"].append(float(np.float32(rng.uniform(lo, hi))))
    return a, thresholds


def tree_node(kind, a, n_out, post="NONE", aggregate=None, base=None, labels=None,
              doubles=False, one_class=False):
    attrs = dict(
        nodes_treeids=a["treeids"], nodes_nodeids=a["nodeids"],
        nodes_featureids=a["featureids"], nodes_modes=a["modes"],
        nodes_truenodeids=a["true"], nodes_falsenodeids=a["false"],
        nodes_missing_value_tracks_true=a["tracks"], post_transform=post)
    if doubles:
        attrs["nodes_values_as_tensor"] = helper.make_tensor(
            "v", TensorProto.DOUBLE, [len(a["values"])], a["values"])
    else:
        attrs["nodes_values"] = a["values"]
    prefix = "target" if kind == "regressor" else "class"
    ids = [0] * len(a["w_id"]) if one_class else a["w_id"]
    attrs[prefix + "_treeids"] = a["w_tree"]
    attrs[prefix + "_nodeids"] = a["w_node"]
    attrs[prefix + "_ids"] = ids
    if doubles:
        attrs[prefix + "_weights_as_tensor"] = helper.make_tensor(
            "w", TensorProto.DOUBLE, [len(a["w"])], a["w"])
    else:
        attrs[prefix + "_weights"] = a["w"]
    if base is not None:
        attrs["base_values"] = base
    if kind == "regressor":
        attrs["n_targets"] = n_out
        attrs["aggregate_function"] = aggregate or "SUM"
        return helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml",
                                name="trees", **attrs)
    if isinstance(labels[0], str):
        attrs["classlabels_strings"] = labels
    else:
        attrs["classlabels_int64s"] = labels
    return helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "scores"],
                            domain="ai.onnx.ml", name="trees", **attrs)


def case_model(node, n_out, double_input, string_labels=False):
    elem = TensorProto.DOUBLE if double_input else TensorProto.FLOAT
    x = helper.make_tensor_value_info("X", elem, [None, CASE_FEATURES])
    if node.op_type == "TreeEnsembleRegressor":
        outs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_out])]
    else:
        outs = [helper.make_tensor_value_info(
                    "label", TensorProto.STRING if string_labels else TensorProto.INT64, [None]),
                helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, n_out])]
    graph = helper.make_graph([node], "trees", [x], outs)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def case_rows(rng, thresholds, n=48):
    x = np.round(rng.normal(size=(n, CASE_FEATURES)), 2)
    for r in range(n):  # some values exactly on a threshold, some NaN
        if r % 3 == 0:
            f, v = thresholds[int(rng.integers(0, len(thresholds)))]
            x[r, f] = v
        if r % 5 == 1:
            x[r, int(rng.integers(0, CASE_FEATURES))] = np.nan
    return x


def tree_cases():
    """(name, kind, n_out, options) for the hand-made ensembles."""
    return [
        ("reg_sum_modes", "regressor", 1, dict(post="NONE", aggregate="SUM", base=[0.5])),
        ("reg_average", "regressor", 1, dict(aggregate="AVERAGE")),
        ("reg_min", "regressor", 1, dict(aggregate="MIN", base=[0.25])),
        ("reg_max", "regressor", 1, dict(aggregate="MAX")),
        ("reg_probit", "regressor", 1, dict(aggregate="AVERAGE", post="PROBIT", range=(0.05, 0.95))),
        ("reg_logistic_one_target", "regressor", 1, dict(post="LOGISTIC")),
        ("reg3_softmax", "regressor", 3, dict(post="SOFTMAX", base=[0.1, -0.2, 0.3], wpl=2)),
        ("reg3_average_logistic", "regressor", 3, dict(aggregate="AVERAGE", post="LOGISTIC", wpl=3)),
        ("reg3_min", "regressor", 3, dict(aggregate="MIN", wpl=2)),
        ("reg3_max_base", "regressor", 3, dict(aggregate="MAX", base=[1.0, 2.0, 3.0], wpl=2)),
        ("reg3_softmax_zero", "regressor", 3, dict(post="SOFTMAX_ZERO", wpl=2)),
        ("reg3_probit", "regressor", 3, dict(post="PROBIT", range=(0.01, 0.3), wpl=3)),
        ("reg_double", "regressor", 2, dict(doubles=True, double_input=True, base=[0.5, -0.5], wpl=2)),
        ("reg_double_input", "regressor", 1, dict(double_input=True, aggregate="AVERAGE")),
        ("cls3_softmax", "classifier", 3, dict(post="SOFTMAX", base=[0.1, 0.2, -0.3], labels=[10, 20, 30], wpl=3)),
        ("cls3_none", "classifier", 3, dict(labels=[7, 8, 9], wpl=2)),
        ("cls3_no_base_some_unvoted", "classifier", 3, dict(post="LOGISTIC", labels=[0, 1, 2], wpl=1)),
        ("cls2_binary_logistic_base1", "classifier", 2, dict(post="LOGISTIC", base=[-0.4], labels=[0, 1], one_class=True, range=(-1.0, 1.0))),
        ("cls2_binary_positive", "classifier", 2, dict(labels=[0, 1], one_class=True, range=(0.0, 0.2))),
        ("cls2_binary_no_base", "classifier", 2, dict(labels=[3, 5], one_class=True, range=(-1.0, 1.0))),
        ("cls2_both_voted", "classifier", 2, dict(labels=[0, 1], wpl=2, range=(0.0, 0.5))),
        ("cls2_both_voted_base2", "classifier", 2, dict(labels=[0, 1], wpl=2, base=[0.1, 0.2], post="LOGISTIC")),
        ("cls2_sometimes_voted_base1", "classifier", 2, dict(labels=[0, 1], wpl=1, base=[0.3])),
        ("cls_strings", "classifier", 3, dict(post="SOFTMAX", labels=["low", "mid", "high"], wpl=3)),
        ("cls3_double_input", "classifier", 3, dict(post="SOFTMAX", double_input=True, labels=[0, 1, 2], wpl=2)),
    ]


def build_tree_cases():
    out_dir = os.path.join(MODELS, "trees")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED + 3)
    cases = []
    for name, kind, n_out, o in tree_cases():
        a, thresholds = random_trees(
            rng, n_trees=int(rng.integers(2, 6)), depth=int(rng.integers(2, 5)), n_out=n_out,
            modes=MODES if name != "reg_average" else ["BRANCH_LEQ"],
            weights_per_leaf=o.get("wpl", 1), weight_range=o.get("range", (-1.0, 1.0)),
            tracks=True)
        node = tree_node(kind, a, n_out, post=o.get("post", "NONE"), aggregate=o.get("aggregate"),
                         base=o.get("base"), labels=o.get("labels"), doubles=o.get("doubles", False),
                         one_class=o.get("one_class", False))
        double_input = o.get("double_input", False)
        strings = isinstance((o.get("labels") or [0])[0], str)
        model = case_model(node, n_out, double_input, strings)
        path = os.path.join(out_dir, name + ".onnx")
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        x = case_rows(rng, thresholds).astype(np.float64 if double_input else np.float32)
        res = session(path).run(None, {"X": x})
        def nan(v):
            # Numbers as strings (repr: exact, and "nan", "inf", "-inf" where JSON has none);
            # null in rows is a missing value.
            return repr(float(v))
        case = {
            "name": name,
            "file": "trees/" + name + ".onnx",
            "dtype": "f64" if double_input else "f32",
            "outputs": {"Y" if kind == "regressor" else "scores": [[nan(v) for v in r] for r in
                                                                    np.asarray(res[-1], dtype=np.float64)]},
            "rows": [[None if np.isnan(v) else nan(v) for v in r] for r in x.astype(np.float64)],
        }
        if kind == "classifier" and not strings:
            case["outputs"]["label"] = [[nan(v)] for v in res[0]]
        cases.append(case)
    return cases


def error_models():
    """Models the error tests load: a 3-D input, fixed batch sizes (1 works, 4 does not), an
    unsupported attribute value, a file that is not ONNX."""
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 8])
    g = helper.make_graph([helper.make_node("Flatten", ["X"], ["Y"], axis=1, name="flatten")],
                          "rank3", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    save(m, "rank3_input.onnx")

    for batch, name in [(1, "fixed_batch_1.onnx"), (4, "fixed_batch_4.onnx")]:
        x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, 8])
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, 8])
        two = onnx.numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")
        g = helper.make_graph([helper.make_node("Mul", ["X", "two"], ["Y"], name="double")],
                              "fixed", [x], [y], initializer=[two])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        save(m, name)

    bad = onnx.load(os.path.join(MODELS, "gbc.onnx"))
    for node in bad.graph.node:
        for attr in node.attribute:
            if attr.name == "nodes_modes":
                attr.strings[0] = b"BRANCH_MEMBER"
    save(bad, "unsupported_attribute.onnx")
    with open(os.path.join(MODELS, "not_onnx.onnx"), "wb") as f:
        f.write(b"this is not a protobuf model\n" * 4)


def build():
    os.makedirs(MODELS, exist_ok=True)
    rng = np.random.default_rng(SEED)
    train_std = latent_rows(rng, 3000)
    train = to_raw(train_std)
    mean, std = train.mean(axis=0), train.std(axis=0)
    records = test_records(rng)
    models = []

    # (a) Autoencoder on standardised features; the detector does the standardising.
    xs = ((train - mean) / std).astype(np.float32)
    ae = MLPRegressor(hidden_layer_sizes=(16, 3, 16), activation="relu", max_iter=600,
                      learning_rate_init=3e-3, random_state=SEED).fit(xs, xs)
    path = save(fix_mlp_output(to_onnx(ae, xs[:1], target_opset=TARGET_OPSET)),
                "autoencoder.onnx")
    models.append(entry(
        "autoencoder", path, "f32", config_inputs(mean, std), "variable",
        {"kind": "reconstruction_error", "metric": "mse"}, records,
        "MLPRegressor(16, 3, 16) fitted X -> X; score = mean squared reconstruction error"))
    path = save(fix_mlp_output(to_onnx(ae, xs[:1].astype(np.float64),
                                       target_opset=TARGET_OPSET)), "autoencoder_f64.onnx")
    models.append(entry(
        "autoencoder_f64", path, "f64", config_inputs(mean, std), "variable",
        {"kind": "reconstruction_error", "metric": "max_abs"}, records,
        "the same autoencoder exported for float64 input; score = largest absolute error"))

    # (b) IsolationForest on raw features (trees do not need scaling).
    xr = train.astype(np.float32)
    iso = IsolationForest(n_estimators=50, max_samples=256, random_state=SEED).fit(xr)
    path = save(to_onnx(iso, xr[:1], target_opset=TARGET_OPSET), "iforest.onnx")
    models.append(entry(
        "iforest", path, "f32", config_inputs(mean, None), "scores",
        {"kind": "score", "column": 0, "negate": True}, records,
        "IsolationForest(50 trees); output `scores` is decision_function (< 0: outlier); "
        "score = -decision_function"))
    # (c) A supervised anomaly classifier: label = far from the latent structure.
    label = (np.abs(train_std).max(axis=1) > 2.2).astype(np.int64)
    gbc = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=SEED)
    gbc.fit(xr, label)
    path = save(to_onnx(gbc, xr[:1], options={"zipmap": False}, target_opset=TARGET_OPSET),
                "gbc.onnx")
    # skl2onnx's default ends classifiers with a ZipMap (a sequence of maps): vigil reads
    # the `probabilities` value ahead of it.
    save(to_onnx(gbc, xr[:1], target_opset=TARGET_OPSET), "gbc_zipmap.onnx")
    models.append(entry(
        "gbc", path, "f32", config_inputs(mean, None), "probabilities",
        {"kind": "score", "column": 1, "negate": False}, records,
        "GradientBoostingClassifier(40 trees, depth 3), binary; score = P(anomalous)"))

    # (d) A regressor of a risk score (tree regressor with AVERAGE aggregation).
    risk = np.abs(train_std).max(axis=1)
    rf = RandomForestRegressor(n_estimators=12, max_depth=6, random_state=SEED).fit(xr, risk)
    path = save(to_onnx(rf, xr[:1], target_opset=TARGET_OPSET), "rf_regressor.onnx")
    models.append(entry(
        "rf_regressor", path, "f32", config_inputs(mean, None), "variable",
        {"kind": "score", "column": 0, "negate": False}, records,
        "RandomForestRegressor(12 trees, depth 6) of a risk score; score = prediction"))

    save(unsupported_op_model(), "unsupported_op.onnx")
    error_models()
    flat = to_onnx(ae, xs[:1], target_opset=TARGET_OPSET)  # skl2onnx's own output, unfixed
    save(flat, "autoencoder_flat_output.onnx")
    cases = build_tree_cases()

    fixture = {
        "generated_by": "scripts/onnx_models.py",
        "versions": {
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "onnx": onnx.__version__, "onnxruntime": ort.__version__,
            "skl2onnx": skl2onnx.__version__,
        },
        "target_opset": TARGET_OPSET,
        "features": FEATURES,
        "models": models,
        "tree_cases": cases,
    }
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    for m in models:
        size = os.path.getsize(os.path.join(MODELS, m["file"]))
        print(f"{m['file']}: {size} bytes", file=sys.stderr)
    return models


def rows_per_s(fn, min_seconds=1.0):
    """Rows per CPU-second of this thread (onnxruntime runs on the calling thread with one
    intra-op thread), best of 3 runs of at least `min_seconds` CPU time each; as
    examples/onnx_bench.rs measures vigil, so that other work on the machine does not count."""
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.thread_time()
        while True:
            n += fn()
            dt = time.thread_time() - t0
            if dt >= min_seconds:
                break
        best = max(best, n / dt)
    return best


def bench(models, batches=(64, 256)):
    rng = np.random.default_rng(SEED + 7)
    result = {"runtime": "onnxruntime " + ort.__version__ + " (Python, 1 thread)",
              "unit": "rows per CPU-second", "models": {}}
    for m in models:
        path = os.path.join(MODELS, m["file"])
        sess = session(path)
        dtype = np.float32 if m["config"]["dtype"] == "f32" else np.float64
        x = np.asarray(m["tensor"], dtype=dtype)
        data = x[rng.integers(0, len(x), size=4096)]
        in_name, out = m["config"]["input_name"], [m["config"]["output"]["select"]]
        state = {"i": 0}

        def one():
            i = state["i"] = (state["i"] + 1) % len(data)
            sess.run(out, {in_name: data[i:i + 1]})
            return 1

        r = {"single": round(rows_per_s(one))}
        for b in batches:
            chunks = [data[i:i + b] for i in range(0, len(data) - b + 1, b)]
            state["j"] = 0

            def batch(chunks=chunks, b=b):
                j = state["j"] = (state["j"] + 1) % len(chunks)
                sess.run(out, {in_name: chunks[j]})
                return b

            r[f"batch_{b}"] = round(rows_per_s(batch))
        result["models"][m["name"]] = r
    print(json.dumps(result))


if __name__ == "__main__":
    built = build()
    if "--no-bench" not in sys.argv:
        bench(built)
