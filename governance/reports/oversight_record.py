"""The ongoing model risk management record of one version as of one audit seq (issue 17, item 6).

Validations, findings and serious incidents are mutable rows (a finding moves from open to closed), so
their state as of the pack's seq is rebuilt from their audit events up to that seq: the row gives the
fields that never change (severity, description, owner, due date), the events give what happened and
when. The same ``as_of`` therefore yields the same ``pack["oversight"]`` however much the record has
moved on since, and every event read is cited by the pack (its bundle carries their inclusion proofs).

Monitoring schedules are rebuilt the same way (created and ended by their events, missed checks flagged
and resolved by theirs, each period's status computed at the pack's time), and the post-market monitoring
plan is the text of its latest ``post_market_plan.set`` event up to the seq. Where none is recorded, the
blocks print NOT PROVIDED with who must provide it.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping

from django.utils import timezone

from audit import selectors as audit_selectors
from audit.selectors import AuditEvent
from audit.services import TS_FORMAT
from audit.state import carried_text
from governance.evaluations.models import Evaluation
from governance.oversight import monitoring
from governance.oversight.models import (
    PLAN_FIELDS,
    Finding,
    MissedCheck,
    MonitoringSchedule,
    PostMarketPlanRevision,
    RevalidationFlag,
    SeriousIncident,
    Validation,
)
from governance.oversight.rules import ART73_DEADLINES, add_months, eu_high_risk_max_months, revalidation_months
from governance.registry.models import ModelVersion

#: object types whose events the oversight record reads (and the pack therefore cites)
OBJECT_TYPES = (
    "validation",
    "finding",
    "serious_incident",
    "revalidation_flag",
    "monitoring_schedule",
    "missed_check",
    "post_market_plan",
)
#: periods of a monitoring schedule printed in a pack (the latest ones; the counts cover them all)
PERIODS_SHOWN = 8


def _ts(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime(TS_FORMAT) if moment else None


def _person(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username


def _actor(event: AuditEvent) -> str:
    return event.actor_username or event.actor_id


def _data(event: AuditEvent) -> dict:
    return event.record_json.get("data") or {}


def _reason(event: AuditEvent) -> str | None:
    return event.record_json.get("reason")


def validation_label(pk: int) -> str:
    return f"VAL-{pk}"


def finding_label(pk: int) -> str:
    return f"FND-{pk}"


def incident_label(pk: int) -> str:
    return f"INC-{pk}"


class _Events:
    """The oversight events about a set of objects up to one seq, grouped by object."""

    def __init__(self, objects: Mapping[str, Iterable[int]], seq: int):
        self.all = list(audit_selectors.events_about({k: list(v) for k, v in objects.items()}, up_to=seq))
        self.by_object: dict[tuple[str, str], list[AuditEvent]] = {}
        for event in self.all:
            self.by_object.setdefault((event.object_type, event.object_id), []).append(event)

    def of(self, object_type: str, pk: int, *actions: str) -> list[AuditEvent]:
        found = self.by_object.get((object_type, str(pk)), [])
        return [e for e in found if not actions or e.action in actions]


def _finding(finding: Finding, events: _Events, validator_of: dict[int, str], today: dt.date) -> dict | None:
    created = events.of("finding", finding.pk, "finding.create")
    if not created:
        return None
    status, answer, answered_by, answered_at, until = "open", None, None, None, None
    history = []
    for event in events.of(
        "finding", finding.pk, "finding.propose_remediation", "finding.close", "finding.accept_risk"
    ):
        data = _data(event)
        status = data.get("to") or status
        answer, answered_by, answered_at = _reason(event), _actor(event), _ts(event.ts)
        until = data.get("expires_on") if event.action == "finding.accept_risk" else None
        history.append({"seq": event.seq, "at": _ts(event.ts), "by": _actor(event), "to": status, "text": answer})
    expired = status == "risk accepted" and until is not None and dt.date.fromisoformat(until) < today
    unresolved = status not in ("closed", "risk accepted") or expired
    evidence = [f"EV-{pk:04d}" for pk in finding.evidence_evaluations or []] + [
        f"audit seq {seq}" for seq in finding.evidence_audit_seqs or []
    ]
    shown = status
    if status == "risk accepted":
        shown = f"risk accepted until {until}" + (" (EXPIRED: unresolved again)" if expired else "")
    return {
        "id": finding_label(finding.pk),
        "validation": validation_label(finding.validation_id),
        "severity": finding.severity,
        "description": finding.description,
        "owner": _person(finding.owner),
        "raised_by": validator_of.get(finding.validation_id) or _actor(created[0]),
        "raised_at": _ts(created[0].ts),
        "due_date": finding.due_date.isoformat(),
        "status": shown,
        "unresolved": unresolved,
        "overdue": unresolved and finding.due_date < today,
        "evidence": evidence,
        "answer": answer,
        "answered_by": answered_by,
        "answered_at": answered_at,
        "history": history,
    }


def _interval_months(version: ModelVersion, seq: int) -> tuple[int, str]:
    """The revalidation interval as of ``seq``: the latest audited override, else the tier's setting
    (capped for an EU AI Act high-risk model)."""
    override = (
        audit_selectors.object_events("registered_model", version.model_id, action="revalidation_interval.set")
        .filter(seq__lte=seq)
        .order_by("-seq")
        .first()
    )
    if override is not None:
        months = (_data(override).get("months") or {}).get("after")
        if isinstance(months, int):
            return months, "override by a risk officer"
    model = version.model
    months = revalidation_months()[model.risk_tier]
    if model.eu_ai_act_category == "high" and months > eu_high_risk_max_months():
        return eu_high_risk_max_months(), "EU AI Act high-risk maximum"
    return months, f"{model.risk_tier.replace('_', ' ')} default"


def _incident(incident: SeriousIncident, events: _Events, moment: dt.datetime) -> dict | None:
    if not events.of("serious_incident", incident.pk, "serious_incident.create"):
        return None
    reports = []
    for event in events.of("serious_incident", incident.pk, "serious_incident.report"):
        data = _data(event)
        reports.append(
            {
                "kind": data.get("kind"),
                "submitted_at": data.get("submitted_at"),
                "authority": data.get("authority"),
                "reference": data.get("reference") or None,
                "recorded_by": _actor(event),
                "on_time": data.get("on_time"),
            }
        )
    initial = next((r for r in reports if r["kind"] == "initial"), None)
    deadline = incident.reporting_deadline
    if initial is not None:
        status = "reported on time" if initial["on_time"] else "reported late"
    else:
        status = "pending" if moment <= deadline else "OVERDUE"
    rule = ART73_DEADLINES.get(incident.category, {})
    return {
        "id": incident_label(incident.pk),
        "description": incident.description,
        "occurred_at": _ts(incident.occurred_at),
        "aware_at": _ts(incident.aware_at),
        "category": incident.category,
        "rule": f"{incident.deadline_rule}: {rule.get('days')} days after awareness",
        "reporting_deadline": _ts(deadline),
        "affected_persons": incident.affected_persons,
        "causal_link": incident.causal_link,
        "recorded_by": _person(incident.recorded_by),
        "status": status,
        "reports": reports,
    }


def _schedule(
    schedule: MonitoringSchedule, missed: list[MissedCheck], events: _Events, moment: dt.datetime
) -> dict | None:
    """One monitoring schedule as of ``moment``: its terms, whether it had ended, each period's status
    (received / missed / due / upcoming) and the missed checks flagged and resolved by then."""
    if not events.of("monitoring_schedule", schedule.pk, "monitoring_schedule.create"):
        return None
    ended = events.of("monitoring_schedule", schedule.pk, "monitoring_schedule.end")
    then = copy.copy(schedule)  # the row as it was at the pack's time (never saved)
    then.is_active, then.ended_at = not ended, ended[-1].ts if ended else None
    periods = monitoring.schedule_periods(then, now=moment)
    arrived = dict(
        Evaluation.objects.filter(pk__in=[p["evaluation_id"] for p in periods if p["evaluation_id"]]).values_list(
            "pk", "finished_at"
        )
    )
    for p in periods:  # an evaluation that arrived after the pack's time was not received then
        at = arrived.get(p["evaluation_id"])
        if p["status"] == monitoring.RECEIVED and (at is None or at > moment):
            p["status"], p["evaluation_id"] = (monitoring.MISSED if moment > p["grace_until"] else monitoring.DUE), None
    flagged = []
    for check in missed:
        if not events.of("missed_check", check.pk, "monitoring_check.missed"):
            continue
        resolved = events.of("missed_check", check.pk, "monitoring_check.resolve")
        flagged.append(
            {
                "due_at": _ts(check.due_at),
                "flagged_at": _ts(events.of("missed_check", check.pk, "monitoring_check.missed")[0].ts),
                "status": f"resolved by {_actor(resolved[-1])}: {_reason(resolved[-1])}" if resolved else "OPEN",
                "open": not resolved,
            }
        )
    upcoming = [p for p in periods if p["status"] in (monitoring.DUE, monitoring.UPCOMING)]
    return {
        "id": f"MS-{schedule.pk}",
        "version": schedule.model_version.version,
        "kind": schedule.kind,
        "cadence_days": schedule.cadence_days,
        "grace_hours": schedule.grace_hours,
        "starts_at": _ts(schedule.starts_at),
        "responsible": schedule.responsible.username if schedule.responsible else None,
        "description": schedule.description,
        "status": f"ended {_ts(ended[-1].ts)}: {_reason(ended[-1])}" if ended else "active",
        "received": sum(1 for p in periods if p["status"] == monitoring.RECEIVED),
        "missed": sum(1 for p in periods if p["status"] == monitoring.MISSED),
        "next_due_at": _ts(upcoming[0]["due_at"]) if upcoming else None,
        "periods": [
            {
                "due_at": _ts(p["due_at"]),
                "status": p["status"],
                "evaluation": f"EV-{p['evaluation_id']:04d}" if p["evaluation_id"] else None,
            }
            for p in periods[-PERIODS_SHOWN:]
        ],
        "missed_checks": flagged,
    }


def _plan(model_id: int, seq: int) -> tuple[dict | None, list[AuditEvent]]:
    """The post-market monitoring plan's text as of ``seq``: its latest ``post_market_plan.set`` event."""
    event = (
        audit_selectors.object_events("post_market_plan", model_id, action="post_market_plan.set")
        .filter(seq__lte=seq)
        .order_by("-seq")
        .first()
    )
    if event is None:
        return None, []
    data = _data(event)
    return {
        "revision": data.get("revision"),
        "updated_at": _ts(event.ts),
        "updated_by": _actor(event),
        "narrative": _plan_narrative(model_id, data),
    }, [event]


def _plan_narrative(model_id: int, data: Mapping) -> dict:
    """A revision's whole texts. An event written before plans kept revisions carries them whole; a later
    one carries each text's first 2,000 characters and SHA-256, and the text is its revision row's, used
    only where it has that digest (else the carried characters are printed, saying the rest differs)."""
    after = data.get("after") or {}
    if not any(f"{name}_sha256" in after for name in PLAN_FIELDS):
        return dict(after)
    row = PostMarketPlanRevision.objects.filter(plan__model_id=model_id, revision=int(data["revision"])).first()
    narrative = {}
    for name in PLAN_FIELDS:
        if name not in after:
            continue
        text = getattr(row, name) if row is not None else None
        if text is not None and carried_text(name, text)[f"{name}_sha256"] == after.get(f"{name}_sha256"):
            narrative[name] = text
        else:
            narrative[name] = (
                f"{after[name]} [the text past these {len(after[name]):,} characters is not shown: the stored "
                f"revision does not match the SHA-256 the audit log recorded, {after.get(f'{name}_sha256')}]"
            )
    return narrative


def _challenges(pack: Mapping, findings: list[dict]) -> list[dict]:
    """Who challenged what, and the answer: findings (validator -> owner / validator / risk officer),
    gate overrides and rejections (approvers), review flags (the production policy's monitoring)."""
    rows = []
    for f in findings:
        rows.append(
            {
                "at": f["raised_at"],
                "kind": "finding",
                "ref": f["id"],
                "challenger": f["raised_by"],
                "challenge": f"{f['severity']} finding: {f['description']}",
                "answer": f"{f['status']}: {f['answer']}" if f["answer"] else f"no answer yet ({f['status']})",
                "answered_by": f["answered_by"],
            }
        )
    for a in pack.get("approvals") or []:
        if a.get("override_justification"):
            failing = ", ".join(str(c) for c in a.get("overridden_checks") or []) or "a failing gate"
            rows.append(
                {
                    "at": a.get("signed_at"),
                    "kind": "gate override",
                    "ref": a.get("request_id"),
                    "challenger": "the policy's gates",
                    "challenge": f"failing: {failing}",
                    "answer": f"signed past the gate: {a.get('override_justification')}",
                    "answered_by": f"{a.get('approver')} ({a.get('role')})",
                }
            )
        elif a.get("decision") == "reject":
            rows.append(
                {
                    "at": a.get("signed_at"),
                    "kind": "rejection",
                    "ref": a.get("request_id"),
                    "challenger": f"{a.get('approver')} ({a.get('role')})",
                    "challenge": a.get("justification"),
                    "answer": f"request {a.get('request_id')} to {a.get('target_stage')} rejected",
                    "answered_by": None,
                }
            )
    for flag in pack.get("review_flags") or []:
        rows.append(
            {
                "at": flag.get("raised_at"),
                "kind": "review flag",
                "ref": flag.get("id"),
                "challenger": "production monitoring (the policy's checks)",
                "challenge": f"{flag.get('evaluation')} breaches the production policy",
                "evaluation": flag.get("evaluation"),
                "breaches": flag.get("breaches") or [],
                "answer": f"resolved: {flag.get('resolution')}" if not flag.get("open") else "open: not resolved yet",
                "answered_by": None,
            }
        )
    rows.sort(key=lambda r: (r["at"] or "", r["kind"], r["ref"] or ""))
    return rows


def oversight_record(
    version: ModelVersion, pack: Mapping, seq: int, moment: dt.datetime
) -> tuple[dict, list[AuditEvent]]:
    """``pack["oversight"]`` for ``version`` as of audit seq ``seq`` (time ``moment``), and the
    oversight events it rests on (the pack cites them)."""
    today = timezone.localdate(moment)
    validations = list(
        Validation.objects.filter(model_version=version).select_related("validator").order_by("started_on", "id")
    )
    findings = list(Finding.objects.filter(validation__model_version=version).select_related("owner").order_by("id"))
    incidents = list(
        SeriousIncident.objects.filter(model_version=version).select_related("recorded_by").order_by("aware_at", "id")
    )
    flags = list(RevalidationFlag.objects.filter(model_version=version).order_by("raised_at", "id"))
    schedules = list(
        MonitoringSchedule.objects.filter(model_version__model_id=version.model_id, created_at__lte=moment)
        .select_related("model_version", "responsible")
        .order_by("model_version_id", "kind", "id")
    )
    missed = list(MissedCheck.objects.filter(schedule__in=schedules).order_by("due_at", "id"))
    events = _Events(
        {
            "validation": [v.pk for v in validations],
            "finding": [f.pk for f in findings],
            "serious_incident": [i.pk for i in incidents],
            "revalidation_flag": [f.pk for f in flags],
            "monitoring_schedule": [s.pk for s in schedules],
            "missed_check": [m.pk for m in missed],
        },
        seq,
    )
    validation_rows, validator_of = [], {}
    for v in validations:
        started = events.of("validation", v.pk, "validation.start")
        if not started:
            continue
        done = events.of("validation", v.pk, "validation.complete")
        completed = _data(done[-1]) if done else {}
        validator_of[v.pk] = _person(v.validator)
        validation_rows.append(
            {
                "id": validation_label(v.pk),
                "scope": v.scope,
                "validator": _person(v.validator),
                "started_on": v.started_on.isoformat(),
                "completed_on": completed.get("completed_on"),
                "conclusion": completed.get("conclusion") or "in progress",
                "summary": _reason(done[-1]) if done else None,
                "findings": sorted(finding_label(f.pk) for f in findings if f.validation_id == v.pk),
            }
        )
    finding_rows = [row for f in findings if (row := _finding(f, events, validator_of, today)) is not None]
    for row in validation_rows:
        present = {f["id"] for f in finding_rows}
        row["findings"] = [x for x in row["findings"] if x in present]
    months, source = _interval_months(version, seq)
    completed_dates = [r["completed_on"] for r in validation_rows if r["completed_on"]]
    last = max(completed_dates) if completed_dates else None
    next_due = add_months(dt.date.fromisoformat(last), months).isoformat() if last else None
    if next_due is None:
        status = "never validated" if (pack.get("version") or {}).get("stage") == "production" else "not yet due"
    else:
        days = (dt.date.fromisoformat(next_due) - today).days
        status = f"OVERDUE by {-days} day(s)" if days < 0 else f"due in {days} day(s)"
    flag_rows = []
    for flag in flags:
        raised = events.of("revalidation_flag", flag.pk, "revalidation_flag.raise")
        if not raised:
            continue
        resolved = events.of("revalidation_flag", flag.pk, "revalidation_flag.resolve")
        flag_rows.append(
            {
                "raised_at": _ts(raised[0].ts),
                "due_on": flag.due_on.isoformat(),
                "resolution": _reason(resolved[-1]) if resolved else None,
            }
        )
    incident_rows = [row for i in incidents if (row := _incident(i, events, moment)) is not None]
    unresolved = [f for f in finding_rows if f["unresolved"]]
    schedule_rows = [
        row
        for schedule in schedules
        if (row := _schedule(schedule, [m for m in missed if m.schedule_id == schedule.pk], events, moment))
    ]
    plan, plan_events = _plan(version.model_id, seq)
    if plan is not None:
        plan["schedules"] = schedule_rows
    record = {
        "as_of_date": today.isoformat(),
        "revalidation": {
            "interval_months": months,
            "interval_source": source,
            "last_validated": last,
            "next_due": next_due,
            "status": status,
            "flags": flag_rows,
        },
        "validations": validation_rows,
        "findings": finding_rows,
        "open_findings": {s: sum(1 for f in unresolved if f["severity"] == s) for s in ("high", "medium", "low")},
        "overdue_findings": [f["id"] for f in finding_rows if f["overdue"]],
        "challenges": _challenges(pack, finding_rows),
        "incidents": incident_rows,
        "monitoring": [row for row in schedule_rows if row["version"] == version.version],
        "pmm_plan": plan,
    }
    return record, sorted([*events.all, *plan_events], key=lambda e: e.seq)
