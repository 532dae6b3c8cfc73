"""The computation core wrapped for the services: run a kernel and split its output into the
Evaluation's columns, with its checks (pure given a Parsed)."""

from __future__ import annotations

from django.conf import settings

from governance.evaluations import checks as checks_core
from governance.evaluations import drift as drift_core
from governance.evaluations import inputs as inputs_core
from governance.evaluations import performance as performance_core
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.models import (
    EvaluationKind,
)
from governance.evaluations.services.common import (
    OWN_COLUMNS,
)


def compute(kind: str, parsed: inputs_core.Parsed, params: dict, thresholds: list[dict]) -> dict:
    """Run the core for ``kind`` and split its output into the Evaluation's columns."""
    if kind == EvaluationKind.FAIRNESS:
        out = compute_fairness(
            parsed,
            min_group_size=params.get("min_group_size", settings.EVALUATION_MIN_GROUP_SIZE),
            favourable_outcome=params.get("favourable_outcome", 1),
        )
    elif kind == EvaluationKind.DRIFT:
        out = drift_core.compute_drift(parsed, params={k: v for k, v in params.items() if k != "categorical"})
    else:
        out = performance_core.compute_performance(parsed, params=params)
    return split_output(kind, out, thresholds)


def split_output(kind: str, out: dict, thresholds: list[dict]) -> dict:
    """A kernel's output split into the Evaluation's columns, with its checks."""
    return {
        "metrics": dict(out["metrics"]),
        "params": dict(out["params"]),
        "library_versions": dict(out["library_versions"]),
        "warnings": list(out.get("warnings", [])),
        "checks": checks_core.evaluate_checks(kind, out, thresholds),
        "result": {k: v for k, v in out.items() if k not in OWN_COLUMNS},
    }


def validate_compute_params(kind: str, parsed: inputs_core.Parsed, params: dict) -> None:
    """The core validates its parameters when it computes; do it now so a queued input never fails on them."""
    if kind == EvaluationKind.DRIFT:
        drift_core.validate_params(params, parsed)
    elif kind == EvaluationKind.PERFORMANCE:
        performance_core.validate_params(params, parsed)
