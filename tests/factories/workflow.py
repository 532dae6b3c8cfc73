"""Evaluations as gate evidence, and promotion requests, created the way the services would."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_append
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion
from governance.workflow import services
from tests.factories.accounts import ADMIN_ACTOR, PASSWORD, as_user

GOOD = {
    "performance": {"auc": 0.81, "gini": 0.62},
    "fairness": {"demographic_parity_difference": 0.04, "disparate_impact_ratio": 0.9},
    "drift": {"max_psi": 0.05, "drift_share": 0.0},
}


def evaluation(
    version: ModelVersion,
    *,
    kind: str = "performance",
    metrics: dict | None = None,
    source: str = "computed",
    dataset: str = "holdout-2026-10",
    age_days: float = 0,
    user=None,
) -> Evaluation:
    """A finished evaluation (status done) recorded with its audit event, as the evaluation service does."""
    finished = timezone.now() - dt.timedelta(days=age_days)
    with transaction.atomic():
        ev = Evaluation.objects.create(
            model_version=version,
            kind=kind,
            dataset=dataset,
            source="reported" if kind == "reported" else source,
            status="done",
            metrics=dict(GOOD.get(kind, {}) if metrics is None else metrics),
            created_by=user or version.registered_by,
            created_at=finished,
            finished_at=finished,
        )
        audit_event_append(
            actor=ADMIN_ACTOR,
            action="evaluation.create",
            target={"type": "evaluation", "id": str(ev.pk)},
            details={"kind": ev.kind, "source": ev.source, "metrics": ev.metrics},
        )
    return ev


def good_evidence(version: ModelVersion, **overrides) -> list[Evaluation]:
    """Fresh computed performance, fairness and drift evaluations that pass every default policy."""
    return [
        evaluation(version, kind=kind, metrics={**GOOD[kind], **overrides.get(kind, {})})
        for kind in ("performance", "fairness", "drift")
    ]


def request(version: ModelVersion, user, target_stage: str = "staging", reason: str = "Ready for the next stage."):
    return services.promotion_request_create(
        by=as_user(user), version=version, target_stage=target_stage, reason=reason
    )


def approve(
    req,
    user,
    *,
    justification: str = "Evidence reviewed; within thresholds.",
    password: str = PASSWORD,
    override_justification: str = "",
):
    return services.promotion_approve(
        by=as_user(user),
        request=req,
        justification=justification,
        password=password,
        override_justification=override_justification,
    )


def reject(req, user, *, justification: str = "Not convinced by the evidence.", password: str = PASSWORD):
    return services.promotion_reject(by=as_user(user), request=req, justification=justification, password=password)
