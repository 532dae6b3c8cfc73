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
