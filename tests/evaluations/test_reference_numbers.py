"""Through the API, on the German Credit hold-out: the numbers equal fairlearn, scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm

from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db
H = slice(700, 1000)


def post(api, version, kind, data, **extra):
    resp = api.post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": kind, "dataset": "holdout", "data": data, **extra},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    return resp.json()


def test_fairness_equals_fairlearn(g, version, pipeline, api_for):
    body = post(api_for(pipeline), version, "fairness", f.fairness_data(g))
    y, yp = g["y"][H], (g["score"][H] >= 0.5).astype(int)
    sf = pd.DataFrame({"age_band": g["age_band"][H], "sex": g["sex"][H]})
    m = body["metrics"]
    assert m["demographic_parity_difference"] == demographic_parity_difference(y, yp, sensitive_features=sf)
    assert m["demographic_parity_ratio"] == demographic_parity_ratio(y, yp, sensitive_features=sf)
    assert m["equalized_odds_difference"] == equalized_odds_difference(y, yp, sensitive_features=sf)
    assert m["equalized_odds_ratio"] == equalized_odds_ratio(y, yp, sensitive_features=sf)
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=yp,
        sensitive_features=sf,
    )
    expected = mf.by_group.dropna(how="all")
    rows = [r for r in body["by_group"] if not r["overall"]]
    assert len(rows) == len(expected)
    for row, (key, exp) in zip(rows, expected.iterrows(), strict=True):
        assert (row["group"]["age_band"], row["group"]["sex"]) == key
        for col in ("selection_rate", "tpr", "fpr"):
            assert row[col] == exp[col]
    overall = body["by_group"][-1]
    assert overall["selection_rate"] == selection_rate(y, yp)


def test_performance_equals_sklearn(g, version, pipeline, api_for):
    body = post(api_for(pipeline), version, "performance", f.performance_data(g), params={"n_boot": 0})
    y, s = g["y"][H], g["score"][H]
    yp = (s >= 0.5).astype(int)
    assert body["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert body["gini"] == pytest.approx(2 * skm.roc_auc_score(y, s) - 1, abs=1e-12)
    assert body["brier"] == pytest.approx(skm.brier_score_loss(y, s), abs=1e-12)
    assert body["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)
    assert body["accuracy"] == pytest.approx(skm.accuracy_score(y, yp), abs=1e-12)
    assert body["precision"] == pytest.approx(skm.precision_score(y, yp, zero_division=0), abs=1e-12)
    assert body["recall"] == pytest.approx(skm.recall_score(y, yp, zero_division=0), abs=1e-12)
    assert body["f1"] == pytest.approx(skm.f1_score(y, yp, zero_division=0), abs=1e-12)
    assert body["ks_statistic"] == pytest.approx(stats.ks_2samp(s[y == 1], s[y == 0]).statistic, abs=1e-12)
    assert body["metrics"] == {k: body[k] for k in body["metrics"]}


def test_drift_equals_scipy(g, version, pipeline, api_for):
    body = post(api_for(pipeline), version, "drift", f.drift_data(g))
    feats = {row["feature"]: row for row in body["features"]}
    for name in f.DRIFT_FEATURES:
        ref, cur = g["features"][name][:700], g["features"][name][700:1000]
        ks = stats.ks_2samp(ref, cur)
        assert feats[name]["ks_statistic"] == pytest.approx(ks.statistic, abs=1e-12)
        assert feats[name]["ks_pvalue"] == pytest.approx(ks.pvalue, abs=1e-12)
        wn = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
        assert feats[name]["wasserstein_normalized"] == pytest.approx(wn, abs=1e-12)
        edges = np.quantile(ref, np.arange(1, 10) / 10.0)
        rp = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10) / len(ref)
        cp = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10) / len(cur)
        assert feats[name]["js_distance"] == pytest.approx(jensenshannon(rp, cp, base=2), abs=1e-9)
    assert body["metrics"]["max_psi"] == max(r["psi"] for r in body["features"])
    assert body["drift_share"] == sum(r["drifted"] for r in body["features"]) / len(body["features"])
