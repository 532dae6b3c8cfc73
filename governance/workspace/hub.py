"""What the model version page shows around the admin's form: the version as a hub."""

from __future__ import annotations

from django.urls import reverse

from governance.accounts.roles import AUDITOR, RISK_OFFICER
from governance.registry import selectors as registry_selectors
from governance.registry.models import ModelVersion
from governance.registry.regimes import known_regimes
from governance.reports.models import PackStatus
from governance.workspace import selectors

PACK_ROLES = (AUDITOR, RISK_OFFICER)


def can_request_packs(user) -> bool:
    """The rule of ``reports.services.pack_request``, to show the buttons only to those it accepts."""
    return not user.is_service_account and user.has_role(*PACK_ROLES)


def pack_regimes(version: ModelVersion) -> dict:
    """The regimes whose packs the page offers: those governing the model first (its
    ``governing_regimes`` or the installation default), then the others."""
    governing = registry_selectors.governing_regimes(version.model)
    titles = dict(known_regimes())
    return {
        "governing_regimes": [(r, titles.get(r, r)) for r in governing],
        "other_regimes": [(r, t) for r, t in known_regimes() if r not in governing],
        "regimes_are_default": not version.model.governing_regimes,
    }


def packs_context(version: ModelVersion, user) -> dict:
    packs = list(version.documentation_packs.select_related("requested_by").order_by("-created_at", "-id"))
    return {
        **pack_regimes(version),
        "packs": packs,
        "packs_pending": any(p.status not in (PackStatus.DONE, PackStatus.FAILED) for p in packs),
        "packs_url": reverse("admin:workspace_version_packs", args=[version.pk]),
        "can_request_packs": can_request_packs(user),
    }


KEY_METRICS = (
    "auc",
    "gini",
    "ks_statistic",
    "accuracy",
    "brier_score",
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equalized_odds_difference",
    "max_psi",
    "drift_share",
)
REQUEST_ROLES = ("developer", "risk_officer")


def short(value) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def key_numbers(evaluation, limit: int = 6) -> list[tuple[str, str]]:
    metrics = evaluation.metrics or {}
    picked = [(k, short(metrics[k])) for k in KEY_METRICS if k in metrics]
    return picked or [(k, short(v)) for k, v in list(metrics.items())[:limit]]


def warning_texts(evaluation) -> list[str]:
    """An evaluation's warnings as sentences (small groups, a single class, near-constant features...)."""
    out = []
    for warning in evaluation.warnings or []:
        if isinstance(warning, dict):
            out.append(warning.get("message") or ", ".join(f"{k}: {v}" for k, v in warning.items()))
        else:
            out.append(str(warning))
    return out


def version_hub(request, version: ModelVersion) -> dict:
    """Everything about one version, linked: evaluations, requests, flags, packs, stage timeline, audit events."""
    from audit import selectors as audit_selectors
    from governance.evaluations.models import Evaluation
    from governance.workflow.models import OPEN_STATUSES, PromotionRequest, ReviewFlag, StageTransition

    user = request.user
    evaluations = list(Evaluation.objects.filter(model_version=version).order_by("-created_at", "-id")[:50])
    requests = list(
        PromotionRequest.objects.filter(model_version=version)
        .select_related("requested_by", "policy")
        .order_by("-created_at", "-id")
    )
    is_risk_officer = user.has_role("risk_officer", superusers=False)
    return {
        "hub_evaluations": [
            {"ev": e, "numbers": key_numbers(e), "passed": e.passed, "warnings": warning_texts(e)} for e in evaluations
        ],
        "hub_requests": [
            {
                "req": r,
                "open": r.status in OPEN_STATUSES,
                "can_withdraw": r.status in OPEN_STATUSES and (r.requested_by_id == user.pk or is_risk_officer),
            }
            for r in requests
        ],
        "hub_flags": list(ReviewFlag.objects.filter(model_version=version).select_related("resolved_by")),
        "hub_transitions": list(
            StageTransition.objects.filter(model_version=version).select_related("request").order_by("at", "id")
        ),
        "hub_events": list(
            audit_selectors.object_events("model_version", version.pk)
            .only("seq", "ts", "action", "actor_username", "actor_id")
            .order_by("-seq")[:30]
        ),
        "discrepancies": selectors.discrepancies([version.pk]).get(version.pk, []),
        "can_request": user.has_role(*REQUEST_ROLES, superusers=False) and not user.is_service_account,
        "target_stages": [s for s in ("staging", "production") if s != version.stage],
        "hub_oversight": oversight_context(version),
        **packs_context(version, user),
    }


def oversight_context(version: ModelVersion) -> dict:
    """Life after promotion, linked from the version page: validations, monitoring schedules and their
    missed checks, serious incidents and (for a high-risk model) the post-market monitoring plan."""
    from governance.oversight import monitoring
    from governance.oversight.models import PostMarketPlan

    return {
        "validations": list(version.validations.order_by("-started_on", "-id")),
        "schedules": [
            {"schedule": s, "state": monitoring.schedule_state(s)}
            for s in monitoring.schedule_list().filter(model_version=version).order_by("-is_active", "kind", "-id")
        ],
        "incidents": list(version.serious_incidents.order_by("-aware_at", "-id")),
        "plan_required": version.model.eu_ai_act_category == "high",
        "plan": PostMarketPlan.objects.filter(model_id=version.model_id).first(),
    }
