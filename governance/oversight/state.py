"""Replays oversight events to rebuild validations and their findings, revalidation intervals and
flags, serious incidents and their reports, monitoring schedules and missed checks, and post-market
plans and their revisions' whole texts (audit.state, ``audit_verify --state``).

Each event also carries the instants its service wrote (``created_at``, ``closed_at``, ...: one ``now``
stored in the row and the event) and the unbounded texts it wrote (``audit.state.carried_text``: the
first 2,000 characters and the SHA-256 of the whole). Events recorded before they did (issue 10) lack
them; a field whose latest event does not carry it is not checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from audit.state import Divergence, as_recorded, carried_text, compare_rows, named_by_text
from governance.oversight.models import (
    PLAN_FIELDS,
    Finding,
    IncidentReport,
    MissedCheck,
    MonitoringSchedule,
    PostMarketPlan,
    PostMarketPlanRevision,
    RevalidationFlag,
    RevalidationInterval,
    SeriousIncident,
    Validation,
)

INCIDENT_TEXTS = ("description", "affected_persons", "causal_link")


def _user(actor: dict) -> str | None:
    return actor.get("username") if actor.get("type") == "user" else None


def _instant(text: str | None) -> object:
    """An ISO 8601 instant from an event, as the log records a stored datetime (``as_recorded``)."""
    return as_recorded(dt.datetime.fromisoformat(text)) if text else None


def _instants(data: Mapping, *names: str) -> dict:
    """The instants among ``names`` that an event carries, as the log records them."""
    return {name: _instant(data[name]) for name in names if name in data}


def _texts(data: Mapping, *names: str) -> dict:
    """The unbounded texts among ``names`` that an event carries (``carried_text``: the first 2,000
    characters under the name, the SHA-256 of the whole under ``<name>_sha256``)."""
    return {key: data[key] for name in names if name in data for key in (name, f"{name}_sha256")}


def _stored_texts(row: Mapping, *names: str) -> dict:
    """A row's texts as ``carried_text`` puts them in an event, to compare with ``_texts``."""
    out: dict = {}
    for name in names:
        out.update(carried_text(name, row[name]))
    return out


def _renew(row: dict, data: Mapping, *names: str) -> None:
    """Set the instants ``names`` from an event that changed them; one recorded before events carried
    them leaves those fields unknown (not checked)."""
    for name in names:
        row.pop(name, None)
    row.update(_instants(data, *names))


def _compare(table: str, stored: dict[str, dict], expected: dict[str, dict]) -> Divergence | None:
    """``compare_rows``, naming a text whose SHA-256 differs (an edit past its first 2,000 characters)
    by its own field."""
    return named_by_text(compare_rows(table, stored, expected))


def _by_model(table: str, rows: Mapping[str, Mapping], divergence: Divergence | None) -> Divergence | None:
    """A divergence of a one-per-model table replayed by model id, named by the table's own row."""
    if divergence is None:
        return None
    row = rows.get(divergence.row)
    name = str(row["pk"]) if row else f"of model {divergence.row}"
    return Divergence(table, name, divergence.field, divergence.stored, divergence.expected)


class OversightReplayer:
    name = "oversight"
    actions = (
        "validation.start",
        "validation.complete",
        "finding.create",
        "finding.propose_remediation",
        "finding.close",
        "finding.accept_risk",
        "revalidation_interval.set",
        "revalidation_flag.raise",
        "revalidation_flag.resolve",
        "serious_incident.create",
        "serious_incident.report",
        "monitoring_schedule.create",
        "monitoring_schedule.end",
        "monitoring_check.missed",
        "monitoring_check.resolve",
        "post_market_plan.set",
    )

    def __init__(self) -> None:
        self.validations: dict[str, dict] = {}
        self.findings: dict[str, dict] = {}
        self.intervals: dict[str, dict] = {}  # by model id (one interval per model; no row id in the event)
        self.flags: dict[str, dict] = {}
        self.incidents: dict[str, dict] = {}
        self.reports: dict[str, dict] = {}
        self.schedules: dict[str, dict] = {}
        self.missed: dict[str, dict] = {}
        self.plans: dict[str, dict] = {}  # by model id (one plan per model; no row id in the event)
        self.plan_revisions: dict[str, dict] = {}  # by "<model id>.<revision>" (no row id in the event)

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        reason = record.get("reason") or ""
        if action == "validation.start":
            self.validations[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "validator": data.get("validator"),
                "scope": data.get("scope"),
                "started_on": data.get("started_on"),
                "completed_on": None,
                "conclusion": "",
                "summary": "",
                "created_by": _user(record["actor"]) or data.get("validator"),
                **_instants(data, "created_at"),
            }
        elif action == "validation.complete":
            self.validations.setdefault(key, {}).update(
                {"completed_on": data.get("completed_on"), "conclusion": data.get("conclusion"), "summary": reason}
            )
        elif action == "revalidation_interval.set":
            self.intervals[key] = {
                "months": (data.get("months") or {}).get("after"),
                "reason": reason,
                "set_by": _user(record["actor"]),
                **_instants(data, "set_at"),
            }
        elif action == "revalidation_flag.raise":
            self.flags[key] = {
                "model_version": str(target.get("model_version")),
                "due_on": data.get("due_on"),
                "resolved": False,
                "resolved_at": None,
                "resolution": "",
                **_instants(data, "raised_at"),
            }
        elif action == "revalidation_flag.resolve":
            flag = self.flags.setdefault(key, {})
            flag.update({"resolved": True, "resolution": reason})
            _renew(flag, data, "resolved_at")
        elif action == "serious_incident.create":
            self.incidents[key] = {
                "model_version": str(target.get("model_version")),
                "category": data.get("category"),
                "aware_at": _instant(data.get("aware_at")),
                "reporting_deadline": _instant(data.get("reporting_deadline")),
                "deadline_rule": data.get("deadline_rule"),
                "recorded_by": _user(record["actor"]),
                **_texts(data, *INCIDENT_TEXTS),
                **_instants(data, "occurred_at", "recorded_at"),
            }
        elif action == "serious_incident.report":
            self.reports[str(data.get("report"))] = {
                "incident": key,
                "kind": data.get("kind"),
                "submitted_at": _instant(data.get("submitted_at")),
                "authority": data.get("authority"),
                "reference": data.get("reference"),
                "recorded_by": _user(record["actor"]),
                **_texts(data, "summary"),
                **_instants(data, "recorded_at"),
            }
        elif action == "monitoring_schedule.create":
            self.schedules[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "kind": target.get("kind"),
                "cadence_days": data.get("cadence_days"),
                "grace_hours": data.get("grace_hours"),
                "starts_at": _instant(data.get("starts_at")),
                "responsible": data.get("responsible"),
                "description": data.get("description"),
                "is_active": True,
                "ended_at": None,
                "end_reason": "",
                "created_by": _user(record["actor"]),
                **_instants(data, "created_at"),
            }
        elif action == "monitoring_schedule.end":
            schedule = self.schedules.setdefault(key, {})
            schedule.update({"is_active": False, "end_reason": reason})
            _renew(schedule, data, "ended_at")
        elif action == "monitoring_check.missed":
            self.missed[key] = {
                "schedule": str(target.get("schedule")),
                "due_at": _instant(data.get("due_at")),
                "grace_until": _instant(data.get("grace_until")),
                "resolved": False,
                "resolved_at": None,
                "resolved_by": None,
                "resolution": "",
                **_instants(data, "detected_at"),
            }
        elif action == "monitoring_check.resolve":
            missed = self.missed.setdefault(key, {})
            missed.update({"resolved": True, "resolved_by": _user(record["actor"]), "resolution": reason})
            _renew(missed, data, "resolved_at")
        elif action == "post_market_plan.set":
            plan = self.plans.setdefault(key, {"created_by": _user(record["actor"]), **_instants(data, "created_at")})
            after = data.get("after") or {}
            for name in PLAN_FIELDS:  # an older event carried the whole texts, without digests
                plan.pop(f"{name}_sha256", None)
            plan.update({**after, "revision": data.get("revision"), "updated_by": _user(record["actor"])})
            _renew(plan, data, "updated_at")
            if any(f"{name}_sha256" in after for name in PLAN_FIELDS):  # its whole texts are a revision row
                self.plan_revisions[f"{key}.{data.get('revision')}"] = _texts(after, *PLAN_FIELDS)
        elif action == "finding.create":
            self.findings[key] = {
                "validation": str(target.get("validation")),
                "severity": data.get("severity"),
                "owner": data.get("owner"),
                "due_date": data.get("due_date"),
                "evidence_evaluations": data.get("evidence_evaluations") or [],
                "evidence_audit_seqs": data.get("evidence_audit_seqs") or [],
                "status": "open",
                "remediation": "",
                "remediation_proposed_at": None,
                "closed_by": None,
                "closed_at": None,
                "closure_note": "",
                "risk_accepted_by": None,
                "risk_accepted_at": None,
                "risk_acceptance_justification": "",
                "risk_accepted_until": None,
                **_texts(data, "description"),
                **_instants(data, "created_at"),
            }
        else:
            finding = self.findings.setdefault(key, {})
            finding["status"] = data.get("to")
            if action == "finding.propose_remediation":
                finding["remediation"] = reason
                _renew(finding, data, "remediation_proposed_at")
            elif action == "finding.close":
                finding.update({"closed_by": _user(record["actor"]), "closure_note": reason})
                _renew(finding, data, "closed_at")
            elif action == "finding.accept_risk":
                _renew(finding, data, "risk_accepted_at")
                finding.update(
                    {
                        "risk_accepted_by": _user(record["actor"]),
                        "risk_acceptance_justification": reason,
                        "risk_accepted_until": data.get("expires_on"),
                    }
                )

    def compare(self) -> Divergence | None:
        validations = {
            str(v["pk"]): {
                "model": v["model_version__model__name"],
                "version": v["model_version__version"],
                "validator": v["validator__username"],
                "scope": v["scope"],
                "started_on": as_recorded(v["started_on"]),
                "completed_on": as_recorded(v["completed_on"]),
                "conclusion": v["conclusion"],
                "summary": v["summary"],
                "created_by": v["created_by__username"],
                "created_at": as_recorded(v["created_at"]),
            }
            for v in Validation.objects.values(
                "pk",
                "model_version__model__name",
                "model_version__version",
                "validator__username",
                "scope",
                "started_on",
                "completed_on",
                "conclusion",
                "summary",
                "created_by__username",
                "created_at",
            )
        }
        divergence = compare_rows("oversight_validation", validations, self.validations)
        if divergence:
            return divergence
        findings = {
            str(f["pk"]): {
                "validation": str(f["validation_id"]),
                "severity": f["severity"],
                "owner": f["owner__username"],
                "due_date": as_recorded(f["due_date"]),
                "evidence_evaluations": as_recorded(f["evidence_evaluations"]),
                "evidence_audit_seqs": as_recorded(f["evidence_audit_seqs"]),
                "status": f["status"],
                "remediation": f["remediation"],
                "remediation_proposed_at": as_recorded(f["remediation_proposed_at"]),
                "closed_by": f["closed_by__username"],
                "closed_at": as_recorded(f["closed_at"]),
                "closure_note": f["closure_note"],
                "risk_accepted_by": f["risk_accepted_by__username"],
                "risk_accepted_at": as_recorded(f["risk_accepted_at"]),
                "risk_acceptance_justification": f["risk_acceptance_justification"],
                "risk_accepted_until": as_recorded(f["risk_accepted_until"]),
                **_stored_texts(f, "description"),
                "created_at": as_recorded(f["created_at"]),
            }
            for f in Finding.objects.values(
                "pk",
                "validation_id",
                "severity",
                "owner__username",
                "due_date",
                "evidence_evaluations",
                "evidence_audit_seqs",
                "status",
                "remediation",
                "remediation_proposed_at",
                "closed_by__username",
                "closed_at",
                "closure_note",
                "risk_accepted_by__username",
                "risk_accepted_at",
                "risk_acceptance_justification",
                "risk_accepted_until",
                "description",
                "created_at",
            )
        }
        divergence = _compare("oversight_finding", findings, self.findings)
        if divergence:
            return divergence
        return self._compare_revalidation() or self._compare_incidents() or self._compare_monitoring()

    def _compare_monitoring(self) -> Divergence | None:
        schedules = {
            str(m["pk"]): {
                "model": m["model_version__model__name"],
                "version": m["model_version__version"],
                "kind": m["kind"],
                "cadence_days": m["cadence_days"],
                "grace_hours": m["grace_hours"],
                "starts_at": as_recorded(m["starts_at"]),
                "responsible": m["responsible__username"],
                "description": m["description"],
                "is_active": m["is_active"],
                "ended_at": as_recorded(m["ended_at"]),
                "end_reason": m["end_reason"],
                "created_by": m["created_by__username"],
                "created_at": as_recorded(m["created_at"]),
            }
            for m in MonitoringSchedule.objects.values(
                "pk",
                "model_version__model__name",
                "model_version__version",
                "kind",
                "cadence_days",
                "grace_hours",
                "starts_at",
                "responsible__username",
                "description",
                "is_active",
                "ended_at",
                "end_reason",
                "created_by__username",
                "created_at",
            )
        }
        divergence = compare_rows("oversight_monitoringschedule", schedules, self.schedules)
        if divergence:
            return divergence
        missed = {
            str(c["pk"]): {
                "schedule": str(c["schedule_id"]),
                "due_at": as_recorded(c["due_at"]),
                "grace_until": as_recorded(c["grace_until"]),
                "resolved": c["resolved_at"] is not None,
                "resolved_at": as_recorded(c["resolved_at"]),
                "resolved_by": c["resolved_by__username"],
                "resolution": c["resolution"],
                "detected_at": as_recorded(c["detected_at"]),
            }
            for c in MissedCheck.objects.values(
                "pk",
                "schedule_id",
                "due_at",
                "grace_until",
                "resolved_at",
                "resolved_by__username",
                "resolution",
                "detected_at",
            )
        }
        divergence = compare_rows("oversight_missedcheck", missed, self.missed)
        if divergence:
            return divergence
        table = "oversight_postmarketplan"
        rows = {
            str(p["model_id"]): p
            for p in PostMarketPlan.objects.values(
                "pk",
                "model_id",
                *PLAN_FIELDS,
                "revision",
                "created_by__username",
                "created_at",
                "updated_by__username",
                "updated_at",
            )
        }
        stored = {
            model: {
                **{
                    key: value
                    for name in PLAN_FIELDS
                    for key, value in (
                        carried_text(name, p[name])
                        if f"{name}_sha256" in self.plans.get(model, {})
                        else {name: p[name]}
                    ).items()
                },
                "revision": p["revision"],
                "created_by": p["created_by__username"],
                "created_at": as_recorded(p["created_at"]),
                "updated_by": p["updated_by__username"],
                "updated_at": as_recorded(p["updated_at"]),
            }
            for model, p in rows.items()
        }
        divergence = _by_model(table, rows, _compare(table, stored, self.plans))
        if divergence:
            return divergence
        table = "oversight_postmarketplanrevision"
        revisions = {
            f"{r['plan__model_id']}.{r['revision']}": r
            for r in PostMarketPlanRevision.objects.values("pk", "plan__model_id", "revision", *PLAN_FIELDS)
        }
        divergence = _compare(
            table, {key: _stored_texts(r, *PLAN_FIELDS) for key, r in revisions.items()}, self.plan_revisions
        )
        if divergence is None:
            return None
        row = revisions.get(divergence.row)
        name = str(row["pk"]) if row else f"of model {divergence.row.replace('.', ', revision ')}"
        return Divergence(table, name, divergence.field, divergence.stored, divergence.expected)

    def _compare_revalidation(self) -> Divergence | None:
        table = "oversight_revalidationinterval"
        rows = {
            str(i["model_id"]): i
            for i in RevalidationInterval.objects.values(
                "pk", "model_id", "months", "reason", "set_by__username", "set_at"
            )
        }
        stored = {
            model: {
                "months": i["months"],
                "reason": i["reason"],
                "set_by": i["set_by__username"],
                "set_at": as_recorded(i["set_at"]),
            }
            for model, i in rows.items()
        }
        divergence = _by_model(table, rows, compare_rows(table, stored, self.intervals))
        if divergence:
            return divergence
        flags = {
            str(f["pk"]): {
                "model_version": str(f["model_version_id"]),
                "due_on": as_recorded(f["due_on"]),
                "resolved": f["resolved_at"] is not None,
                "resolved_at": as_recorded(f["resolved_at"]),
                "resolution": f["resolution"],
                "raised_at": as_recorded(f["raised_at"]),
            }
            for f in RevalidationFlag.objects.values(
                "pk", "model_version_id", "due_on", "resolved_at", "resolution", "raised_at"
            )
        }
        return compare_rows("oversight_revalidationflag", flags, self.flags)

    def _compare_incidents(self) -> Divergence | None:
        incidents = {
            str(i["pk"]): {
                "model_version": str(i["model_version_id"]),
                "category": i["category"],
                "aware_at": as_recorded(i["aware_at"]),
                "reporting_deadline": as_recorded(i["reporting_deadline"]),
                "deadline_rule": i["deadline_rule"],
                "recorded_by": i["recorded_by__username"],
                **_stored_texts(i, *INCIDENT_TEXTS),
                "occurred_at": as_recorded(i["occurred_at"]),
                "recorded_at": as_recorded(i["recorded_at"]),
            }
            for i in SeriousIncident.objects.values(
                "pk",
                "model_version_id",
                "category",
                "aware_at",
                "reporting_deadline",
                "deadline_rule",
                "recorded_by__username",
                *INCIDENT_TEXTS,
                "occurred_at",
                "recorded_at",
            )
        }
        divergence = _compare("oversight_seriousincident", incidents, self.incidents)
        if divergence:
            return divergence
        reports = {
            str(r["pk"]): {
                "incident": str(r["incident_id"]),
                "kind": r["kind"],
                "submitted_at": as_recorded(r["submitted_at"]),
                "authority": r["authority"],
                "reference": r["reference"],
                "recorded_by": r["recorded_by__username"],
                **_stored_texts(r, "summary"),
                "recorded_at": as_recorded(r["recorded_at"]),
            }
            for r in IncidentReport.objects.values(
                "pk",
                "incident_id",
                "kind",
                "submitted_at",
                "authority",
                "reference",
                "recorded_by__username",
                "summary",
                "recorded_at",
            )
        }
        return _compare("oversight_incidentreport", reports, self.reports)
