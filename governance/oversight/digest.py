"""The weekly model risk digest (issue 17 items 1, 2 and 5): an e-mail to every active risk officer with
what is overdue or due for revalidation in 30/60/90 days, the overdue findings, and the serious incidents
with their Art. 73 deadline status. Sent by the Celery beat task ``oversight.weekly_digest`` (schedule
``CELERY_BEAT_SCHEDULE["oversight-weekly-digest"]``, Mondays 07:00) through Django's mail backend, and
recorded in the audit log as ``oversight_digest.send`` (recipients and counts) once the mail is out."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail

from audit.services import audit_unit
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER
from governance.oversight import clock, dashboard

logger = logging.getLogger(__name__)
STATUS_TEXT = {
    "overdue": "OVERDUE: not reported",
    "pending": "pending",
    "reported_late": "reported late",
    "reported_on_time": "reported on time",
}


def recipients() -> list[str]:
    """E-mail addresses of the active risk officers (people, not service accounts)."""
    emails = User.objects.filter(is_active=True, is_service_account=False, groups__name=RISK_OFFICER).values_list(
        "email", flat=True
    )
    return sorted({e for e in emails if e})


def digest_content(*, today: dt.date | None = None, now: dt.datetime | None = None) -> tuple[str, str, dict]:
    """(subject, body, counts) of the digest for the week starting ``today``."""
    now = now or clock.now()
    today = today or clock.today()
    due = dashboard.validations_due(today=today)
    findings = dashboard.overdue_findings(today=today)
    incidents = dashboard.incident_deadlines(now=now)
    counts = {
        "overdue_validations": len(due["overdue"]),
        **{f"validations_{w}": len(due[w]) for w in ("due_30", "due_60", "due_90")},
        "overdue_findings": len(findings),
        "incidents_overdue": sum(1 for r in incidents if r["status"] == "overdue"),
        "incidents_pending": sum(1 for r in incidents if r["status"] == "pending"),
    }
    subject = (
        f"[mlgov] Model risk digest, week of {today.isoformat()}: {counts['overdue_validations']} validation(s) "
        f"overdue, {counts['overdue_findings']} finding(s) overdue, "
        f"{counts['incidents_overdue'] + counts['incidents_pending']} incident report(s) owed"
    )
    lines = [f"Model risk digest for the week of {today.isoformat()}.", ""]
    lines.append(f"Validations overdue ({len(due['overdue'])}):")
    lines += [
        f"  - {r['model']} {r['version_label']} ({r['risk_tier']}): due {r['next_due']}, "
        f"{r['days_overdue']} day(s) late"
        for r in due["overdue"]
    ] or ["  none"]
    for window in ("due_30", "due_60", "due_90"):
        days = window.removeprefix("due_")
        lines.append(f"Validations due within {days} days ({len(due[window])}):")
        lines += [
            f"  - {r['model']} {r['version_label']} ({r['risk_tier']}): due {r['next_due']}" for r in due[window]
        ] or ["  none"]
    lines += ["", f"Overdue findings ({len(findings)}):"]
    lines += [
        f"  - FND-{r['finding'].pk} {r['finding'].severity} on {r['finding'].validation.model_version}: "
        f"{r['finding'].description[:120]} (owner {r['finding'].owner.username}, due {r['finding'].due_date}, "
        f"{r['days_overdue']} day(s) overdue, {r['finding'].status})"
        for r in findings
    ] or ["  none"]
    lines += ["", f"Serious incidents and their Art. 73 reporting deadlines ({len(incidents)}):"]
    lines += [
        f"  - INC-{r['incident'].pk} on {r['incident'].model_version} ({r['incident'].category}, "
        f"{r['incident'].deadline_rule}): report due {r['incident'].reporting_deadline:%Y-%m-%d %H:%M} UTC, "
        f"{STATUS_TEXT[r['status']]}" + (f", {r['hours_remaining']} h left" if r["status"] == "pending" else "")
        for r in incidents
    ] or ["  none"]
    lines += ["", "The dashboard shows the same lists: /admin/", ""]
    return subject, "\n".join(lines), counts


def weekly_digest_send(*, by: Principal, today: dt.date | None = None) -> int:
    """Send the digest to the risk officers; returns the number of messages sent (0 when nobody has an
    address: logged, nothing sent). The send is audited with its recipients and counts."""
    today = today or clock.today()
    to = recipients()
    if not to:
        logger.warning("oversight digest of %s not sent: no active risk officer has an e-mail address", today)
        return 0
    subject, body, counts = digest_content(today=today)
    sent = send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
    with audit_unit(by.actor) as audit:
        audit.add(
            "oversight_digest.send",
            {"type": "oversight_digest", "id": today.isoformat()},
            details={"recipients": to, "subject": subject, **counts},
        )
    logger.info("oversight digest of %s sent to %d risk officer(s)", today, len(to))
    return sent
