"""Reads: the revalidation schedule, findings by state, and the incident register with deadline status."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max, Q, QuerySet

from governance.oversight import clock
from governance.oversight.models import (
    Finding,
    FindingStatus,
    ReportKind,
    RevalidationFlag,
    SeriousIncident,
    Validation,
)
from governance.oversight.rules import add_months, eu_high_risk_max_months, revalidation_months
from governance.registry.models import ModelVersion, RegisteredModel, Stage

HORIZONS = (30, 60, 90)


def validation_list() -> QuerySet[Validation]:
    return Validation.objects.select_related("model_version__model", "validator", "created_by").prefetch_related(
        "findings"
    )


def finding_list() -> QuerySet[Finding]:
    return Finding.objects.select_related("validation__model_version__model", "owner", "closed_by", "risk_accepted_by")


def incident_list() -> QuerySet[SeriousIncident]:
    return SeriousIncident.objects.select_related("model_version__model", "recorded_by").prefetch_related("reports")


def interval_for(model: RegisteredModel) -> tuple[int, str]:
    """(months, where it comes from): a risk officer's override, else the tier's setting, capped for an
    EU AI Act high-risk model."""
    override = getattr(model, "revalidation_interval", None) if _has_override(model) else None
    if override is not None:
        return override.months, "override"
    months = revalidation_months()[model.risk_tier]
    if model.eu_ai_act_category == "high" and months > eu_high_risk_max_months():
        return eu_high_risk_max_months(), "eu_high_risk"
    return months, "tier"


def _has_override(model: RegisteredModel) -> bool:
    from governance.oversight.models import RevalidationInterval

    try:
        model.revalidation_interval  # noqa: B018 - a reverse one-to-one raises when absent
    except RevalidationInterval.DoesNotExist:
        return False
    return True


def bucket_for(next_due: dt.date, today: dt.date) -> str | None:
    """'overdue', 'due_30', 'due_60', 'due_90' or None (due later)."""
    days = (next_due - today).days
    if days < 0:
        return "overdue"
    for horizon in HORIZONS:
        if days <= horizon:
            return f"due_{horizon}"
    return None


def revalidation_schedule(*, today: dt.date | None = None, horizon_days: int | None = None) -> list[dict]:
    """Every production version with its last completed validation and next due date, soonest first.

    A production version never validated is due from the day it entered production. ``horizon_days``
    keeps only rows overdue or due within that many days."""
    today = today or clock.today()
    versions = (
        ModelVersion.objects.filter(stage=Stage.PRODUCTION)
        .select_related("model", "model__revalidation_interval")
        .annotate(last_validation=Max("validations__completed_on", filter=Q(validations__completed_on__isnull=False)))
    )
    rows = []
    for version in versions:
        months, source = interval_for(version.model)
        last = version.last_validation
        next_due = add_months(last, months) if last else timezone_date(version.stage_changed_at)
        days = (next_due - today).days
        if horizon_days is not None and days > horizon_days:
            continue
        rows.append(
            {
                "version": version,
                "model": version.model.name,
                "model_id": version.model_id,
                "version_id": version.pk,
                "version_label": version.version,
                "risk_tier": version.model.risk_tier,
                "eu_ai_act_category": version.model.eu_ai_act_category,
                "interval_months": months,
                "interval_source": source,
                "last_validation": last,
                "next_due": next_due,
                "days_until_due": days,
                "bucket": bucket_for(next_due, today),
            }
        )
    rows.sort(key=lambda r: (r["next_due"], r["model"]))
    return rows


def timezone_date(moment: dt.datetime) -> dt.date:
    from django.utils import timezone

    return timezone.localdate(moment)


def open_revalidation_flags() -> QuerySet[RevalidationFlag]:
    return RevalidationFlag.objects.filter(resolved_at__isnull=True).select_related("model_version__model")


def unresolved_findings(*, today: dt.date | None = None, severity: str | None = None) -> list[Finding]:
    """Findings not closed, counting a risk acceptance that has expired as unresolved again."""
    today = today or clock.today()
    qs = finding_list().exclude(status=FindingStatus.CLOSED)
    if severity:
        qs = qs.filter(severity=severity)
    return [f for f in qs if f.is_unresolved(today)]


def open_high_findings(version: ModelVersion, *, today: dt.date | None = None) -> list[Finding]:
    """Unresolved high findings of any validation of ``version`` (the promotion gate's input)."""
    today = today or clock.today()
    qs = Finding.objects.filter(validation__model_version=version, severity="high").exclude(status=FindingStatus.CLOSED)
    return [f for f in qs if f.is_unresolved(today)]


def finding_state(finding: Finding, *, today: dt.date | None = None) -> dict:
    today = today or clock.today()
    until = finding.risk_accepted_until  # set whenever the status is "risk accepted" (a DB constraint)
    expired = finding.status == FindingStatus.RISK_ACCEPTED and until is not None and until < today
    return {
        "unresolved": finding.is_unresolved(today),
        "overdue": finding.is_unresolved(today) and finding.due_date < today,
        "risk_acceptance_expired": expired,
    }


def incident_deadline_status(incident: SeriousIncident, *, now: dt.datetime | None = None) -> dict:
    """Where the incident stands against its Art. 73 deadline: ``reported_on_time``, ``reported_late``,
    ``pending`` (not yet reported, deadline ahead) or ``overdue`` (not reported, deadline passed)."""
    now = now or clock.now()
    initial = next((r for r in incident.reports.all() if r.kind == ReportKind.INITIAL), None)
    if initial is not None:
        status = "reported_on_time" if initial.submitted_at <= incident.reporting_deadline else "reported_late"
    else:
        status = "pending" if now <= incident.reporting_deadline else "overdue"
    remaining = incident.reporting_deadline - now
    return {
        "status": status,
        "initial_report_at": initial.submitted_at if initial else None,
        "follow_ups": sum(1 for r in incident.reports.all() if r.kind == ReportKind.FOLLOW_UP),
        "hours_remaining": round(remaining.total_seconds() / 3600, 1) if initial is None else None,
    }
