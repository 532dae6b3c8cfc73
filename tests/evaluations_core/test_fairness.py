"""compute_fairness vs fairlearn MetricFrame and disparity functions."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score

from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import parse_inline
from tests.properties import examples

TOL = 1e-12
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]  # no shrinking: keep the suite fast


def _precision(y_true, y_pred, sample_weight=None):
    return precision_score(y_true, y_pred, zero_division=0, sample_weight=sample_weight)


FNS = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "tnr": true_negative_rate,
    "precision": _precision,
    "accuracy": accuracy_score,
}


def _close(a, b):
    if a is None or (isinstance(b, float) and np.isnan(b)):
        return a is None and np.isnan(b)
    return abs(a - b) <= TOL


def check_against_fairlearn(yt, yp, sens: dict, w=None):
    data = {
        "y_true": yt.tolist(),
        "y_pred": yp.tolist(),
        "sensitive_features": {k: v.tolist() for k, v in sens.items()},
    }
    if w is not None:
        data["sample_weight"] = w.tolist()
    res = compute_fairness(parse_inline("fairness", data, params={}))
    names = sorted(sens)
    sf = pd.DataFrame({k: sens[k] for k in names})
    sp = None if w is None else {k: {"sample_weight": w} for k in FNS}
    mf = MetricFrame(metrics=FNS, y_true=yt, y_pred=yp, sensitive_features=sf, sample_params=sp)
    rows = [r for r in res["by_group"] if not r["overall"]]
    by_group = mf.by_group.dropna(how="all")  # fairlearn lists empty combinations as NaN rows
    assert len(rows) == len(by_group)
    for row, (key, expected) in zip(rows, by_group.iterrows(), strict=True):
        key = key if isinstance(key, tuple) else (key,)
        assert tuple(row["group"][k] for k in names) == tuple(k.item() if hasattr(k, "item") else k for k in key)
        for m in FNS:
            assert _close(row[m], expected[m]), (m, row[m], expected[m])
    overall = res["by_group"][-1]
    assert overall["overall"] and overall["group"] == {}
    for m in FNS:
        assert _close(overall[m], mf.overall[m]), m
    kw = {"sensitive_features": sf, "sample_weight": w}
    met = res["metrics"]
    assert _close(met["demographic_parity_difference"], demographic_parity_difference(yt, yp, **kw))
    assert _close(met["demographic_parity_ratio"], demographic_parity_ratio(yt, yp, **kw))
    assert _close(met["disparate_impact_ratio"], demographic_parity_ratio(yt, yp, **kw))
    assert _close(met["equalized_odds_difference"], equalized_odds_difference(yt, yp, **kw))
    eor = equalized_odds_ratio(yt, yp, **kw)
    if met["equalized_odds_ratio"] is not None:
        assert _close(met["equalized_odds_ratio"], eor)
    assert _close(met["equal_opportunity_difference"], equal_opportunity_difference(yt, yp, **kw))
    return res


@st.composite
def fair_data(draw, weighted=False):
    n = draw(st.integers(min_value=1, max_value=300))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    n_feat = draw(st.integers(min_value=1, max_value=3))
    rng = np.random.default_rng(seed)
    p1 = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    yt = (rng.random(n) < p1).astype(np.int64)
    yp = (rng.random(n) < draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))).astype(np.int64)
    sens = {}
    for j in range(n_feat):
        k = draw(st.integers(min_value=1, max_value=5))
        if draw(st.booleans()):
            sens[f"f{j}"] = rng.choice(np.array(["a", "b", "c", "dd", "é"])[:k], n)
        else:
            sens[f"f{j}"] = rng.integers(-2, k - 2, n) if k > 1 else np.zeros(n, dtype=np.int64)
    w = rng.random(n) * 3 + 0.01 if weighted else None
    return yt, yp, sens, w


@settings(max_examples=examples(15), deadline=None, phases=PHASES)
@given(fair_data())
def test_matches_fairlearn_unweighted(d):
    check_against_fairlearn(*d)


@settings(max_examples=examples(10), deadline=None, phases=PHASES)
@given(fair_data(weighted=True))
def test_matches_fairlearn_weighted(d):
    check_against_fairlearn(*d)


def test_bit_identical_unweighted_large():
    rng = np.random.default_rng(3)
    n = 20000
    g = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    yt = (rng.random(n) < 0.3 + 0.1 * g).astype(np.int64)
    yp = (rng.random(n) < 0.2 + 0.15 * g).astype(np.int64)
    res = compute_fairness(
        parse_inline("fairness", {"y_true": yt, "y_pred": yp, "sensitive_features": {"g": g}}, params={})
    )
    mf = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate}, y_true=yt, y_pred=yp, sensitive_features=g
    )
    for row, (_k, exp) in zip(res["by_group"][:-1], mf.by_group.iterrows(), strict=True):
        assert row["selection_rate"] == exp["sr"] and row["tpr"] == exp["tpr"]
    assert res["metrics"]["demographic_parity_difference"] == demographic_parity_difference(
        yt, yp, sensitive_features=g
    )


def test_y_score_threshold_and_small_group_warning():
    yt = [0, 1, 1, 0, 1, 0]
    ys = [0.1, 0.8, 0.4, 0.6, 0.9, 0.2]
    parsed = parse_inline(
        "fairness",
        {"y_true": yt, "y_score": ys, "sensitive_features": {"sex": ["m", "f", "m", "f", "m", "f"]}},
        params={"threshold": 0.5},
    )
    assert parsed.y_pred.tolist() == [0, 1, 0, 1, 1, 0]
    res = compute_fairness(parsed, min_group_size=30)
    assert res["params"]["threshold"] == 0.5 and res["params"]["min_group_size"] == 30
    assert {w["code"] for w in res["warnings"]} == {"small_group"}
    assert len([w for w in res["warnings"] if w["code"] == "small_group"]) == 2
    assert [r["group"] for r in res["by_group"]] == [{"sex": "f"}, {"sex": "m"}, {}]
    assert set(res["library_versions"]) == {"numpy", "scipy", "mlgov.evaluations"}


def test_undefined_ratio_is_none():
    res = compute_fairness(
        parse_inline(
            "fairness",
            {"y_true": [0, 0, 1, 1], "y_pred": [0, 0, 0, 0], "sensitive_features": {"g": ["a", "b", "a", "b"]}},
            params={},
        )
    )
    assert res["metrics"]["demographic_parity_ratio"] is None
    assert res["metrics"]["demographic_parity_difference"] == 0.0


@pytest.mark.parametrize("n_levels", [3, 200_000])
def test_wide_int_codes_take_unique_path(n_levels):
    rng = np.random.default_rng(0)
    g = rng.integers(0, 3, 1000) * n_levels
    yt, yp = rng.integers(0, 2, 1000), rng.integers(0, 2, 1000)
    check_against_fairlearn(yt, yp, {"g": g, "h": rng.integers(0, 2, 1000)})


def test_chunked_counts_equal_single_bincount():
    from governance.evaluations.fairness import _confusion_counts

    rng = np.random.default_rng(11)
    n, k = 1003, 5
    code, yt, yp = rng.integers(0, k, n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    w = rng.random(n)
    cell = code * 4 + yt * 2 + yp
    counts, wc = _confusion_counts(code, k, yt, yp, w, chunk=7)
    assert (counts.ravel() == np.bincount(cell, minlength=4 * k)).all()
    assert np.allclose(wc.ravel(), np.bincount(cell, weights=w, minlength=4 * k), rtol=1e-13, atol=0)
