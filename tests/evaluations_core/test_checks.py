import pytest

from governance.common.errors import ValidationFailed
from governance.evaluations.checks import VALID_COMPARATORS, evaluate_checks, metric_names
from governance.evaluations.drift import compute_drift
from governance.evaluations.inputs import parse_inline

DRIFT = compute_drift(
    parse_inline(
        "drift",
        {
            "reference": {"x": [1.0, 2, 3, 4], "c": ["a", "b", "a", "a"]},
            "current": {"x": [2.0, 3, 4, 5], "c": ["a", "b", "b", "b"]},
        },
        params={},
    ),
    params={},
)


def test_drift_aggregates_and_per_feature():
    out = evaluate_checks(
        "drift",
        DRIFT,
        [
            {"metric": "drift_share", "comparator": "<=", "threshold": 0.5},
            {"metric": "max_psi", "comparator": "<", "threshold": 100},
            {"metric": "psi:x", "comparator": ">=", "threshold": 0},
            {"metric": "drifted_features", "comparator": "==", "threshold": 0},
            {"metric": "max_wasserstein_normalized", "comparator": ">", "threshold": 0},
        ],
    )
    assert [set(r) >= {"metric", "comparator", "threshold", "value", "passed"} for r in out] == [True] * 5
    assert out[2]["value"] == DRIFT["features"][1]["psi"]


@pytest.mark.parametrize(
    "thr,field",
    [
        ([{"metric": "nope", "comparator": "<=", "threshold": 1}], "thresholds[0].metric"),
        ([{"metric": "psi:zz", "comparator": "<=", "threshold": 1}], "thresholds[0].metric"),
        ([{"metric": "ks_statistic:c", "comparator": "<=", "threshold": 1}], "thresholds[0].metric"),
        ([{}, {"metric": "auc", "comparator": "~", "threshold": 1}], "thresholds[0].metric"),
        ([{"metric": "drift_share", "comparator": "~", "threshold": 1}], "thresholds[0].comparator"),
        ([{"metric": "drift_share", "comparator": "<", "threshold": "x"}], "thresholds[0].threshold"),
    ],
)
def test_bad_thresholds(thr, field):
    with pytest.raises(ValidationFailed) as ei:
        evaluate_checks("drift", DRIFT, thr)
    assert ei.value.field == field


def test_undefined_value_fails_with_note():
    res = {"metrics": {"demographic_parity_ratio": None}}
    out = evaluate_checks(
        "fairness", res, [{"metric": "demographic_parity_ratio", "comparator": ">=", "threshold": 0.8}]
    )
    assert out == [
        {
            "metric": "demographic_parity_ratio",
            "comparator": ">=",
            "threshold": 0.8,
            "value": None,
            "passed": False,
            "note": "undefined",
        }
    ]


def test_metric_names_and_comparators():
    assert set(VALID_COMPARATORS) == {"<=", "<", ">=", ">", "=="}
    assert "auc" in metric_names("performance") and "demographic_parity_difference" in metric_names("fairness")
    assert "psi:<feature>" in metric_names("drift")
