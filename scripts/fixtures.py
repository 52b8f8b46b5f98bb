#!/usr/bin/env python3
"""Reference values for vigil's drift statistics, computed by scipy and numpy.

Writes testdata/fixtures/stats.json, which tests/integration/reference_values.rs reads: vigil's KS,
chi-squared, PSI, multiple-testing and two-proportion code must reproduce these numbers to
1e-6 relative. Inputs are generated here (seeded) and stored rounded to 6 decimals, and the
reference values are computed on the stored, rounded inputs.

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/fixtures.py
"""
import json
import math
import os

import numpy as np
import scipy
import scipy.stats as st

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "fixtures", "stats.json")
rng = np.random.default_rng(20261201)


def r6(x):
    return [round(float(v), 6) for v in x]


def ks_cases():
    cases = []
    specs = [
        # (n1, n2, shift, kind)
        (50, 50, 0.0, "normal"),
        (100, 80, 0.3, "normal"),
        (37, 91, 0.0, "normal"),
        (1000, 1000, 0.0, "normal"),
        (1000, 1000, 0.1, "normal"),
        (1000, 2000, 0.0, "normal"),
        (1000, 2000, 0.08, "normal"),
        (1000, 2000, 0.5, "normal"),
        (2000, 1000, 0.15, "normal"),
        (300, 2000, 0.2, "normal"),
        (777, 1500, 0.05, "normal"),
        (1000, 2000, 0.0, "integers"),  # heavy ties
        (500, 2000, 1.0, "integers"),
        (5000, 5000, 0.02, "normal"),
        (2500, 10000, 0.03, "lognormal"),
    ]
    for n1, n2, shift, kind in specs:
        if kind == "normal":
            a, b = rng.normal(shift, 1, n1), rng.normal(0, 1, n2)
        elif kind == "lognormal":
            a, b = rng.lognormal(shift, 0.5, n1), rng.lognormal(0, 0.5, n2)
        else:
            a, b = rng.poisson(4 + shift, n1), rng.poisson(4, n2)
        a, b = r6(a), r6(b)
        res = st.ks_2samp(a, b)  # method="auto": exact for n <= 10000
        cases.append({
            "a": a, "b": b,
            "statistic": float(res.statistic), "p_value": float(res.pvalue),
        })
    return cases


def pool_sparse(base, cur, min_expected=5.0):
    """The same pooling vigil applies before the chi-squared test (stats::pool_sparse)."""
    nb, nc = sum(base), sum(cur)
    n = nb + nc
    b, c, pb, pc = [], [], 0, 0
    for x, y in zip(base, cur):
        col = x + y
        if col * nb / n < min_expected or col * nc / n < min_expected:
            pb += x
            pc += y
        else:
            b.append(x)
            c.append(y)
    if pb + pc > 0:
        b.append(pb)
        c.append(pc)
    return b, c


def chi2_cases():
    cases = []
    rows = [
        ([500, 300, 150, 50], [260, 140, 80, 20]),
        ([500, 300, 150, 50], [100, 100, 300, 500]),
        ([800, 150, 40, 8, 2, 0], [390, 80, 20, 6, 1, 3]),   # rare and unseen categories
        ([700, 300, 0], [300, 200, 500]),                    # a frequent unseen category
        ([1000, 1], [999, 2]),
        ([250, 250, 250, 250], [250, 251, 249, 250]),
        ([5000, 3000, 2000], [480, 330, 190]),
        ([60, 40], [45, 55]),
    ]
    for base, cur in rows:
        pb, pc = pool_sparse(base, cur)
        keep = [i for i in range(len(pb)) if pb[i] + pc[i] > 0]
        pb, pc = [pb[i] for i in keep], [pc[i] for i in keep]
        if len(pb) < 2:
            stat, p = 0.0, 1.0
        else:
            res = st.chi2_contingency([pb, pc], correction=False)
            stat, p = float(res.statistic), float(res.pvalue)
        raw = st.chi2_contingency([base, cur], correction=False) if all(
            x + y > 0 for x, y in zip(base, cur)) else None
        cases.append({
            "base": base, "cur": cur,
            "pooled_base": pb, "pooled_cur": pc,
            "statistic": stat, "p_value": p,
            "raw_statistic": None if raw is None else float(raw.statistic),
            "raw_p_value": None if raw is None else float(raw.pvalue),
        })
    return cases


def psi_cases():
    cases = []
    for shift, bins, kind in [(0.0, 10, "normal"), (0.25, 10, "normal"), (1.0, 10, "normal"),
                              (0.5, 5, "normal"), (0.0, 10, "integers"), (1.0, 20, "integers")]:
        if kind == "normal":
            ref, cur = rng.normal(0, 1, 2000), rng.normal(shift, 1, 1000)
        else:
            ref, cur = rng.poisson(3, 2000), rng.poisson(3 + shift, 1000)
        ref, cur = r6(ref), r6(cur)
        s = np.sort(np.array(ref))
        edges = np.quantile(s, [i / bins for i in range(1, bins)])  # numpy "linear"
        edges = np.unique(edges)  # sorted, ties merged
        rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
        cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
        pr = np.maximum(rc / rc.sum(), 1e-4)
        pcur = np.maximum(cc / cc.sum(), 1e-4)
        psi = float(np.sum((pcur - pr) * np.log(pcur / pr)))
        cases.append({
            "reference": ref, "current": cur, "bins": bins,
            "edges": [float(e) for e in edges],
            "reference_counts": rc.tolist(), "current_counts": cc.tolist(), "psi": psi,
        })
    return cases


def adjust_cases():
    cases = []
    for p in [
        [0.01, 0.04, 0.03, 0.2],
        list(rng.uniform(0, 1, 25)),
        [1e-12, 0.5, 1e-5, 0.03, 0.03, 0.9, 1.0],
        list(np.concatenate([rng.uniform(0, 1e-4, 3), rng.uniform(0, 1, 17)])),
    ]:
        p = [float(x) for x in p]
        cases.append({
            "p": p,
            "bh": [float(x) for x in st.false_discovery_control(p, method="bh")],
            "bonferroni": [min(1.0, x * len(p)) for x in p],
        })
    return cases


def proportion_cases():
    cases = []
    for x1, n1, x2, n2 in [(80, 1000, 10, 1000), (12, 1000, 10, 1000), (3, 200, 9, 3000),
                           (500, 5000, 450, 5000), (0, 100, 5, 100), (30, 1000, 10, 1000)]:
        pooled = (x1 + x2) / (n1 + n2)
        z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        cases.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "p_value": float(st.norm.sf(z))})
    return cases


def quantile_cases():
    x = r6(rng.lognormal(3, 0.35, 999))
    qs = [0.0, 0.01, 0.5, 0.95, 0.99, 1.0]
    return [{"values": x, "q": qs, "quantiles": [float(v) for v in np.quantile(np.sort(x), qs)]}]


def main():
    out = {
        "generator": "scripts/fixtures.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "ks_2samp": ks_cases(),
        "chi2_contingency": chi2_cases(),
        "psi": psi_cases(),
        "adjust": adjust_cases(),
        "two_proportion": proportion_cases(),
        "quantile": quantile_cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
