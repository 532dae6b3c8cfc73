"""Read queries for evaluations and reference samples."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.evaluations.models import Evaluation, EvaluationStatus, ReferenceSample
from governance.registry.models import ModelVersion


def evaluation_list() -> QuerySet[Evaluation]:
    """Every role may read evaluations (they are evidence); writes go through the services."""
    return Evaluation.objects.select_related("model_version__model", "created_by")


def latest_evaluations(version: ModelVersion | int) -> list[Evaluation]:
    """The version's newest finished (``done``) evaluation per (kind, dataset), newest first.

    This is what the promotion gates read: a newer evaluation of the same kind on the same dataset
    supersedes the older one; different datasets stay side by side."""
    version_id = getattr(version, "pk", version)
    latest: dict[tuple[str, str], Evaluation] = {}
    rows = (
        evaluation_list()
        .filter(model_version_id=version_id, status=EvaluationStatus.DONE)
        .order_by("-finished_at", "-id")
    )
    for evaluation in rows:
        latest.setdefault((evaluation.kind, evaluation.dataset), evaluation)
    return list(latest.values())


def reference_sample_list(version: ModelVersion | int | None = None) -> QuerySet[ReferenceSample]:
    qs = ReferenceSample.objects.select_related("model_version__model", "created_by")
    if version is not None:
        qs = qs.filter(model_version_id=getattr(version, "pk", version))
    return qs


# --- reported versus computed -----------------------------------------------------------------------------------


def discrepancy_tolerance() -> float:
    """``EVALUATION_DISCREPANCY_TOLERANCE`` (absolute): above it a reported and a computed value disagree."""
    from django.conf import settings

    return float(settings.EVALUATION_DISCREPANCY_TOLERANCE)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def reported_computed_pairs(rows, *, metrics: set[str] | None = None) -> list[dict]:
    """Metrics both reported by a pipeline and computed by the service on the same dataset.

    ``rows`` are finished evaluations, oldest first, as objects or as tuples
    ``(id, model_version_id, dataset, source, metrics)``; the newest value of each
    (version, dataset, metric, source) counts. ``metrics`` limits the metric names compared.
    One dict per pair: version_id, metric, dataset, reported, reported_id, computed, computed_id,
    difference (computed - reported)."""
    latest: dict[tuple[int, str, str, str], tuple[float, int]] = {}
    for row in rows:
        if isinstance(row, Evaluation):
            row = (row.pk, row.model_version_id, row.dataset, row.source, row.metrics)
        pk, version_id, dataset, source, values = row
        for name, value in (values or {}).items():
            if metrics is not None and name not in metrics:
                continue
            number = _number(value)
            if number is not None:
                latest[(version_id, dataset, name, source)] = (number, pk)
    pairs = []
    for (version_id, dataset, name, source), (reported, reported_id) in latest.items():
        if source != "reported":
            continue
        computed = latest.get((version_id, dataset, name, "computed"))
        if computed is not None:
            pairs.append(
                {
                    "version_id": version_id,
                    "metric": name,
                    "dataset": dataset,
                    "reported": reported,
                    "reported_id": reported_id,
                    "computed": computed[0],
                    "computed_id": computed[1],
                    "difference": computed[0] - reported,
                }
            )
    return pairs


def discrepancies(version_ids, tolerance: float | None = None) -> dict[int, list[dict]]:
    """Per version: metrics reported and computed on the same dataset whose newest values differ by
    more than ``tolerance`` (default ``EVALUATION_DISCREPANCY_TOLERANCE``). Two queries whatever the
    number of versions: only versions with a reported evaluation are read further, as tuples."""
    tolerance = discrepancy_tolerance() if tolerance is None else tolerance
    done = Evaluation.objects.filter(status=EvaluationStatus.DONE)
    if not isinstance(version_ids, QuerySet):  # a queryset of ids stays a subquery
        version_ids = list(version_ids)
    with_reported = done.filter(model_version_id__in=version_ids, source="reported").values("model_version_id")
    rows = (
        done.filter(model_version_id__in=with_reported)
        .order_by("created_at", "id")
        .values_list("id", "model_version_id", "dataset", "source", "metrics")
    )
    out: dict[int, list[dict]] = {}
    for pair in reported_computed_pairs(rows):
        if abs(pair["difference"]) > tolerance:
            out.setdefault(pair["version_id"], []).append({**pair, "tolerance": tolerance})
    return out


def warning_text(warning) -> str:
    """One evaluation warning (small group, single class, near-constant feature...) as a sentence."""
    if isinstance(warning, dict):
        return str(warning.get("message") or ", ".join(f"{k}: {v}" for k, v in warning.items()))
    return str(warning)


def warnings_by_evaluation(evaluation_ids) -> dict[int, list[str]]:
    """The warnings of the given evaluations as sentences, in one query (evaluations without any are left out)."""
    ids = {pk for pk in evaluation_ids if pk}
    if not ids:
        return {}
    rows = Evaluation.objects.filter(pk__in=ids).exclude(warnings=[]).values_list("pk", "warnings")
    return {pk: [warning_text(w) for w in warnings] for pk, warnings in rows if warnings}
