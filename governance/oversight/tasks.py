"""Celery beat jobs of ongoing model risk management (``CELERY_BEAT_SCHEDULE``):

- ``oversight.flag_overdue_revalidations`` (daily): revalidation flags for overdue tier-1 production versions;
- ``oversight.flag_missed_checks`` (hourly): scheduled monitoring evaluations that did not arrive by their
  due time plus grace are flagged (``MissedCheck``, audited) and e-mailed (``oversight.notify_missed_check``);
- ``oversight.weekly_digest`` (Mondays): the weekly model risk digest to the risk officers.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from audit.context import request_context
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER


@shared_task(name="oversight.flag_overdue_revalidations")
def flag_overdue_revalidations() -> list[int]:
    from governance.oversight import services

    with request_context(origin="celery"):
        principal = Principal.system("celery:oversight.flag_overdue_revalidations", auth="celery")
        return [flag.pk for flag in services.revalidation_flags_raise(by=principal)]


@shared_task(name="oversight.flag_missed_checks")
def flag_missed_checks() -> list[int]:
    from governance.oversight import services

    with request_context(origin="celery"):
        principal = Principal.system("celery:oversight.flag_missed_checks", auth="celery")
        return [check.pk for check in services.missed_checks_flag(by=principal)]


@shared_task(name="oversight.notify_missed_check")
def notify_missed_check(missed_check_id: int) -> int:
    from governance.oversight.models import MissedCheck

    check = MissedCheck.objects.select_related("schedule__model_version__model__owner", "schedule__responsible").get(
        pk=missed_check_id
    )
    schedule = check.schedule
    version = schedule.model_version
    officers = User.objects.filter(is_active=True, groups__name=RISK_OFFICER).values_list("email", flat=True)
    responsible = [schedule.responsible.email] if schedule.responsible else []
    recipients = sorted({e for e in [version.model.owner.email, *officers, *responsible] if e})
    if not recipients:
        return 0
    body = (
        f"The scheduled {schedule.kind} check of {version.model.name} {version.version} (production) was due at "
        f"{check.due_at:%Y-%m-%d %H:%M} UTC and nothing arrived by {check.grace_until:%Y-%m-%d %H:%M} UTC "
        f"(every {schedule.cadence_days} days, {schedule.grace_hours} h grace).\n\n"
        f"Review it in the admin: /admin/oversight/missedcheck/{check.pk}/change/\n"
    )
    return send_mail(
        f"[mlgov] Missed {schedule.kind} check: {version.model.name} {version.version}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )


@shared_task(name="oversight.weekly_digest")
def weekly_digest() -> int:
    """Celery beat job (``CELERY_BEAT_SCHEDULE["oversight-weekly-digest"]``): e-mail the weekly model risk
    digest to the risk officers (governance.oversight.digest)."""
    from governance.oversight import digest

    with request_context(origin="celery"):
        principal = Principal.system("celery:oversight.weekly_digest", auth="celery")
        return digest.weekly_digest_send(by=principal)
