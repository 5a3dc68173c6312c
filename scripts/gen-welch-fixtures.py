#!/usr/bin/env python3
"""Reference values for the hypothesis Welch t-test, computed with scipy.

Writes packages/server/test/fixtures/welch-scipy.json; packages/server/test/stats.test.ts compares
the server's t, df and one-sided p to these and never regenerates them. To recompute:

    python3 -m venv /tmp/welch-venv && /tmp/welch-venv/bin/pip install scipy
    /tmp/welch-venv/bin/python scripts/gen-welch-fixtures.py

Convention (scipy's): t = (mean(x) - mean(y)) / sqrt(var(x)/nx + var(y)/ny) with sample variances
(ddof=1); df by Welch-Satterthwaite; `greater` tests mean(x) > mean(y), `less` mean(x) < mean(y).
"""
import json
import pathlib

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20261130)


def normal(n, mean, sd):
    return [float(v) for v in rng.normal(mean, sd, n)]


CASES = [
    ("n=2 each, x clearly larger", [0.91, 0.93], [0.85, 0.86], "greater"),
    ("n=2 each, x smaller (wrong direction for greater)", [0.70, 0.74], [0.80, 0.81], "greater"),
    ("n=2 vs n=3, lower-is-better loss", [0.31, 0.33], [0.42, 0.40, 0.44], "less"),
    ("n=3 each, the README worked example (candidate loss vs baseline loss)", [0.40, 0.38, 0.39], [0.50, 0.48, 0.46], "less"),
    ("very unequal variances (sd 0.001 vs 5)", normal(5, 10.0, 0.001), normal(5, 12.0, 5.0), "less"),
    ("very unequal variances and n (n=2 sd 10 vs n=40 sd 0.01)", normal(2, 1.0, 10.0), normal(40, 0.5, 0.01), "greater"),
    ("unequal n 3 vs 17", normal(3, 0.8, 0.05), normal(17, 0.75, 0.02), "greater"),
    ("large n 500 each, small effect", normal(500, 0.100, 0.02), normal(500, 0.102, 0.02), "less"),
    ("large n 2000 vs 300", normal(2000, 5.0, 1.0), normal(300, 5.1, 3.0), "less"),
    ("same population mean drawn twice", normal(10, 1.0, 0.1), normal(10, 1.0, 0.1), "greater"),
    ("tiny p (huge effect, n=5)", normal(5, 100.0, 0.5), normal(5, 90.0, 0.5), "greater"),
    ("tiny p, other tail of the same data", normal(5, 100.0, 0.5), normal(5, 90.0, 0.5), "less"),
    ("n=2 vs n=2 one arm with zero variance", [0.5, 0.5], [0.4, 0.45], "greater"),
    ("negative values, n=4 vs 6", [-3.2, -2.9, -3.5, -3.0], [-2.1, -2.6, -2.2, -2.4, -2.0, -2.7], "less"),
    ("values near 1e6 with sd 1", normal(4, 1e6, 1.0), normal(4, 1e6 + 2.0, 1.0), "less"),
]


def main():
    out = []
    for name, x, y, alternative in CASES:
        r = stats.ttest_ind(x, y, equal_var=False, alternative=alternative)
        out.append({
            "name": name,
            "x": x,
            "y": y,
            "alternative": alternative,
            "t": float(r.statistic),
            "df": float(r.df),
            "p_value": float(r.pvalue),
        })
    doc = {
        "generator": "scripts/gen-welch-fixtures.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "call": "scipy.stats.ttest_ind(x, y, equal_var=False, alternative=alternative)",
        "cases": out,
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "packages/server/test/fixtures/welch-scipy.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
