#!/usr/bin/env python3
"""Reference values for vigil's multivariate drift detectors (src/detect/multivariate/),
computed with numpy, scipy and scikit-learn.

Writes testdata/fixtures/multivariate.json, which tests/integration/reference_multivariate.rs reads:

  space        standardisation (mean, population std) and one-hot vectors of a few rows,
               following the rules of src/detect/multivariate/space.rs (re-implemented here
               in numpy so that the two can be compared);
  distances    for fixed centroids: each row's distance to its nearest centroid, the numpy
               quantile threshold and the empirical-CDF score (vigil: 1e-9 relative);
  kmeans       scikit-learn KMeans on well-separated blobs: centroids and inertia (vigil's
               linfa fit must find the same clusters, centroids within 1e-6, inertia
               within 1e-6 relative);
  mmd          median-heuristic bandwidth (median of pairwise Euclidean distances of the
               pooled sample) and the unbiased MMD^2 with an RBF kernel
               exp(-d^2 / (2 bw^2)) (vigil: 1e-9 relative);
  beta_binomial  upper tails P(X >= x) of scipy.stats.betabinom, summed from its
               normalised pmf (vigil: 1e-9 relative; 1e-8 for n = 10^6);
  correlation  a correlation-only drift: two features, each N(0, 1) in both samples,
               correlation 0 in the reference and 0.9 in the current window.

Inputs are generated here (seeded) and stored rounded to 6 decimals; every reference value is
computed on the stored, rounded inputs.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/multivariate_fixtures.py
"""
import json
import math
import os

import numpy as np
import scipy.stats as st
from scipy.spatial.distance import cdist, pdist
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "fixtures", "multivariate.json")
rng = np.random.default_rng(20261205)


def r6(a):
    return np.round(np.asarray(a, dtype=float), 6)


def space_case():
    """Reference rows of mixed types, the space vigil must learn, and query vectors."""
    n = 300
    colours = ["red", "green", "blue", "teal", "plum", "gold"]
    weights = np.array([0.35, 0.25, 0.2, 0.1, 0.06, 0.04])
    amount = r6(rng.lognormal(4.0, 0.6, n))
    age = r6(rng.normal(41.0, 12.0, n))
    colour = rng.choice(colours, n, p=weights)
    flag = rng.random(n) < 0.3
    rows = []
    for i in range(n):
        row = {"amount": float(amount[i]), "age": float(age[i]), "colour": str(colour[i]),
               "is_new": bool(flag[i]), "schema": 3.0}
        if i % 17 == 0:
            row["age"] = None
        if i % 23 == 0:
            del row["colour"]
        rows.append(row)

    top_categories, max_missing_share = 3, 0.25
    features = []
    for name in ["age", "amount"]:
        vals = np.array([r[name] for r in rows if r.get(name) is not None])
        features.append({"name": name, "kind": "numeric",
                         "mean": float(vals.mean()), "std": float(vals.std())})

    def top(values):
        counts = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        return sorted(counts, key=lambda c: (-counts[c], c))[:top_categories]

    features.append({"name": "colour", "kind": "one_hot",
                     "categories": top([r["colour"] for r in rows if "colour" in r])})
    features.append({"name": "is_new", "kind": "one_hot",
                     "categories": top(["true" if r["is_new"] else "false" for r in rows])})
    features.sort(key=lambda f: f["name"])
    max_missing = math.floor(max_missing_share * len(features))

    def vector(row):
        out, missing = [], 0
        for f in features:
            v = row.get(f["name"])
            if f["kind"] == "numeric":
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append((v - f["mean"]) / f["std"])
                else:
                    out.append(0.0)
                    missing += 1
            else:
                block = [0.0] * (len(f["categories"]) + 1)
                if isinstance(v, bool):
                    v = "true" if v else "false"
                if isinstance(v, str):
                    cats = f["categories"]
                    block[cats.index(v) if v in cats else len(cats)] = 1.0
                else:
                    missing += 1
                out.extend(block)
        return out, missing <= max_missing

    queries = [
        {"amount": 55.0, "age": 30.0, "colour": "red", "is_new": True},
        {"amount": 120.5, "age": 61.25, "colour": "plum", "is_new": False},
        {"amount": 80.0, "age": None, "colour": "never-seen", "is_new": True},
        {"amount": 80.0, "colour": 7.0, "is_new": "maybe"},
        {"amount": 80.0, "age": 44.0, "colour": "blue", "is_new": False, "unknown": 1.0},
        {"age": "forty", "colour": "green"},
    ]
    expected = []
    for q in queries:
        v, ok = vector(q)
        expected.append({"row": q, "vector": v, "ok": ok})
    return {"rows": rows, "top_categories": top_categories,
            "max_missing_share": max_missing_share, "features": features,
            "dropped": ["schema"], "max_missing": max_missing, "queries": expected}


def distances_case():
    centroids = r6(rng.normal(0, 3, (5, 3)))
    rows = r6(centroids[rng.integers(0, 5, 400)] + rng.normal(0, 1, (400, 3)))
    queries = r6(rng.normal(0, 4, (20, 3)))
    d = np.sqrt(((rows[:, None, :] - centroids[None]) ** 2).sum(-1)).min(1)
    dq = np.sqrt(((queries[:, None, :] - centroids[None]) ** 2).sum(-1)).min(1)
    ds = np.sort(d)
    scores = [float(np.searchsorted(ds, x, side="right") / len(ds)) for x in dq]
    return {
        "centroids": centroids.tolist(), "rows": rows.tolist(), "queries": queries.tolist(),
        "distances": d.tolist(), "query_distances": dq.tolist(), "query_scores": scores,
        "thresholds": [{"quantile": q, "threshold": float(np.quantile(d, q))}
                       for q in (0.5, 0.9, 0.99)],
        "inertia": float((d ** 2).sum()),
    }


def kmeans_case():
    cases = []
    for seed, (n, k, dim, std) in enumerate([(900, 4, 3, 0.6), (1200, 6, 5, 0.8)]):
        x, _ = make_blobs(n_samples=n, centers=k, n_features=dim, cluster_std=std,
                          center_box=(-12, 12), random_state=seed + 7)
        x = r6(x)
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
        centres = km.cluster_centers_
        gaps = pdist(centres)
        assert gaps.min() > 8 * std, f"blobs not well separated: {gaps.min()}"
        cases.append({"rows": x.tolist(), "k": k, "centroids": centres.tolist(),
                      "inertia": float(km.inertia_)})
    return cases


def mmd_case():
    cases = []
    specs = [
        (60, 45, 3, 0.5, 0.0),  # mean shift
        (50, 50, 2, 0.0, 0.0),  # no drift
        (200, 150, 5, 0.0, 0.8),  # correlation
        (31, 80, 4, 0.2, 0.3),
    ]
    for n, m, dim, shift, corr in specs:
        x = r6(rng.normal(0, 1, (n, dim)))
        cov = np.full((dim, dim), corr) + np.eye(dim) * (1 - corr)
        y = r6(rng.multivariate_normal(np.full(dim, shift), cov, m))
        z = np.vstack([x, y])
        bw = float(np.median(pdist(z)))

        def mmd2(bw):
            kxx = np.exp(-cdist(x, x, "sqeuclidean") / (2 * bw ** 2))
            kyy = np.exp(-cdist(y, y, "sqeuclidean") / (2 * bw ** 2))
            kxy = np.exp(-cdist(x, y, "sqeuclidean") / (2 * bw ** 2))
            return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                         + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                         - 2 * kxy.mean())

        cases.append({"x": x.tolist(), "y": y.tolist(), "bandwidth": bw,
                      "mmd2_unbiased": mmd2(bw), "fixed_bandwidth": 1.5,
                      "mmd2_unbiased_fixed": mmd2(1.5)})
    return cases


def beta_binomial_case():
    cases = []
    for x, n, a, b in [(5, 1000, 11.0, 990.0), (10, 1000, 11.0, 990.0), (16, 1000, 11.0, 990.0),
                       (25, 1000, 11.0, 990.0), (60, 1000, 21.0, 1980.0), (3, 40, 2.0, 30.0),
                       (700, 1000, 11.0, 990.0), (1, 500, 1.0, 1.0), (480, 500, 50.0, 2.0),
                       (100_000, 1_000_000, 101.0, 900.0), (103_000, 1_000_000, 101.0, 900.0)]:
        # The upper tail summed from the pmf, over the sum of the whole pmf: scipy's sf is
        # 1 - cdf, which bottoms out near 1e-13 instead of giving far-tail probabilities,
        # and its pmf carries a common relative error from log-gamma (the whole pmf sums to
        # 1 - 8.5e-10 for n = 10^6), which the normalisation removes.
        pmf = st.betabinom.pmf(np.arange(0, n + 1), n, a, b)
        total = math.fsum(pmf)
        sf = math.fsum(pmf[x:]) / total
        if sf > 1e-6:
            assert abs(sf - st.betabinom.sf(x - 1, n, a, b)) < 2 * abs(1 - total) + 1e-12
        cases.append({"x": x, "n": n, "a": a, "b": b, "sf": sf})
    return cases


def correlation_case():
    n_ref, n_cur, rho = 2000, 1000, 0.9
    # The premise of the case: each feature alone shows no drift. Draw until both
    # marginal KS tests are far from rejecting, so that the case tests the multivariate
    # detectors and not the luck of the draw.
    for attempt in range(100):
        ref = r6(rng.normal(0, 1, (n_ref, 2)))
        z = rng.normal(0, 1, (n_cur, 2))
        cur = r6(np.column_stack([z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho ** 2) * z[:, 1]]))
        ks = [st.ks_2samp(ref[:, j], cur[:, j]).pvalue for j in range(2)]
        adjusted = st.false_discovery_control(ks)
        if adjusted.min() > 0.2:
            break
    else:
        raise SystemExit("no draw met the premise")
    return {"features": ["x1", "x2"], "reference": ref.tolist(), "current": cur.tolist(),
            "rho": rho, "ks_p": [float(p) for p in ks],
            "ks_p_adjusted": [float(p) for p in adjusted],
            "sample_correlation": float(np.corrcoef(cur.T)[0, 1])}


def main():
    out = {
        "space": space_case(),
        "distances": distances_case(),
        "kmeans": kmeans_case(),
        "mmd": mmd_case(),
        "beta_binomial": beta_binomial_case(),
        "correlation": correlation_case(),
    }
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
