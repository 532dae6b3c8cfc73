"""Threshold checks over an evaluation result (policy gates)."""

from __future__ import annotations

import math
import operator

from governance.common.errors import ValidationFailed

from .fairness import METRIC_KEYS as FAIRNESS_METRICS

VALID_COMPARATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}

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


def _lookup(kind: str, result: dict, name: str, fname: str):
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


def evaluate_checks(kind: str, result: dict, thresholds: list[dict]) -> list[dict]:
    if thresholds is None:
        return []
    if not isinstance(thresholds, list):
        raise ValidationFailed("thresholds: must be a list", field="thresholds")
    out = []
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
        row = {"metric": name, "comparator": comp, "threshold": thr, "value": value}
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            row.update({"value": None, "passed": False, "note": "undefined"})
        else:
            row["passed"] = bool(VALID_COMPARATORS[comp](value, thr))
        out.append(row)
    return out
