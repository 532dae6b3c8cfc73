"""Read queries of the workspace pages. Bounded: no COUNT(*) over the audit log (its size is the
head row's), aggregates grouped in the database, per-row work only over small sets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import selectors as audit_selectors
from governance.evaluations import selectors as evaluation_selectors
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion, RegisteredModel, RiskTier, Stage
from governance.workflow import gates
from governance.workflow.models import OPEN_STATUSES, Policy, PromotionRequest, ReviewFlag
from governance.workflow.selectors import signable_requests
from governance.workflow.services import policy_scopes_for

STAGES = [Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION, Stage.RETIRED]
FAILED_GATE_WINDOW_DAYS = 30
DASHBOARD_LIST_LIMIT = 20  # rows listed per dashboard card (the card's count covers every row)


def _card_rows(requests):
    """What a dashboard card shows of a request (model, version, move, requester, gates): no approvals,
    recusals or checklists loaded."""
    return (
        requests.select_related(None)
        .prefetch_related(None)
        .select_related("model_version__model", "requested_by")
        .defer("gate_results", "committee_snapshot", "model_version__parameters", "model_version__description")
    )


def awaiting_signature(user, limit: int = DASHBOARD_LIST_LIMIT) -> dict:
    """Open requests ``user`` may sign now: how many, and the oldest ``limit`` of them."""
    signable = signable_requests(user)
    return {"count": signable.count(), "rows": list(_card_rows(signable)[:limit])}


def my_requests(user, limit: int = 20) -> list[PromotionRequest]:
    return list(_card_rows(PromotionRequest.objects.filter(requested_by=user)).order_by("-created_at", "-id")[:limit])


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


@dataclass(frozen=True)
class VersionRef:
    """A version as a list shows it: its id and "model version" (``str``), and what picks its policy."""

    pk: int
    label: str
    scope_key: tuple[str, str]  # (risk tier, EU AI Act category)

    def __str__(self) -> str:
        return self.label


def production_evidence(now: dt.datetime | None = None) -> list[dict]:
    """Production versions whose evidence is stale (older than their production policy allows, or
    missing) or failing (an open review flag)."""
    now = now or timezone.now()
    versions = [  # tuples, not model instances: every production version is read
        VersionRef(pk, f"{name} {number}", (tier, category))
        for pk, number, name, tier, category in ModelVersion.objects.filter(stage=Stage.PRODUCTION)
        .order_by("model__name", "id")
        .values_list("id", "version", "model__name", "model__risk_tier", "model__eu_ai_act_category")
    ]
    if not versions:
        return []
    latest: dict[tuple[int, str], dt.datetime] = {}
    for version_id, kind, last in (
        Evaluation.objects.filter(model_version__stage=Stage.PRODUCTION, status="done")
        .values("model_version_id", "kind")
        .annotate(last=Max(Coalesce("finished_at", "created_at")))
        .values_list("model_version_id", "kind", "last")
    ):
        latest[(version_id, kind)] = last
    policies = {
        p.scope: p for p in Policy.objects.filter(target_stage=Stage.PRODUCTION, is_rollback=False, is_current=True)
    }
    flagged = dict(
        ReviewFlag.objects.filter(resolved_at__isnull=True, model_version__stage=Stage.PRODUCTION)
        .values("model_version_id")
        .annotate(n=Count("id"))
        .values_list("model_version_id", "n")
    )
    policy_of = {  # one lookup per (tier, category) pair, not per version
        key: next(
            (
                policies[s]
                for s in policy_scopes_for(RegisteredModel(risk_tier=key[0], eu_ai_act_category=key[1]))
                if s in policies
            ),
            None,
        )
        for key in {v.scope_key for v in versions}
    }
    out = []
    for version in versions:
        policy = policy_of[version.scope_key]
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
    head = audit_selectors.head()
    checkpoint = audit_selectors.checkpoints().only("size", "created_at").first()
    verification = audit_selectors.verifications().first()
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


# --- comparison and trends ------------------------------------------------------------------------------------


def latest_by_kind(version: ModelVersion) -> dict[str, Evaluation]:
    latest: dict[str, Evaluation] = {}
    for evaluation in Evaluation.objects.filter(model_version=version, status="done").order_by("created_at", "id"):
        latest[evaluation.kind] = evaluation
    return latest


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compare_versions(a: ModelVersion, b: ModelVersion) -> dict:
    """Two versions side by side: lineage and parameters diffed, the latest evaluation of each kind with
    every metric and the difference (b - a), and the gates of the current policies for each."""
    from governance.registry.models import LINEAGE_FIELDS
    from governance.workflow.services import policy_for

    lineage = [
        {"field": name, "a": getattr(a, name), "b": getattr(b, name), "differs": getattr(a, name) != getattr(b, name)}
        for name in LINEAGE_FIELDS
        if name != "parameters"
    ]
    pa, pb = a.parameters or {}, b.parameters or {}
    parameters = [
        {"name": k, "a": pa.get(k, "—"), "b": pb.get(k, "—"), "differs": pa.get(k) != pb.get(k)}
        for k in sorted(set(pa) | set(pb))
    ]
    ea, eb = latest_by_kind(a), latest_by_kind(b)
    kinds = []
    for kind in sorted(set(ea) | set(eb)):
        left, right = ea.get(kind), eb.get(kind)
        names = sorted(set(left.metrics if left else {}) | set(right.metrics if right else {}))
        rows = []
        for name in names:
            va = _number((left.metrics if left else {}).get(name))
            vb = _number((right.metrics if right else {}).get(name))
            rows.append(
                {"name": name, "a": va, "b": vb, "diff": (vb - va) if va is not None and vb is not None else None}
            )
        kinds.append({"kind": kind, "a": left, "b": right, "rows": rows})
    gates_by_stage = []
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        policy = policy_for(a.model, stage)
        if policy is None:
            continue
        rows_a, passed_a = gates.evaluate(policy, a)
        rows_b, passed_b = gates.evaluate(policy, b)
        checks = []
        for ra, rb in zip(rows_a, rows_b, strict=False):
            checks.append({"label": ra.get("metric") or f"{ra['kind']} evaluation", "a": ra, "b": rb})
        gates_by_stage.append(
            {"stage": stage, "policy": policy, "passed_a": passed_a, "passed_b": passed_b, "checks": checks}
        )
    return {"lineage": lineage, "parameters": parameters, "kinds": kinds, "gates": gates_by_stage}


def production_periods(model: RegisteredModel, now: dt.datetime | None = None) -> list[tuple]:
    """(start, end, version) of each stretch a version of ``model`` spent in production."""
    from governance.workflow.models import StageTransition

    now = now or timezone.now()
    periods, current = [], None
    for t in StageTransition.objects.filter(model=model).select_related("model_version").order_by("at", "id"):
        if t.to_stage == Stage.PRODUCTION:
            if current:
                periods.append((current[0], t.at, current[1]))
            current = (t.at, t.model_version)
        elif current and t.model_version_id == current[1].pk and t.from_stage == Stage.PRODUCTION:
            periods.append((current[0], t.at, current[1]))
            current = None
    if current:
        periods.append((current[0], now, current[1]))
    return periods


def gated_metrics(model: RegisteredModel) -> list[dict]:
    """The metrics the model's current staging and production policies gate on, with their rule."""
    from governance.workflow.services import policy_for

    seen: dict[tuple[str, str], dict] = {}
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        policy = policy_for(model, stage)
        for check in (policy.checks if policy else []) or []:
            key = (check["kind"], check["metric"])
            seen.setdefault(key, {**check, "stage": stage, "policy": policy})
    return list(seen.values())


def discrepancies(version_ids, tolerance: float | None = None) -> dict[int, list[dict]]:
    """Per version: reported and computed values of one metric on one dataset that disagree
    (``governance.evaluations.selectors.discrepancies``; ``EVALUATION_DISCREPANCY_TOLERANCE``)."""
    return evaluation_selectors.discrepancies(version_ids, tolerance)


def watched_discrepancies(limit: int = DASHBOARD_LIST_LIMIT) -> dict:
    """Discrepancies of the versions people act on (in production, or with an open request): how many
    versions, and the first ``limit`` with their version loaded."""
    watched = ModelVersion.objects.filter(
        Q(stage=Stage.PRODUCTION)
        | Q(pk__in=PromotionRequest.objects.filter(status__in=OPEN_STATUSES).values("model_version_id"))
    ).values("pk")
    found = discrepancies(watched)
    shown = sorted(found)[:limit]
    versions = ModelVersion.objects.filter(pk__in=shown).select_related("model").only("id", "version", "model__name")
    by_id = {v.pk: v for v in versions}
    return {"count": len(found), "rows": [{"version": by_id[pk], "items": found[pk]} for pk in shown if pk in by_id]}
