"""Chart data of a pack, selected from the record as of the pack's moment (issue 13).

- :func:`metric_trends`: each gated metric across the model's versions, one point per version and
  source (the newest evaluation finished by the pack's moment that records the metric), with the
  rule it is gated on;
- :func:`performance_curves`: the ROC curve and the calibration bins a computed performance
  evaluation stored, as the pack prints them.

Both return plain JSON values (pack.json is RFC 8785 canonical; numbers are kept exactly as stored).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from governance.evaluations.models import Evaluation, EvaluationKind, EvaluationStatus
from governance.registry.models import ModelVersion, RegisteredModel

SOURCES = ("computed", "reported")


def _ts(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None


def gated_checks(policy: Mapping | None, evaluations: list[Evaluation]) -> tuple[list[dict], str]:
    """The metrics to trend and where their rules come from: the checks of the policy applied to
    the version's promotion requests, else the thresholds the version's own evaluations recorded."""
    out: dict[tuple[str, str], dict] = {}
    if policy:
        for check in policy.get("checks") or []:
            if check.get("metric") and check.get("comparator") in (">=", ">", "<=", "<", "=="):
                out.setdefault(
                    (check.get("kind") or "", check["metric"]),
                    {k: check.get(k) for k in ("kind", "metric", "comparator", "threshold", "source")},
                )
        return list(out.values()), f"policy {policy.get('name')} version {policy.get('version')}"
    for evaluation in evaluations:
        for check in evaluation.checks or []:
            if check.get("metric") and check.get("comparator") in (">=", ">", "<=", "<", "=="):
                out.setdefault(
                    (evaluation.kind, check["metric"]),
                    {
                        "kind": evaluation.kind,
                        "metric": check["metric"],
                        "comparator": check["comparator"],
                        "threshold": check.get("threshold"),
                        "source": None,
                    },
                )
    return list(out.values()), "the thresholds recorded with this version's evaluations (no policy applied yet)"


def metric_trends(model: RegisteredModel, version: ModelVersion, moment: dt.datetime, policy: Mapping | None) -> dict:
    """``{"rule_source", "versions", "metrics": [{kind, metric, comparator, threshold, source,
    points: [{version, source, value, evaluation, at}]}]}``. Versions are the model's versions
    registered by ``moment`` in registration order; each has at most one point per source (the
    newest evaluation of the check's kind, or a reported one, that records the metric)."""
    versions = list(ModelVersion.objects.filter(model=model, registered_at__lte=moment).order_by("registered_at", "id"))
    evaluations = list(
        Evaluation.objects.filter(model_version__model=model, status=EvaluationStatus.DONE, finished_at__lte=moment)
        .select_related("model_version")
        .order_by("created_at", "id")
    )
    own = [e for e in evaluations if e.model_version_id == version.pk]
    checks, rule_source = gated_checks(policy, own)
    metrics = []
    for check in checks:
        newest: dict[tuple[int, str], Evaluation] = {}
        for e in evaluations:
            if e.kind not in (check["kind"], EvaluationKind.REPORTED):
                continue
            if check.get("source") and e.source != check["source"]:
                continue
            value = (e.metrics or {}).get(check["metric"])
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                continue
            newest[(e.model_version_id, e.source)] = e  # ordered by time: the last one wins
        points = []
        for v in versions:
            for source in SOURCES:
                e = newest.get((v.pk, source))
                if e is not None:
                    points.append(
                        {
                            "version": v.version,
                            "source": source,
                            "value": e.metrics[check["metric"]],
                            "evaluation": f"EV-{e.pk:04d}",
                            "at": _ts(e.finished_at or e.created_at),
                        }
                    )
        metrics.append({**check, "points": points})
    return {"rule_source": rule_source, "versions": [v.version for v in versions], "metrics": metrics}


def performance_curves(evaluation: Evaluation) -> dict:
    """The ROC curve (fpr/tpr points and how they were kept) and calibration bins of a performance
    evaluation, for the pack; ``roc_curve`` is absent when the evaluation did not store one."""
    result = evaluation.result or {}
    out: dict = {}
    if "roc_curve" in result:
        curve = result["roc_curve"]
        out["roc_curve"] = (
            None
            if curve is None
            else {k: curve.get(k) for k in ("fpr", "tpr", "n_points", "n_vertices", "exact", "max_points")}
        )
    if result.get("calibration"):
        out["calibration"] = [
            {k: b.get(k) for k in ("lower", "upper", "count", "mean_score", "observed_rate")}
            for b in result["calibration"]
        ]
    return out
