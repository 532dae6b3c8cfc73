"""Celery beat job: raise revalidation flags for overdue tier-1 production versions (schedule
``oversight.flag_overdue_revalidations``, daily; see ``CELERY_BEAT_SCHEDULE``)."""

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
