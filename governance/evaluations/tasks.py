"""Celery tasks of the evaluations app: the computation of queued (large) evaluations.

Queued by ``handlers.on_evaluation_queued`` once ``services.evaluation_create`` committed; without
a broker (``CELERY_TASK_ALWAYS_EAGER``) it runs in the calling process. It runs under the request
id of the request that queued it (``ContextTask``)."""

from __future__ import annotations

from celery import shared_task

from governance.accounts.principal import Principal
from governance.common.tasks import ContextTask
from governance.evaluations import services

TASK_ACTOR = "celery:evaluations.run"


@shared_task(base=ContextTask, bind=True, name="evaluations.run", acks_late=True)
def evaluation_run(self, evaluation_id: int) -> str | None:
    principal = Principal.system(TASK_ACTOR, auth="celery")
    evaluation = services.evaluation_run(by=principal, evaluation_id=evaluation_id)
    return evaluation.status if evaluation is not None else None
