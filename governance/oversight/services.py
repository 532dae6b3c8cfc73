"""Ongoing model risk management rules: validations, findings, revalidation intervals and flags, and the
EU AI Act serious-incident register. Each service is one transaction with its audit events
(``audit_unit``); every refusal is audited as ``<action>.denied`` (``refusals``); nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, overload

from django.db import IntegrityError

from audit import selectors as audit_selectors
from audit.services import audit_unit
from audit.state import carried_text
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER, VALIDATOR, has_role
from governance.common.errors import Conflict, IllegalTransition, PermissionRefused, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.evaluations.models import Evaluation
from governance.oversight import clock
from governance.oversight.models import (
    PLAN_FIELDS,
    Conclusion,
    Finding,
    FindingStatus,
    IncidentReport,
    MissedCheck,
    MonitoringKind,
    MonitoringSchedule,
    PostMarketPlan,
    PostMarketPlanRevision,
    ReportKind,
    RevalidationFlag,
    RevalidationInterval,
    SeriousIncident,
    Severity,
    Validation,
)
from governance.oversight.rules import ART73_DEADLINES, reporting_deadline
from governance.registry.models import ModelVersion, RegisteredModel
from governance.registry.services import model_target, version_target

MAX_EVIDENCE_ITEMS = 200
MAX_INTERVAL_MONTHS = 120


def validation_target(validation: Validation) -> dict:
    return {
        "type": "validation",
        "id": str(validation.pk),
        "model": validation.model_version.model.name,
        "version": validation.model_version.version,
    }


def finding_target(finding: Finding) -> dict:
    return {"type": "finding", "id": str(finding.pk), "validation": str(finding.validation_id)}


def incident_target(incident: SeriousIncident) -> dict:
    return {"type": "serious_incident", "id": str(incident.pk), "model_version": str(incident.model_version_id)}


def _text(value, field: str, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field}: must be text", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field}: is required", field=field)
    return value


def _require_person(by: Principal, *roles: str, reason: str) -> User:
    """``by.require_role(*roles, reason=reason)``, returning the user who holds the role (a system
    principal holds none), for the services that record who did it in a non-null column."""
    by.require_role(*roles, reason=reason)
    if by.user is None:
        raise PermissionRefused(reason)
    return by.user


@overload
def _date(value, field: str, *, required: Literal[True] = ...) -> dt.date: ...
@overload
def _date(value, field: str, *, required: bool) -> dt.date | None: ...
def _date(value, field: str, *, required: bool = True) -> dt.date | None:
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"{field}: is required (a date such as 2026-12-31)", field=field)
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(f"{field}: must be a date such as 2026-12-31", field=field) from exc


@overload
def _moment(value, field: str, *, required: Literal[True] = ...) -> dt.datetime: ...
@overload
def _moment(value, field: str, *, required: bool) -> dt.datetime | None: ...
def _moment(value, field: str, *, required: bool = True) -> dt.datetime | None:
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"{field}: is required (a date and time with a timezone)", field=field)
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationFailed(f"{field}: must be an ISO 8601 date and time", field=field) from exc
    if not isinstance(value, dt.datetime):
        raise ValidationFailed(f"{field}: must be a date and time", field=field)
    if value.tzinfo is None:
        raise ValidationFailed(f"{field}: include a timezone (Z or +hh:mm)", field=field)
    return value


def independence_refusal(user: User, version: ModelVersion) -> str | None:
    """Why ``user`` may not validate ``version`` (None when they may): the same independence rule as
    signatures — a validator who developed, registered or owns the model is not independent."""
    if user.is_service_account:
        return "a service account cannot validate a model"
    if not has_role(user, VALIDATOR, superusers=False):
        return "the validator must hold the validator role"
    if version.registered_by_id == user.pk:
        return "the validator registered this version; validation must be independent of the developer"
    if version.model.owner_id == user.pk or version.model.created_by_id == user.pk:
        return "the validator owns or registered this model; validation must be independent of the developer"
    return None


# --- validations -----------------------------------------------------------------------------------------------


def validation_start(
    *,
    by: Principal,
    version: ModelVersion,
    scope: str,
    validator: User | None = None,
    started_on: dt.date | str | None = None,
) -> Validation:
    """A validator starts a validation of ``version`` (or a risk officer assigns one to a validator)."""
    target = version_target(version)
    target["type"] = "model_version"
    with refusals(by, "validation.start", target):
        by.require_role(VALIDATOR, RISK_OFFICER, reason="only validators and risk officers start validations")
        validator = validator or by.user
        if validator is None:
            raise ValidationFailed("validator: name the validator", field="validator")
        if validator != by.user and not by.has_role(RISK_OFFICER):
            raise PermissionRefused("only a risk officer assigns a validation to someone else", field="validator")
        why = independence_refusal(validator, version)
        if why:
            raise ValidationFailed(f"validator: {why}", field="validator")
        scope = _text(scope, "scope")
        started = _date(started_on, "started_on", required=False) or clock.today()
        if started > clock.today():
            raise ValidationFailed("started_on: cannot be in the future", field="started_on")
        with audit_unit(by.actor) as audit:
            validation = Validation.objects.create(
                model_version=version,
                scope=scope,
                validator=validator,
                started_on=started,
                created_by=by.user or validator,
                created_at=clock.now(),
            )
            audit.add(
                "validation.start",
                validation_target(validation),
                details={
                    "validator": validator.username,
                    "scope": scope,
                    "started_on": started.isoformat(),
                    "created_at": validation.created_at,
                },
            )
    return validation


def validation_complete(
    *,
    by: Principal,
    validation: Validation,
    conclusion: str,
    summary: str = "",
    completed_on: dt.date | str | None = None,
) -> Validation:
    """The validator records the conclusion. Completing resolves the version's open revalidation flag."""
    with refusals(by, "validation.complete", validation_target(validation)):
        if by.user is None or by.user_id != validation.validator_id:
            raise PermissionRefused("only the validation's validator completes it")
        if conclusion not in Conclusion.values:
            raise ValidationFailed(
                f"conclusion: must be one of {', '.join(repr(c) for c in Conclusion.values)}", field="conclusion"
            )
        summary = _text(summary, "summary", required=False)
        completed = _date(completed_on, "completed_on", required=False) or clock.today()
        if completed > clock.today():
            raise ValidationFailed("completed_on: cannot be in the future", field="completed_on")
        if completed < validation.started_on:
            raise ValidationFailed("completed_on: cannot be before started_on", field="completed_on")
        with audit_unit(by.actor) as audit:
            validation = (
                Validation.objects.select_for_update().select_related("model_version__model").get(pk=validation.pk)
            )
            if validation.is_completed:
                raise IllegalTransition("the validation is already completed", field="conclusion")
            validation.completed_on, validation.conclusion, validation.summary = completed, conclusion, summary
            validation.save(update_fields=["completed_on", "conclusion", "summary"])
            audit.add(
                "validation.complete",
                validation_target(validation),
                details={
                    "conclusion": conclusion,
                    "completed_on": completed.isoformat(),
                    "findings": list(validation.findings.values_list("pk", flat=True)),
                },
                reason=summary or None,
            )
            now = clock.now()
            for flag in RevalidationFlag.objects.select_for_update().filter(
                model_version=validation.model_version, resolved_at__isnull=True
            ):
                flag.resolved_at = now
                flag.resolution = f"validation {validation.pk} completed on {completed.isoformat()}"
                flag.save(update_fields=["resolved_at", "resolution"])
                audit.add(
                    "revalidation_flag.resolve",
                    {"type": "revalidation_flag", "id": str(flag.pk), "model_version": str(flag.model_version_id)},
                    details={"validation": validation.pk, "resolved_at": now},
                    reason=flag.resolution,
                )
    return validation


# --- findings ----------------------------------------------------------------------------------------------------


def _id_list(value, field: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or len(value) > MAX_EVIDENCE_ITEMS:
        raise ValidationFailed(f"{field}: must be a list of at most {MAX_EVIDENCE_ITEMS} ids", field=field)
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise ValidationFailed(f"{field}: ids are non-negative integers, got {item!r}", field=field)
        out.append(item)
    return sorted(set(out))


def finding_create(
    *,
    by: Principal,
    validation: Validation,
    severity: str,
    description: str,
    owner: User,
    due_date: dt.date | str,
    evidence_evaluations: list[int] | None = None,
    evidence_audit_seqs: list[int] | None = None,
) -> Finding:
    """The validator records a finding of an open validation, citing evaluations and audit events."""
    target = {"type": "validation", "id": str(validation.pk)}
    with refusals(by, "finding.create", target):
        if by.user is None or by.user_id != validation.validator_id:
            raise PermissionRefused("only the validation's validator records its findings")
        if severity not in Severity.values:
            raise ValidationFailed(f"severity: must be one of {', '.join(Severity.values)}", field="severity")
        description = _text(description, "description")
        if owner is None or not owner.is_active:
            raise ValidationFailed("owner: must be an active user", field="owner")
        due = _date(due_date, "due_date")
        evaluations = _id_list(evidence_evaluations, "evidence_evaluations")
        seqs = _id_list(evidence_audit_seqs, "evidence_audit_seqs")
        missing = sorted(
            set(evaluations) - set(Evaluation.objects.filter(pk__in=evaluations).values_list("pk", flat=True))
        )
        if missing:
            raise ValidationFailed(f"evidence_evaluations: no evaluation {missing[0]}", field="evidence_evaluations")
        missing = sorted(set(seqs) - set(audit_selectors.events().filter(seq__in=seqs).values_list("seq", flat=True)))
        if missing:
            raise ValidationFailed(f"evidence_audit_seqs: no audit event {missing[0]}", field="evidence_audit_seqs")
        with audit_unit(by.actor) as audit:
            validation = Validation.objects.select_for_update().get(pk=validation.pk)
            if validation.is_completed:
                raise IllegalTransition(
                    "the validation is completed; record findings in a new validation", field="validation"
                )
            finding = Finding.objects.create(
                validation=validation,
                severity=severity,
                description=description,
                owner=owner,
                due_date=due,
                evidence_evaluations=evaluations,
                evidence_audit_seqs=seqs,
                created_at=clock.now(),
            )
            audit.add(
                "finding.create",
                finding_target(finding),
                details={
                    "severity": severity,
                    "owner": owner.username,
                    "due_date": due.isoformat(),
                    "evidence_evaluations": evaluations,
                    "evidence_audit_seqs": seqs,
                    "model_version": str(validation.model_version_id),
                    **carried_text("description", description),
                    "created_at": finding.created_at,
                },
            )
    return finding


def _locked_finding(finding: Finding) -> Finding:
    return Finding.objects.select_for_update().select_related("validation").get(pk=finding.pk)


def finding_propose_remediation(*, by: Principal, finding: Finding, remediation: str) -> Finding:
    """The finding's owner proposes a remediation: open -> remediation proposed."""
    with refusals(by, "finding.propose_remediation", finding_target(finding)):
        if by.user is None or by.user_id != finding.owner_id:
            raise PermissionRefused("only the finding's owner proposes its remediation", field="owner")
        remediation = _text(remediation, "remediation")
        with audit_unit(by.actor) as audit:
            finding = _locked_finding(finding)
            if finding.status != FindingStatus.OPEN:
                raise IllegalTransition(
                    f"the finding is {finding.status}; a remediation is proposed for an open finding", field="status"
                )
            finding.status, finding.remediation, finding.remediation_proposed_at = (
                FindingStatus.REMEDIATION_PROPOSED,
                remediation,
                clock.now(),
            )
            finding.save(update_fields=["status", "remediation", "remediation_proposed_at"])
            audit.add(
                "finding.propose_remediation",
                finding_target(finding),
                details={
                    "from": FindingStatus.OPEN,
                    "to": finding.status,
                    "remediation_proposed_at": finding.remediation_proposed_at,
                },
                reason=remediation,
            )
    return finding


def finding_close(*, by: Principal, finding: Finding, note: str) -> Finding:
    """The validator closes a finding whose remediation was proposed; the owner never closes their own."""
    with refusals(by, "finding.close", finding_target(finding)):
        if by.user is not None and by.user_id == finding.owner_id:
            raise PermissionRefused("the finding's owner cannot close it; its validator does", field="owner")
        if by.user is None or by.user_id != finding.validation.validator_id:
            raise PermissionRefused("only the validation's validator closes a finding", field="closed_by")
        note = _text(note, "note")
        with audit_unit(by.actor) as audit:
            finding = _locked_finding(finding)
            if finding.status != FindingStatus.REMEDIATION_PROPOSED:
                raise IllegalTransition(
                    f"the finding is {finding.status}; it is closed once a remediation is proposed", field="status"
                )
            finding.status, finding.closed_by, finding.closed_at, finding.closure_note = (
                FindingStatus.CLOSED,
                by.user,
                clock.now(),
                note,
            )
            finding.save(update_fields=["status", "closed_by", "closed_at", "closure_note"])
            audit.add(
                "finding.close",
                finding_target(finding),
                details={
                    "from": FindingStatus.REMEDIATION_PROPOSED,
                    "to": FindingStatus.CLOSED,
                    "closed_at": finding.closed_at,
                },
                reason=note,
            )
    return finding


def finding_accept_risk(
    *, by: Principal, finding: Finding, justification: str, expires_on: dt.date | str | None
) -> Finding:
    """A risk officer accepts the risk of an unresolved finding, with a justification, until a date."""
    with refusals(by, "finding.accept_risk", finding_target(finding)):
        by.require_role(RISK_OFFICER, reason="only a risk officer accepts the risk of a finding")
        if by.user_id is not None and by.user_id == finding.owner_id:
            raise PermissionRefused("the finding's owner cannot accept its risk", field="owner")
        justification = _text(justification, "justification")
        expires = _date(expires_on, "expires_on")
        if expires <= clock.today():
            raise ValidationFailed("expires_on: must be after today", field="expires_on")
        with audit_unit(by.actor) as audit:
            finding = _locked_finding(finding)
            if finding.status not in (
                FindingStatus.OPEN,
                FindingStatus.REMEDIATION_PROPOSED,
                FindingStatus.RISK_ACCEPTED,
            ):
                raise IllegalTransition(f"the finding is {finding.status}", field="status")
            before = finding.status
            finding.status = FindingStatus.RISK_ACCEPTED
            finding.risk_accepted_by, finding.risk_accepted_at = by.user, clock.now()
            finding.risk_acceptance_justification, finding.risk_accepted_until = justification, expires
            finding.save(
                update_fields=[
                    "status",
                    "risk_accepted_by",
                    "risk_accepted_at",
                    "risk_acceptance_justification",
                    "risk_accepted_until",
                ]
            )
            audit.add(
                "finding.accept_risk",
                finding_target(finding),
                details={
                    "from": before,
                    "to": finding.status,
                    "expires_on": expires.isoformat(),
                    "risk_accepted_at": finding.risk_accepted_at,
                },
                reason=justification,
            )
    return finding


# --- revalidation ---------------------------------------------------------------------------------------------------


def revalidation_interval_set(
    *, by: Principal, model: RegisteredModel, months: int, reason: str
) -> RevalidationInterval:
    """A risk officer overrides a model's revalidation interval (months). An EU AI Act high-risk model
    keeps at most the high-risk maximum (annual by default)."""
    from governance.oversight.rules import eu_high_risk_max_months

    with refusals(by, "revalidation_interval.set", model_target(model)):
        by.require_role(RISK_OFFICER, reason="only a risk officer changes a model's revalidation interval")
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_INTERVAL_MONTHS:
            raise ValidationFailed(f"months: must be a whole number from 1 to {MAX_INTERVAL_MONTHS}", field="months")
        if model.eu_ai_act_category == "high" and months > eu_high_risk_max_months():
            most = eu_high_risk_max_months()
            raise ValidationFailed(
                f"months: an EU AI Act high-risk model is revalidated at least every {most} months", field="months"
            )
        reason = _text(reason, "reason")
        with audit_unit(by.actor) as audit:
            current = RevalidationInterval.objects.select_for_update().filter(model=model).first()
            before = current.months if current else None
            if current is None:
                current = RevalidationInterval(model=model)
            current.months, current.reason, current.set_by, current.set_at = months, reason, by.user, clock.now()
            current.save()
            audit.add(
                "revalidation_interval.set",
                model_target(model),
                details={"months": {"before": before, "after": months}, "set_at": current.set_at},
                reason=reason,
            )
    return current


def revalidation_flags_raise(*, by: Principal, today: dt.date | None = None) -> list[RevalidationFlag]:
    """Raise a revalidation flag for every overdue tier-1 production version without an open flag."""
    from governance.oversight.selectors import revalidation_schedule

    today = today or clock.today()
    now = clock.now()
    raised = []
    for row in revalidation_schedule(today=today):
        if row["bucket"] != "overdue" or row["risk_tier"] != "tier_1":
            continue
        version = row["version"]
        try:
            with audit_unit(by.actor) as audit:
                if RevalidationFlag.objects.filter(model_version=version, resolved_at__isnull=True).exists():
                    continue
                flag = RevalidationFlag.objects.create(model_version=version, due_on=row["next_due"], raised_at=now)
                audit.add(
                    "revalidation_flag.raise",
                    {"type": "revalidation_flag", "id": str(flag.pk), "model_version": str(version.pk)},
                    details={
                        "model": version.model.name,
                        "version": version.version,
                        "risk_tier": row["risk_tier"],
                        "due_on": row["next_due"].isoformat(),
                        "last_validation": row["last_validation"].isoformat() if row["last_validation"] else None,
                        "raised_at": now,
                    },
                )
        except IntegrityError:  # a concurrent run raised it
            continue
        raised.append(flag)
    return raised


# --- serious incidents (EU AI Act Art. 73) -----------------------------------------------------------


def serious_incident_record(
    *,
    by: Principal,
    version: ModelVersion,
    description: str,
    aware_at: dt.datetime | str,
    affected_persons: str,
    causal_link: str,
    category: str = "general",
    occurred_at: dt.datetime | str | None = None,
) -> SeriousIncident:
    """Record a serious incident; its reporting deadline follows from the awareness date (Art. 73)."""
    with refusals(by, "serious_incident.create", version_target(version)):
        recorder = _require_person(by, RISK_OFFICER, reason="only a risk officer records serious incidents")
        description = _text(description, "description")
        aware = _moment(aware_at, "aware_at")
        now = clock.now()
        if aware > now:
            raise ValidationFailed("aware_at: cannot be in the future", field="aware_at")
        occurred = _moment(occurred_at, "occurred_at", required=False)
        if occurred is not None and occurred > aware:
            raise ValidationFailed("occurred_at: cannot be after aware_at", field="occurred_at")
        affected = _text(affected_persons, "affected_persons")
        causal = _text(causal_link, "causal_link")
        if category not in ART73_DEADLINES:
            raise ValidationFailed(f"category: must be one of {', '.join(ART73_DEADLINES)}", field="category")
        deadline, rule = reporting_deadline(aware, category)
        with audit_unit(by.actor) as audit:
            incident = SeriousIncident.objects.create(
                model_version=version,
                description=description,
                occurred_at=occurred,
                aware_at=aware,
                affected_persons=affected,
                causal_link=causal,
                category=category,
                reporting_deadline=deadline,
                deadline_rule=rule["paragraph"],
                recorded_by=recorder,
                recorded_at=now,
            )
            audit.add(
                "serious_incident.create",
                incident_target(incident),
                details={
                    "category": category,
                    "aware_at": aware.isoformat(),
                    "reporting_deadline": deadline.isoformat(),
                    "deadline_rule": rule["paragraph"],
                    "deadline_days": rule["days"],
                    **carried_text("description", description),
                    "occurred_at": occurred,
                    **carried_text("affected_persons", affected),
                    **carried_text("causal_link", causal),
                    "recorded_at": now,
                },
            )
    return incident


def serious_incident_report(
    *,
    by: Principal,
    incident: SeriousIncident,
    kind: str,
    submitted_at: dt.datetime | str,
    authority: str,
    summary: str,
    reference: str = "",
) -> IncidentReport:
    """Record a report sent to the market surveillance authority: one initial report, then follow-ups."""
    with refusals(by, "serious_incident.report", incident_target(incident)):
        recorder = _require_person(by, RISK_OFFICER, reason="only a risk officer records incident reports")
        if kind not in ReportKind.values:
            raise ValidationFailed(f"kind: must be one of {', '.join(ReportKind.values)}", field="kind")
        submitted = _moment(submitted_at, "submitted_at")
        if submitted > clock.now():
            raise ValidationFailed("submitted_at: cannot be in the future", field="submitted_at")
        if submitted < incident.aware_at:
            raise ValidationFailed("submitted_at: cannot be before the incident's aware_at", field="submitted_at")
        authority = _text(authority, "authority")
        summary = _text(summary, "summary")
        reference = _text(reference, "reference", required=False)
        now = clock.now()
        with audit_unit(by.actor) as audit:
            incident = SeriousIncident.objects.select_for_update().get(pk=incident.pk)
            initial = incident.reports.filter(kind=ReportKind.INITIAL).first()
            if kind == ReportKind.INITIAL and initial is not None:
                raise Conflict("the initial report is already recorded; record a follow_up", field="kind")
            if kind == ReportKind.FOLLOW_UP and initial is None:
                raise IllegalTransition("record the initial report first", field="kind")
            if kind == ReportKind.FOLLOW_UP and initial is not None and submitted < initial.submitted_at:
                raise ValidationFailed("submitted_at: a follow-up comes after the initial report", field="submitted_at")
            report = IncidentReport.objects.create(
                incident=incident,
                kind=kind,
                submitted_at=submitted,
                authority=authority,
                reference=reference,
                summary=summary,
                recorded_by=recorder,
                recorded_at=now,
            )
            audit.add(
                "serious_incident.report",
                incident_target(incident),
                details={
                    "report": report.pk,
                    "kind": kind,
                    "submitted_at": submitted.isoformat(),
                    "authority": authority,
                    "reference": reference,
                    "on_time": submitted <= incident.reporting_deadline if kind == ReportKind.INITIAL else None,
                    **carried_text("summary", summary),
                    "recorded_at": now,
                },
            )
    return report


# --- monitoring schedules and missed checks (issue 17.4) ----------------------------------------------------------

MAX_CADENCE_DAYS = 366
MAX_GRACE_HOURS = 24 * 30


def schedule_target(schedule: MonitoringSchedule) -> dict:
    return {
        "type": "monitoring_schedule",
        "id": str(schedule.pk),
        "model": schedule.model_version.model.name,
        "version": schedule.model_version.version,
        "kind": schedule.kind,
    }


def _whole(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"{field}: must be a whole number from {low} to {high}", field=field)
    return value


def monitoring_schedule_create(
    *,
    by: Principal,
    version: ModelVersion,
    kind: str,
    cadence_days: int,
    grace_hours: int = 24,
    starts_at: dt.datetime | str | None = None,
    description: str = "",
    responsible: User | None = None,
) -> MonitoringSchedule:
    """A risk officer or validator schedules monitoring of a production version: a drift check of new
    data against its reference sample, or a performance check when labels arrive, every
    ``cadence_days``, due at the latest ``grace_hours`` later."""
    target = version_target(version)
    target["type"] = "model_version"
    with refusals(by, "monitoring_schedule.create", target):
        creator = _require_person(
            by, RISK_OFFICER, VALIDATOR, reason="only risk officers and validators schedule monitoring"
        )
        if kind not in MonitoringKind.values:
            raise ValidationFailed(f"kind: must be one of {', '.join(MonitoringKind.values)}", field="kind")
        cadence_days = _whole(cadence_days, "cadence_days", 1, MAX_CADENCE_DAYS)
        grace_hours = _whole(grace_hours, "grace_hours", 0, MAX_GRACE_HOURS)
        if grace_hours >= cadence_days * 24:
            raise ValidationFailed(
                f"grace_hours: must be shorter than the cadence ({cadence_days * 24} hours)", field="grace_hours"
            )
        starts = _moment(starts_at, "starts_at", required=False) or clock.now()
        description = _text(description, "description", required=False)
        if responsible is not None and not responsible.is_active:
            raise ValidationFailed("responsible: an inactive user cannot be responsible", field="responsible")
        with audit_unit(by.actor) as audit:
            version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
            if version.stage != "production":
                raise ValidationFailed(
                    f"model_version: scheduled monitoring is for production versions; {version.version} is in "
                    f"{version.stage}",
                    field="model_version",
                )
            if kind == MonitoringKind.DRIFT and not version.reference_samples.exists():
                raise ValidationFailed(
                    "kind: a drift check compares new data with the version's reference sample; register it "
                    f"first (POST /api/v1/versions/{version.pk}/reference)",
                    field="kind",
                )
            if MonitoringSchedule.objects.filter(model_version=version, kind=kind, is_active=True).exists():
                raise Conflict(f"kind: an active {kind} schedule exists for this version; end it first", field="kind")
            schedule = MonitoringSchedule.objects.create(
                model_version=version,
                kind=kind,
                cadence_days=cadence_days,
                grace_hours=grace_hours,
                starts_at=starts,
                description=description,
                responsible=responsible,
                created_by=creator,
                created_at=clock.now(),
            )
            audit.add(
                "monitoring_schedule.create",
                schedule_target(schedule),
                details={
                    "cadence_days": cadence_days,
                    "grace_hours": grace_hours,
                    "starts_at": starts.isoformat(),
                    "responsible": responsible.username if responsible else None,
                    "description": description,
                    "created_at": schedule.created_at,
                },
            )
    return schedule


def monitoring_schedule_end(*, by: Principal, schedule: MonitoringSchedule, reason: str) -> MonitoringSchedule:
    """End a schedule (kept on record with its missed checks)."""
    with refusals(by, "monitoring_schedule.end", schedule_target(schedule)):
        by.require_role(RISK_OFFICER, VALIDATOR, reason="only risk officers and validators end monitoring")
        reason = _text(reason, "reason")
        with audit_unit(by.actor) as audit:
            schedule = (
                MonitoringSchedule.objects.select_for_update()
                .select_related("model_version__model")
                .get(pk=schedule.pk)
            )
            if not schedule.is_active:
                raise IllegalTransition("the schedule has already ended", field="is_active")
            schedule.is_active, schedule.ended_at, schedule.end_reason = False, clock.now(), reason
            schedule.save(update_fields=["is_active", "ended_at", "end_reason"])
            audit.add(
                "monitoring_schedule.end",
                schedule_target(schedule),
                details={"ended_at": schedule.ended_at},
                reason=reason,
            )
    return schedule


def missed_checks_flag(*, by: Principal, now: dt.datetime | None = None) -> list[MissedCheck]:
    """Flag every scheduled check of a production version that did not arrive by its due time plus grace
    (Celery beat ``oversight.flag_missed_checks``). One row and one audit event per missed check, never
    twice for the same period; each is announced (``monitoring_check.missed``) so owner and risk officers
    are told."""
    from governance.oversight.monitoring import MISSED, schedule_periods

    now = now or clock.now()
    flagged: list[MissedCheck] = []
    schedules = MonitoringSchedule.objects.filter(is_active=True, model_version__stage="production").select_related(
        "model_version__model"
    )
    for schedule in schedules:
        known = set(schedule.missed_checks.values_list("due_at", flat=True))
        missed = [p for p in schedule_periods(schedule, now=now) if p["status"] == MISSED and p["due_at"] not in known]
        if not missed:
            continue
        try:
            with audit_unit(by.actor) as audit:
                for period in missed:
                    check = MissedCheck.objects.create(
                        schedule=schedule, due_at=period["due_at"], grace_until=period["grace_until"], detected_at=now
                    )
                    audit.add(
                        "monitoring_check.missed",
                        {
                            **schedule_target(schedule),
                            "type": "missed_check",
                            "id": str(check.pk),
                            "schedule": str(schedule.pk),
                        },
                        details={
                            "due_at": period["due_at"].isoformat(),
                            "grace_until": period["grace_until"].isoformat(),
                            "cadence_days": schedule.cadence_days,
                            "grace_hours": schedule.grace_hours,
                            "detected_at": now,
                        },
                    )
                    announce("monitoring_check.missed", missed_check_id=check.pk, version_id=schedule.model_version_id)
                    flagged.append(check)
        except IntegrityError:  # a concurrent run flagged them
            continue
    return flagged


def missed_check_resolve(*, by: Principal, missed: MissedCheck, resolution: str) -> MissedCheck:
    """A risk officer records why a check was missed and what was done; the flag closes."""
    target = {"type": "missed_check", "id": str(missed.pk), "schedule": str(missed.schedule_id)}
    with refusals(by, "monitoring_check.resolve", target):
        by.require_role(RISK_OFFICER, reason="only a risk officer resolves a missed check")
        resolution = _text(resolution, "resolution")
        with audit_unit(by.actor) as audit:
            missed = MissedCheck.objects.select_for_update().get(pk=missed.pk)
            if missed.resolved_at is not None:
                raise IllegalTransition("the missed check is already resolved", field="resolution")
            missed.resolved_at, missed.resolved_by, missed.resolution = clock.now(), by.user, resolution
            missed.save(update_fields=["resolved_at", "resolved_by", "resolution"])
            audit.add(
                "monitoring_check.resolve",
                target,
                details={"due_at": missed.due_at.isoformat(), "resolved_at": missed.resolved_at},
                reason=resolution,
            )
    return missed


# --- the post-market monitoring plan (issue 17.5) ------------------------------------------------------------------


def _plan_texts(texts: dict[str, str]) -> dict[str, str]:
    """A plan's narrative as its event carries it: each text's first 2,000 characters and SHA-256
    (``carried_text``; the whole texts are in ``PostMarketPlanRevision``)."""
    return {key: value for name in PLAN_FIELDS for key, value in carried_text(name, texts[name]).items()}


def post_market_plan_set(*, by: Principal, model: RegisteredModel, reason: str = "", **narrative) -> PostMarketPlan:
    """A risk officer writes (or revises) the post-market monitoring plan of a high-risk model. Every
    narrative field is required; a revision increments ``revision``, its whole text is kept as a
    ``PostMarketPlanRevision`` and the audit event carries the texts before and after (``_plan_texts``)."""
    with refusals(by, "post_market_plan.set", {**model_target(model), "type": "post_market_plan"}):
        by.require_role(RISK_OFFICER, reason="only a risk officer writes the post-market monitoring plan")
        unknown = sorted(set(narrative) - set(PLAN_FIELDS))
        if unknown:
            raise ValidationFailed(f"{unknown[0]}: not a field of the plan", field=unknown[0])
        with audit_unit(by.actor) as audit:
            model = RegisteredModel.objects.get(pk=model.pk)
            if model.eu_ai_act_category != "high":
                raise ValidationFailed(
                    "model: a post-market monitoring plan (EU AI Act Art. 72) is kept for high-risk models; this one "
                    f"is {model.eu_ai_act_category or 'not categorised'}",
                    field="model",
                )
            plan = PostMarketPlan.objects.select_for_update().filter(model=model).first()
            now = clock.now()
            values = {}
            for name in PLAN_FIELDS:
                given = narrative[name] if name in narrative else (getattr(plan, name) if plan is not None else None)
                values[name] = _text(given, name, required=name != "review_cadence")
            if plan is None:
                plan = PostMarketPlan(model=model, created_by=by.user, created_at=now, **values)
                before = None
            else:
                before = {name: getattr(plan, name) for name in PLAN_FIELDS}
                if before == values:
                    return plan
                for name, value in values.items():
                    setattr(plan, name, value)
                plan.revision += 1
            if before is not None:
                reason = _text(reason, "reason")
            plan.updated_by, plan.updated_at = by.user, now
            plan.save()
            PostMarketPlanRevision.objects.create(plan=plan, revision=plan.revision, **values)
            audit.add(
                "post_market_plan.set",
                {**model_target(model), "type": "post_market_plan"},
                details={
                    "revision": plan.revision,
                    "before": _plan_texts(before) if before is not None else None,
                    "after": _plan_texts(values),
                    **({"created_at": plan.created_at} if before is None else {}),
                    "updated_at": plan.updated_at,
                },
                reason=reason or None,
            )
    return plan
