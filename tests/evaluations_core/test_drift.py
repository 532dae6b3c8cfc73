"""compute_drift vs scipy per call."""

import math

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from governance.evaluations.drift import compute_drift
from governance.evaluations.inputs import parse_inline
from tests.properties import examples

PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
TOL = 1e-12


def close(a, b, tol=TOL):
    return abs(a - b) <= tol * max(1.0, abs(b))


def ref_psi_js_numeric(ref, cur):
    edges = np.quantile(ref, np.arange(1, 10) / 10.0)
    rb = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10) / len(ref)
    cb = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10) / len(cur)
    r, c = np.maximum(rb, 1e-4), np.maximum(cb, 1e-4)
    return float(np.sum((c - r) * np.log(c / r))), float(jensenshannon(rb, cb, base=2))


@st.composite
def numeric_pair(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 400))
    m = draw(st.integers(1, 400))
    decimals = draw(st.sampled_from([0, 1, 3, None]))  # rounding creates ties
    ref = rng.normal(size=n)
    cur = rng.normal(draw(st.floats(-1, 1)), draw(st.floats(0.5, 2)), size=m)
    if decimals is not None:
        ref, cur = np.round(ref, decimals), np.round(cur, decimals)
    return ref, cur


@settings(max_examples=examples(60), deadline=None, phases=PHASES)
@given(numeric_pair())
def test_numeric_stats_match_scipy(pair):
    ref, cur = pair
    res = compute_drift(
        parse_inline("drift", {"reference": {"x": ref.tolist()}, "current": {"x": cur.tolist()}}, params={}), params={}
    )
    row = res["features"][0]
    ks = stats.ks_2samp(ref, cur)
    assert close(row["ks_statistic"], ks.statistic)
    assert close(row["ks_pvalue"], ks.pvalue)  # exact method below 10,000 rows
    wn = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert close(row["wasserstein_normalized"], wn)
    psi, js = ref_psi_js_numeric(ref, cur)
    assert close(row["psi"], psi) and close(row["js_distance"], js)
    assert row["method"] == "ks" and row["drifted"] == (ks.pvalue < 0.05)
    assert "chi2_statistic" not in row


@st.composite
def categorical_pair(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k1, k2 = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    n, m = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    labels = np.array(["a", "b", "c", "d", "e", "f", "g", "h"])
    return rng.choice(labels[:k1], n), rng.choice(labels[:k2], m)


@settings(max_examples=examples(60), deadline=None, phases=PHASES)
@given(categorical_pair())
def test_categorical_stats_match_scipy(pair):
    ref, cur = pair
    res = compute_drift(
        parse_inline("drift", {"reference": {"c": ref.tolist()}, "current": {"c": cur.tolist()}}, params={}), params={}
    )
    row = res["features"][0]
    cats = np.union1d(ref, cur)
    rc = np.array([(ref == c).sum() for c in cats])
    cc = np.array([(cur == c).sum() for c in cats])
    chi2 = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    assert close(row["chi2_statistic"], chi2.statistic) and close(row["chi2_pvalue"], chi2.pvalue)
    rp, cp = rc / len(ref), cc / len(cur)
    r, c = np.maximum(rp, 1e-4), np.maximum(cp, 1e-4)
    assert close(row["psi"], float(np.sum((c - r) * np.log(c / r))))
    assert close(row["js_distance"], float(jensenshannon(rp, cp, base=2)))
    assert row["type"] == "categorical" and row["method"] == "chi2"
    assert "ks_statistic" not in row


def test_large_path_asymptotic_pvalue_and_distance_rules():
    rng = np.random.default_rng(5)
    n, m = 12000, 11000
    ref = {"x": rng.normal(size=n), "y": rng.normal(size=n), "c": rng.integers(0, 5, n)}
    cur = {"x": rng.normal(0.3, 1, m), "y": rng.normal(size=m), "c": rng.integers(0, 6, m)}
    parsed = parse_inline("drift", {"reference": ref, "current": cur}, params={"categorical": ["c"]})
    res = compute_drift(parsed, params={})
    rows = {r["feature"]: r for r in res["features"]}
    for f in ("x", "y"):
        d = stats.ks_2samp(ref[f], cur[f]).statistic
        assert close(rows[f]["ks_statistic"], d)
        expected = stats.kstwobign.sf(d * math.sqrt(n * m / (n + m)))
        assert close(rows[f]["ks_pvalue"], expected)
        assert rows[f]["ks_pvalue_method"] == "asymptotic"
        assert rows[f]["method"] == "wasserstein_normalized"
        wn = stats.wasserstein_distance(ref[f], cur[f]) / np.std(ref[f])
        assert close(rows[f]["wasserstein_normalized"], wn)
        assert rows[f]["drifted"] == (wn > 0.1)
    assert rows["x"]["drifted"] and not rows["y"]["drifted"]
    assert rows["c"]["method"] == "jensen_shannon" and rows["c"]["drifted"]
    assert res["drift_share"] == 2 / 3 and res["dataset_drifted"]
    assert res["metrics"]["drifted_features"] == 2
    assert res["params"]["num_threshold"] == 0.1 and res["params"]["large_reference"] == 1000


def test_constant_reference_uses_std_floor_and_psi_band():
    res = compute_drift(
        parse_inline("drift", {"reference": {"x": [1.0] * 20}, "current": {"x": [1.0] * 19 + [2.0]}}, params={}),
        params={},
    )
    row = res["features"][0]
    assert close(row["wasserstein_normalized"], stats.wasserstein_distance([1.0] * 20, [1.0] * 19 + [2.0]) / 0.001)
    assert row["psi_band"] in {"none", "moderate", "significant"}


def test_params_override():
    rng = np.random.default_rng(1)
    data = {"reference": {"x": rng.normal(size=200).tolist()}, "current": {"x": rng.normal(size=200).tolist()}}
    res = compute_drift(parse_inline("drift", data, params={}), params={"p_threshold": 1.0, "drift_share": 1.0})
    assert res["features"][0]["drifted"] and res["dataset_drifted"]
    assert res["params"]["p_threshold"] == 1.0
