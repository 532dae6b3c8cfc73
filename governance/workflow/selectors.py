"""Read queries of the promotion workflow: queues, eligible signers, trails and the point-in-time view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from audit import selectors as audit_selectors
from audit.selectors import AuditEvent
from governance.accounts.models import User
from governance.accounts.roles import role_names
from governance.evaluations.models import Evaluation
from governance.registry.models import RegisteredModel, Stage
from governance.workflow.models import OPEN_STATUSES, Approval, Committee, Policy, PromotionRequest, StageTransition
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


def signable_requests(
    user: User | None, requests: QuerySet[PromotionRequest] | None = None
) -> QuerySet[PromotionRequest]:
    """Open requests ``user`` may sign now, as one queryset (the queue and the dashboard count and page it).

    ``signing.signing_refusal`` decides; most of its rules are pushed into SQL (a person, active, not a
    service account; an open request neither requested nor registered by them, under a policy accepting
    one of their roles, without a live signature of theirs). The requests whose answer needs more than
    that (signed by a committee, or already signed by them, perhaps past the signature window) are
    few: those are checked one by one with ``signing_refusal`` and kept by id.
    ``tests/workflow/test_signable_requests.py`` checks that both agree."""
    requests = open_requests() if requests is None else requests.filter(status__in=OPEN_STATUSES)
    if user is None or not user.is_active or user.is_service_account:
        return requests.none()
    held = role_names(user)
    policies = [pk for pk, accepted in Policy.objects.values_list("pk", "accepted_roles") if held & set(accepted or [])]
    signed = Approval.objects.filter(request=OuterRef("pk"), approver=user, invalidated_at__isnull=True)
    candidates = (
        requests.filter(policy_id__in=policies).exclude(requested_by=user).exclude(model_version__registered_by=user)
    )
    plain = Q(committee_snapshot={}) & ~Exists(signed)
    checked = [req.pk for req in candidates.exclude(plain).order_by() if signer_refusal(user, req, held=held) is None]
    return candidates.filter(plain | Q(pk__in=checked))


def requests_awaiting(user: User, requests: Iterable[PromotionRequest] | None = None) -> list[PromotionRequest]:
    """Open requests ``user`` may sign now (the risk officer's queue), oldest first; ``requests``
    narrows the candidates (already loaded open requests, e.g. a search result)."""
    if requests is None:
        return list(signable_requests(user))
    held = role_names(user)
    return [req for req in requests if signer_refusal(user, req, held=held) is None]


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
