"""Celery tasks of the evaluations app: the computation of queued (large) evaluations.

Enqueued with ``transaction.on_commit`` by ``services.evaluation_create``; without a broker
(``CELERY_TASK_ALWAYS_EAGER``) it runs in the calling process."""

from __future__ import annotations

from celery import shared_task

from audit.context import request_context
from governance.accounts.principal import Principal

TASK_ACTOR = "celery:evaluations.run"


@shared_task(name="evaluations.run", acks_late=True)
def evaluation_run(evaluation_id: int) -> str | None:
    from governance.evaluations import services

    with request_context(origin="celery"):
        principal = Principal.system(TASK_ACTOR, auth="celery")
        evaluation = services.evaluation_run(by=principal, evaluation_id=evaluation_id)
    return evaluation.status if evaluation is not None else None
