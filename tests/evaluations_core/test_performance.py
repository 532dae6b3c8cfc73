"""compute_performance vs sklearn, DeLong vs an O(n^2) reference, bootstrap determinism."""

import math

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from governance.evaluations.inputs import parse_inline
from governance.evaluations.performance import compute_performance

PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
TOL = 1e-12


def close(a, b):
    return abs(a - b) <= TOL * max(1.0, abs(b))


def delong_reference(y, s):
    """Plain DeLong (1988) with the O(m*n) placement values."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)

    def var1(v):  # a class with a single member contributes no variance (documented)
        return v.var(ddof=1) if len(v) > 1 else 0.0

    var = var1(v10) / len(pos) + var1(v01) / len(neg)
    return auc, var


@st.composite
def scored(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(4, 300))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    s = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)
    dec = draw(st.sampled_from([1, 2, None]))
    if dec:
        s = np.round(s, dec)
    if draw(st.booleans()):
        s[rng.integers(0, n, 3)] = draw(st.sampled_from([0.0, 1.0]))
    return y, s


@settings(max_examples=50, deadline=None, phases=PHASES)
@given(scored(), st.sampled_from([0.5, 0.3, 0.0, 1.0]))
def test_matches_sklearn(d, threshold):
    y, s = d
    r = compute_performance(
        parse_inline("performance", {"y_true": y.tolist(), "y_score": s.tolist()}, params={"threshold": threshold}),
        params={"n_boot": 20},
    )
    yp = (s >= threshold).astype(int)
    assert close(r["auc"], skm.roc_auc_score(y, s))
    assert close(r["gini"], 2 * skm.roc_auc_score(y, s) - 1)
    assert close(r["brier"], skm.brier_score_loss(y, s))
    assert close(r["log_loss"], skm.log_loss(y, s))
    assert close(r["accuracy"], skm.accuracy_score(y, yp))
    assert close(r["precision"], skm.precision_score(y, yp, zero_division=0))
    assert close(r["recall"], skm.recall_score(y, yp, zero_division=0))
    assert close(r["f1"], skm.f1_score(y, yp, zero_division=0))
    assert close(r["ks_statistic"], stats.ks_2samp(s[y == 1], s[y == 0]).statistic)
    assert r["metrics"]["auc"] == r["auc"]
    auc, var = delong_reference(y, s)
    ci = r["confidence_intervals"]["auc"]
    assert close(ci["se"], math.sqrt(var))
    z = stats.norm.ppf(0.975)
    assert close(ci["lower"], max(0.0, auc - z * math.sqrt(var)))
    assert close(ci["upper"], min(1.0, auc + z * math.sqrt(var)))
    cal = r["calibration"]
    assert len(cal) == 10 and sum(b["count"] for b in cal) == len(y)
    for b in cal:
        if b["count"] == 0:
            assert b["mean_score"] is None and b["observed_rate"] is None


def test_bootstrap_deterministic_and_matches_resampling():
    rng = np.random.default_rng(2)
    n = 400
    y = rng.integers(0, 2, n)
    s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    parsed = parse_inline("performance", {"y_true": y, "y_score": s}, params={})
    a = compute_performance(parsed, params={"n_boot": 200, "seed": 7})
    b = compute_performance(parsed, params={"n_boot": 200, "seed": 7})
    c = compute_performance(parsed, params={"n_boot": 200, "seed": 8})
    assert a["confidence_intervals"] == b["confidence_intervals"]
    assert a["confidence_intervals"]["brier"] != c["confidence_intervals"]["brier"]
    # documented method: rng.integers(0, n, n) per replicate, percentile of the metric on the resample
    g = np.random.default_rng(7)
    briers, f1s, kss = [], [], []
    for _ in range(200):
        idx = g.integers(0, n, n)
        briers.append(skm.brier_score_loss(y[idx], s[idx]))
        f1s.append(skm.f1_score(y[idx], s[idx] >= 0.5, zero_division=0))
        kss.append(stats.ks_2samp(s[idx][y[idx] == 1], s[idx][y[idx] == 0]).statistic)
    for key, vals in (("brier", briers), ("f1", f1s), ("ks_statistic", kss)):
        lo, hi = np.quantile(vals, [0.025, 0.975])
        ci = a["confidence_intervals"][key]
        assert close(ci["lower"], lo) and close(ci["upper"], hi), key
    assert a["params"] == {
        "threshold": 0.5,
        "n_boot": 200,
        "seed": 7,
        "ci_level": 0.95,
        "calibration_bins": 10,
        "log_loss_eps": float(np.finfo(float).eps),
    }


def test_single_class_gives_undefined_not_nan():
    r = compute_performance(
        parse_inline("performance", {"y_true": [1, 1, 1], "y_score": [0.2, 0.9, 1.0]}, params={}), params={"n_boot": 10}
    )
    assert r["auc"] is None and r["gini"] is None and r["ks_statistic"] is None
    assert r["warnings"][0]["code"] == "single_class"
    assert r["confidence_intervals"]["auc"]["lower"] is None
