"""Reads for the dashboard panels and the weekly digest (issue 17 items 1, 2 and 5): validations due in
30/60/90 days and overdue, overdue findings, and serious incidents with their Art. 73 deadline status.

Selector functions only; the dashboard (``governance.workspace.views.dashboard``) and the digest
(``governance.oversight.digest``) render what they return. Bounded: the revalidation schedule is one row
per production version, findings and incidents are filtered in the database first."""

from __future__ import annotations

import datetime as dt

from governance.oversight import clock
from governance.oversight.models import FindingStatus, IncidentReport, ReportKind
from governance.oversight.selectors import (
    HORIZONS,
    finding_list,
    incident_deadline_status,
    incident_list,
    revalidation_schedule,
)

#: incidents reported more than this many days ago leave the dashboard (they stay in the register)
REPORTED_INCIDENT_DAYS = 30


def validations_due(*, today: dt.date | None = None) -> dict:
    """Production versions overdue for revalidation and due within 30, 60 and 90 days (cumulative
    windows: ``due_60`` also holds what is due in 30), soonest first."""
    today = today or clock.today()
    rows = revalidation_schedule(today=today, horizon_days=max(HORIZONS))
    overdue = [{**r, "days_overdue": -r["days_until_due"]} for r in rows if r["bucket"] == "overdue"]
    windows = {f"due_{h}": [r for r in rows if 0 <= r["days_until_due"] <= h] for h in HORIZONS}
    return {"today": today, "overdue": overdue, **windows, "horizons": HORIZONS}


def overdue_findings(*, today: dt.date | None = None) -> list[dict]:
    """Unresolved findings past their due date (a risk acceptance that expired counts as unresolved),
    most overdue first, with days overdue."""
    today = today or clock.today()
    found = [
        f
        for f in finding_list().exclude(status=FindingStatus.CLOSED).filter(due_date__lt=today)
        if f.is_unresolved(today)
    ]
    found.sort(key=lambda f: (f.due_date, f.pk))
    return [{"finding": f, "days_overdue": (today - f.due_date).days} for f in found]


def incident_deadlines(*, now: dt.datetime | None = None) -> list[dict]:
    """Incidents awaiting their initial report (pending or overdue) and those reported in the last
    ``REPORTED_INCIDENT_DAYS`` days, each with its deadline status; overdue first, then by deadline."""
    now = now or clock.now()
    since = now - dt.timedelta(days=REPORTED_INCIDENT_DAYS)
    reported_earlier = IncidentReport.objects.filter(kind=ReportKind.INITIAL, submitted_at__lt=since)
    rows = [
        {"incident": incident, **incident_deadline_status(incident, now=now)}
        for incident in incident_list().exclude(pk__in=reported_earlier.values("incident_id"))
    ]
    order = {"overdue": 0, "pending": 1, "reported_late": 2, "reported_on_time": 3}
    rows.sort(key=lambda r: (order[r["status"]], r["incident"].reporting_deadline, r["incident"].pk))
    return rows
