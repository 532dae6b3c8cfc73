"""Evaluations as gate evidence, and promotion requests, created the way the services would."""

from __future__ import annotations

import datetime as dt
from unittest import mock

from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from governance.evaluations import services as evaluation_services
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion
from governance.workflow import services
from tests.factories.accounts import ADMIN, PASSWORD, as_user

GOOD = {
    "performance": {"auc": 0.81, "gini": 0.62},
    "fairness": {"demographic_parity_difference": 0.04, "disparate_impact_ratio": 0.9},
    "drift": {"max_psi": 0.05, "drift_share": 0.0},
}


# The smallest inputs of each kind the evaluation service accepts (its metrics are then set by the
# worker's completion, so a test chooses them).
_INPUTS = {
    "performance": {"y_true": [0, 1, 0, 1], "y_score": [0.2, 0.8, 0.3, 0.7]},
    "fairness": {"y_true": [0, 1, 0, 1], "y_pred": [0, 1, 1, 1], "sensitive_features": {"group": ["a", "a", "b", "b"]}},
    "drift": {"reference": {"x": [1.0, 2.0, 3.0, 4.0]}, "current": {"x": [1.5, 2.5, 3.5, 4.5]}},
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
    """A finished evaluation (status done) with chosen metrics, written by the evaluation service: reported
    metrics are posted as they are; a computed one is queued with a tiny input, started and completed
    with ``metrics`` the way a worker completes it (every step audited by the service). ``age_days``
    dates it back (the clock is set back while the service writes it)."""
    metrics = dict(GOOD.get(kind, {}) if metrics is None else metrics)
    by = as_user(user or version.registered_by)
    then = timezone.now() - dt.timedelta(days=age_days)
    with transaction.atomic(), mock.patch.object(timezone, "now", return_value=then):
        if kind == "reported" or source == "reported":
            return evaluation_services.evaluation_create(
                by=by, model_version=version, kind="reported", dataset=dataset, data=metrics
            ).evaluation
        with override_settings(EVALUATION_SYNC_MAX_BYTES=0):
            ev = evaluation_services.evaluation_create(
                by=by, model_version=version, kind=kind, dataset=dataset, data=_INPUTS[kind]
            ).evaluation
        evaluation_services.evaluation_start(by=ADMIN, evaluation_id=ev.pk)
        done = evaluation_services.evaluation_complete(
            by=ADMIN,
            evaluation_id=ev.pk,
            computed={
                "metrics": metrics,
                "params": {},
                "library_versions": {},
                "checks": [],
                "warnings": [],
                "result": {},
            },
        )
        assert done is not None
        return done


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
