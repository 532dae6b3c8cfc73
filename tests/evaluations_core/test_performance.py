"""compute_performance vs sklearn, DeLong vs an O(n^2) reference, bootstrap determinism."""

import math

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from governance.evaluations.inputs import parse_inline
from governance.evaluations.performance import compute_performance
from tests.properties import examples

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


@settings(max_examples=examples(50), deadline=None, phases=PHASES)
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
    assert a["confidence_intervals"]["f1"] != c["confidence_intervals"]["f1"]
    assert a["confidence_intervals"]["brier"] == c["confidence_intervals"]["brier"]  # moments: no resampling
    # documented method: the four confusion counts, then the KS cells, drawn from one seeded generator
    g = np.random.default_rng(7)
    yp = s >= 0.5
    cm = np.array([(y == 1) & yp, (y == 0) & yp, (y == 1) & ~yp, (y == 0) & ~yp]).sum(axis=1)
    counts = g.multinomial(n, cm / n, size=200)
    f1s = 2 * counts[:, 0] / (2 * counts[:, 0] + counts[:, 1] + counts[:, 2])
    values = np.unique(s)  # 400 distinct scores: one KS cell each (exact)
    inv = np.searchsorted(values, s)
    cpos = np.bincount(inv, weights=y == 1, minlength=len(values))
    cneg = np.bincount(inv, minlength=len(values)) - cpos
    cells = g.multinomial(n, np.concatenate([cpos, cneg]) / n, size=200)
    cp, cn = np.cumsum(cells[:, :400], axis=1), np.cumsum(cells[:, 400:], axis=1)
    kss = np.max(np.abs(cp / cp[:, -1:] - cn / cn[:, -1:]), axis=1)
    for key, vals in (("f1", f1s), ("ks_statistic", kss)):
        lo, hi = np.quantile(vals, [0.025, 0.975])
        ci = a["confidence_intervals"][key]
        assert close(ci["lower"], lo) and close(ci["upper"], hi), key
        assert ci["method"] == "multinomial_bootstrap"
    assert a["confidence_intervals"]["ks_statistic"]["exact_cells"] is True
    # Brier from its terms' moments: the Cornish-Fisher quantiles of the bootstrap mean
    t = (y - s) ** 2
    m, mu2, mu3 = t.mean(), np.mean((t - t.mean()) ** 2), np.mean((t - t.mean()) ** 3)
    gam = mu3 / mu2**1.5 / math.sqrt(n)
    z = stats.norm.ppf(0.975)
    ci = a["confidence_intervals"]["brier"]
    assert ci["method"] == "bootstrap_moments"
    assert close(ci["lower"], m + math.sqrt(mu2 / n) * (-z + (z * z - 1) * gam / 6))
    assert close(ci["upper"], m + math.sqrt(mu2 / n) * (z + (z * z - 1) * gam / 6))
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


def test_count_resampling_matches_row_resampling_in_distribution():
    """Resampling rows and resampling the confusion counts (multinomial) give the same bootstrap
    distribution; the moment interval of Brier / log loss matches the row bootstrap's percentiles."""
    rng = np.random.default_rng(11)
    n = 3000
    y = rng.integers(0, 2, n)
    s = np.clip(0.25 * y + rng.random(n) * 0.75, 0, 1)
    s = np.round(s, 2)  # 101 distinct scores: the KS cells are exact
    parsed = parse_inline("performance", {"y_true": y, "y_score": s}, params={})
    r = compute_performance(parsed, params={"n_boot": 4000, "seed": 3})["confidence_intervals"]
    g = np.random.default_rng(5)
    rows = {"accuracy": [], "f1": [], "brier": [], "log_loss": [], "ks_statistic": []}
    pc = np.clip(s, np.finfo(float).eps, 1 - np.finfo(float).eps)
    codes = np.searchsorted(np.unique(s), s)
    for _ in range(4000):
        idx = g.integers(0, n, n)
        yy, ss = y[idx], s[idx]
        pred = ss >= 0.5
        tp, fp, fn = np.sum(yy & pred), np.sum(~yy.astype(bool) & pred), np.sum(yy.astype(bool) & ~pred)
        rows["accuracy"].append(np.mean(yy == pred))
        rows["f1"].append(2 * tp / (2 * tp + fp + fn))
        rows["brier"].append(np.mean((yy - ss) ** 2))
        rows["log_loss"].append(np.mean(np.where(yy == 1, -np.log(pc[idx]), -np.log(1 - pc[idx]))))
        cp = np.cumsum(np.bincount(codes[idx], weights=yy, minlength=101))
        cn = np.cumsum(np.bincount(codes[idx], weights=1 - yy, minlength=101))
        rows["ks_statistic"].append(np.max(np.abs(cp / cp[-1] - cn / cn[-1])))
    for key, vals in rows.items():
        lo, hi = np.quantile(vals, [0.025, 0.975])
        width = hi - lo
        # two independent Monte Carlo estimates of the same quantiles: within 8% of the width
        assert abs(r[key]["lower"] - lo) < 0.08 * width, key
        assert abs(r[key]["upper"] - hi) < 0.08 * width, key


def test_ks_interval_on_many_distinct_scores_uses_quantile_cells():
    rng = np.random.default_rng(4)
    n = 20_000
    y = rng.integers(0, 2, n)
    s = np.clip(0.2 * y + rng.random(n) * 0.8, 0, 1)
    parsed = parse_inline("performance", {"y_true": y, "y_score": s}, params={})
    r = compute_performance(parsed, params={"n_boot": 300, "seed": 1})
    ci = r["confidence_intervals"]["ks_statistic"]
    assert ci["exact_cells"] is False and ci["cells"] <= 2048
    assert ci["lower"] <= r["ks_statistic"] <= ci["upper"] + 1e-3


@settings(max_examples=40, deadline=None, phases=PHASES)
@given(scored())
def test_roc_curve_equals_sklearn_point_by_point(d):
    """Up to 200 distinct scores the stored curve is sklearn's roc_curve (drop_intermediate=False),
    thresholds included (its first threshold, inf, is null), and its trapezoid area is the AUC."""
    y, s = d
    r = compute_performance(parse_inline("performance", {"y_true": y.tolist(), "y_score": s.tolist()}), params={})
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    curve = r["roc_curve"]
    assert curve["n_vertices"] == len(fpr) == len(np.unique(s)) + 1
    if len(fpr) > 201:  # thinned: every stored point is still a vertex of sklearn's curve
        assert curve["exact"] is False and curve["n_points"] <= 201
        assert set(zip(curve["fpr"], curve["tpr"], strict=True)) <= set(zip(fpr.tolist(), tpr.tolist(), strict=True))
        return
    assert curve["exact"] is True and curve["n_points"] == len(fpr)
    assert curve["fpr"] == fpr.tolist() and curve["tpr"] == tpr.tolist()
    assert curve["thresholds"][0] is None and curve["thresholds"][1:] == thr[1:].tolist()
    assert close(curve["auc_of_points"], r["auc"])


def test_roc_curve_is_bounded_and_keeps_its_shape():
    """A 100,000-row curve (tens of thousands of distinct scores) is thinned to at most 201 exact
    vertices; the full curve never departs from the stored line by more than 2/199; the AUC stays exact."""
    rng = np.random.default_rng(7)
    n = 100_000
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    r = compute_performance(parse_inline("performance", {"y_true": y.tolist(), "y_score": s.tolist()}), params={})
    curve = r["roc_curve"]
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    assert curve["exact"] is False and curve["n_vertices"] == len(fpr) > 10_000
    assert 150 <= curve["n_points"] <= curve["max_points"] == 201
    assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) == curve["n_points"]
    assert (curve["fpr"][0], curve["tpr"][0], curve["fpr"][-1], curve["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    vertex = {(a, b): t for a, b, t in zip(fpr.tolist(), tpr.tolist(), thr.tolist(), strict=True)}
    for a, b, t in zip(curve["fpr"][1:], curve["tpr"][1:], curve["thresholds"][1:], strict=True):
        assert vertex[(a, b)] == t  # every stored point is an exact vertex with its threshold
    kf, kt = np.array(curve["fpr"]), np.array(curve["tpr"])
    # distance of every full-curve vertex to the stored polyline
    ax, ay, bx, by = kf[:-1], kt[:-1], kf[1:], kt[1:]
    dx, dy = bx - ax, by - ay
    seg2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
    worst = 0.0
    for px, py in zip(fpr[::7], tpr[::7], strict=True):
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / seg2, 0, 1)
        worst = max(worst, float(np.min(np.hypot(ax + t * dx - px, ay + t * dy - py))))
    assert worst <= 2 / 199
    assert close(r["auc"], skm.roc_auc_score(y, s))
    assert abs(curve["auc_of_points"] - r["auc"]) < 1e-3


def test_roc_curve_is_null_for_a_single_class():
    r = compute_performance(parse_inline("performance", {"y_true": [1, 1, 1], "y_score": [0.2, 0.5, 0.9]}), params={})
    assert r["roc_curve"] is None and r["auc"] is None
