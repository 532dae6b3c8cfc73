"""Celery tasks of the evaluations app: the computation of queued (large) evaluations, and the reaper
of jobs left stuck by a dead worker (``governance.evaluations.jobs``).

Enqueued with ``transaction.on_commit`` by ``services.evaluation_create``; without a broker
(``CELERY_TASK_ALWAYS_EAGER``) it runs in the calling process. Acknowledged late and rejected back
to the queue when the worker process is lost; idempotent (see ``services.evaluation_run``)."""

from __future__ import annotations

from celery import shared_task

from audit.context import request_context
from governance.accounts.principal import Principal

TASK_ACTOR = "celery:evaluations.run"


@shared_task(name="evaluations.run", acks_late=True, reject_on_worker_lost=True)
def evaluation_run(evaluation_id: int) -> str | None:
    from governance.evaluations import services
    from governance.evaluations.jobs import runner_identity

    with request_context(origin="celery"):
        principal = Principal.system(TASK_ACTOR, auth="celery")
        evaluation = services.evaluation_run(by=principal, evaluation_id=evaluation_id, runner=runner_identity())
    return evaluation.status if evaluation is not None else None


@shared_task(name="jobs.reap_stale", acks_late=True)
def reap_stale() -> dict:
    """Re-queue or fail evaluations and documentation packs stuck after a worker died."""
    from governance.evaluations.jobs import reap_stale_jobs

    with request_context(origin="celery"):
        return reap_stale_jobs().as_dict()
