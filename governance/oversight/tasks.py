"""Celery beat jobs: raise revalidation flags for overdue tier-1 production versions (schedule
``oversight.flag_overdue_revalidations``, daily) and send the weekly digest (``oversight.weekly_digest``,
Mondays); see ``CELERY_BEAT_SCHEDULE``."""

from __future__ import annotations

from celery import shared_task

from audit.context import request_context
from governance.accounts.principal import Principal


@shared_task(name="oversight.flag_overdue_revalidations")
def flag_overdue_revalidations() -> list[int]:
    from governance.oversight import services

    with request_context(origin="celery"):
        principal = Principal.system("celery:oversight.flag_overdue_revalidations", auth="celery")
        return [flag.pk for flag in services.revalidation_flags_raise(by=principal)]


@shared_task(name="oversight.weekly_digest")
def weekly_digest() -> int:
    """Celery beat job (``CELERY_BEAT_SCHEDULE["oversight-weekly-digest"]``): e-mail the weekly model risk
    digest to the risk officers (governance.oversight.digest)."""
    from governance.oversight import digest

    with request_context(origin="celery"):
        principal = Principal.system("celery:oversight.weekly_digest", auth="celery")
        return digest.weekly_digest_send(by=principal)
