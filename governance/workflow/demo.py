"""Demo step for ``seed_demo`` (idempotent): walks the German Credit model's 1.0.0 from development to
production through the real services with real signatures, and leaves 1.1.0 awaiting signatures for
staging so the risk officer's queue has content.

Until the evaluation service records evaluations for the demo, this step records one reported
evaluation per version (only if the version has none); that is the only place that writes evaluations.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event_append
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion, Stage
from governance.workflow import services
from governance.workflow.models import PromotionRequest

DEMO_METRICS = {
    # Reported metrics of the two scorecards on the German Credit hold-out (rows 701-1000).
    "1.0.0": {
        "auc": 0.781,
        "gini": 0.562,
        "demographic_parity_difference": 0.062,
        "disparate_impact_ratio": 0.874,
        "max_psi": 0.041,
        "drift_share": 0.0,
    },
    "1.1.0": {
        "auc": 0.794,
        "gini": 0.588,
        "demographic_parity_difference": 0.087,
        "disparate_impact_ratio": 0.781,
        "max_psi": 0.063,
        "drift_share": 0.125,
    },
}


def _ensure_reported_evaluation(version: ModelVersion, actor) -> None:
    """Isolated stand-in for the evaluation service: one reported evaluation, only if none exists."""
    if Evaluation.objects.filter(model_version=version).exists():
        return
    now = timezone.now()
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            model_version=version,
            kind="reported",
            dataset="german-credit-holdout-701-1000",
            source="reported",
            status="done",
            metrics=DEMO_METRICS[version.version],
            created_by=version.registered_by,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        audit_event_append(
            actor=actor,
            action="evaluation.create",
            target={
                "type": "evaluation",
                "id": str(evaluation.pk),
                "model": version.model.name,
                "version": version.version,
            },
            details={
                "kind": "reported",
                "source": "reported",
                "metrics": evaluation.metrics,
                "dataset": evaluation.dataset,
                "demo": True,
            },
        )


def _walk(version, target, requester, signers, reason, password, command) -> None:
    if (
        version.stage == target
        or PromotionRequest.objects.filter(model_version=version, target_stage=target, status="promoted").exists()
    ):
        return
    req = PromotionRequest.objects.filter(
        model_version=version, target_stage=target, status__in=("pending", "approved")
    ).first() or services.promotion_request_create(
        by=Principal.for_user(requester, auth="cli"), version=version, target_stage=target, reason=reason
    )
    for signer in signers:
        req.refresh_from_db()
        if req.status != "pending" or services.signer_refusal(signer, req):
            continue
        req = services.promotion_approve(
            by=Principal.for_user(signer, auth="cli"),
            request=req,
            password=password,
            justification=f"Reviewed the hold-out evidence of {version.version}; thresholds met.",
        )
    command.stderr.write(f"  {version.model.name} {version.version} -> {target}: request #{req.pk} {req.status}")


def seed(command, by: Principal) -> None:
    from governance.common.management.commands.seed_demo import DEMO_PASSWORD, MODEL_NAME, PIPELINE_ACCOUNT

    people = {
        u.username: u
        for u in User.objects.filter(username__in=["dana.developer", "victor.validator", "rita.risk", PIPELINE_ACCOUNT])
    }
    versions = {v.version: v for v in ModelVersion.objects.filter(model__name=MODEL_NAME)}
    if len(people) < 4 or not {"1.0.0", "1.1.0"} <= set(versions):
        command.stderr.write("  workflow demo skipped: run the people and model steps first")
        return
    for version in versions.values():
        _ensure_reported_evaluation(version, by.actor)
    dana, victor, rita = people["dana.developer"], people["victor.validator"], people["rita.risk"]
    v1 = versions["1.0.0"]
    _walk(
        v1,
        Stage.STAGING,
        dana,
        [victor],
        "Scorecard 1.0.0 ready for shadow scoring in staging.",
        DEMO_PASSWORD,
        command,
    )
    v1.refresh_from_db()
    _walk(
        v1,
        Stage.PRODUCTION,
        dana,
        [victor, rita],
        "Shadow run complete; promote 1.0.0 to production.",
        DEMO_PASSWORD,
        command,
    )
    v11 = versions["1.1.0"]
    v11.refresh_from_db()
    if v11.stage == Stage.DEVELOPMENT and not PromotionRequest.objects.filter(model_version=v11).exists():
        pipeline = people[PIPELINE_ACCOUNT]
        req = services.promotion_request_create(
            by=Principal.for_user(pipeline, auth="token"),
            version=v11,
            target_stage=Stage.STAGING,
            reason="Nightly retrain 1.1.0 passed the pipeline's checks; requesting staging.",
        )
        command.stderr.write(f"  {MODEL_NAME} 1.1.0 -> staging: request #{req.pk} awaiting signatures")
