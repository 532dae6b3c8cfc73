"""Fairness benchmark: bincount floor vs compute_fairness vs fairlearn (same run, same data).

.venv/bin/python bench/bench_fairness.py --rows 1000000
.venv/bin/python bench/bench_fairness.py --rows 10000000 [--with-fairlearn-10m]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import current_rss_mb, peak_rss_mb, timeit

from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import parse_inline


def make_fair(n: int, seed: int = 0):
    """4 int-coded groups (40/30/20/10 %) with group-dependent base and error rates."""
    rng = np.random.default_rng(seed)
    g = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int64)
    base = np.array([0.30, 0.40, 0.50, 0.60])[g]
    y_true = (rng.random(n) < base).astype(np.int64)
    tpr = np.array([0.80, 0.75, 0.70, 0.60])[g]
    fpr = np.array([0.10, 0.15, 0.20, 0.25])[g]
    p = np.where(y_true == 1, tpr, fpr)
    y_pred = (rng.random(n) < p).astype(np.int64)
    return y_true, y_pred, g


def ours(y_true, y_pred, g):
    parsed = parse_inline(
        "fairness", {"y_true": y_true, "y_pred": y_pred, "sensitive_features": {"group": g}}, params={}
    )
    return compute_fairness(parsed)


def fairlearn_run(y_true, y_pred, g):
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    mf = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "accuracy": accuracy_score,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=g,
    )
    dpd = demographic_parity_difference(y_true, y_pred, sensitive_features=g)
    eod = equalized_odds_difference(y_true, y_pred, sensitive_features=g)
    return mf, dpd, eod


def max_diff(res, fl):
    mf, dpd, eod = fl
    diffs = []
    rows = res["by_group"][:-1]
    for row, (_k, exp) in zip(rows, mf.by_group.iterrows(), strict=True):
        diffs += [abs(row[m] - exp[m]) for m in ("selection_rate", "tpr", "fpr", "accuracy")]
    ov = res["by_group"][-1]
    diffs += [abs(ov[m] - mf.overall[m]) for m in ("selection_rate", "tpr", "fpr", "accuracy")]
    diffs.append(abs(res["metrics"]["demographic_parity_difference"] - dpd))
    diffs.append(abs(res["metrics"]["equalized_odds_difference"] - eod))
    return max(diffs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--fairlearn-reps", type=int, default=1)
    ap.add_argument("--with-fairlearn-10m", action="store_true")
    a = ap.parse_args()
    y_true, y_pred, g = make_fair(a.rows)
    print(f"fairness benchmark: rows={a.rows:,} groups=4 (40/30/20/10 %), median of {a.reps} after 1 warm-up")
    code = g * 4 + y_true * 2 + y_pred
    floor_s, _, _ = timeit(lambda: np.bincount(code, minlength=16), a.reps)
    rss0 = current_rss_mb()
    parsed = parse_inline("fairness", {"y_true": y_true, "y_pred": y_pred, "sensitive_features": {"group": g}})
    compute_s, compute_all, _ = timeit(lambda: compute_fairness(parsed), a.reps)
    ours_s, ours_all, res = timeit(lambda: ours(y_true, y_pred, g), a.reps)
    peak_ours = peak_rss_mb()
    print(f"  floor  np.bincount(precomputed code)      median {floor_s * 1e3:9.2f} ms")
    print(
        f"  ours   compute_fairness (parsed input)    median {compute_s * 1e3:9.2f} ms   "
        f"({', '.join(f'{t * 1e3:.1f}' for t in compute_all)})"
    )
    print(f"  ratio  compute / floor                    {compute_s / floor_s:9.2f}x   (target <= 3x)")
    print(
        f"  ours   parse_inline + compute_fairness    median {ours_s * 1e3:9.2f} ms   "
        f"({', '.join(f'{t * 1e3:.1f}' for t in ours_all)})"
    )
    print(f"  ratio  parse+compute / floor              {ours_s / floor_s:9.2f}x   (validation included)")
    print(f"  RSS    before ours {rss0:.0f} MB; process peak after ours {peak_ours:.0f} MB")
    if a.rows > 1_000_000 and not a.with_fairlearn_10m:
        print("  fairlearn skipped above 1M rows (pass --with-fairlearn-10m to run it)")
        return
    fl_s, fl_all, fl = timeit(lambda: fairlearn_run(y_true, y_pred, g), a.fairlearn_reps, warmup=False)
    print(
        f"  fairlearn MetricFrame(4)+DPD+EOD          median {fl_s:9.3f} s    "
        f"({', '.join(f'{t:.2f}' for t in fl_all)}; no warm-up)"
    )
    print(f"  ratio  fairlearn / ours                   {fl_s / ours_s:9.0f}x")
    print(f"  max abs diff vs fairlearn                 {max_diff(res, fl):.3g}   (must be 0 or <= 1e-12)")
    print(f"  process peak RSS after fairlearn          {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
