"""One threshold type for evaluation checks and policy gates (issue 11.6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from governance.common.errors import ValidationFailed
from governance.evaluations.checks import Threshold, evaluate_checks
from governance.workflow.gates import clean_checks


@pytest.mark.parametrize(
    ("given", "exact"), [(0.1, "0.1"), ("0.1", "0.1"), (1, "1"), (" 2.50 ", "2.50"), (1e-05, "0.00001")]
)
def test_a_threshold_is_a_number_or_a_decimal_string(given, exact):
    assert Threshold.parse_value(given, "t") == Decimal(exact)


@pytest.mark.parametrize("given", [True, None, "high", "NaN", "Infinity", float("inf"), [1]])
def test_anything_else_is_refused_with_one_message(given):
    with pytest.raises(ValidationFailed) as exc:
        Threshold.parse_value(given, "checks[0].threshold")
    assert exc.value.message == "checks[0].threshold: must be a finite number"
    assert exc.value.field == "checks[0].threshold"


def test_a_policy_and_an_evaluation_read_the_same_threshold_the_same_way():
    [check] = clean_checks([{"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": 0.7}])
    assert check["threshold"] == "0.7" and Threshold.of(check) == Threshold("auc", ">=", Decimal("0.7"))
    for observed in (0.6999999, 0.7, 0.7000001):
        [row] = evaluate_checks("performance", {"metrics": {"auc": observed}}, [{**check, "threshold": 0.7}])
        assert row["passed"] is Threshold.of(check).passes(observed) is (observed >= 0.7)
