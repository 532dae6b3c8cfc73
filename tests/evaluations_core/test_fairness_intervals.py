"""Per-group confidence intervals (issue 14): Wilson score intervals for every per-group rate and a
seeded parametric bootstrap for the ratio and difference metrics, computed from the per-group counts
alone, so the in-memory and out-of-core paths give the same numbers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import binomtest

from governance.evaluations import outofcore
from governance.evaluations.fairness import (
    BOOTSTRAP_DRAWS,
    BOOTSTRAP_SEED,
    compute_fairness,
    metric_intervals,
    wilson_interval,
)
from governance.evaluations.inputs import parse_inline, parse_table


def _data(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], size=n, p=[0.3, 0.7])
    y = (rng.random(n) < 0.3).astype(int)
    pred = (rng.random(n) < np.where(sex == "f", 0.25, 0.4)).astype(int)
    return y, pred, sex


def _wilson_reference(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def test_every_group_rate_carries_the_wilson_interval_scipy_gives():
    y, pred, sex = _data()
    res = compute_fairness(
        parse_inline(
            "fairness", {"y_true": y.tolist(), "y_pred": pred.tolist(), "sensitive_features": {"sex": sex.tolist()}}
        ),
        min_group_size=30,
        favourable_outcome=0,
    )
    for row in res["by_group"]:
        mask = np.ones(len(y), bool) if row["overall"] else sex == row["group"]["sex"]
        n = int(mask.sum())
        selected = int(pred[mask].sum())
        tp = int((pred[mask] & y[mask]).sum())
        positives = int(y[mask].sum())
        iv = row["intervals"]
        assert np.allclose(iv["selection_rate"], _wilson_reference(selected, n), atol=1e-12)
        assert np.allclose(iv["favourable_rate"], _wilson_reference(n - selected, n), atol=1e-12)
        assert np.allclose(iv["tpr"], _wilson_reference(tp, positives), atol=1e-12)
        assert iv["selection_rate"][0] <= row["selection_rate"] <= iv["selection_rate"][1]
    method = res["interval_method"]
    assert method["level"] == 0.95 and "Wilson" in method["rates"]
    assert f"{BOOTSTRAP_DRAWS} draws, seed {BOOTSTRAP_SEED}" in method["metrics"]


def test_ratio_interval_is_a_seeded_bootstrap_around_the_ratio_and_repeats_exactly():
    y, pred, sex = _data()
    payload = {"y_true": y.tolist(), "y_pred": pred.tolist(), "sensitive_features": {"sex": sex.tolist()}}
    first = compute_fairness(parse_inline("fairness", payload), min_group_size=30)
    again = compute_fairness(parse_inline("fairness", payload), min_group_size=30)
    assert first["metric_intervals"] == again["metric_intervals"]
    low, high = first["metric_intervals"]["disparate_impact_ratio"]
    assert low < first["metrics"]["disparate_impact_ratio"] < high
    assert first["metric_intervals"]["demographic_parity_ratio"] == [low, high]
    low, high = first["metric_intervals"]["demographic_parity_difference"]
    assert low < first["metrics"]["demographic_parity_difference"] < high


def test_intervals_are_none_where_undefined_or_weighted():
    assert wilson_interval(0, 0) is None
    assert metric_intervals(np.array([[5, 5, 5, 5]])) == {
        "demographic_parity_difference": None,
        "demographic_parity_ratio": None,
        "disparate_impact_ratio": None,
    }
    y, pred, sex = _data(200)
    res = compute_fairness(
        parse_inline(
            "fairness",
            {
                "y_true": y.tolist(),
                "y_pred": pred.tolist(),
                "sensitive_features": {"sex": sex.tolist()},
                "sample_weight": [1.5] * 200,
            },
        ),
        min_group_size=30,
    )
    assert res["metric_intervals"] is None
    assert all(row["intervals"] is None for row in res["by_group"])
    assert "not computed for weighted evaluations" in res["interval_method"]["note"]


def test_out_of_core_path_gives_the_same_intervals(tmp_path):
    y, pred, sex = _data(20_000, seed=3)
    path = tmp_path / "input.parquet"
    pq.write_table(pa.table({"label": y, "pred": pred, "sex": sex}), path)
    columns = {"y_true": "label", "y_pred": "pred", "sensitive_features": ["sex"]}
    params = {"favourable_outcome": 0}
    memory = compute_fairness(
        parse_table("fairness", str(path), file_format="parquet", columns=columns, params=params),
        min_group_size=30,
        favourable_outcome=0,
    )
    out, _rows = outofcore.compute(
        "fairness", str(path), file_format="parquet", columns=columns, params=params, min_group_size=30
    )
    assert out["metric_intervals"] == memory["metric_intervals"]
    assert [r["intervals"] for r in out["by_group"]] == [r["intervals"] for r in memory["by_group"]]
    assert out["interval_method"] == memory["interval_method"]
