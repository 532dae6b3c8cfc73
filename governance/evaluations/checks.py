"""Threshold checks over an evaluation result (policy gates)."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from governance.common.errors import ValidationFailed

from .fairness import METRIC_KEYS as FAIRNESS_METRICS

VALID_COMPARATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


@dataclass(frozen=True)
class Threshold:
    """One threshold check, ``metric comparator value``: the type evaluation checks and policy gates share.

    The value is exact (a Decimal, from a JSON number or a decimal string such as ``"0.1"``) and is
    compared as a float through ``VALID_COMPARATORS``. An evaluation stores it as the JSON number it
    was given (``as_number``); a policy as an exact decimal string (``str(value)``)."""

    metric: str
    comparator: str
    value: Decimal

    @staticmethod
    def parse_value(value: object, field: str) -> Decimal:
        """The one rule for a threshold's value: a number or a decimal string, finite, not a boolean."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise ValidationFailed(f"{field}: must be a finite number", field=field)
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationFailed(f"{field}: must be a finite number", field=field) from None
        if not number.is_finite():
            raise ValidationFailed(f"{field}: must be a finite number", field=field)
        return number

    @classmethod
    def of(cls, check: Mapping[str, Any]) -> Threshold:
        """A stored check (an evaluation's threshold or a policy's check) as a Threshold."""
        return cls(check["metric"], check["comparator"], cls.parse_value(check["threshold"], "threshold"))

    def as_number(self, given: object) -> int | float:
        """The value as an evaluation stores it: the JSON number it was given as, a decimal string as a float."""
        return given if isinstance(given, (int, float)) and not isinstance(given, bool) else float(self.value)

    def passes(self, observed: float) -> bool:
        return bool(VALID_COMPARATORS[self.comparator](observed, float(self.value)))


PERFORMANCE_METRICS = ("auc", "gini", "ks_statistic", "brier", "accuracy", "precision", "recall", "f1", "log_loss")
DRIFT_METRICS = (
    "drift_share",
    "drifted_features",
    "n_features",
    "max_psi",
    "max_js_distance",
    "max_wasserstein_normalized",
)
DRIFT_FEATURE_STATS = (
    "psi",
    "js_distance",
    "wasserstein_normalized",
    "ks_statistic",
    "ks_pvalue",
    "chi2_statistic",
    "chi2_pvalue",
    "drifted",
)


def metric_names(kind: str) -> list[str]:
    """Metric names a policy may reference for ``kind`` (per-feature drift names are patterns)."""
    if kind == "fairness":
        return list(FAIRNESS_METRICS)
    if kind == "performance":
        return list(PERFORMANCE_METRICS)
    if kind == "drift":
        return list(DRIFT_METRICS) + [f"{s}:<feature>" for s in DRIFT_FEATURE_STATS]
    raise ValidationFailed(f"kind: unknown evaluation kind {kind!r}", field="kind")


def _lookup(kind: str, result: dict[str, Any], name: str, fname: str) -> tuple[bool, Any]:
    """Return (found, value)."""
    if kind == "drift" and ":" in name:
        stat, _, feat = name.partition(":")
        if stat not in DRIFT_FEATURE_STATS:
            raise ValidationFailed(
                f"{fname}: unknown per-feature statistic {stat!r} (expected one of: {', '.join(DRIFT_FEATURE_STATS)})",
                field=fname,
            )
        for row in result.get("features", []):
            if row["feature"] == feat:
                if stat not in row:
                    raise ValidationFailed(
                        f"{fname}: statistic {stat!r} does not apply to {row['type']} feature {feat!r}", field=fname
                    )
                v = row[stat]
                return True, (float(v) if isinstance(v, bool) else v)
        raise ValidationFailed(f"{fname}: unknown feature {feat!r}", field=fname)
    metrics = result.get("metrics") or {}
    if name in metrics:
        return True, metrics[name]
    v = result.get(name, ...)
    if v is not ... and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))):
        return True, v
    raise ValidationFailed(
        f"{fname}: unknown metric {name!r} for {kind} (known: {', '.join(metric_names(kind))})", field=fname
    )


def evaluate_checks(kind: str, result: dict[str, Any], thresholds: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if thresholds is None:
        return []
    if not isinstance(thresholds, list):
        raise ValidationFailed("thresholds: must be a list", field="thresholds")
    out: list[dict[str, Any]] = []
    for i, t in enumerate(thresholds):
        base = f"thresholds[{i}]"
        if not isinstance(t, dict):
            raise ValidationFailed(f"{base}: must be an object", field=base)
        name = t.get("metric")
        if not isinstance(name, str) or not name:
            raise ValidationFailed(f"{base}.metric: must be a metric name", field=f"{base}.metric")
        comp = t.get("comparator")
        if comp not in VALID_COMPARATORS:
            raise ValidationFailed(
                f"{base}.comparator: must be one of {', '.join(VALID_COMPARATORS)}", field=f"{base}.comparator"
            )
        thr = t.get("threshold")
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not math.isfinite(thr):
            raise ValidationFailed(f"{base}.threshold: must be a finite number", field=f"{base}.threshold")
        _found, value = _lookup(kind, result, name, f"{base}.metric")
        row: dict[str, Any] = {"metric": name, "comparator": comp, "threshold": thr, "value": value}
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            row.update({"value": None, "passed": False, "note": "undefined"})
        else:
            row["passed"] = Threshold(name, comp, Decimal(repr(thr))).passes(value)
        out.append(row)
    return out
