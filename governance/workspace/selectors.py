"""Read queries of the workspace pages. Bounded: no COUNT(*) over the audit log (its size is the
head row's), aggregates grouped in the database, per-row work only over small sets."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Q
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditHead, AuditVerification
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion, RegisteredModel, RiskTier, Stage
from governance.workflow import gates
from governance.workflow.models import OPEN_STATUSES, Policy, PromotionRequest, ReviewFlag
from governance.workflow.selectors import open_requests, promotion_request_list
from governance.workflow.services import policy_scopes_for, signer_refusal

STAGES = [Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION, Stage.RETIRED]
FAILED_GATE_WINDOW_DAYS = 30


def awaiting_signature(user) -> list[PromotionRequest]:
    """Open requests ``user`` may sign now, oldest first."""
    return [req for req in open_requests() if signer_refusal(user, req) is None]


def my_requests(user, limit: int = 20) -> list[PromotionRequest]:
    return list(promotion_request_list().filter(requested_by=user).order_by("-created_at", "-id")[:limit])


def open_review_flags():
    """Flags not closed whose version is still in production (a retired version's flag no longer counts)."""
    return (
        ReviewFlag.objects.filter(resolved_at__isnull=True, model_version__stage=Stage.PRODUCTION)
        .select_related("model_version__model", "evaluation")
        .order_by("created_at", "id")
    )


def failed_gate_evaluations(now: dt.datetime | None = None, days: int = FAILED_GATE_WINDOW_DAYS) -> list[dict]:
    """Evaluations that failed a gate (a request's checklist or a production review) in the last ``days``."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    failing: dict[int, set[str]] = {}
    for results in PromotionRequest.objects.filter(gates_evaluated_at__gte=since).values_list(
        "gate_results", flat=True
    ):
        for row in results or []:
            if row.get("outcome") == gates.FAIL and row.get("evaluation_id"):
                failing.setdefault(row["evaluation_id"], set()).add(row.get("metric") or row.get("kind"))
    for evaluation_id, breaches in ReviewFlag.objects.filter(created_at__gte=since).values_list(
        "evaluation_id", "breaches"
    ):
        for row in breaches or []:
            failing.setdefault(evaluation_id, set()).add(row.get("metric") or row.get("kind"))
    evaluations = Evaluation.objects.filter(pk__in=failing, created_at__gte=since).select_related(
        "model_version__model"
    )
    return [
        {"evaluation": e, "checks": sorted(failing[e.pk])}
        for e in sorted(evaluations, key=lambda e: e.finished_at or e.created_at, reverse=True)
    ]


def tier_stage_matrix() -> dict:
    """Model versions counted by their model's risk tier and their stage (one grouped query)."""
    counts = {
        (row["model__risk_tier"], row["stage"]): row["n"]
        for row in ModelVersion.objects.values("model__risk_tier", "stage").annotate(n=Count("id"))
    }
    rows = [
        {
            "tier": tier,
            "label": label,
            "cells": [{"stage": stage, "count": counts.get((tier, stage), 0)} for stage in STAGES],
        }
        for tier, label in RiskTier.choices
    ]
    return {"stages": STAGES, "rows": rows, "models": RegisteredModel.objects.count()}


def production_evidence(now: dt.datetime | None = None) -> list[dict]:
    """Production versions whose evidence is stale (older than their production policy allows, or
    missing) or failing (an open review flag)."""
    now = now or timezone.now()
    versions = list(ModelVersion.objects.filter(stage=Stage.PRODUCTION).select_related("model"))
    if not versions:
        return []
    latest: dict[tuple[int, str], dt.datetime] = {}
    for row in (
        Evaluation.objects.filter(model_version__stage=Stage.PRODUCTION, status="done")
        .values("model_version_id", "kind")
        .annotate(last=Max("finished_at"), first=Max("created_at"))
    ):
        latest[(row["model_version_id"], row["kind"])] = row["last"] or row["first"]
    policies = {
        p.scope: p for p in Policy.objects.filter(target_stage=Stage.PRODUCTION, is_rollback=False, is_current=True)
    }
    flagged = dict(
        ReviewFlag.objects.filter(resolved_at__isnull=True, model_version__stage=Stage.PRODUCTION)
        .values("model_version_id")
        .annotate(n=Count("id"))
        .values_list("model_version_id", "n")
    )
    out = []
    for version in versions:
        policy = next((policies[s] for s in policy_scopes_for(version.model) if s in policies), None)
        problems = []
        if policy is not None:
            limit = now - dt.timedelta(days=policy.max_evaluation_age_days)
            for kind in policy.required_kinds or sorted({c["kind"] for c in policy.checks}):
                last = latest.get((version.pk, kind))
                if last is None:
                    problems.append(f"no {kind} evaluation")
                elif last < limit:
                    problems.append(
                        f"{kind} evidence {(now - last).days} d old (policy: {policy.max_evaluation_age_days} d)"
                    )
        if flagged.get(version.pk):
            problems.append(f"{flagged[version.pk]} open review flag(s): monitoring breaches the policy")
        if problems:
            out.append({"version": version, "problems": problems, "policy": policy})
    return out


def audit_state(now: dt.datetime | None = None) -> dict:
    """The log's size (head row), its last checkpoint and age, and the last verification."""
    now = now or timezone.now()
    head = AuditHead.objects.filter(pk=1).only("size", "origin", "updated_at").first()
    checkpoint = AuditCheckpoint.objects.only("size", "created_at").order_by("-size").first()
    verification = AuditVerification.objects.order_by("-started_at").first()
    return {
        "size": head.size if head else 0,
        "origin": head.origin if head else "",
        "checkpoint": checkpoint,
        "checkpoint_age": (now - checkpoint.created_at) if checkpoint else None,
        "unsigned": (head.size - checkpoint.size) if head and checkpoint else (head.size if head else 0),
        "verification": verification,
    }


def open_request_count() -> int:
    return PromotionRequest.objects.filter(status__in=OPEN_STATUSES).count()


def search_filter(term: str) -> Q:
    """Model name, version or requester: the search of the queue and the lists."""
    term = (term or "").strip()
    if not term:
        return Q()
    return (
        Q(model_version__model__name__icontains=term)
        | Q(model_version__version__icontains=term)
        | Q(requested_by__username__icontains=term)
        | Q(model_version__model__title__icontains=term)
    )
