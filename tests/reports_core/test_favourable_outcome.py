"""Fairness ratios on the declared favourable outcome, checked against fairlearn (the reference):
for a model predicting the adverse event, the disparate impact ratio compares approval rates."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_ratio

from governance.common.errors import ValidationFailed
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import parse_inline


def _data(seed=3, n=400):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], n)
    y_pred = (rng.random(n) < np.where(sex == "f", 0.45, 0.25)).astype(int)  # 1 = predicted bad credit
    y_true = (rng.random(n) < 0.3).astype(int)
    return y_true, y_pred, sex


def test_ratios_are_computed_on_the_favourable_outcome():
    y_true, y_pred, sex = _data()
    data = {"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "sensitive_features": {"sex": sex.tolist()}}
    adverse = compute_fairness(parse_inline("fairness", data))
    favourable = compute_fairness(parse_inline("fairness", data), favourable_outcome=0)
    # default: the positive class (here: predicted bad credit) - fairlearn's own convention
    assert adverse["metrics"]["disparate_impact_ratio"] == pytest.approx(
        demographic_parity_ratio(y_true, y_pred, sensitive_features=sex)
    )
    # favourable outcome 0: the ratio of approval rates, as fairlearn gives on the inverted predictions
    assert favourable["metrics"]["disparate_impact_ratio"] == pytest.approx(
        demographic_parity_ratio(y_true, 1 - y_pred, sensitive_features=sex)
    )
    assert favourable["metrics"]["demographic_parity_difference"] == pytest.approx(
        adverse["metrics"]["demographic_parity_difference"]
    )
    assert favourable["params"]["favourable_outcome"] == 0
    rows = [r for r in favourable["by_group"] if not r["overall"]]
    assert all(r["favourable_rate"] == pytest.approx(1 - r["selection_rate"]) for r in rows)


def test_a_favourable_outcome_other_than_0_or_1_is_refused():
    y_true, y_pred, sex = _data(n=20)
    data = {"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "sensitive_features": {"sex": sex.tolist()}}
    with pytest.raises(ValidationFailed, match="favourable_outcome"):
        compute_fairness(parse_inline("fairness", data), favourable_outcome=2)
