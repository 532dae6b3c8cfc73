"""Read queries of the promotion workflow: queues, eligible signers, trails and the point-in-time view."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from audit import selectors as audit_selectors
from audit.selectors import AuditEvent
from governance.accounts.models import User
from governance.evaluations.models import Evaluation
from governance.registry.models import RegisteredModel, Stage
from governance.workflow.models import OPEN_STATUSES, Committee, PromotionRequest, StageTransition
from governance.workflow.signing import signer_refusal


def promotion_request_list() -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.select_related(
        "model_version__model",
        "model_version__registered_by",
        "requested_by",
        "policy",
        "superseded_by",
    ).prefetch_related("approvals__approver", "recusals__member")


def committee_list() -> QuerySet[Committee]:
    return Committee.objects.select_related("model", "created_by").prefetch_related("members__user")


def open_requests() -> QuerySet[PromotionRequest]:
    return promotion_request_list().filter(status__in=OPEN_STATUSES).order_by("created_at", "id")


def decided_requests() -> QuerySet[PromotionRequest]:
    return promotion_request_list().exclude(status__in=OPEN_STATUSES).order_by("-decided_at", "-id")


def requests_awaiting(user: User) -> list[PromotionRequest]:
    """Open requests ``user`` may sign now (the risk officer's queue)."""
    return [req for req in open_requests() if signer_refusal(user, req) is None]


def eligible_signers(req: PromotionRequest) -> list[User]:
    users = (
        User.objects.filter(is_active=True, is_service_account=False, groups__name__in=req.policy.accepted_roles)
        .distinct()
        .order_by("username")
    )
    return [u for u in users if signer_refusal(u, req) is None]


def request_audit_trail(req: PromotionRequest) -> QuerySet[AuditEvent]:
    return audit_selectors.object_events("promotion_request", req.pk)


def _evaluation_summary(evaluation: Evaluation) -> dict:
    return {
        "id": evaluation.pk,
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "source": evaluation.source,
        "finished_at": evaluation.finished_at or evaluation.created_at,
        "metrics": evaluation.metrics,
    }


def model_history(model: RegisteredModel, at: dt.datetime) -> dict:
    """Which version was in each stage at ``at``, since when, who approved it and on which evaluations.

    Read only from the recorded ``StageTransition`` rows (and each version's registration time, when it
    entered development); nothing is inferred from the current state."""
    versions = {v.pk: v for v in model.versions.filter(registered_at__lte=at).order_by("registered_at", "pk")}
    transitions = list(
        StageTransition.objects.filter(model=model, at__lte=at)
        .select_related("model_version", "request")
        .order_by("at", "id")
    )
    current: dict[int, StageTransition | None] = dict.fromkeys(versions)
    for t in transitions:
        current[t.model_version_id] = t
    evaluation_ids = {i for t in current.values() if t for i in t.evaluation_ids}
    evaluations = {e.pk: e for e in Evaluation.objects.filter(pk__in=evaluation_ids)}
    stages: dict[str, list] = {stage: [] for stage in Stage.values}
    for pk, version in versions.items():
        t = current[pk]
        entry = {
            "version_id": pk,
            "version": version.version,
            "since": t.at if t else version.registered_at,
            "transition_id": t.pk if t else None,
            "request_id": t.request_id if t else None,
            "is_rollback": t.is_rollback if t else False,
            "approvals": t.approvers if t else [],
            "evaluations": [
                _evaluation_summary(evaluations[i]) for i in (t.evaluation_ids if t else []) if i in evaluations
            ],
        }
        stages[t.to_stage if t else Stage.DEVELOPMENT].append(entry)
    return {
        "model": {"id": model.pk, "name": model.name},
        "at": at,
        "stages": stages,
        "transitions": [
            {
                "id": t.pk,
                "version": t.model_version.version,
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "at": t.at,
                "request_id": t.request_id,
                "is_rollback": t.is_rollback,
                "approvals": t.approvers,
                "evaluation_ids": t.evaluation_ids,
                "reason": t.reason,
            }
            for t in transitions
        ],
    }
